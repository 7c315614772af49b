r"""Likelihoods, divergences and bounds as small pure functions.

Every function returns one value **per example** (shape ``(B,)`` or ``(k, B)``); the caller reduces.
Each docstring carries the equation it computes. Names follow the math: ``x`` is the data,
``x_hat``/``logits`` the decoder's output, ``mu``/``logvar`` the encoder's Gaussian.

The MLE view of the autoencoder loss (lecture notes 000, "loss chosen by likelihood"):
minimizing cross-entropy is maximizing a Bernoulli likelihood, minimizing squared error is
maximizing a Gaussian one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


def _sum_features(t: torch.Tensor) -> torch.Tensor:
    """Sum over every dimension but the first: (B, ...) -> (B,)."""
    return t.flatten(1).sum(1)


def bernoulli_log_likelihood(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    r"""Bernoulli log-likelihood of ``x`` under a decoder that outputs logits.

    $\log p(x \mid \ell) = \sum_i x_i \log \sigma(\ell_i) + (1 - x_i) \log(1 - \sigma(\ell_i))$

    i.e. minus the binary cross-entropy, computed stably from the logits. ``x`` may hold
    probabilities in [0, 1] (then it is the cross-entropy, not a proper likelihood).
    """
    return -_sum_features(F.binary_cross_entropy_with_logits(logits, x, reduction="none"))


def gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor,
                            logvar: torch.Tensor | float = 0.0) -> torch.Tensor:
    r"""Diagonal Gaussian log-likelihood.

    $\log \mathcal N(x; \mu, \sigma^2) = -\tfrac12 \sum_i \left[\log 2\pi + \log\sigma_i^2
    + (x_i - \mu_i)^2 / \sigma_i^2\right]$

    With $\sigma = 1$ this is $-\tfrac12\lVert x - \mu\rVert^2$ plus a constant: squared error.
    ``logvar`` broadcasts against ``x`` (a float, a per-feature tensor, or per-example).
    """
    logvar = torch.as_tensor(logvar, dtype=x.dtype, device=x.device)
    return -0.5 * _sum_features((LOG_2PI + logvar + (x - mean) ** 2 * torch.exp(-logvar))
                                .expand_as(x))


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""$\log \mathcal N(z; \mu, \mathrm{diag}\,e^{\mathrm{logvar}})$ summed over the last dim."""
    return -0.5 * (LOG_2PI + logvar + (z - mu) ** 2 * torch.exp(-logvar)).sum(-1)


def standard_normal_log_density(z: torch.Tensor) -> torch.Tensor:
    r"""$\log \mathcal N(z; 0, I) = -\tfrac12 \sum_j (\log 2\pi + z_j^2)$, summed over the last dim."""
    return -0.5 * (LOG_2PI + z ** 2).sum(-1)


def kl_normal_std_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""KL divergence of a diagonal Gaussian from the standard normal prior, closed form.

    $\mathrm{KL}\big(\mathcal N(\mu, \sigma^2) \,\Vert\, \mathcal N(0, I)\big)
    = \tfrac12 \sum_j \left(\mu_j^2 + \sigma_j^2 - \log \sigma_j^2 - 1\right)$
    """
    return 0.5 * (mu ** 2 + logvar.exp() - logvar - 1).sum(-1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, *, k: int | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    r"""The reparameterization trick: $z = \mu + \sigma \odot \epsilon$, $\epsilon \sim \mathcal N(0, I)$.

    With ``k`` draws the result has shape ``(k, B, d)``; without, ``(B, d)``.
    """
    shape = mu.shape if k is None else (k, *mu.shape)
    eps = torch.randn(shape, dtype=mu.dtype, device=mu.device, generator=generator)
    return mu + torch.exp(0.5 * logvar) * eps


def elbo(log_px_z: torch.Tensor, kl: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    r"""Evidence lower bound, per example.

    $\mathcal L(x) = \mathbb E_{q(z|x)}[\log p(x|z)] - \beta\,\mathrm{KL}(q(z|x) \Vert p(z))
    \le \log p(x)$ for $\beta = 1$.
    """
    return log_px_z - beta * kl


def iwae_bound(log_px_z: torch.Tensor, log_pz: torch.Tensor, log_qz_x: torch.Tensor) -> torch.Tensor:
    r"""Importance-weighted bound (Burda et al. 2016) from ``k`` samples $z_j \sim q(z|x)$.

    $\mathcal L_k(x) = \log \frac1k \sum_{j=1}^k \frac{p(x|z_j)\,p(z_j)}{q(z_j|x)}
    \le \log p(x)$, computed with log-sum-exp. Inputs have shape ``(k, B)``; output ``(B,)``.
    $\mathcal L_1$ is the ELBO and $\mathcal L_k \uparrow \log p(x)$ as $k \to \infty$.
    """
    log_w = log_px_z + log_pz - log_qz_x  # (k, B)
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])


def bits_per_dim(nll_nats: torch.Tensor | float, dim: int) -> torch.Tensor | float:
    r"""Negative log-likelihood in bits per dimension: $\mathrm{nll} / (D \ln 2)$."""
    return nll_nats / (dim * math.log(2))
