r"""M2, the semi-supervised VAE (Kingma, Rezende, Mohamed & Welling 2014).

The generative model is the CVAE's, $p(x|y, z)\,p(z)\,p(y)$ with $p(y) = 1/K$; inference adds a
classifier $q(y|x)$ beside $q(z|x, y)$. A labelled example contributes the ELBO of $\log p(x, y)$,

$\mathcal L(x, y) = \mathbb E_{q(z|x,y)}[\log p(x|y,z)] - \mathrm{KL}(q(z|x,y) \Vert p(z))
+ \log p(y)$;

an unlabelled one ($y = -1$, scikit-learn's convention) treats the label as a latent variable and
sums over it (:func:`hourglass.core.objectives.marginal_elbo`),

$\mathcal U(x) = \sum_y q(y|x)\,[\mathcal L(x, y) - \log q(y|x)]$.

Since $\mathcal L(x, y)$ does not train $q(y|x)$, labelled examples also pay
$\alpha \cdot (-\log q(y|x))$. Per batch the loss is

$\frac1B \big[\sum_{\text{labelled}} (-\mathcal L(x, y) - \alpha \log q(y|x))
+ \sum_{\text{unlabelled}} -\mathcal U(x)\big]$.

One forward pass handles both kinds of rows: the unlabelled rows are repeated once per label
(vectorized, no per-example Python), so an unlabelled row costs K labelled ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from hourglass.core.options import option
from hourglass.core import objectives as O
from hourglass.core.validation import Interval
from hourglass.models.base import make_encoder
from hourglass.models.protocol import declare
from hourglass.models.cvae import CVAE, CVAEConfig, enumerate_labels
from hourglass.models.registry import register_model


@dataclass
class M2Config(CVAEConfig):
    alpha: float = option(50.0, Interval(float, 0, None),
                          "weight of -log q(y|x) per labelled example (paper: 0.1 N/N_labelled)")


@register_model("m2")
class M2(CVAE):
    """Semi-supervised VAE (M2): classifier q(y|x) + CVAE; labels y = -1 mark unlabelled rows."""

    config_class = M2Config
    capabilities = declare("encode", "decode", "reconstruct", "sample", "log_prob_bound", "elbo",
                           "posterior", "epoch_schedule", "labels", "conditional",
                           "classify", "data_check")
    tiny_configs = [dict(c, alpha=1.0) for c in CVAE.tiny_configs]

    def check_data(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        """Labels in -1..K-1 (-1: unlabelled), once per fit; no labels at all: every row unlabelled."""
        if y is not None:
            self.check_labels(y, lowest=-1)

    def __init__(self, config: M2Config | None = None, **kwargs):
        super().__init__(config, **kwargs)
        # q(y|x): a network of the encoder's shape with K logits
        self.classifier = make_encoder(self.config, self.n_classes)

    def label_weights(self, x: torch.Tensor) -> torch.Tensor:
        """$q(y|x)$, (B, K): the classifier stands in for a missing label."""
        return F.softmax(self.classifier(x), dim=-1)

    @torch.no_grad()
    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities $q(y|x)$, (B, K)."""
        return self.label_weights(x)

    def forward(self, x, y=None):
        B, K = x.shape[0], self.n_classes
        y = torch.full((B,), -1, dtype=torch.long, device=x.device) if y is None else y
        lab = y >= 0
        x_l, y_l, x_u = x[lab], y[lab], x[~lab]
        n_l, B_u = x_l.shape[0], x_u.shape[0]
        # one pass: labelled rows with their label, unlabelled rows once with every label
        x_u_all, y_u_all = enumerate_labels(x_u, K)
        t = self.label_elbo(torch.cat([x_l, x_u_all]),
                            self.onehot(torch.cat([y_l, y_u_all]), checked=True))
        # $\mathcal L(x, y) = \log p(x|y,z) - \mathrm{KL} + \log p(y)$, per row
        elbo = self.objective(t["log_px_z"], t["kl"]) + self.log_prior_y()
        logits = self.classifier(x)                                        # (B, K)
        log_q = F.log_softmax(logits[~lab], dim=-1)                        # (B_u, K)

        def unlabelled(v):  # (n_l + K*B_u,) -> (B_u, K): each unlabelled row's value per label
            return v[n_l:].view(K, B_u).T

        U = O.marginal_elbo(unlabelled(elbo), log_q, 0.0)                  # (B_u,)
        log_q_y = O.categorical_log_likelihood(y_l, logits[lab])          # $\log q(y|x)$, (n_l,)
        ce = -log_q_y.sum()
        loss = (-elbo[:n_l].sum() - U.sum() + self.config.alpha * ce) / B

        def row_average(v):  # reported terms: an unlabelled row's values weighted by q(y|x)
            return (v[:n_l].sum() + (log_q.exp() * unlabelled(v)).sum()) / B

        return {"loss": loss, "recon": -row_average(t["log_px_z"]), "kl": row_average(t["kl"]),
                "ce": ce / B}
