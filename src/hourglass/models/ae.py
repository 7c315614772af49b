r"""The deterministic autoencoder.

An encoder $h = f_\theta(x)$ compresses the input to a code, a decoder $\hat x = g_\phi(h)$
reconstructs it, and training maximizes the likelihood of the input under the reconstruction:

$\mathcal L_{AE}(x) = -\log p(x \mid g_\phi(f_\theta(x)))$

which is the cross-entropy for a Bernoulli decoder and the squared error for a Gaussian one.
"""

from __future__ import annotations

from dataclasses import dataclass

from hourglass.models.base import AutoencoderBase, AutoencoderConfig
from hourglass.models.protocol import declare
from hourglass.models.registry import register_model


@dataclass
class AEConfig(AutoencoderConfig):
    pass


@register_model("ae")
class AE(AutoencoderBase):
    """Autoencoder: deterministic code, loss = -log p(x | g(f(x)))."""

    config_class = AEConfig
    capabilities = declare("encode", "decode", "reconstruct")

    def encode(self, x):
        return self.encoder(x)  # (B, latent_dim)

    def forward(self, x, y=None):
        # $-\log p(x \mid g(f(x)))$: the reconstruction term is the whole loss
        recon = -self.likelihood.log_prob(x, self.decoder(self.encoder(x)))
        loss = recon.mean()
        return {"loss": loss, "recon": loss}
