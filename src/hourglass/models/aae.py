r"""The adversarial autoencoder (Makhzani et al. 2016).

A VAE with its KL term replaced by a discriminator on the codes: the encoder $q(z|x)$ is trained
so that its aggregated posterior $q(z) = \int q(z|x)\,p_d(x)\,dx$ cannot be told apart from a prior
$p(z)$ by a discriminator $D$. Since $D$ only needs *samples* of the prior, any prior works
(Gaussian, mixture of Gaussians, swiss roll, uniform, a user's sampler). Each batch takes three
phases, in the paper's order:

1. **reconstruction**: encoder and decoder minimize $-\log p(x \mid g(f(x)))$;
2. **regularization, discriminator**: $D$ minimizes $-\log D(z') - \log(1 - D(f(x)))$, $z' \sim p(z)$;
3. **regularization, generator**: the encoder minimizes $-\log D(f(x))$.

Modes (``mode``):

- ``unsupervised``: the above;
- ``supervised``: the one-hot label goes to the decoder, so the code keeps only the style;
- ``semi-supervised``: the encoder also outputs $q(y|x)$, matched by a second discriminator to a
  categorical prior; the decoder sees $(z, y)$, with $y$ the one-hot label of a labelled row and
  $q(y|x)$ for an unlabelled one; labelled rows ($y \ge 0$) add the paper's fourth phase, the
  cross-entropy $-\log q(y|x)$; ``y = -1`` marks unlabelled rows, as in scikit-learn. With few
  labels, repeat the labelled rows to a share of every batch
  (:func:`hourglass.data.semisupervised.repeat_labelled`; the estimator's ``labelled_share``, the
  CLI's ``--labelled-share``): on the 8x8 digits with 100 labels, 20 epochs, q(y|x) collapsed onto
  one class when the decoder saw q(y|x) for labelled rows too (accuracy 0.08; 0.69 with the known
  label), and with the 100 rows left as a 7% share, never repeated, it stayed at chance;
- ``conditional-prior``: the label selects the prior's component, and the discriminator sees the
  one-hot label beside the code (the paper's Figure 4); unlabelled rows draw any component.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hourglass.core.options import option
from hourglass.core import objectives as O
from hourglass.core.tensors import rng
from hourglass.core.validation import Interval, Options, Sizes
from hourglass.core.errors import ConfigError
from hourglass.nn.layers import ConvDecoder, MLPDecoder, mlp
from hourglass.core.priors import PRIORS, get_prior
from hourglass.models.protocol import Phase, When, declare
from hourglass.models.base import AutoencoderBase, AutoencoderConfig, make_encoder
from hourglass.models.registry import register_model

MODES = ("unsupervised", "supervised", "semi-supervised", "conditional-prior")


@dataclass
class AAEConfig(AutoencoderConfig):
    latent_dim: int = option(2, Interval(int, 1, None), "size of the code matched to the prior")
    prior: str = option("gaussian", Options(tuple(PRIORS)),
                        "gaussian | mixture | swiss-roll | uniform (or a callable set on the model)")
    mode: str = option("unsupervised", Options(MODES),
                       "unsupervised | supervised | semi-supervised | conditional-prior")
    n_classes: int = option(10, Interval(int, 2, None),
                            "classes for the supervised modes (and mixture components)")
    disc_hidden: tuple = option((256, 256), Sizes(), "MLP widths of the discriminator(s)")


def discriminator(in_dim: int, hidden) -> nn.Sequential:
    """An MLP critic with LeakyReLU, one logit out."""
    return mlp([in_dim, *hidden, 1], activation=lambda: nn.LeakyReLU(0.2))


@register_model("aae")
class AAE(AutoencoderBase):
    """Adversarial autoencoder: a discriminator matches the codes to any prior you can sample."""

    config_class = AAEConfig
    capabilities = declare("encode", "decode", "reconstruct", "sample", "phases",
                           labels=When("mode", MODES[1:]),  # every mode but unsupervised
                           conditional=When("mode", ("supervised", "semi-supervised")))
    tiny_configs = [
        dict(latent_dim=2, hidden=(16,), disc_hidden=(8,)),
        dict(latent_dim=2, hidden=(16,), disc_hidden=(8,), prior="mixture", mode="conditional-prior"),
        dict(latent_dim=2, hidden=(16,), disc_hidden=(8,), mode="supervised", prior="swiss-roll"),
        dict(latent_dim=3, arch="conv", channels=(4,), disc_hidden=(8,), mode="semi-supervised",
             prior="uniform"),
    ]

    def __init__(self, config: AAEConfig | None = None, **kwargs):
        super().__init__(config, **kwargs)
        c = self.config
        k = c.n_classes
        if c.mode == "semi-supervised":  # the encoder also gives the logits of q(y|x)
            self.encoder = make_encoder(c, c.latent_dim + k)
        if c.mode in ("supervised", "semi-supervised"):  # the decoder also sees the label
            self.decoder = (ConvDecoder(c.latent_dim + k, c.channels, c.input_shape,
                                        dropout=c.dropout, batch_norm=c.batch_norm)
                            if c.arch == "conv" else
                            MLPDecoder(c.latent_dim + k, c.hidden[::-1], c.input_shape,
                                       dropout=c.dropout, batch_norm=c.batch_norm))
        cond = k if c.mode == "conditional-prior" else 0
        self.disc = discriminator(c.latent_dim + cond, c.disc_hidden)
        if c.mode == "semi-supervised":
            self.disc_y = discriminator(k, c.disc_hidden)
        self.prior_sampler = None  # a user's callable n -> (n, latent_dim) replaces `prior`

    # ---- codes ---------------------------------------------------------------------------
    def _split(self, h):
        """Encoder output -> (z, y logits or None)."""
        if self.config.mode == "semi-supervised":
            return h[:, :self.config.latent_dim], h[:, self.config.latent_dim:]
        return h, None

    def encode(self, x):
        """The style/content code z (B, latent_dim)."""
        return self._split(self.encoder(x))[0]

    def predict_proba(self, x):
        """q(y|x) of the semi-supervised mode, (B, n_classes)."""
        if self.config.mode != "semi-supervised":
            raise ConfigError("predict_proba needs mode='semi-supervised'.")
        return F.softmax(self._split(self.encoder(x))[1], dim=-1)

    def _onehot(self, y, n):
        """One-hot labels; unknown labels (y = -1, or no y at all) give a zero row."""
        if y is None:
            return torch.zeros(n, self.config.n_classes, device=next(self.parameters()).device)
        return F.one_hot(y.clamp(min=0), self.config.n_classes).float() * (y >= 0).float()[:, None]

    def _label_input(self, y, n):
        """The decoder's label input: one-hot where known, uniform 1/k where unknown."""
        k = self.config.n_classes
        onehot = self._onehot(y, n)
        return onehot + (onehot.sum(1, keepdim=True) == 0).float() / k

    def _decoder_input(self, z, y=None, y_soft=None):
        if self.config.mode == "semi-supervised" and y_soft is not None:
            if y is not None:  # a known label replaces q(y|x) (rows with y = -1 keep q(y|x))
                known = (y >= 0).float()[:, None]
                y_soft = known * self._onehot(y, len(z)) + (1 - known) * y_soft
            return torch.cat([z, y_soft], 1)
        if self.config.mode in ("supervised", "semi-supervised"):
            return torch.cat([z, self._label_input(y, len(z))], 1)
        return z

    def decode(self, z, y=None):
        """Mean of p(x | z, y). In the supervised modes, rows without a label (y None or -1)
        get the uniform label vector: an even mix of the classes."""
        return self.likelihood.mean(self.decoder(self._decoder_input(z, y)))

    def _recon_logits(self, x, y=None):
        z, logits = self._split(self.encoder(x))
        y_soft = None if logits is None else F.softmax(logits, -1)
        return self.decoder(self._decoder_input(z, y, y_soft))

    def reconstruct(self, x, y=None):
        return self.likelihood.mean(self._recon_logits(x, y))

    def reconstruction_log_likelihood(self, x, y=None):
        return self.likelihood.log_prob(x, self._recon_logits(x, y))

    # ---- the prior -----------------------------------------------------------------------
    def sample_prior(self, n, *, labels=None, generator=None):
        device = next(self.parameters()).device
        if self.prior_sampler is not None:
            z = torch.as_tensor(self.prior_sampler(n), dtype=torch.float32, device=device)
            if z.shape != (n, self.config.latent_dim):
                raise ConfigError(f"The prior sampler returned shape {tuple(z.shape)}; expected "
                                  f"({n}, {self.config.latent_dim}).")
            return z
        return get_prior(self.config.prior)(n, self.config.latent_dim, generator=generator,
                                            labels=labels, device=device)

    @torch.no_grad()
    def sample(self, n, *, generator=None, y=None):
        """Decode `n` prior draws (with labels `y` in the supervised modes; random if None)."""
        device = next(self.parameters()).device
        if y is None and self.config.mode != "unsupervised":
            y = torch.randint(0, self.config.n_classes, (n,), **rng(generator), device=device)
        z = self.sample_prior(n, labels=y if self.config.mode == "conditional-prior" else None,
                              generator=generator)
        return self.decode(z, y)

    # ---- the three (or four) phases --------------------------------------------------------
    def _disc_in(self, z, y):
        return torch.cat([z, self._onehot(y, len(z))], 1) if self.config.mode == "conditional-prior" else z

    def recon_loss(self, x, y=None):
        recon = -self.reconstruction_log_likelihood(x, y).mean()
        return {"loss": recon}

    def disc_loss(self, x, y=None):
        z, logits = self._split(self.encoder(x))
        prior = self.sample_prior(len(x), labels=y if self.config.mode == "conditional-prior" else None)
        loss = O.discriminator_loss(self.disc(self._disc_in(prior, y)),
                                    self.disc(self._disc_in(z.detach(), y))).mean()
        if logits is not None:  # categorical prior on q(y|x)
            k = self.config.n_classes
            y_prior = F.one_hot(torch.randint(0, k, (len(x),), device=x.device), k).float()
            loss = loss + O.discriminator_loss(self.disc_y(y_prior),
                                               self.disc_y(F.softmax(logits.detach(), -1))).mean()
        return {"loss": loss}

    def gen_loss(self, x, y=None):
        z, logits = self._split(self.encoder(x))
        loss = O.generator_loss(self.disc(self._disc_in(z, y))).mean()
        if logits is not None:
            loss = loss + O.generator_loss(self.disc_y(F.softmax(logits, -1))).mean()
        return {"loss": loss}

    def supervised_loss(self, x, y=None):
        """Cross-entropy of q(y|x) on the labelled rows (y >= 0) of the batch."""
        logits = self._split(self.encoder(x))[1]
        labelled = (y >= 0).float()
        ce = -O.categorical_log_likelihood(y.clamp(min=0), logits)        # $-\log q(y|x)$, (B,)
        return {"loss": (ce * labelled).sum() / labelled.sum().clamp(min=1.0)}

    def phases(self):
        ae = [*self.encoder.parameters(), *self.decoder.parameters(), *self.likelihood.parameters()]
        discs = [*self.disc.parameters(), *getattr(self, "disc_y", nn.Identity()).parameters()]
        # Adam with beta1 = 0.5 (GAN practice) matches the code prior far better here (digits, 2-D
        # Gaussian prior: MMD 0.005 vs 0.09 with beta1 = 0.9), but in the semi-supervised mode it
        # collapsed q(y|x) onto one class on the same data, so that mode keeps the defaults.
        adversarial = {} if self.config.mode == "semi-supervised" else {"betas": (0.5, 0.999)}
        phases = [Phase("recon", ae, self.recon_loss),
                  Phase("disc", discs, self.disc_loss, adversarial),
                  Phase("gen", list(self.encoder.parameters()), self.gen_loss, adversarial)]
        if self.config.mode == "semi-supervised":
            phases.append(Phase("sup", list(self.encoder.parameters()), self.supervised_loss))
        return phases

    def forward(self, x, y=None):
        """Every phase's loss at once (for validation and the common tests); the trainer steps
        the phases one by one."""
        terms = {"recon": self.recon_loss(x, y)["loss"], "disc": self.disc_loss(x, y)["loss"],
                 "gen": self.gen_loss(x, y)["loss"]}
        if self.config.mode == "semi-supervised":
            terms["sup"] = self.supervised_loss(x, y)["loss"]
        return {"loss": sum(terms.values()), **terms}
