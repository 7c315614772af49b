r"""The denoising autoencoder (Vincent et al. 2008, 2010).

The encoder sees a corrupted input $\tilde x \sim q(\tilde x \mid x)$, the loss compares the
reconstruction with the **clean** $x$:

$\mathcal L_{DAE} = \sum_{x \in D} \mathbb E_{q(\tilde x|x)}\big[-\log p(x \mid g(h(\tilde x)))\big]$

Noise is semantically meaningless, so the corrupted and the clean input should map to the same point
of the data manifold: the DAE learns a more robust manifold than the plain AE. A fresh corruption
is drawn for every batch in training; in eval mode the encoder sees the clean input, so the
validation loss and every evaluation are of the clean reconstruction.
"""

from __future__ import annotations

from dataclasses import dataclass

from hourglass.core.options import option
from hourglass.core.validation import Interval, Options
from hourglass.core.corruption import CORRUPTIONS, corrupt
from hourglass.core.errors import ConfigError
from hourglass.models.classic import ClassicAEConfig, ClassicAutoencoder
from hourglass.models.protocol import declare
from hourglass.models.registry import register_model


@dataclass
class DAEConfig(ClassicAEConfig):
    corruption: str = option("masking", Options(tuple(CORRUPTIONS)),
                             "q(x~|x): masking, gaussian or salt-and-pepper")
    corruption_level: float = option(0.25, Interval(float, 0, None),
                                     "masking/salt-and-pepper: share of inputs hit; gaussian: noise std")

    def validate(self, owner=None):
        super().validate(owner)
        check_corruption_level(self.corruption, self.corruption_level)


def check_corruption_level(kind: str, level: float) -> None:
    """Masking and salt-and-pepper levels are shares of the inputs; a Gaussian level is a std."""
    if kind != "gaussian" and level > 1:
        raise ConfigError(f"corruption_level is the share of inputs that {kind} noise hits, a "
                          f"number in [0, 1]. Got {level} instead.")


@register_model("dae")
class DAE(ClassicAutoencoder):
    """Denoising autoencoder: reconstruct the clean x from a corrupted x~ (masking, Gaussian, s&p)."""

    config_class = DAEConfig
    capabilities = declare("encode", "decode", "reconstruct")
    tiny_configs = [
        dict(hidden=(16,), corruption="masking", corruption_level=0.25),
        dict(hidden=(), code_activation="sigmoid", corruption="salt-and-pepper",
             corruption_level=0.1),
        dict(arch="conv", channels=(4,), likelihood="gaussian", corruption="gaussian",
             corruption_level=0.3),
    ]

    def forward(self, x, y=None):
        c = self.config
        # $\tilde x \sim q(\tilde x \mid x)$, only while training
        x_tilde = corrupt(x, c.corruption, c.corruption_level) if self.training else x
        # $-\log p(x \mid g(h(\tilde x)))$: the clean x is the target
        return self.terms(self.reconstruction_nll(x, self.encode(x_tilde)))
