r"""Masked convolutions: the blocks of the autoregressive image models.

An autoregressive image model orders the pixels row by row, left to right (raster order) and
predicts every conditional $p(x_i \mid x_{<i})$ in one pass. A convolution would let pixel ``i`` see
itself and the pixels after it; zeroing those kernel entries (a *mask*) keeps only the past:

- **mask A** (first layer): the rows above and the pixels left of the centre, not the centre;
- **mask B** (every later layer): the same plus the centre, which after a mask-A layer already
  holds information from $x_{<i}$ only.

A stack of mask-B 3x3 convolutions has a *blind spot*: the pixels up and to the right beyond the
first layer's reach never enter the receptive field. The gated PixelCNN (van den Oord et al. 2016,
"Conditional Image Generation with PixelCNN Decoders") removes it with two stacks: a *vertical*
stack that sees every pixel of the rows above, and a *horizontal* stack that sees the pixels to the
left in the current row plus the vertical stack; both combine through gates
$\tanh(W_f * x) \odot \sigma(W_g * x)$.

Channels are not ordered within a pixel: all channels of pixel ``i`` are predicted from $x_{<i}$
(conditionally independent given the past), which keeps the masks spatial.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def raster_mask(kh: int, kw: int, *, include_center: bool) -> torch.Tensor:
    """(kh, kw) kernel mask of the raster past: rows above, then the centre row up to the centre.

    >>> raster_mask(3, 3, include_center=False)
    tensor([[1., 1., 1.],
            [1., 0., 0.],
            [0., 0., 0.]])
    """
    m = torch.zeros(kh, kw)
    m[:kh // 2] = 1
    m[kh // 2, :kw // 2 + int(include_center)] = 1
    return m


def vertical_mask(k: int, *, include_center_row: bool) -> torch.Tensor:
    """(k, k) kernel mask of the vertical stack: whole rows above (and the centre row, if asked)."""
    m = torch.zeros(k, k)
    m[:k // 2 + int(include_center_row)] = 1
    return m


class MaskedConv2d(nn.Conv2d):
    """A 'same'-padded convolution whose kernel is multiplied by a fixed (kh, kw) mask.

    The masked entries contribute nothing and receive an exactly zero gradient, so the output at a
    pixel is a function of the unmasked neighbourhood only.
    """

    def __init__(self, c_in: int, c_out: int, mask: torch.Tensor):
        kh, kw = mask.shape
        assert kh % 2 == 1 and kw % 2 == 1, "masked kernels are odd-sized, centred on the pixel"
        super().__init__(c_in, c_out, (kh, kw), padding=(kh // 2, kw // 2))
        self.register_buffer("mask", mask.clone(), persistent=False)  # rebuilt from the config

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class MaskedResidualBlock(nn.Module):
    """The PixelCNN residual block (van den Oord et al. 2016, PixelRNN paper fig. 5), mask B:

    ``x + conv1x1(relu(maskB_kxk(relu(conv1x1(relu(x))))))``, the middle at half the channels.
    """

    def __init__(self, channels: int, kernel_size: int = 3):
        super().__init__()
        half = max(1, channels // 2)
        self.net = nn.Sequential(
            nn.ReLU(), nn.Conv2d(channels, half, 1),
            nn.ReLU(), MaskedConv2d(half, half, raster_mask(kernel_size, kernel_size,
                                                            include_center=True)),
            nn.ReLU(), nn.Conv2d(half, channels, 1))

    def forward(self, x):
        return x + self.net(x)


def gate(t: torch.Tensor) -> torch.Tensor:
    r"""The gated activation $\tanh(a) \odot \sigma(b)$ of the two channel halves of ``t``."""
    a, b = t.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedStacksInput(nn.Module):
    """First layer of a gated PixelCNN: the two stacks from the image, centre excluded.

    The vertical stack at row r sees rows < r; the horizontal stack sees row r left of the pixel.
    """

    def __init__(self, c_in: int, channels: int, kernel_size: int):
        super().__init__()
        k = kernel_size
        self.v = MaskedConv2d(c_in, channels, vertical_mask(k, include_center_row=False))
        self.h = MaskedConv2d(c_in, channels, raster_mask(1, k, include_center=False))

    def forward(self, x):
        return self.v(x), self.h(x)  # (B, C, H, W) each


class GatedMaskedLayer(nn.Module):
    r"""One gated layer over the vertical and horizontal stacks (no blind spot):

    $v' = \tanh(W_{v,f} * v) \odot \sigma(W_{v,g} * v)$,
    $h' = h + W_{1\times1}\,\big[\tanh(W_{h,f} * h + V_f v_{feat}) \odot
    \sigma(W_{h,g} * h + V_g v_{feat})\big]$.

    The vertical features already hold rows above only, so its kernel keeps the centre row; the
    horizontal kernel keeps the centre pixel (mask B) and the link v -> h is a 1x1 convolution.
    """

    def __init__(self, channels: int, kernel_size: int = 3):
        super().__init__()
        c, k = channels, kernel_size
        self.v_conv = MaskedConv2d(c, 2 * c, vertical_mask(k, include_center_row=True))
        self.h_conv = MaskedConv2d(c, 2 * c, raster_mask(1, k, include_center=True))
        self.v_to_h = nn.Conv2d(2 * c, 2 * c, 1)
        self.h_out = nn.Conv2d(c, c, 1)

    def forward(self, v, h):
        v_feat = self.v_conv(v)                          # (B, 2C, H, W)
        h_feat = self.h_conv(h) + self.v_to_h(v_feat)    # (B, 2C, H, W)
        return gate(v_feat), h + self.h_out(gate(h_feat))


def pixel_head(c_in: int, hidden: tuple, c_out: int) -> nn.Sequential:
    """Per-pixel output network: ReLU, then 1x1 convolutions of widths `hidden`, then `c_out`."""
    layers: list[nn.Module] = [nn.ReLU()]
    for width in hidden:
        layers += [nn.Conv2d(c_in, width, 1), nn.ReLU()]
        c_in = width
    layers.append(nn.Conv2d(c_in, c_out, 1))
    return nn.Sequential(*layers)
