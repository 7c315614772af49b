r"""The sparse autoencoder: few code units active per input.

$\mathcal L = -\log p(x \mid g(h(x))) + \lambda\,\Omega(h)$ with either

- ``l1``: $\Omega(h) = \lVert h(x) \rVert_1$ per example, or
- ``kl``: $\Omega(h) = \sum_j \mathrm{KL}(\rho \Vert \hat\rho_j)$, where $\hat\rho_j$ is the mean
  activation of sigmoid unit $j$ over the batch and $\rho$ the target rate (Ng, CS294A notes).

The code can then be wider than the input and still not learn the identity.
"""

from __future__ import annotations

from dataclasses import dataclass

from hourglass.core.options import option
from hourglass.core import objectives as O
from hourglass.core.validation import Interval, Options
from hourglass.core.errors import ConfigError
from hourglass.models.classic import ClassicAEConfig, ClassicAutoencoder
from hourglass.models.protocol import declare
from hourglass.models.registry import register_model


@dataclass
class SparseAEConfig(ClassicAEConfig):
    code_activation: str = option("sigmoid", None,
                                  "code activation: linear or sigmoid (codes in (0, 1))")
    sparsity: str = option("kl", Options(("kl", "l1")),
                           "penalty: kl (mean activation vs target_rate) or l1 (|h|_1)")
    sparsity_weight: float = option(1.0, Interval(float, 0, None),
                                    "lambda: weight of the sparsity penalty")
    target_rate: float = option(0.05, Interval(float, 0, 1, closed="neither"),
                                "rho: the mean activation the kl penalty aims at")

    def validate(self, owner=None):
        super().validate(owner)
        if self.sparsity == "kl" and self.code_activation != "sigmoid":
            raise ConfigError("sparsity='kl' compares mean activations in (0, 1) with "
                              "target_rate: it needs code_activation='sigmoid' (or use "
                              "sparsity='l1').")


@register_model("sparse-ae")
class SparseAE(ClassicAutoencoder):
    """Sparse autoencoder: reconstruction + lambda * (KL to a target activation rate, or L1 of h)."""

    config_class = SparseAEConfig
    capabilities = declare("encode", "decode", "reconstruct")
    tiny_configs = [
        dict(hidden=(16,), latent_dim=32),
        dict(hidden=(), sparsity="l1", code_activation="linear", likelihood="gaussian"),
    ]

    def forward(self, x, y=None):
        c = self.config
        h = self.encode(x)
        penalty = O.kl_sparsity(h, c.target_rate) if c.sparsity == "kl" else O.l1_sparsity(h)
        return self.terms(self.reconstruction_nll(x, h), sparsity=(c.sparsity_weight, penalty))
