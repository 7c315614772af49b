r"""The variational autoencoder (Kingma & Welling 2014).

Encoder $q_\phi(z|x) = \mathcal N(\mu_\phi(x), \mathrm{diag}\,\sigma^2_\phi(x))$, prior
$p(z) = \mathcal N(0, I)$, decoder $p_\theta(x|z)$. Training minimizes the negative ELBO

$-\mathcal L(x) = -\mathbb E_{q(z|x)}[\log p(x|z)] + \beta\,\mathrm{KL}(q(z|x) \Vert p(z))$

with one reparameterized sample $z = \mu + \sigma \odot \epsilon$. With $\beta > 1$ it is the
beta-VAE (Higgins et al. 2017): a config value, not another class (``beta-vae`` is the same model
registered with ``beta=4`` as its default). Two schedules of the KL term, both config values run by
the trainer's ``on_epoch_start`` hook:

- **KL warm-up** (Bowman et al. 2016; Sønderby et al. 2016): the weight rises linearly,
  $\beta_t = \beta \min(1, t / T_w)$ at epoch $t$, so the decoder learns to use $z$ before the KL
  pulls the posterior onto the prior;
- **capacity control** (Burgess et al. 2018): the KL term becomes $\beta\,|\mathrm{KL} - C_t|$ with
  $C_t = C \min(1, t / T_C)$ rising to ``capacity`` nats.

Outside training (a loaded model, or before the first epoch) the schedules are at their end values.

Two options of the importance-weighted training (``train_k`` > 1) and of the prior:

- **VampPrior** (``prior="vamp"``; Tomczak & Welling 2018): the prior is learned, an equal mixture
  of the encoder's posteriors at K learned pseudo-inputs, $p(z) = \frac1K \sum_k q(z|u_k)$, which
  is the aggregate posterior the ELBO's optimal prior would be, with K points standing in for the
  data. The pseudo-inputs start at K training images (drawn once per model, at its first fit).
  The KL term has no closed form then and is estimated at the sampled z.
- **DReG** (``iwae_gradient="dreg"``; Tucker et al. 2019): the doubly reparameterized gradient of
  the IWAE bound for the encoder, whose signal does not vanish as k grows.

The log-likelihood of new data is estimated with the importance-weighted bound $\mathcal L_k$
(Burda et al. 2016).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hourglass.core.options import option
from hourglass.core import objectives as O
from hourglass.core.tensors import rng
from hourglass.core.validation import AnyOf, Interval, Options
from hourglass.core.errors import ConfigError
from hourglass.models.base import AutoencoderBase, AutoencoderConfig
from hourglass.models.protocol import When, declare
from hourglass.models.registry import register_model

# decoder outputs held at once by the IWAE bound's chunks: 4 MB of float32, so that the passes
# over a chunk stay in the cache
IWAE_CHUNK_ELEMENTS = 2 ** 20

@dataclass
class VAEConfig(AutoencoderConfig):
    beta: float = option(1.0, Interval(float, 0, None),
                         "weight of the KL term; 1 is the ELBO, > 1 the beta-VAE")
    warmup_epochs: int = option(0, Interval(int, 0, None),
                                "KL warm-up: the KL weight rises from 0 to beta over N epochs (0: off)")
    capacity: float | None = option(None, AnyOf((None, Interval(float, 0, None))),
                                    "capacity control: beta*|KL - C|, C rising to this (nats)")
    capacity_epochs: int = option(0, Interval(int, 0, None),
                                  "epochs over which C rises linearly from 0 (0: C fixed)")
    train_k: int = option(1, Interval(int, 1, 5000),
                          "importance samples of the training objective: 1 is the ELBO; k > 1 "
                          "trains on the importance-weighted bound L_k (IWAE, Burda et al. 2016)")
    iwae_gradient: str = option("standard", Options(("standard", "dreg")),
                                "gradient of L_k (train_k > 1): standard, or dreg, the doubly "
                                "reparameterized estimator (Tucker et al. 2019)")
    prior: str = option("normal", Options(("normal", "vamp")),
                        "p(z): normal, N(0, I); or vamp, a mixture of the posteriors of learned "
                        "pseudo-inputs (VampPrior, Tomczak & Welling 2018)")
    prior_components: int = option(500, Interval(int, 1, None),
                                   "pseudo-inputs K of the VampPrior (prior=vamp)")

    def validate(self, owner=None):
        super().validate(owner)
        if self.iwae_gradient == "dreg" and self.train_k == 1:
            raise ConfigError(f"{owner or type(self).__name__}: iwae_gradient='dreg' is a gradient "
                              "of the importance-weighted bound; set train_k > 1 (e.g. 5), or "
                              "use iwae_gradient='standard'.")
        if self.train_k > 1 and self.capacity is not None:
            raise ConfigError(f"{owner or type(self).__name__}: capacity control is defined on "
                              "the ELBO's KL term; use train_k=1 with capacity, or drop capacity.")


@dataclass
class ELBOVAEConfig(VAEConfig):
    """The VAE's options for a model that trains on the ELBO with the N(0, I) prior only (the
    CVAE and DB-VAE): the IWAE and prior options fixed, hidden from the CLI and the estimators."""
    train_k: int = option(1, Interval(int, 1, 1), "this model trains on the ELBO (k = 1)",
                          cli=False, estimator=False)
    iwae_gradient: str = option("standard", Options(("standard",)), "trains on the ELBO",
                                cli=False, estimator=False)
    prior: str = option("normal", Options(("normal",)), "p(z) is N(0, I)", cli=False,
                        estimator=False)
    prior_components: int = option(500, Interval(int, 1, None), "not used (N(0, I) prior)",
                                   cli=False, estimator=False)


def linear_ramp(epoch: int | None, epochs: int) -> float:
    """$\\min(1, t / T)$ at epoch $t$ (0-based): 0 at the first epoch, 1 from epoch $T$ on.
    ``epoch=None`` (not training) and ``epochs=0`` (no ramp) give 1."""
    if epoch is None or epochs == 0:
        return 1.0
    return min(1.0, epoch / epochs)


def check_k(k) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"The number of importance samples k must be a positive int. "
                          f"Got {k!r} instead.")


@register_model("vae")
class VAE(AutoencoderBase):
    """Variational autoencoder: Gaussian q(z|x), N(0, I) prior, loss = -ELBO (beta-weighted KL)."""

    config_class = VAEConfig
    capabilities = declare("encode", "decode", "reconstruct", "sample", "log_prob_bound", "elbo",
                           "posterior", "epoch_schedule", data_init=When("prior", ("vamp",)))
    encoder_outputs = 2
    epoch: int | None = None  # set by on_epoch_start while training; drives the KL schedules
    tiny_configs = AutoencoderBase.tiny_configs + [
        dict(arch="mlp", hidden=(16,), likelihood="bernoulli", prior="vamp", prior_components=3,
             train_k=3, iwae_gradient="dreg"),
        dict(arch="conv", channels=(4,), likelihood="gaussian", prior="vamp", prior_components=3)]

    def __init__(self, config: VAEConfig | None = None, **kwargs):
        super().__init__(config, **kwargs)
        if self.config.prior == "vamp":  # K pseudo-inputs u_k; logits of grey levels if Bernoulli
            shape = (self.config.prior_components, *self.config.input_shape)
            self.pseudo_inputs_raw = torch.nn.Parameter(torch.zeros(shape))
            self.register_buffer("pseudo_inputs_set", torch.tensor(False))

    # ---- the prior ----

    def pseudo_inputs(self) -> torch.Tensor:
        """The VampPrior's K pseudo-inputs $u_k$, shape (K, *input_shape): grey levels in (0, 1)
        (a sigmoid of the parameters) under a Bernoulli decoder, the parameters themselves else."""
        u = self.pseudo_inputs_raw
        return torch.sigmoid(u) if self.likelihood.kind == "bernoulli" else u

    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor, generator: torch.Generator) -> None:
        """Start the pseudo-inputs at K training images drawn without replacement (Tomczak &
        Welling 2018 offer this beside a random start); once per model, so that a second fit or a
        resumed run keeps what was learned."""
        if self.config.prior != "vamp" or bool(self.pseudo_inputs_set):
            return
        K = self.config.prior_components
        if len(x) < K:
            raise ConfigError(f"The VampPrior's {K} pseudo-inputs start at as many training "
                              f"images, but there are {len(x)}. Pass prior_components <= {len(x)}.")
        idx = torch.randperm(len(x), **rng(generator))[:K]
        u = x[idx].float() / 255 if x.dtype == torch.uint8 else x[idx].float()
        u = u.reshape(self.pseudo_inputs_raw.shape).to(self.pseudo_inputs_raw.device)
        if self.likelihood.kind == "bernoulli":
            u = torch.logit(u.clamp(0.05, 0.95))
        self.pseudo_inputs_raw.copy_(u)
        self.pseudo_inputs_set.fill_(True)

    def prior_params(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(mean, logvar), each (K, d), of the VampPrior's components: the posteriors of the
        pseudo-inputs. None for the N(0, I) prior."""
        if self.config.prior != "vamp":
            return None
        return self.posterior(self.pseudo_inputs())

    def log_prior(self, z: torch.Tensor, params=None) -> torch.Tensor:
        r"""$\log p(z)$ over the last dim of `z`: N(0, I), or the VampPrior with `params` (from
        :meth:`prior_params`, computed once per batch)."""
        if self.config.prior != "vamp":
            return O.standard_normal_log_density(z)
        return O.vamp_log_density(z, *(params if params is not None else self.prior_params()))

    def on_epoch_start(self, epoch: int) -> None:
        """Called by the trainer before each epoch (0-based): moves the KL schedules."""
        self.epoch = epoch

    @property
    def kl_weight(self) -> float:
        """$\\beta_t$: beta, times the warm-up ramp."""
        return self.config.beta * linear_ramp(self.epoch, self.config.warmup_epochs)

    @property
    def capacity(self) -> float | None:
        """$C_t$ in nats under capacity control, else None."""
        if self.config.capacity is None:
            return None
        return self.config.capacity * linear_ramp(self.epoch, self.config.capacity_epochs)

    def objective(self, log_px_z: torch.Tensor, kl: torch.Tensor) -> torch.Tensor:
        """The ELBO that training maximizes, per example, with the schedules' values:
        $\\log p(x|z) - \\beta_t\\,\\mathrm{KL}$, or
        $\\log p(x|z) - \\beta_t\\,|\\mathrm{KL} - C_t|$ under capacity control
        (:func:`~hourglass.core.objectives.elbo`)."""
        C = self.capacity
        return O.elbo(log_px_z, kl if C is None else O.capacity_kl(kl, C), beta=self.kl_weight)

    def loss_terms(self, log_px_z: torch.Tensor, kl: torch.Tensor) -> dict:
        """Minus :meth:`objective`, averaged; with the schedules' values when on."""
        terms = {"loss": -self.objective(log_px_z, kl).mean(), "recon": -log_px_z.mean(),
                 "kl": kl.mean()}
        if self.config.warmup_epochs:
            terms["kl_weight"] = torch.tensor(self.kl_weight)
        if self.config.capacity is not None:
            terms["capacity"] = torch.tensor(self.capacity)
        return terms

    def posterior(self, x):
        """Parameters of q(z|x): mu and logvar, each (B, latent_dim), in float32 (also under a
        lower-precision autocast: the KL and the bounds are computed from them)."""
        mu, logvar = self.encoder(x).float().chunk(2, dim=-1)
        return mu, logvar

    def encode(self, x):
        """The posterior mean, the usual deterministic code of a VAE."""
        return self.posterior(x)[0]

    def forward(self, x, y=None):
        mu, logvar = self.posterior(x)
        if self.config.train_k > 1:
            return self.iwae_loss_terms(x, mu, logvar)
        if self.config.prior == "vamp":  # no closed-form KL: log q(z|x) - log p(z) at the sample
            eps = torch.randn_like(mu)
            z = mu + torch.exp(0.5 * logvar) * eps
            kl = O.reparameterized_log_density(eps, logvar) - self.log_prior(z)
        else:
            z = O.reparameterize(mu, logvar)
            kl = O.kl_normal_std_normal(mu, logvar)
        log_px_z = self.likelihood.log_prob(x, self.decoder(z))
        return self.loss_terms(log_px_z, kl)

    def iwae_loss_terms(self, x, mu, logvar) -> dict:
        r"""Minus the importance-weighted bound $\mathcal L_k$ with $k$ = ``train_k``
        (Burda et al. 2016), the prior ratio weighted by the warm-up's $\beta_t$:
        $\log \frac1k \sum_j p(x|z_j) \big(p(z_j)/q(z_j|x)\big)^{\beta_t}$, which is
        $\mathcal L_k$ at $\beta_t = 1$. ``recon`` and ``kl`` are reported as in the ELBO."""
        k, B = self.config.train_k, x.shape[0]
        eps = torch.randn((k, *mu.shape), dtype=mu.dtype, device=mu.device)
        z = mu + torch.exp(0.5 * logvar) * eps                             # (k, B, d)
        out = self.decoder(z.flatten(0, 1))
        if self.likelihood.kind == "bernoulli":  # x broadcast against its k decodings
            log_px_z = O.bernoulli_log_likelihood_k(x.flatten(1), out.float().view(k, B, -1))
        else:
            log_px_z = self.likelihood.log_prob(x.expand(k, *x.shape).flatten(0, 1), out).view(k, B)
        beta = self.kl_weight
        log_pz = self.log_prior(z)
        if self.config.iwae_gradient == "dreg":  # log q at stopped parameters, as a function of z
            log_qz_x = O.gaussian_log_density(z, mu.detach(), logvar.detach())
            bound = O.iwae_dreg_surrogate(log_px_z + beta * (log_pz - log_qz_x), z)
        else:
            log_qz_x = O.reparameterized_log_density(eps, logvar)
            bound = O.iwae_bound(log_px_z, beta * log_pz, beta * log_qz_x)
        kl = (O.kl_normal_std_normal(mu, logvar) if self.config.prior == "normal"
              else (log_qz_x - log_pz).mean(0))  # estimated from the k samples
        terms = {"loss": -bound.mean(), "recon": -log_px_z.mean(), "kl": kl.mean()}
        if self.config.warmup_epochs:
            terms["kl_weight"] = torch.tensor(self.kl_weight)
        return terms

    def prior_sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """$z \\sim p(z)$, N(0, I) or the VampPrior, shape (n, latent_dim), on the model's device."""
        p = next(self.parameters())
        eps = torch.randn(n, self.config.latent_dim, **rng(generator), device=p.device)
        if self.config.prior != "vamp":
            return eps
        mean, logvar = self.prior_params()  # a component drawn uniformly, then its Gaussian
        k = torch.randint(len(mean), (n,), **rng(generator), device=p.device)
        return mean[k] + torch.exp(0.5 * logvar[k]) * eps

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode `n` draws from the prior (:meth:`prior_sample`): the mean of p(x|z)."""
        return self.decode(self.prior_sample(n, generator))

    @torch.no_grad()
    def elbo(self, x, *, generator=None):
        r"""Per-example ELBO ($\beta = 1$) with one posterior sample, nats: $\mathcal L_1$ of
        :meth:`log_prob`, $\log p(x|z) + \log p(z) - \log q(z|x)$ at one $z \sim q(z|x)$, whose
        expectation is the ELBO (Kingma & Welling 2014)."""
        return self.log_prob(x, k=1, generator=generator)

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, *, k: int = 1000, generator: torch.Generator | None = None,
                 max_elements: int = IWAE_CHUNK_ELEMENTS) -> torch.Tensor:
        r"""Importance-weighted estimate $\mathcal L_k(x) \le \log p(x)$ per example, nats.

        The k samples are drawn in chunks so that at most ~`max_elements` decoder outputs are held
        at once (by default 4 MB of float32, so that the passes over them stay in the cache); the
        bound is exact log-sum-exp over all k.
        """
        check_k(k)
        mu, logvar = self.posterior(x)                                   # (B, d)
        return self.iwae(x, mu, logvar, lambda z: self.decoder(z.flatten(0, 1)), k=k,
                         generator=generator, max_elements=max_elements)

    def iwae(self, x, mu, logvar, decode_logits, *, k, generator, max_elements) -> torch.Tensor:
        r"""$\log \frac1k \sum_j p(x|z_j)\,p(z_j) / q(z_j|x)$, $z_j \sim \mathcal N(\mu, \sigma^2)$
        (:func:`~hourglass.core.objectives.iwae_bound`, Burda et al. 2016).

        ``decode_logits`` maps codes of shape (kk, B, d) to decoder outputs (kk*B, *input_shape).
        The k samples go through the decoder in chunks of kk, at most ~``max_elements`` outputs
        at once; the three log densities of all k samples are then combined in one log-sum-exp.
        """
        B = x.shape[0]
        chunk = max(1, min(k, max_elements // max(1, B * self.dim)))
        std = torch.exp(0.5 * logvar)
        prior = self.prior_params()
        log_px_z, log_pz, log_qz_x = [], [], []
        for start in range(0, k, chunk):
            kk = min(chunk, k - start)
            eps = torch.randn((kk, *mu.shape), dtype=mu.dtype, device=mu.device,
                              generator=generator)
            z = mu + std * eps                                           # (kk, B, d)
            out = decode_logits(z)                                       # (kk*B, *shape)
            if self.likelihood.kind == "bernoulli":  # x broadcast against its kk decodings
                log_px_z.append(O.bernoulli_log_likelihood_k(x.flatten(1),
                                                             out.float().view(kk, B, -1)))
            else:
                x_rep = x.expand(kk, *x.shape).flatten(0, 1)
                log_px_z.append(self.likelihood.log_prob(x_rep, out).view(kk, B))
            log_pz.append(self.log_prior(z, prior))                      # (kk, B)
            log_qz_x.append(O.reparameterized_log_density(eps, logvar))  # (kk, B)
        return O.iwae_bound(torch.cat(log_px_z), torch.cat(log_pz), torch.cat(log_qz_x))


@dataclass
class BetaVAEConfig(VAEConfig):
    beta: float = option(4.0, Interval(float, 0, None),
                         "weight of the KL term; > 1 trades reconstruction for disentangled units")


@register_model("beta-vae")
class BetaVAE(VAE):
    """beta-VAE: the VAE with beta = 4 by default (warm-up and capacity control as options)."""

    config_class = BetaVAEConfig
