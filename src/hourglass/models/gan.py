r"""Generative adversarial networks: the MLP GAN (Goodfellow et al. 2014) and DCGAN (Radford et al.
2016).

A generator $G$ maps noise $z \sim \mathcal N(0, I)$ to data, a discriminator $D$ tells data from
samples. The minimax game

$\min_G \max_D\; \mathbb E_{x}[\log D(x)] + \mathbb E_{z}[\log(1 - D(G(z)))]$

is played in two phases per batch: $D$ takes a step on its cross-entropy, then $G$ a step on the
non-saturating loss $-\log D(G(z))$. DCGAN is the same game with a transposed-convolution generator
(batch norm, ReLU) and a strided-convolution discriminator (LeakyReLU 0.2), Adam with lr 2e-4 and
$\beta_1 = 0.5$. A GAN has no encoder (no ``transform``) and no likelihood.

As in Radford et al. (2016), the discriminator has batch norm on every hidden layer but its first
(none on the layer that reads the image, none on the generator's output). Real and generated
batches go through it separately, so each is normalized by its own statistics: a generator whose
batch collapses onto one image gives degenerate statistics that the discriminator can reject.
Without it DCGAN's generator collapsed on the 8x8 digits (recall 0 at 10, 20, 30 and 40 epochs,
the samples' mean pairwise distance 0.2-0.7 of the data's); with it recall is about 0.9 from 20
epochs on.
It is DCGAN's default (``d_batch_norm``); the MLP GAN (Goodfellow et al. 2014) has none, which
did better there (digits, 40 epochs: recall 0.53 without, 0.07 with).
"""

from __future__ import annotations

from dataclasses import dataclass

import math

import torch
from torch import nn

from hourglass.core.options import option
from hourglass.core import objectives as O
from hourglass.core.tensors import rng
from hourglass.core.validation import Boolean, Interval, Options, Sizes
from hourglass.nn.layers import ConvDecoder, MLPDecoder, check_conv_input
from hourglass.models.protocol import Phase, declare
from hourglass.models.registry import ModelConfig, register_model


@dataclass
class GANConfig(ModelConfig):
    input_shape: tuple = option((784,), Sizes(),
                                "shape of one example: (D,) or (C, H, W)", cli=False, estimator=False)
    latent_dim: int = option(64, Interval(int, 1, None), "size of the generator's noise z")
    arch: str = option("mlp", Options(("mlp", "conv")), '"mlp" (GAN) or "conv" (DCGAN)')
    hidden: tuple = option((256, 512), Sizes(),
                           "MLP widths of the generator; the discriminator mirrors them")
    channels: tuple = option((64, 128), Sizes(),
                             "conv channels of the discriminator; the generator mirrors them")
    batch_norm: bool = option(True, Boolean(), "batch norm in the generator (DCGAN)")
    label_smoothing: float = option(0.0, Interval(float, 0, 0.5),
                                    "one-sided label smoothing (Salimans et al. 2016): the "
                                    "discriminator's target for real images is 1 - s; 0: off")
    d_batch_norm: bool = option(False, Boolean(), "batch norm in the discriminator's hidden "
                                "layers but its first (DCGAN); real and generated batches apart")
    d_dropout: float = option(0.0, Interval(float, 0, 1, closed="left"),
                              "dropout after each hidden layer of the discriminator, as Goodfellow "
                              "et al. (2014) trained theirs; 0: off")

    def validate(self, owner=None):
        super().validate(owner)
        check_conv_input(self.arch, self.input_shape, self.channels,
                         owner or type(self).__name__, name="arch='conv' (DCGAN)")


def discriminator(c: GANConfig) -> nn.Sequential:
    """$D$: strided convolutions (kernel 4, stride 2; ``arch="conv"``) or linear layers, each
    followed by LeakyReLU(0.2), with batch norm before the activation on every layer but the first
    (``d_batch_norm``) and dropout after it (``d_dropout``), then one logit."""
    conv = c.arch == "conv"
    widths = list(c.channels if conv else c.hidden[::-1])
    layers: list[nn.Module] = [] if conv else [nn.Flatten()]
    n_in = c.input_shape[0] if conv else math.prod(c.input_shape)
    for i, n_out in enumerate(widths):
        layers.append(nn.Conv2d(n_in, n_out, kernel_size=4, stride=2, padding=1) if conv
                      else nn.Linear(n_in, n_out))
        if c.d_batch_norm and i > 0:
            layers.append(nn.BatchNorm2d(n_out) if conv else nn.BatchNorm1d(n_out))
        layers.append(nn.LeakyReLU(0.2))
        if c.d_dropout > 0:
            layers.append(nn.Dropout(c.d_dropout))
        n_in = n_out
    if conv:
        _, h, w = c.input_shape
        for _ in widths:  # each convolution halves H and W (floor)
            h, w = (h + 2 - 4) // 2 + 1, (w + 2 - 4) // 2 + 1
        n_in *= h * w
        layers.append(nn.Flatten())
    layers.append(nn.Linear(n_in, 1))
    return nn.Sequential(*layers)


class GANBase(nn.Module):
    config_class = GANConfig
    capabilities = declare("sample", "phases")  # no encoder, no likelihood
    # DCGAN's optimizer: Adam, lr 2e-4 (a default; --lr overrides), beta1 = 0.5
    optimizer_settings = {"name": "adam", "lr": 2e-4, "betas": (0.5, 0.999)}

    def __init__(self, config: GANConfig | None = None, **kwargs):
        super().__init__()
        c = config if config is not None else self.config_class(**kwargs)
        c.validate(type(self).__name__)
        self.config = c
        if c.arch == "conv":
            self.generator = ConvDecoder(c.latent_dim, c.channels, c.input_shape,
                                         batch_norm=c.batch_norm)
        else:
            self.generator = MLPDecoder(c.latent_dim, c.hidden, c.input_shape,
                                        batch_norm=c.batch_norm)
        self.discriminator = discriminator(c)

    @property
    def dim(self) -> int:
        return math.prod(self.config.input_shape)

    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """$G(z)$ in [0, 1] (a sigmoid output, as the data are scaled to [0, 1])."""
        return torch.sigmoid(self.generator(z))

    def _noise(self, n, generator=None):
        return torch.randn(n, self.config.latent_dim, **rng(generator),
                           device=next(self.parameters()).device)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        was = self.training
        self.eval()
        x = self.generate(self._noise(n, generator))
        self.train(was)
        return x

    def disc_loss(self, x, y=None):
        fake = self.generate(self._noise(len(x))).detach()
        loss = O.discriminator_loss(self.discriminator(x), self.discriminator(fake),
                                    real_target=1 - self.config.label_smoothing).mean()
        return {"loss": loss}

    def gen_loss(self, x, y=None):
        loss = O.generator_loss(self.discriminator(self.generate(self._noise(len(x))))).mean()
        return {"loss": loss}

    def phases(self):
        return [Phase("disc", list(self.discriminator.parameters()), self.disc_loss,
                      dict(self.optimizer_settings)),
                Phase("gen", list(self.generator.parameters()), self.gen_loss,
                      dict(self.optimizer_settings))]

    def forward(self, x, y=None):
        """Both players' losses on one batch (for validation and the common tests)."""
        fake = self.generate(self._noise(len(x)))
        disc = O.discriminator_loss(self.discriminator(x), self.discriminator(fake),
                                    real_target=1 - self.config.label_smoothing).mean()
        gen = O.generator_loss(self.discriminator(fake)).mean()
        return {"loss": disc + gen, "disc": disc, "gen": gen}


@register_model("gan")
class GAN(GANBase):
    """GAN: MLP generator and discriminator, non-saturating generator loss."""

    tiny_configs = [dict(latent_dim=4, hidden=(16,)), dict(latent_dim=4, hidden=(16,), batch_norm=False)]


@dataclass
class DCGANConfig(GANConfig):
    arch: str = option("conv", Options(("mlp", "conv")), '"conv" (DCGAN) or "mlp"')
    d_batch_norm: bool = option(True, None, "batch norm in the discriminator's hidden layers but "
                                "its first (DCGAN); real and generated batches apart")


@register_model("dcgan")
class DCGAN(GANBase):
    """DCGAN: transposed-conv generator with batch norm, strided-conv LeakyReLU discriminator."""

    config_class = DCGANConfig
    tiny_configs = [dict(latent_dim=4, channels=(4, 8))]
