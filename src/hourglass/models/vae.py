r"""The variational autoencoder (Kingma & Welling 2014; lecture notes 000, 002, 003, 004).

Encoder $q_\phi(z|x) = \mathcal N(\mu_\phi(x), \mathrm{diag}\,\sigma^2_\phi(x))$, prior
$p(z) = \mathcal N(0, I)$, decoder $p_\theta(x|z)$. Training minimizes the negative ELBO

$-\mathcal L(x) = -\mathbb E_{q(z|x)}[\log p(x|z)] + \beta\,\mathrm{KL}(q(z|x) \Vert p(z))$

with one reparameterized sample $z = \mu + \sigma \odot \epsilon$. With $\beta > 1$ it is the
beta-VAE (Higgins et al. 2017): a config value, not another class. The log-likelihood of new data is
estimated with the importance-weighted bound $\mathcal L_k$ (Burda et al. 2016).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .. import objectives as O
from .._validation import Interval
from ..errors import ConfigError
from .base import AutoencoderBase, AutoencoderConfig
from .registry import register_model


@dataclass
class VAEConfig(AutoencoderConfig):
    beta: float = 1.0  # weight of the KL term; 1 is the ELBO, > 1 the beta-VAE

    constraints = {**AutoencoderConfig.constraints, "beta": Interval(float, 0, None)}


@register_model("vae")
class VAE(AutoencoderBase):
    """Variational autoencoder: Gaussian q(z|x), N(0, I) prior, loss = -ELBO (beta-weighted KL)."""

    config_class = VAEConfig
    encoder_outputs = 2

    def posterior(self, x):
        """Parameters of q(z|x): mu and logvar, each (B, latent_dim)."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def encode(self, x):
        """The posterior mean, the usual deterministic code of a VAE."""
        return self.posterior(x)[0]

    def forward(self, x, y=None):
        mu, logvar = self.posterior(x)
        z = O.reparameterize(mu, logvar)
        log_px_z = self.likelihood.log_prob(x, self.decoder(z))
        kl = O.kl_normal_std_normal(mu, logvar)
        loss = -O.elbo(log_px_z, kl, self.config.beta).mean()
        return {"loss": loss, "recon": -log_px_z.mean(), "kl": kl.mean()}

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode `n` draws from the prior: the mean of p(x|z), z ~ N(0, I)."""
        p = next(self.parameters())
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=p.device)
        return self.decode(z)

    @torch.no_grad()
    def elbo(self, x, *, generator=None):
        """Per-example ELBO (beta = 1) with one posterior sample, nats."""
        return self.log_prob(x, k=1, generator=generator)

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, *, k: int = 1000, generator: torch.Generator | None = None,
                 max_elements: int = 2 ** 24) -> torch.Tensor:
        r"""Importance-weighted estimate $\mathcal L_k(x) \le \log p(x)$ per example, nats.

        The k samples are drawn in chunks so that at most ~`max_elements` decoder outputs are held
        at once; the bound is exact log-sum-exp over all k.
        """
        if not isinstance(k, int) or k < 1:
            raise ConfigError(f"The number of importance samples k must be a positive int. "
                              f"Got {k!r} instead.")
        mu, logvar = self.posterior(x)                            # (B, d)
        B = x.shape[0]
        chunk = max(1, min(k, max_elements // max(1, B * self.dim)))
        log_w = []
        for start in range(0, k, chunk):
            kk = min(chunk, k - start)
            z = O.reparameterize(mu, logvar, k=kk, generator=generator)  # (kk, B, d)
            out = self.decoder(z.flatten(0, 1))                          # (kk*B, *shape)
            x_rep = x.expand(kk, *x.shape).flatten(0, 1)
            log_px_z = self.likelihood.log_prob(x_rep, out).view(kk, B)
            log_w.append(log_px_z + O.standard_normal_log_density(z)
                         - O.gaussian_log_density(z, mu, logvar))
        log_w = torch.cat(log_w)                                         # (k, B)
        return torch.logsumexp(log_w, dim=0) - torch.log(torch.tensor(float(k)))
