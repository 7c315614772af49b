r"""Contractive autoencoders, stochastic and analytic.

Both add to the autoencoder's reconstruction a penalty on how much the code moves when the input
moves, so that nearby inputs map to the same point of the manifold:

- **SCAE** (stochastic): $\mathcal L = -\log p(x \mid g(h(x)))
  + \lambda\,\mathbb E_{q(\tilde x|x)} \lVert h(x) - h(\tilde x) \rVert^2$,
  one corrupted $\tilde x$ per example and batch;
- **CAE** (analytic, Rifai et al. 2011): with $h(x + \epsilon) \approx h(x) + J_h(x)\,\epsilon$
  the stochastic term becomes $\lVert J_h(x) \rVert_F^2$ (times the noise variance), so
  $\mathcal L = -\log p(x \mid g(h(x))) + \lambda\,\lVert J_h(x) \rVert_F^2$.

The CAE's $\lVert J_h \rVert_F^2$ is computed in closed form for a one-layer sigmoid encoder, and
otherwise exactly by autograd (one vector-Jacobian product per code unit) or estimated without
bias from random projections (cheaper for wide codes).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hourglass.core.options import option
from hourglass.core import objectives as O
from hourglass.core.validation import Interval, Options
from hourglass.core.corruption import corrupt
from hourglass.core.errors import ConfigError
from hourglass.models.classic import ClassicAEConfig, ClassicAutoencoder
from hourglass.models.protocol import declare
from hourglass.models.dae import DAEConfig
from hourglass.models.registry import register_model

JACOBIANS = ("auto", "closed-form", "exact", "projection")


@dataclass
class SCAEConfig(DAEConfig):
    corruption: str = option("gaussian", None,
                             "q(x~|x): masking, gaussian or salt-and-pepper")
    corruption_level: float = option(0.1, Interval(float, 0, None),
                                     "masking/salt-and-pepper: share of inputs hit; gaussian: noise std")
    contraction: float = option(100.0, Interval(float, 0, None),
                                "lambda: weight of E||h(x) - h(x~)||^2 (lambda * std^2 ~ CAE's)")


@register_model("scae")
class SCAE(ClassicAutoencoder):
    """Stochastic contractive AE: reconstruction + lambda * E||h(x) - h(x~)||^2."""

    config_class = SCAEConfig
    capabilities = declare("encode", "decode", "reconstruct")
    tiny_configs = [
        dict(hidden=(16,), code_activation="sigmoid"),
        dict(arch="conv", channels=(4,), corruption="masking", corruption_level=0.5,
             batch_norm=True),
    ]

    def forward(self, x, y=None):
        c = self.config
        h = self.encode(x)
        h_tilde = self.encode(corrupt(x, c.corruption, c.corruption_level))  # $h(\tilde x)$
        return self.terms(self.reconstruction_nll(x, h),
                          contraction=(c.contraction, O.stochastic_contraction(h, h_tilde)))


@dataclass
class CAEConfig(ClassicAEConfig):
    hidden: tuple = option((), None,
                           "MLP widths before the code; none = one layer h = a(Wx + b)")
    code_activation: str = option("sigmoid", None,
                                  "code activation: linear or sigmoid (codes in (0, 1))")
    contraction: float = option(1.0, Interval(float, 0, None),
                                "lambda: weight of the Jacobian penalty ||J_h(x)||_F^2")
    jacobian: str = option("auto", Options(JACOBIANS),
                           "closed-form, exact or projection; auto: closed form if it applies")
    n_projections: int = option(4, Interval(int, 1, None),
                                "random projections per example for jacobian='projection'")

    @property
    def closed_form_applies(self) -> bool:
        """One linear map then a sigmoid: $h = \\sigma(Wx + b)$."""
        return self.arch == "mlp" and len(self.hidden) == 0 and self.code_activation == "sigmoid"

    def validate(self, owner=None):
        super().validate(owner)
        if self.jacobian == "closed-form" and not self.closed_form_applies:
            raise ConfigError("jacobian='closed-form' needs a one-layer sigmoid encoder: "
                              "arch='mlp', hidden=() and code_activation='sigmoid'. Use "
                              "jacobian='exact' or 'projection' for other encoders.")
        if self.batch_norm and not self.closed_form_applies:
            raise ConfigError("The CAE's Jacobian is taken example by example, but batch_norm "
                              "mixes the examples of a batch. Use batch_norm=False.")


@register_model("cae")
class CAE(ClassicAutoencoder):
    """Contractive AE: reconstruction + lambda * ||dh/dx||_F^2 (closed form, exact or projected)."""

    config_class = CAEConfig
    capabilities = declare("encode", "decode", "reconstruct")
    tiny_configs = [
        dict(),  # one sigmoid layer: the closed form
        dict(hidden=(16,), jacobian="exact", likelihood="gaussian", dropout=0.1),
        dict(arch="conv", channels=(4,), code_activation="linear", jacobian="projection"),
    ]

    @property
    def jacobian_method(self) -> str:
        c = self.config
        if c.jacobian != "auto":
            return c.jacobian
        return "closed-form" if c.closed_form_applies else "exact"

    def code_and_penalty(self, x):
        """The code $h(x)$ and $\\lVert J_h(x) \\rVert_F^2$ per example."""
        method = self.jacobian_method
        if method == "closed-form":
            h = self.encode(x)
            return h, O.contractive_penalty_sigmoid(h, self.encoder.net[0].weight)
        create_graph = torch.is_grad_enabled()  # train on the penalty, or only report it
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            h = self.encode(x)
            if method == "exact":
                penalty = O.jacobian_frobenius_sq(h, x, create_graph=create_graph)
            else:
                penalty = O.jacobian_frobenius_sq_estimate(
                    h, x, n_projections=self.config.n_projections, create_graph=create_graph)
        return (h, penalty) if create_graph else (h.detach(), penalty.detach())

    def forward(self, x, y=None):
        h, jacobian_sq = self.code_and_penalty(x)
        return self.terms(self.reconstruction_nll(x, h),
                          contraction=(self.config.contraction, jacobian_sq))
