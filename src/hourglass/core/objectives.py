r"""Likelihoods, divergences and bounds as small pure functions.

Every function returns one value **per example** (shape ``(B,)`` or ``(k, B)``); the caller reduces.
Each docstring carries the equation it computes. Names follow the math: ``x`` is the data,
``x_hat``/``logits`` the decoder's output, ``mu``/``logvar`` the encoder's Gaussian.

The loss of an autoencoder follows from its likelihood: minimizing cross-entropy is maximizing a
Bernoulli likelihood, minimizing squared error is maximizing a Gaussian one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from hourglass.core.tensors import rng

LOG_2PI = math.log(2 * math.pi)


def _sum_features(t: torch.Tensor) -> torch.Tensor:
    """Sum over every dimension but the first: (B, ...) -> (B,); a (B,) tensor is returned as is."""
    return t.flatten(1).sum(1) if t.dim() > 1 else t


def bernoulli_log_likelihood(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    r"""Bernoulli log-likelihood of ``x`` under a decoder that outputs logits.

    $\log p(x \mid \ell) = \sum_i x_i \log \sigma(\ell_i) + (1 - x_i) \log(1 - \sigma(\ell_i))$

    i.e. minus the binary cross-entropy, computed stably from the logits. ``x`` may hold
    probabilities in [0, 1] (then it is the cross-entropy, not a proper likelihood).
    """
    return -_sum_features(F.binary_cross_entropy_with_logits(logits, x, reduction="none"))


def bernoulli_log_likelihood_k(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    r""":func:`bernoulli_log_likelihood` of one ``x`` (B, D) under ``k`` decodings ``logits``
    (k, B, D), shape (k, B), without copying ``x`` k times:
    $\log p(x \mid \ell) = \sum_i x_i \ell_i - \mathrm{softplus}(\ell_i)$, the same sum
    rearranged ($\log \sigma(\ell) = \ell - \mathrm{softplus}(\ell)$)."""
    return (logits * x).sum(-1) - F.softplus(logits).sum(-1)


def categorical_log_likelihood(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    r"""Categorical log-likelihood of integer ``x`` (B, ...) under ``logits`` (B, K, ...).

    $\log p(x \mid \ell) = \sum_i \log \mathrm{softmax}(\ell_i)_{x_i}
    = \sum_i \big(\ell_{i, x_i} - \log \textstyle\sum_{k=1}^K e^{\ell_{i,k}}\big)$

    The class dimension is dim 1 (as in ``F.cross_entropy``); e.g. K = 256 levels of 8-bit pixels,
    or, with ``x`` of shape (B,) and ``logits`` (B, K), the log-probability $\log q(y|x)$ that a
    classifier gives the label.
    """
    return -_sum_features(F.cross_entropy(logits, x, reduction="none"))


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


def reparameterized_log_density(eps: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""$\log q(z|x)$ at $z = \mu + \sigma \odot \epsilon$, from the noise itself:
    $\log \mathcal N(z; \mu, \sigma^2) = -\tfrac12 \sum_j (\log 2\pi + \log \sigma_j^2
    + \epsilon_j^2)$, since $(z - \mu)/\sigma = \epsilon$: equal to :func:`gaussian_log_density`
    with fewer operations (the training-time IWAE bound)."""
    return -0.5 * (LOG_2PI + logvar + eps ** 2).sum(-1)


def standard_normal_log_density(z: torch.Tensor) -> torch.Tensor:
    r"""$\log \mathcal N(z; 0, I) = -\tfrac12 \sum_j (\log 2\pi + z_j^2)$, summed over the last dim."""
    return -0.5 * (LOG_2PI + z ** 2).sum(-1)


def vamp_log_density(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""Log-density of the VampPrior (Tomczak & Welling 2018), an equal mixture of the posteriors
    of K pseudo-inputs $u_k$: $p(z) = \frac1K \sum_k \mathcal N(z; \mu(u_k), \sigma^2(u_k))$.

    $\log p(z) = \operatorname{logsumexp}_k \big[-\tfrac12 \sum_j (\log 2\pi + \log\sigma_{kj}^2
    + (z_j - \mu_{kj})^2 / \sigma_{kj}^2)\big] - \log K$, the square expanded so that the sum over
    j is two matrix products. ``z`` has shape (..., d); ``mean`` and ``logvar`` (K, d). Returns (...).
    """
    inv_var = torch.exp(-logvar)                                                   # (K, d)
    quad = (z * z) @ inv_var.T - 2 * z @ (mean * inv_var).T + (mean * mean * inv_var).sum(-1)
    log_components = -0.5 * (z.shape[-1] * LOG_2PI + logvar.sum(-1) + quad)        # (..., K)
    return torch.logsumexp(log_components, dim=-1) - math.log(mean.shape[0])


def iwae_dreg_surrogate(log_w: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    r"""A surrogate whose gradient is the doubly reparameterized estimator (DReG) of the gradient
    of $\mathcal L_k$ (Tucker, Lawson, Gu & Maddison 2019); its value is not $\mathcal L_k$.

    ``log_w`` (k, B) must be computed with $\log q(z|x)$ evaluated at stopped posterior parameters,
    so that the encoder sees $z$ only through the reparameterization. With normalized weights
    $\tilde w_j = w_j / \sum_i w_i$ (held constant), the decoder gets
    $\sum_j \tilde w_j \nabla_\theta \log w_j$, the usual IWAE gradient, and the encoder
    $\sum_j \tilde w_j^2 \, \partial \log w_j / \partial z_j \; \partial z_j / \partial \phi$,
    whose signal-to-noise ratio does not fall as k grows (Rainforth et al. 2018). A hook on ``z``
    applies the second factor $\tilde w_j$. Returns (B,).
    """
    w = torch.softmax(log_w.detach(), dim=0)                                        # (k, B)
    if z.requires_grad:
        z.register_hook(lambda g: g * w.unsqueeze(-1))
    return (w * log_w).sum(0)


def kl_normal_std_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""KL divergence of a diagonal Gaussian from the standard normal prior, closed form.

    $\mathrm{KL}\big(\mathcal N(\mu, \sigma^2) \,\Vert\, \mathcal N(0, I)\big)
    = \tfrac12 \sum_j \left(\mu_j^2 + \sigma_j^2 - \log \sigma_j^2 - 1\right)$
    """
    return kl_normal_std_normal_per_dim(mu, logvar).sum(-1)


def kl_normal_std_normal_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    r"""The terms of :func:`kl_normal_std_normal`, one per latent unit (not summed):
    $\tfrac12 (\mu_j^2 + \sigma_j^2 - \log \sigma_j^2 - 1)$. A unit whose average is near 0
    carries no information about x (an inactive unit)."""
    return 0.5 * (mu ** 2 + logvar.exp() - logvar - 1)


def capacity_kl(kl: torch.Tensor, capacity: float) -> torch.Tensor:
    r"""The KL term of the capacity-controlled beta-VAE (Burgess et al. 2018), per example.

    $\lvert \mathrm{KL}(q(z|x) \Vert p(z)) - C \rvert$: the KL is pulled towards a target of
    ``capacity`` = $C$ nats rather than towards 0; raising $C$ during training lets the code take
    in information a little at a time. The loss weights it by $\gamma$ (our ``beta``).
    """
    return (kl - capacity).abs()


def marginal_elbo(elbo_y: torch.Tensor, log_q_y: torch.Tensor,
                  log_p_y: torch.Tensor | float) -> torch.Tensor:
    r"""ELBO of an unlabelled example when the label $y$ is a latent variable (M2, Kingma et al. 2014).

    $\mathcal U(x) = \sum_y q(y|x)\,\big[\mathcal L(x, y) + \log p(y) - \log q(y|x)\big]
    \le \log p(x)$,

    with $\mathcal L(x, y) \le \log p(x|y)$ the ELBO given the label. ``elbo_y`` and ``log_q_y``
    have shape ``(B, K)`` (one column per label); ``log_p_y`` broadcasts against them. The bound is
    tight when $q(y|x) = p(y|x)$ and every $\mathcal L(x, y) = \log p(x|y)$.
    """
    return (log_q_y.exp() * (elbo_y + log_p_y - log_q_y)).sum(-1)


def marginal_log_likelihood(log_px_y: torch.Tensor,
                            log_p_y: torch.Tensor | float) -> torch.Tensor:
    r"""Log-likelihood with a discrete latent $y$ summed out, computed with log-sum-exp.

    $\log p(x) = \log \sum_y p(y)\,p(x|y)$.

    ``log_px_y`` has shape ``(B, K)`` (one column per label); ``log_p_y`` broadcasts against it.
    Given stochastic lower bounds $\hat{\mathcal L}(x|y)$ whose exponentials are unbiased for
    $p(x|y)$ (such as :func:`iwae_bound`), the result is a stochastic lower bound on $\log p(x)$
    (Jensen's inequality).
    """
    return torch.logsumexp(log_px_y + log_p_y, dim=-1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, *, k: int | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    r"""The reparameterization trick: $z = \mu + \sigma \odot \epsilon$, $\epsilon \sim \mathcal N(0, I)$.

    With ``k`` draws the result has shape ``(k, B, d)``; without, ``(B, d)``.
    """
    shape = mu.shape if k is None else (k, *mu.shape)
    eps = torch.randn(shape, dtype=mu.dtype, device=mu.device, **rng(generator))
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


def gaussian_mixture_log_density(x: torch.Tensor, logits: torch.Tensor, mean: torch.Tensor,
                                  log_scale: torch.Tensor) -> torch.Tensor:
    r"""Log-density of every value of ``x`` under its own mixture of K Gaussians (elementwise).

    $\log p(x_i) = \log \sum_{k=1}^K \pi_{ik}\, \mathcal N(x_i; \mu_{ik}, \sigma_{ik}^2)
    = \operatorname{logsumexp}_k \big[\log \pi_{ik} - \tfrac12 \log 2\pi - \log \sigma_{ik}
    - \tfrac12 (x_i - \mu_{ik})^2 / \sigma_{ik}^2\big]$, $\pi_i = \mathrm{softmax}(\ell_i)$,

    the output of one RNADE conditional (Uria, Murray & Larochelle 2013). ``x`` has any shape S;
    ``logits``, ``mean`` and ``log_scale`` ($\log\sigma$) have shape (*S, K), the components last.
    Returns shape S (not summed). With $\log \pi_{ik} = \ell_{ik} - \operatorname{logsumexp}_k
    \ell_{ik}$ this is $\operatorname{logsumexp}_k [\ell_{ik} + \log \mathcal N_{ik}] -
    \operatorname{logsumexp}_k \ell_{ik}$, which never builds the (*S, K) tensor of
    $\log \pi$ that ``log_softmax`` would.
    """
    z = (x.unsqueeze(-1) - mean) * torch.exp(-log_scale)
    log_components = -0.5 * (LOG_2PI + z * z) - log_scale          # log N(x; mu_k, sigma_k^2)
    return torch.logsumexp(logits + log_components, dim=-1) - torch.logsumexp(logits, dim=-1)


def gaussian_mixture_log_likelihood(x: torch.Tensor, logits: torch.Tensor, mean: torch.Tensor,
                                    log_scale: torch.Tensor) -> torch.Tensor:
    r"""$\sum_i \log \sum_k \pi_{ik}\, \mathcal N(x_i; \mu_{ik}, \sigma_{ik}^2)$ per example,
    (B, ...) -> (B,): the sum of :func:`gaussian_mixture_log_density` over the features."""
    return _sum_features(gaussian_mixture_log_density(x, logits, mean, log_scale))


def bits_per_dim(nll_nats: torch.Tensor | float, dim: int) -> torch.Tensor | float:
    r"""Negative log-likelihood in bits per dimension: $\mathrm{nll} / (D \ln 2)$."""
    return nll_nats / (dim * math.log(2))


# --------------------------------------------------------------------------------------------
# Regularizers of the classic autoencoders: contraction and sparsity.
# ``h`` is the code (B, d); ``x`` the input it was computed from (B, ...).


def stochastic_contraction(h: torch.Tensor, h_tilde: torch.Tensor) -> torch.Tensor:
    r"""One-sample SCAE penalty: $\lVert h(x) - h(\tilde x) \rVert^2$, $\tilde x \sim q(\tilde x|x)$.

    Its expectation over $q$ is the stochastic regularizer $\mathbb E_q \lVert h(x) - h(\tilde x)
    \rVert^2$; for small Gaussian noise of std $\sigma$ it is $\approx \sigma^2 \lVert J_h(x)
    \rVert_F^2$ (first-order Taylor: $h(x + \epsilon) \approx h(x) + J_h(x)\,\epsilon$).
    """
    return ((h - h_tilde) ** 2).sum(-1)


def contractive_penalty_sigmoid(h: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    r"""$\lVert J_h(x) \rVert_F^2$ of a one-layer sigmoid encoder $h = \sigma(Wx + b)$, closed form.

    $\dfrac{\partial h_j}{\partial x_i} = h_j (1 - h_j)\,W_{ji}$, hence
    $\lVert J_h(x) \rVert_F^2 = \sum_j \big(h_j (1 - h_j)\big)^2 \sum_i W_{ji}^2$
    (Rifai et al. 2011, eq. 5). ``h`` is (B, d), ``weight`` is $W$ of shape (d, D).
    """
    return (h * (1 - h)) ** 2 @ (weight ** 2).sum(1)  # (B, d) @ (d,) -> (B,)


def jacobian_frobenius_sq(h: torch.Tensor, x: torch.Tensor, *,
                          create_graph: bool = True) -> torch.Tensor:
    r"""$\lVert J_h(x) \rVert_F^2 = \sum_j \lVert \nabla_x h_j \rVert^2$ exactly, for any encoder.

    One vector-Jacobian product per code unit, $e_j^\top J_h(x)$ for $j = 1..d$, all in one
    batched backward pass. ``h`` must have been computed from ``x`` (which requires grad) with no
    interaction between the rows of the batch (e.g. no batch norm in training mode).
    With ``create_graph`` the result can be differentiated again (to train on it).
    """
    B, d = h.shape
    basis = torch.eye(d, dtype=h.dtype, device=h.device).unsqueeze(1).expand(d, B, d)  # (d, B, d)
    (rows,) = torch.autograd.grad(h, x, grad_outputs=basis, is_grads_batched=True,
                                  create_graph=create_graph)                           # (d, B, ...)
    return rows.flatten(2).pow(2).sum(2).sum(0)                                        # (B,)


def jacobian_frobenius_sq_estimate(h: torch.Tensor, x: torch.Tensor, *, n_projections: int = 1,
                                   generator: torch.Generator | None = None,
                                   create_graph: bool = True) -> torch.Tensor:
    r"""Unbiased random-projection estimate of $\lVert J_h(x) \rVert_F^2$ (Hutchinson's trick).

    For $v \sim \mathcal N(0, I_d)$, $\mathbb E_v \lVert v^\top J \rVert^2
    = \mathrm{tr}(J^\top\,\mathbb E[v v^\top]\,J) = \lVert J \rVert_F^2$; the estimate averages
    $\lVert v_k^\top J_h(x) \rVert^2$ over ``n_projections`` vector-Jacobian products, whatever the
    code size. Same requirements on ``h`` and ``x`` as :func:`jacobian_frobenius_sq`.
    """
    B, d = h.shape
    v = torch.randn((n_projections, B, d), dtype=h.dtype, device=h.device, **rng(generator))
    (vjp,) = torch.autograd.grad(h, x, grad_outputs=v, is_grads_batched=True,
                                 create_graph=create_graph)                            # (k, B, ...)
    return vjp.flatten(2).pow(2).sum(2).mean(0)                                        # (B,)


def l1_sparsity(h: torch.Tensor) -> torch.Tensor:
    r"""L1 sparsity penalty on the code, per example: $\lVert h \rVert_1 = \sum_j \lvert h_j \rvert$."""
    return h.abs().sum(-1)


def kl_sparsity(h: torch.Tensor, rate: float, *, eps: float = 1e-6) -> torch.Tensor:
    r"""KL sparsity penalty of sigmoid codes (Ng 2011, "Sparse autoencoder"), a **batch** statistic.

    $\sum_j \mathrm{KL}(\rho \,\Vert\, \hat\rho_j) = \sum_j \rho \log\frac{\rho}{\hat\rho_j}
    + (1 - \rho) \log\frac{1 - \rho}{1 - \hat\rho_j}$, with $\hat\rho_j = \frac1B \sum_b h_{bj}$
    the mean activation of unit $j$ over the batch and $\rho$ = ``rate`` the target. Unlike the other
    objectives it returns one scalar, since $\hat\rho$ is an average over examples.
    """
    rho_hat = h.mean(0).clamp(eps, 1 - eps)                                           # (d,)
    return (rate * torch.log(rate / rho_hat)
            + (1 - rate) * torch.log((1 - rate) / (1 - rho_hat))).sum()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, *,
                       real_target: float = 1.0) -> torch.Tensor:
    r"""The discriminator's side of the GAN game (Goodfellow et al. 2014), per example pair.

    $-\log D(x) - \log(1 - D(G(z)))$ with $D = \sigma(\text{logit})$: the binary cross-entropy
    of calling real samples real and fake samples fake. $-\log\sigma(a) = \mathrm{softplus}(-a)$
    and $-\log(1 - \sigma(a)) = \mathrm{softplus}(a)$. In an AAE, "real" are prior samples and
    "fake" the encoder's codes. One-sided label smoothing (Salimans et al. 2016) sets the target of
    real samples to $t$ = ``real_target`` < 1, $-t \log D(x) - (1 - t)\log(1 - D(x))$, and
    leaves the fakes' target at 0.
    """
    real = F.softplus(-real_logits)
    if real_target != 1.0:
        real = real_target * real + (1 - real_target) * F.softplus(real_logits)
    return real.flatten(1).sum(1) + F.softplus(fake_logits).flatten(1).sum(1)


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    r"""The non-saturating generator loss $-\log D(G(z)) = \mathrm{softplus}(-\text{logit})$.

    Same fixed point as minimizing $\log(1 - D(G(z)))$, but with strong gradients early on, when
    the discriminator rejects every sample.
    """
    return F.softplus(-fake_logits).flatten(1).sum(1)


def categorical_mi_lower_bound(c: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    r"""The variational lower bound on $I(c; x)$ (Barber & Agakov 2003; InfoGAN, Chen et al. 2016)
    for uniform categorical codes, one sample per example.

    $L_I = \log Q(c \mid x) + H(c) \le I(c; x)$ in expectation, with $H(c) = n \log K$ for $n$
    independent uniform $K$-way codes. ``c`` holds the code indices, (B,) or (B, n); ``logits``
    Q's scores, (B, K) or (B, K, n) (the class dimension is dim 1, as in ``F.cross_entropy``).
    Every term is at most $H(c)$: $\log Q \le 0$; $Q$ uniform gives exactly 0.
    """
    k, n = logits.shape[1], (c[0].numel() if c.dim() > 1 else 1)
    return categorical_log_likelihood(c, logits) + n * math.log(k)


def uniform_gaussian_mi_lower_bound(c: torch.Tensor, mean: torch.Tensor,
                                    logvar: torch.Tensor | float = 0.0, *, low: float = -1.0,
                                    high: float = 1.0) -> torch.Tensor:
    r"""The variational lower bound on $I(c; x)$ for continuous codes $c_j \sim U(\text{low},
    \text{high})$ under a factored Gaussian $Q(c \mid x)$ (InfoGAN, Chen et al. 2016).

    $L_I = \sum_j \log \mathcal N(c_j; \mu_j, \sigma_j^2) + H(c)$, $H(c) = n \log(\text{high} -
    \text{low})$ for $n$ codes (``c`` of shape (B, n)). With a fixed $\sigma = 1$ the first term
    is $-\tfrac12 \lVert c - \mu \rVert^2$ plus a constant: squared error.
    """
    return gaussian_log_likelihood(c, mean, logvar) + c.shape[1] * math.log(high - low)
