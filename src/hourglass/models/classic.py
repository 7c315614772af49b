r"""What the classic regularized autoencoders share: DAE, SCAE, CAE, sparse AE.

Each is the deterministic autoencoder $h = f(x)$, $\hat x = g(h)$ with a different way of making
the code robust: reconstruct from a corrupted input (DAE), penalize how much the code moves when
the input moves (SCAE, CAE), or keep few code units active (sparse AE). Their configs add to the
autoencoder's:

- ``code_activation``: ``sigmoid`` gives codes in (0, 1), the classic choice, needed by the
  closed-form contractive penalty and the KL sparsity penalty; ``linear`` is the plain AE's code;
- ``hidden`` may be empty: the one-layer autoencoder $h = \sigma(Wx + b)$ of the original papers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hourglass.core.options import option
from hourglass.core.validation import Options, Sizes
from hourglass.models.base import AutoencoderBase, AutoencoderConfig

CODE_ACTIVATIONS = {"linear": lambda a: a, "sigmoid": torch.sigmoid}


@dataclass
class ClassicAEConfig(AutoencoderConfig):
    code_activation: str = option("linear", Options(tuple(CODE_ACTIVATIONS)),
                                  "activation of the code layer: linear or sigmoid (codes in (0, 1))")
    hidden: tuple = option((512, 256), Sizes(allow_empty=True),
                           "MLP widths of the encoder; the decoder mirrors them")


class ClassicAutoencoder(AutoencoderBase):
    """Encoder (with its code activation) + decoder; subclasses add their regularizer in `forward`."""

    config_class = ClassicAEConfig

    def encode(self, x):
        """The code $h = a(f(x))$, shape (B, latent_dim)."""
        return CODE_ACTIVATIONS[self.config.code_activation](self.encoder(x))

    def reconstruction_nll(self, x, h):
        """$-\\log p(x \\mid g(h))$ per example: the clean `x` scored against the decoding of `h`."""
        return -self.likelihood.log_prob(x, self.decoder(h))

    def terms(self, recon: torch.Tensor, **penalties: tuple[float, torch.Tensor]) -> dict:
        """Loss terms $\\frac1B \\sum_b [\\text{recon}_b + \\sum_k \\lambda_k\\,\\text{penalty}_{k,b}]$.

        ``penalties`` maps a term name to (weight, per-example values or a batch scalar); each
        term is reported unweighted, the loss weighs them.
        """
        loss = recon.mean()
        out = {"recon": recon.mean()}
        for name, (weight, value) in penalties.items():
            loss = loss + weight * value.mean()
            out[name] = value.mean()
        return {"loss": loss, **out}
