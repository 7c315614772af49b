r"""The conditional VAE (Sohn et al. 2015).

The label $y$ (one of K classes, one-hot) is concatenated to the encoder's input and to the
decoder's code: $q_\phi(z|x, y)$, $p_\theta(x|z, y)$, prior $p(z) = \mathcal N(0, I)$ independent
of $y$. The ELBO is the VAE's, given the label:

$\mathcal L(x, y) = \mathbb E_{q(z|x,y)}[\log p(x|z,y)] - \beta\,\mathrm{KL}(q(z|x,y) \Vert p(z))
\le \log p(x|y)$.

Since the label is handed to the decoder, $z$ is free to learn what the label does not say (style:
slant, thickness, position); ``sample(n, y=c)`` generates class ``c``, and decoding one image's
$z$ with every label gives the "analogy" picture (same style, every class).

Every method takes the label ``y`` (LongTensor (B,)). Without it, the methods average over the
labels with weights $r(y|x)$ — uniform for the CVAE, the classifier $q(y|x)$ for M2 (a subclass):
``encode`` gives $\sum_y r(y|x)\,\mu(x, y)$, ``decode`` the mean of $p(x|z) = \sum_y p(y) p(x|z,y)$
under the uniform prior $p(y) = 1/K$, ``log_prob`` the bound on
$\log p(x) = \log \sum_y p(y)\,p(x|y)$ (K times the work of one label).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from hourglass.core.options import option
from hourglass.core import objectives as O
from hourglass.core.tensors import rng
from hourglass.core.validation import AnyOf, Interval
from hourglass.core.errors import ConfigError
from hourglass.models.base import AutoencoderBase, make_decoder, make_encoder
from hourglass.models.protocol import declare
from hourglass.models.registry import register_model
from hourglass.models.vae import IWAE_CHUNK_ELEMENTS, VAE, ELBOVAEConfig, check_k


@dataclass
class CVAEConfig(ELBOVAEConfig):
    n_classes: int | None = option(None, AnyOf((None, Interval(int, 2, None))),
                                   "number of classes K of the label y (None: taken from the data)")


def join_label(x: torch.Tensor, y1h: torch.Tensor, arch: str) -> torch.Tensor:
    """The encoder's input [x, y]: K constant channels for conv, K more features for mlp.

    conv: ``(B, C, H, W), (B, K) -> (B, C+K, H, W)``; mlp: ``-> (B, C*H*W + K)``.
    """
    if arch == "conv":
        maps = y1h[:, :, None, None].expand(-1, -1, *x.shape[2:])       # (B, K, H, W)
        return torch.cat([x, maps], dim=1)
    return torch.cat([x.flatten(1), y1h], dim=1)


def enumerate_labels(t: torch.Tensor, K: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every row of `t` with every label: ``(B, ...) -> (K*B, ...)`` label-major, and the labels
    ``[0]*B + [1]*B + ...``; a result of shape (K*B, ...) views as (K, B, ...)."""
    B = t.shape[0]
    labels = torch.arange(K, device=t.device).repeat_interleave(B)
    return t.repeat(K, *[1] * (t.dim() - 1)), labels


@register_model("cvae")
class CVAE(VAE):
    """Conditional VAE: q(z|x,y), p(x|z,y); sample(n, y=c) generates class c."""

    config_class = CVAEConfig
    capabilities = declare("encode", "decode", "reconstruct", "sample", "log_prob_bound", "elbo",
                           "posterior", "epoch_schedule", "labels", "conditional", "data_check")
    tiny_configs = [dict(c, n_classes=10) for c in AutoencoderBase.tiny_configs]
    init_from_data = None  # N(0, I) prior: no pseudo-inputs to start from the data

    def __init__(self, config: CVAEConfig | None = None, **kwargs):
        super().__init__(config, **kwargs)
        c = self.config
        if c.n_classes is None:
            raise ConfigError(f"{type(self).__name__} needs the number of classes: pass "
                              "n_classes=K (`hourglass train` takes it from the data).")
        K, D = c.n_classes, math.prod(c.input_shape)
        # the base class built networks for x alone; these take the label too
        # q(z|x, y): the label enters as K extra input channels (conv) or features (mlp)
        joined = (c.input_shape[0] + K, *c.input_shape[1:]) if c.arch == "conv" else (D + K,)
        self.encoder = make_encoder(replace(c, input_shape=joined), 2 * c.latent_dim)
        # p(x|z, y): the decoder reads [z, y]
        self.decoder = make_decoder(replace(c, latent_dim=c.latent_dim + K))

    # ---- labels -------------------------------------------------------------------------------
    @property
    def n_classes(self) -> int:
        return self.config.n_classes

    def check_labels(self, y, lowest: int = 0) -> None:
        """Refuse missing labels or labels outside lowest..K-1, naming the fix (two host syncs:
        once per fit in training, through :meth:`check_data`)."""
        if y is None:
            raise ConfigError(f"{type(self).__name__} is trained on labelled data: pass y "
                              "(class labels 0..K-1) with x.")
        y = torch.as_tensor(y)
        lo, hi = (int(y.min()), int(y.max())) if y.numel() else (0, 0)
        if lo < lowest or hi >= self.n_classes:
            raise ConfigError(f"Labels must lie in {lowest}..{self.n_classes - 1} "
                              f"(n_classes={self.n_classes}); got values in {lo}..{hi}.")

    def check_data(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        """The training labels, checked once per fit on all of them (not at every step)."""
        self.check_labels(y)

    def onehot(self, y: torch.Tensor, *, checked: bool = False) -> torch.Tensor:
        """(B,) labels in 0..K-1 -> (B, K) float one-hot; names the fix for bad labels unless
        they were `checked` already (the training step: :meth:`check_data` saw them); missing
        labels are refused either way."""
        if not checked or y is None:
            self.check_labels(y)
        y = torch.as_tensor(y, device=next(self.parameters()).device)
        return F.one_hot(y.long(), self.n_classes).float()

    def log_prior_y(self) -> float:
        """$\\log p(y) = -\\log K$: the uniform label prior."""
        return -math.log(self.n_classes)

    def label_weights(self, x: torch.Tensor) -> torch.Tensor:
        """$r(y|x)$, (B, K), used when no label is given: uniform for the CVAE."""
        return torch.full((x.shape[0], self.n_classes), 1 / self.n_classes, device=x.device)

    def _over_labels(self, fn, x, y, *, log_space: bool = False):
        """``fn(x, y1h)`` given the labels; without them $\\sum_y r(y|x)\\,fn(x, y)$ over every
        label, or $\\log \\sum_y r(y|x)\\,e^{fn(x, y)}$ with ``log_space``."""
        if y is not None:
            return fn(x, self.onehot(y))
        K, B = self.n_classes, x.shape[0]
        x_all, y_all = enumerate_labels(x, K)
        out = fn(x_all, F.one_hot(y_all, K).float())
        out = out.view(K, B, *out.shape[1:])                            # (K, B, ...)
        r = self.label_weights(x).T.reshape(K, B, *[1] * (out.dim() - 2))
        if log_space:
            return torch.logsumexp(out + r.log(), dim=0)
        return (r * out).sum(0)

    # ---- the model ----------------------------------------------------------------------------
    def posterior(self, x, y1h):
        """Parameters of q(z|x, y): mu and logvar, each (B, latent_dim)."""
        mu, logvar = self.encoder(join_label(x, y1h, self.config.arch)).chunk(2, dim=-1)
        return mu, logvar

    def decode_logits(self, z, y1h):
        """Decoder output for p(x|z, y), (B, *input_shape)."""
        return self.decoder(torch.cat([z, y1h], dim=-1))

    def label_elbo(self, x, y1h) -> dict:
        """One-sample $\\log p(x|z,y)$ and $\\mathrm{KL}(q(z|x,y) \\Vert p(z))$ per example."""
        mu, logvar = self.posterior(x, y1h)
        z = O.reparameterize(mu, logvar)
        return {"log_px_z": self.likelihood.log_prob(x, self.decode_logits(z, y1h)),
                "kl": O.kl_normal_std_normal(mu, logvar)}

    def forward(self, x, y=None):
        t = self.label_elbo(x, self.onehot(y, checked=True))
        return self.loss_terms(t["log_px_z"], t["kl"])

    def encode(self, x, y=None):
        """$\\mu(x, y)$; without y, $\\sum_y r(y|x)\\,\\mu(x, y)$."""
        return self._over_labels(lambda xx, yy: self.posterior(xx, yy)[0], x, y)

    def decode(self, z, y=None):
        """Mean of p(x|z, y); without y, of $p(x|z) = \\sum_y p(y)\\,p(x|z,y)$."""
        if y is not None:
            return self.likelihood.mean(self.decode_logits(z, self.onehot(y)))
        K, B = self.n_classes, z.shape[0]
        z_all, y_all = enumerate_labels(z, K)
        means = self.likelihood.mean(self.decode_logits(z_all, F.one_hot(y_all, K).float()))
        return means.view(K, B, *means.shape[1:]).mean(0)

    def reconstruct(self, x, y=None):
        """Mean of p(x | mu(x, y), y); without y, averaged with weights r(y|x)."""
        return self._over_labels(
            lambda xx, yy: self.likelihood.mean(self.decode_logits(self.posterior(xx, yy)[0], yy)),
            x, y)

    def reconstruction_log_likelihood(self, x, y=None):
        """$\\log p(x \\mid \\mu(x, y), y)$; without y,
        $\\log \\sum_y r(y|x)\\,p(x|\\mu(x,y), y)$."""
        def log_lik(xx, yy):
            return self.likelihood.log_prob(xx, self.decode_logits(self.posterior(xx, yy)[0], yy))
        return self._over_labels(log_lik, x, y, log_space=True)

    @torch.no_grad()
    def sample(self, n: int, *, y=None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode `n` draws $z \\sim \\mathcal N(0, I)$ with label `y`: an int (every sample of that
        class), a (n,) tensor of labels, or None (labels drawn from the uniform prior)."""
        z = self.prior_sample(n, generator)
        if y is None:
            y = torch.randint(0, self.n_classes, (n,), **rng(generator), device=z.device)
        elif isinstance(y, int):
            y = torch.full((n,), y, dtype=torch.long, device=z.device)
        elif len(y) != n:
            raise ConfigError(f"sample(n={n}, y=...) needs one label per sample; got {len(y)}.")
        return self.decode(z, y)

    @torch.no_grad()
    def elbo(self, x, y=None, *, generator=None):
        r"""One-sample ELBO ($\beta = 1$), nats: of $\log p(x|y)$ given y; without y,
        $\mathcal U(x) = \sum_y r(y|x)[\mathcal L(x, y) + \log p(y) - \log r(y|x)]
        \le \log p(x)$."""
        if y is not None:
            return self.log_prob(x, y, k=1, generator=generator)
        K, B = self.n_classes, x.shape[0]
        x_all, y_all = enumerate_labels(x, K)
        elbo_y = self.log_prob(x_all, y_all, k=1, generator=generator).view(K, B).T   # (B, K)
        return O.marginal_elbo(elbo_y, self.label_weights(x).log(), self.log_prior_y())

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, y=None, *, k: int = 1000,
                 generator: torch.Generator | None = None, max_elements: int = IWAE_CHUNK_ELEMENTS):
        r"""Importance-weighted bound, nats: $\mathcal L_k(x|y) \le \log p(x|y)$ given y; without
        y, $\log \sum_y p(y)\,\hat p_k(x|y)$ (a bound on $\log p(x)$, K times the work)."""
        check_k(k)
        if y is None:
            K, B = self.n_classes, x.shape[0]
            x_all, y_all = enumerate_labels(x, K)
            log_px_y = self.log_prob(x_all, y_all, k=k, generator=generator,
                                     max_elements=max_elements).view(K, B).T     # (B, K)
            return O.marginal_log_likelihood(log_px_y, self.log_prior_y())
        y1h = self.onehot(y)
        mu, logvar = self.posterior(x, y1h)

        def decode_logits(z):                                         # (kk, B, d) -> (kk*B, ...)
            return self.decode_logits(z.flatten(0, 1), y1h.repeat(z.shape[0], 1))
        return self.iwae(x, mu, logvar, decode_logits, k=k, generator=generator,
                         max_elements=max_elements)
