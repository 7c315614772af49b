r"""InfoGAN (Chen et al. 2016): a GAN whose generator also takes structured codes $c$, and keeps
them readable from its samples by maximizing a lower bound on the mutual information
$I(c; G(z, c))$.

The generator maps incompressible noise $z \sim \mathcal N(0, I)$ and codes $c$ (categorical
$c_i \sim \mathrm{Cat}(K)$, uniform; continuous $c_j \sim U(-1, 1)$) to data. An auxiliary head
$Q$ on the discriminator's body infers the codes back from a sample. The game is the GAN's with
the variational bound (Barber & Agakov 2003)

$L_I(G, Q) = \mathbb E_{c, z}\big[\log Q(c \mid G(z, c))\big] + H(c) \le I(c; G(z, c))$

subtracted with weights $\lambda$ from both players' losses:

$\min_{G, Q} \max_D\; V_{\text{GAN}}(D, G) - \lambda_{\text{cat}} L_I^{\text{cat}}
- \lambda_{\text{cont}} L_I^{\text{cont}}$.

$Q$ is a softmax for each categorical code (the bound is minus a cross-entropy, plus
$\log K$) and a factored Gaussian for the continuous ones (fixed std, or learned per example). Per
batch, the discriminator phase steps $D$, $Q$ and their shared body on the discriminator's
cross-entropy minus $\lambda L_I$ on (detached) samples; the generator phase steps $G$ on the
non-saturating loss minus $\lambda L_I$, as in the authors' code. Real and generated images go
through the body's batch norm as one batch, so that per-batch statistics cannot hide how the
samples differ from the data. Defaults follow the paper's MNIST set-up: one 10-way code, two
continuous codes, 62 noise variables, $\lambda_{\text{cat}} = 1$, $\lambda_{\text{cont}} = 0.1$,
a DCGAN-style body with batch norm, a 1024-unit shared layer and a 128-unit $Q$ head, Adam with
$\beta_1 = 0.5$ and learning rates 2e-4 for $D$ and $Q$, 1e-3 for $G$.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hourglass.core import objectives as O
from hourglass.core.errors import ConfigError
from hourglass.core.options import option
from hourglass.core.tensors import rng
from hourglass.core.validation import AnyOf, Boolean, Interval
from hourglass.models.gan import GANConfig
from hourglass.models.protocol import Phase, declare
from hourglass.models.registry import register_model
from hourglass.nn.layers import ConvDecoder, ConvEncoder, MLPDecoder, mlp

LOGVAR_RANGE = (-8.0, 4.0)  # a learned log-variance of Q is kept here (std 0.018 .. 7.4)


@dataclass
class InfoGANConfig(GANConfig):
    latent_dim: int = option(62, None, "size of the incompressible noise z (62 on MNIST in "
                                       "Chen et al. 2016)")
    arch: str = option("conv", None, '"conv" (DCGAN body, as in Chen et al. 2016) or "mlp"')
    n_categorical: int = option(1, Interval(int, 0, None),
                                "number of categorical codes c_i ~ Cat(K), uniform")
    categorical_dim: int = option(10, Interval(int, 2, None),
                                  "K, the number of values of each categorical code")
    n_continuous: int = option(2, Interval(int, 0, None),
                               "number of continuous codes c_j ~ U(-1, 1)")
    lambda_categorical: float = option(1.0, Interval(float, 0, None),
                                       "weight of the mutual-information bound of the "
                                       "categorical codes (1 in Chen et al. 2016)")
    lambda_continuous: float = option(0.1, Interval(float, 0, None),
                                      "weight of the mutual-information bound of the "
                                      "continuous codes (0.1 in Chen et al. 2016)")
    continuous_std: float | None = option(
        1.0, AnyOf((None, Interval(float, 0, None, closed="neither"))),
        "std of Q's Gaussian over the continuous codes; None = learned, per example")
    features: int = option(1024, Interval(int, 1, None),
                           "width of the discriminator's last hidden layer, shared by D and Q")
    q_hidden: int = option(128, Interval(int, 1, None), "hidden width of the Q head")
    d_batch_norm: bool = option(True, Boolean(), "batch norm in the discriminator's body, shared "
                                "with Q (as in Chen et al. 2016; without it the codes are "
                                "learned far more slowly)")

    def validate(self, owner=None):
        super().validate(owner)
        if self.n_categorical + self.n_continuous == 0:
            raise ConfigError("InfoGAN needs at least one code: set n_categorical or "
                              "n_continuous to 1 or more (without codes, use the 'gan' or "
                              "'dcgan' model).")


def _leaky():
    return nn.LeakyReLU(0.2)


@register_model("infogan")
class InfoGAN(nn.Module):
    """InfoGAN: a GAN with categorical and continuous codes kept readable by a Q head (MI bound)."""

    config_class = InfoGANConfig
    capabilities = declare("sample", "phases")  # Q infers only the codes, not z: no `encode`
    # the authors' optimizers on MNIST: Adam with beta1 = 0.5, lr 2e-4 for D and Q, 1e-3 for G
    # (defaults: an explicit --lr sets both)
    disc_optimizer = {"name": "adam", "lr": 2e-4, "betas": (0.5, 0.999)}
    gen_optimizer = {"name": "adam", "lr": 1e-3, "betas": (0.5, 0.999)}
    tiny_configs = [
        dict(latent_dim=4, channels=(4, 8), features=8, q_hidden=8),
        dict(arch="mlp", latent_dim=4, hidden=(16,), features=8, q_hidden=8, n_categorical=2,
             categorical_dim=3, n_continuous=1, continuous_std=None, batch_norm=False),
    ]

    def __init__(self, config: InfoGANConfig | None = None, **kwargs):
        super().__init__()
        c = config if config is not None else self.config_class(**kwargs)
        c.validate(type(self).__name__)
        self.config = c
        g_in = c.latent_dim + self.code_dim
        if c.arch == "conv":
            self.generator = ConvDecoder(g_in, c.channels, c.input_shape, batch_norm=c.batch_norm)
            body = ConvEncoder(c.input_shape, c.channels, c.features, activation=_leaky,
                               batch_norm=c.d_batch_norm)
        else:
            self.generator = MLPDecoder(g_in, c.hidden, c.input_shape, batch_norm=c.batch_norm)
            body = nn.Sequential(nn.Flatten(),
                                 mlp([self.dim, *c.hidden[::-1], c.features], activation=_leaky,
                                     batch_norm=c.d_batch_norm))
        norm = nn.BatchNorm1d(c.features) if c.d_batch_norm else nn.Identity()
        self.body = nn.Sequential(body, norm, _leaky())              # shared by D and Q
        self.d_head = nn.Linear(c.features, 1)                       # logit of D(x)
        n_stats = 1 if c.continuous_std is not None else 2           # mean (and log-variance)
        self.q_head = nn.Sequential(
            nn.Linear(c.features, c.q_hidden), _leaky(),
            nn.Linear(c.q_hidden, c.n_categorical * c.categorical_dim + n_stats * c.n_continuous))

    @property
    def dim(self) -> int:
        return math.prod(self.config.input_shape)

    @property
    def code_dim(self) -> int:
        """Size of the code vector fed to G: the one-hot categorical codes, then the continuous."""
        c = self.config
        return c.n_categorical * c.categorical_dim + c.n_continuous

    # ---- the generator -----------------------------------------------------------------------

    def sample_codes(self, n: int, *, generator: torch.Generator | None = None):
        """Draws from the code prior: ``c_cat`` (n, n_categorical) indices, uniform over K, and
        ``c_cont`` (n, n_continuous) uniform on [-1, 1]."""
        c, dev = self.config, next(self.parameters()).device
        c_cat = torch.randint(0, c.categorical_dim, (n, c.n_categorical), **rng(generator),
                              device=dev)
        c_cont = 2 * torch.rand(n, c.n_continuous, **rng(generator), device=dev) - 1
        return c_cat, c_cont

    def sample_noise(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """$z \\sim \\mathcal N(0, I)$, (n, latent_dim)."""
        return torch.randn(n, self.config.latent_dim, **rng(generator),
                           device=next(self.parameters()).device)

    def generate(self, z: torch.Tensor, c_cat: torch.Tensor, c_cont: torch.Tensor) -> torch.Tensor:
        """$G(z, c)$ in [0, 1] for noise z (B, latent_dim) and chosen codes: ``c_cat`` (B,
        n_categorical) integer values in [0, K), ``c_cont`` (B, n_continuous)."""
        onehot = F.one_hot(c_cat.long(), self.config.categorical_dim).flatten(1).to(z.dtype)
        return torch.sigmoid(self.generator(torch.cat([z, onehot, c_cont.to(z.dtype)], 1)))

    def _fakes(self, n: int):
        c_cat, c_cont = self.sample_codes(n)
        return self.generate(self.sample_noise(n), c_cat, c_cont), c_cat, c_cont

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draws from $p(x)$: z, then the codes from their prior, through G (eval mode)."""
        was = self.training
        self.eval()
        z = self.sample_noise(n, generator=generator)
        x = self.generate(z, *self.sample_codes(n, generator=generator))
        self.train(was)
        return x

    # ---- the discriminator and Q -------------------------------------------------------------

    def q_posterior(self, h: torch.Tensor):
        """Q's distribution over the codes from body features h (B, features): categorical
        logits (B, K, n_categorical), and the Gaussian mean and log-variance (B, n_continuous)."""
        c = self.config
        out = self.q_head(h)
        n_cat = c.n_categorical * c.categorical_dim
        logits = (out[:, :n_cat].reshape(len(out), c.n_categorical, c.categorical_dim)
                  .transpose(1, 2))                                  # (B, K, n_categorical)
        mean = out[:, n_cat:n_cat + c.n_continuous]
        if c.continuous_std is None:
            logvar = out[:, n_cat + c.n_continuous:].clamp(*LOGVAR_RANGE)
        else:
            logvar = torch.full_like(mean, 2 * math.log(c.continuous_std))
        return logits, mean, logvar

    @torch.no_grad()
    def infer_codes(self, x: torch.Tensor):
        """Q's reading of the codes of x: the categorical posteriors (B, n_categorical, K) and
        the continuous posterior means (B, n_continuous)."""
        logits, mean, _ = self.q_posterior(self.body(x))
        return logits.softmax(1).transpose(1, 2), mean

    def mutual_information(self, h_fake, c_cat, c_cont) -> dict:
        """Mean bounds $L_I$ of the codes that made the samples with body features h_fake."""
        logits, mean, logvar = self.q_posterior(h_fake)
        terms = {}
        if self.config.n_categorical:
            terms["mi_cat"] = O.categorical_mi_lower_bound(c_cat, logits).mean()
        if self.config.n_continuous:
            terms["mi_cont"] = O.uniform_gaussian_mi_lower_bound(c_cont, mean, logvar).mean()
        return terms

    def _weighted(self, mi: dict) -> torch.Tensor:
        """$\\lambda_{\\text{cat}} L_I^{\\text{cat}} + \\lambda_{\\text{cont}} L_I^{\\text{cont}}$."""
        c = self.config
        return (c.lambda_categorical * mi.get("mi_cat", 0.0)
                + c.lambda_continuous * mi.get("mi_cont", 0.0))

    # ---- the two phases ----------------------------------------------------------------------

    def features(self, x: torch.Tensor, fake: torch.Tensor):
        """The body's features of real and generated images, from one batch of both: its batch
        norm then sees one mixture, so per-batch statistics cannot tell real from fake (and D can
        still see, say, that the samples are too bright)."""
        h = self.body(torch.cat([x, fake]))                          # (2B, features)
        return h[:len(x)], h[len(x):]

    def disc_loss(self, x, y=None):
        """D and Q: $-\\log D(x) - \\log(1 - D(G(z, c))) - \\lambda L_I$, samples detached."""
        fake, c_cat, c_cont = self._fakes(len(x))
        h_real, h_fake = self.features(x, fake.detach())
        disc = O.discriminator_loss(self.d_head(h_real), self.d_head(h_fake),
                                      real_target=1 - self.config.label_smoothing).mean()
        mi = self.mutual_information(h_fake, c_cat, c_cont)
        return {"loss": disc - self._weighted(mi), "disc": disc, **mi}

    def gen_loss(self, x, y=None):
        """G: $-\\log D(G(z, c)) - \\lambda L_I$."""
        fake, c_cat, c_cont = self._fakes(len(x))
        _, h_fake = self.features(x, fake)
        gen = O.generator_loss(self.d_head(h_fake)).mean()
        mi = self.mutual_information(h_fake, c_cat, c_cont)
        return {"loss": gen - self._weighted(mi), "gen": gen, **mi}

    def phases(self):
        d_and_q = [*self.body.parameters(), *self.d_head.parameters(), *self.q_head.parameters()]
        return [Phase("disc", d_and_q, self.disc_loss, dict(self.disc_optimizer)),
                Phase("gen", list(self.generator.parameters()), self.gen_loss,
                      dict(self.gen_optimizer))]

    def forward(self, x, y=None):
        """Both players' losses and the bounds on one batch (for validation and the common
        tests)."""
        fake, c_cat, c_cont = self._fakes(len(x))
        h_real, h_fake = self.features(x, fake)
        disc = O.discriminator_loss(self.d_head(h_real), self.d_head(h_fake),
                                      real_target=1 - self.config.label_smoothing).mean()
        gen = O.generator_loss(self.d_head(h_fake)).mean()
        mi = self.mutual_information(h_fake, c_cat, c_cont)
        return {"loss": disc + gen - self._weighted(mi), "disc": disc, "gen": gen, **mi}
