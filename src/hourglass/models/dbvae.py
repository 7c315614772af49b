r"""The debiasing VAE (Amini et al. 2019, "Uncovering and Mitigating Algorithmic Bias through
Learned Latent Structure").

One encoder gives both a classifier's logits and a Gaussian posterior,
$f_\phi(x) = (\text{logits}(x), \mu(x), \log\sigma^2(x))$; a decoder reconstructs $x$ from
$z \sim q(z|x)$. The loss per example is the classification loss plus the VAE's negative ELBO
per data dimension (the paper's per-pixel reconstruction loss):

$\mathcal L(x, y) = -\log \mathrm{softmax}(\text{logits}(x))_y
  + w\,\frac{-\mathbb E_q[\log p(x|z)] + \beta\,\mathrm{KL}(q(z|x)\Vert p(z))}{D}$

The codes $\mu(x)$ learn the structure of the data without labels; :mod:`hourglass.uses.debias` turns
their estimated density into sampling weights, so that training batches show rare inputs more
often. Without those weights it is simply a classifier with a VAE attached.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hourglass.core.options import option
from hourglass.core import objectives as O
from hourglass.core.validation import AnyOf, Interval
from hourglass.core.errors import ConfigError
from hourglass.models.base import AutoencoderBase, make_encoder
from hourglass.models.protocol import declare
from hourglass.models.registry import register_model
from hourglass.models.vae import VAE, ELBOVAEConfig


@dataclass
class DBVAEConfig(ELBOVAEConfig):
    n_classes: int | None = option(None, AnyOf((None, Interval(int, 2, None))),
                                   "classes the classifier tells apart (None: taken from the data)")
    vae_weight: float = option(1.0, Interval(float, 0, None),
                               "weight w of the per-dimension -ELBO next to the classification loss")


@register_model("db-vae")
class DBVAE(VAE):
    """Debiasing VAE: a classifier sharing its encoder with a VAE (loss = cross-entropy + -ELBO/D)."""

    config_class = DBVAEConfig
    capabilities = declare("encode", "decode", "reconstruct", "sample", "log_prob_bound", "elbo",
                           "posterior", "epoch_schedule", "labels", "classify")
    tiny_configs = [dict(c, n_classes=10) for c in AutoencoderBase.tiny_configs]
    init_from_data = None  # N(0, I) prior: no pseudo-inputs to start from the data

    def __init__(self, config: DBVAEConfig | None = None, **kwargs):
        config = config if config is not None else self.config_class(**kwargs)
        if config.n_classes is None:
            raise ConfigError("The db-vae model needs n_classes=K, the number of classes "
                              "(`hourglass train` and `hourglass debias` take it from the data).")
        super().__init__(config)
        # one encoder, K + 2 * latent_dim outputs: logits, mu, logvar
        self.encoder = make_encoder(config, config.n_classes + 2 * config.latent_dim)

    def heads(self, x):
        """logits (B, K), mu (B, d), logvar (B, d)."""
        c = self.config
        return self.encoder(x).split([c.n_classes, c.latent_dim, c.latent_dim], dim=-1)

    def posterior(self, x):
        _, mu, logvar = self.heads(x)
        return mu, logvar

    def classify(self, x) -> torch.Tensor:
        """Class logits, (B, K)."""
        return self.heads(x)[0]

    def forward(self, x, y=None):
        if y is None:
            raise ConfigError("The db-vae model is trained with class labels: pass y.")
        logits, mu, logvar = self.heads(x)
        z = O.reparameterize(mu, logvar)
        log_px_z = self.likelihood.log_prob(x, self.decoder(z))        # (B,)
        kl = O.kl_normal_std_normal(mu, logvar)                          # (B,)
        ce = -O.categorical_log_likelihood(y.long(), logits)              # (B,)
        neg_elbo_per_dim = -self.objective(log_px_z, kl) / self.dim
        loss = (ce + self.config.vae_weight * neg_elbo_per_dim).mean()
        return {"loss": loss, "ce": ce.mean(), "recon": -log_px_z.mean(), "kl": kl.mean()}
