"""What every autoencoder-shaped model shares: the config fields, the encoder/decoder factory and
the decoder's likelihood p(x|z).

The loss follows from the likelihood (the maximum-likelihood view): a Bernoulli decoder gives
cross-entropy, a Gaussian decoder gives squared error (scaled by a learned or fixed variance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from hourglass.core.options import option
from hourglass.core import objectives as O
from hourglass.core.validation import Boolean, AnyOf, Interval, Options, Sizes
from hourglass.nn.layers import (ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder,
                                 check_conv_input)
from hourglass.models.registry import ModelConfig


@dataclass
class AutoencoderConfig(ModelConfig):
    input_shape: tuple = option((784,), Sizes(),
                                "shape of one example: (D,) or (C, H, W)", cli=False, estimator=False)
    latent_dim: int = option(16, Interval(int, 1, None),
                             "size of the code, the bottleneck of the hourglass")
    arch: str = option("mlp", Options(("mlp", "conv")),
                       '"mlp" or "conv" (strided conv encoder, transposed-conv decoder)')
    hidden: tuple = option((512, 256), Sizes(),
                           "MLP widths of the encoder; the decoder mirrors them")
    channels: tuple = option((32, 64), Sizes(),
                             "conv channels of the encoder; each layer halves H and W")
    likelihood: str = option("bernoulli", Options(("bernoulli", "gaussian")),
                             'p(x|z): "bernoulli" (cross-entropy) or "gaussian" (squared error)')
    sigma: float | None = option(None, AnyOf((None, Interval(float, 0, None, closed="neither"))),
                                 "Gaussian decoder std; None = learned, one per feature")
    dropout: float = option(0.0, Interval(float, 0, 1, closed="left"),
                            "dropout rate after each hidden layer")
    batch_norm: bool = option(False, Boolean(), "batch norm after each hidden layer")

    def validate(self, owner=None):
        super().validate(owner)
        check_conv_input(self.arch, self.input_shape, self.channels,
                         owner or type(self).__name__, name="arch='conv'")


class Likelihood(nn.Module):
    """The decoder's observation model p(x | decoder output)."""

    def __init__(self, kind: str, shape: tuple, sigma: float | None):
        super().__init__()
        self.kind = kind
        if kind == "gaussian":
            if sigma is None:  # learned log-variance, one per feature (MLE of the noise level)
                self.logvar = nn.Parameter(torch.zeros(shape))
            else:
                self.register_buffer("logvar", torch.full(shape, 2 * math.log(sigma)))

    def log_prob(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """$\\log p(x \\mid \\text{out})$ per example, shape (B,), in float32."""
        out = out.float()
        if self.kind == "bernoulli":
            return O.bernoulli_log_likelihood(x, out)
        return O.gaussian_log_likelihood(x, out, self.logvar.clamp(min=-10.0))

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        """E[x | out]: probabilities for Bernoulli, the mean for Gaussian."""
        return torch.sigmoid(out) if self.kind == "bernoulli" else out


def make_encoder(c: AutoencoderConfig, out_dim: int) -> nn.Module:
    if c.arch == "conv":
        return ConvEncoder(c.input_shape, c.channels, out_dim, dropout=c.dropout,
                           batch_norm=c.batch_norm)
    return MLPEncoder(c.input_shape, c.hidden, out_dim, dropout=c.dropout, batch_norm=c.batch_norm)


def make_decoder(c: AutoencoderConfig) -> nn.Module:
    if c.arch == "conv":
        return ConvDecoder(c.latent_dim, c.channels, c.input_shape, dropout=c.dropout,
                           batch_norm=c.batch_norm)
    return MLPDecoder(c.latent_dim, c.hidden[::-1], c.input_shape, dropout=c.dropout,
                      batch_norm=c.batch_norm)


class AutoencoderBase(nn.Module):
    """Encoder + decoder + likelihood. Subclasses define `forward` (the loss terms) and `encode`."""

    config_class = AutoencoderConfig
    encoder_outputs = 1  # how many latent_dim-sized vectors the encoder emits (VAE: mu and logvar)
    # small configs that the common tests (and smoke runs) build for every registered model
    tiny_configs = [
        dict(arch="mlp", hidden=(16,), likelihood="bernoulli"),
        dict(arch="conv", channels=(4, 8), likelihood="bernoulli"),
        dict(arch="mlp", hidden=(16,), likelihood="gaussian", dropout=0.1, batch_norm=True),
        dict(arch="conv", channels=(4,), likelihood="gaussian", sigma=0.5, batch_norm=True),
    ]

    def __init__(self, config: AutoencoderConfig | None = None, **kwargs):
        super().__init__()
        config = config if config is not None else self.config_class(**kwargs)
        config.validate(type(self).__name__)
        self.config = config
        self.encoder = make_encoder(config, self.encoder_outputs * config.latent_dim)
        self.decoder = make_decoder(config)
        self.likelihood = Likelihood(config.likelihood, tuple(config.input_shape), config.sigma)

    @property
    def dim(self) -> int:
        """Number of data dimensions D (for bits/dim)."""
        return math.prod(self.config.input_shape)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Mean of p(x|z), shape (B, *input_shape)."""
        return self.likelihood.mean(self.decoder(z))

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))

    def reconstruction_log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        """$\\log p(x \\mid g(h(x)))$ per example at the deterministic code (not a density of x)."""
        return self.likelihood.log_prob(x, self.decoder(self.encode(x)))
