"""Building blocks: MLPs, convolutional encoders and transposed-convolutional decoders.

The encoder maps an input of shape ``input_shape`` to a flat feature vector of size ``out_dim``;
the decoder maps a code of size ``in_dim`` back to ``input_shape``. Both exist in an MLP and a
convolutional form, with optional dropout (Srivastava et al. 2014) and batch norm (Ioffe & Szegedy
2015) after each hidden layer.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from hourglass.core.errors import ConfigError


def lstm_update(gates: torch.Tensor, c: torch.Tensor,
                dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    r"""One LSTM update (Hochreiter & Schmidhuber 1997) from the pre-activations ``gates``, the
    output, forget, input and candidate blocks stacked along `dim`, and the previous cell `c`:

    $c' = \sigma(f) \odot c + \sigma(i) \odot \tanh(g)$,  $h' = \sigma(o) \odot \tanh(c')$.

    Returns (h', c')."""
    o, f, i, g = gates.chunk(4, dim=dim)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def mlp(sizes: list[int], *, dropout: float = 0.0, batch_norm: bool = False,
        activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """Linear layers of the given sizes, with `activation` between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            if batch_norm:
                layers.append(nn.BatchNorm1d(n_out))
            layers.append(activation())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """Flatten, then an MLP: ``(B, *input_shape) -> (B, out_dim)``."""

    def __init__(self, input_shape, hidden, out_dim, *, dropout=0.0, batch_norm=False):
        super().__init__()
        self.net = mlp([math.prod(input_shape), *hidden, out_dim], dropout=dropout,
                       batch_norm=batch_norm)

    def forward(self, x):
        return self.net(x.flatten(1))


class MLPDecoder(nn.Module):
    """An MLP, then reshape: ``(B, in_dim) -> (B, *output_shape)``."""

    def __init__(self, in_dim, hidden, output_shape, *, dropout=0.0, batch_norm=False):
        super().__init__()
        self.output_shape = tuple(output_shape)
        self.net = mlp([in_dim, *hidden, math.prod(output_shape)], dropout=dropout,
                       batch_norm=batch_norm)

    def forward(self, z):
        return self.net(z).view(-1, *self.output_shape)


def _conv_sizes(size: int, n_layers: int) -> list[int]:
    """Spatial sizes through `n_layers` convolutions of kernel 4, stride 2, padding 1 (halving)."""
    sizes = [size]
    for _ in range(n_layers):
        sizes.append((sizes[-1] + 2 - 4) // 2 + 1)
    return sizes


def max_conv_layers(size: int) -> int:
    """How many halving convolutions (kernel 4, stride 2, padding 1) an image side of `size`
    pixels takes: each needs at least 2 pixels in, so at most floor(log2(size))."""
    return max(int(size), 1).bit_length() - 1


def conv_stack_problem(input_shape, channels) -> str | None:
    """Why the conv stack `channels` does not fit images of `input_shape` (C, H, W), or None."""
    fits = min(max_conv_layers(input_shape[1]), max_conv_layers(input_shape[2]))
    if len(channels) <= fits:
        return None
    h, w = input_shape[1], input_shape[2]
    return (f"channels={tuple(channels)} has {len(channels)} conv layers, each halving H and W, "
            f"but {h}x{w} images take at most {fits}; give at most {fits} channel entries "
            f"(e.g. channels={tuple(channels)[:fits]}), or use arch='mlp'.")


def check_conv_input(arch: str, input_shape, channels, owner: str, *, name: str = "arch='conv'"):
    """Raise ConfigError unless a conv network (``arch='conv'``) fits `input_shape`: images
    (C, H, W), and no more layers than halvings of H and W."""
    if arch != "conv":
        return
    if len(input_shape) != 3:
        raise ConfigError(f"{name} needs image input of shape (C, H, W); got input_shape="
                          f"{tuple(input_shape)}. Use arch='mlp' for vector data.")
    if problem := conv_stack_problem(input_shape, channels):
        raise ConfigError(f"The 'channels' parameter of {owner} does not fit the input: {problem}")


class ConvEncoder(nn.Module):
    """Strided convolutions (each halves H and W), then a linear layer to ``out_dim``.

    ``(B, C, H, W) -> (B, c_1, H/2, W/2) -> ... -> (B, c_L, H/2^L, W/2^L) -> (B, out_dim)``
    """

    def __init__(self, input_shape, channels, out_dim, *, dropout=0.0, batch_norm=False,
                 activation: type[nn.Module] = nn.ReLU):
        super().__init__()
        c, h, w = input_shape
        layers: list[nn.Module] = []
        for c_out in channels:
            layers.append(nn.Conv2d(c, c_out, kernel_size=4, stride=2, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(activation())
            if dropout > 0:
                layers.append(nn.Dropout2d(dropout))
            c = c_out
        hs, ws = _conv_sizes(h, len(channels)), _conv_sizes(w, len(channels))
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Linear(c * hs[-1] * ws[-1], out_dim)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))


class ConvDecoder(nn.Module):
    """The mirror of :class:`ConvEncoder`: a linear layer, then transposed convolutions.

    Each transposed convolution doubles H and W; ``output_padding`` restores odd sizes exactly,
    so the output is ``(B, *output_shape)`` for any image size the encoder accepts.
    """

    def __init__(self, in_dim, channels, output_shape, *, dropout=0.0, batch_norm=False):
        super().__init__()
        c_img, h, w = output_shape
        hs, ws = _conv_sizes(h, len(channels)), _conv_sizes(w, len(channels))
        channels = list(channels)[::-1]  # widest first, as the encoder ends
        self.start = (channels[0], hs[-1], ws[-1])
        self.fc = nn.Linear(in_dim, math.prod(self.start))
        layers: list[nn.Module] = [nn.ReLU()]
        outs = channels[1:] + [c_img]
        for i, (c_in, c_out) in enumerate(zip(channels, outs)):
            level = len(channels) - i  # spatial level we are upsampling from
            pad = (hs[level - 1] - 2 * hs[level], ws[level - 1] - 2 * ws[level])
            layers.append(nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1,
                                             output_padding=pad))
            if i < len(channels) - 1:
                if batch_norm:
                    layers.append(nn.BatchNorm2d(c_out))
                layers.append(nn.ReLU())
                if dropout > 0:
                    layers.append(nn.Dropout2d(dropout))
        self.deconv = nn.Sequential(*layers)

    def forward(self, z):
        return self.deconv(self.fc(z).view(-1, *self.start))
