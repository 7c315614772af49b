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

**Colour channels in order** (van den Oord et al. 2016, "Pixel Recurrent Neural Networks",
sec. 3.4): with ``groups = 3`` the channels of a pixel are predicted one after the other,

$p(x_i \mid x_{<i}) = p(x_{i,R} \mid x_{<i})\, p(x_{i,G} \mid x_{<i}, x_{i,R})\,
p(x_{i,B} \mid x_{<i}, x_{i,R}, x_{i,G})$.

Every feature map is split into ``groups`` consecutive channel groups (R, G, B); the pixels of
the spatial past connect to every group, and at the centre pixel group $c'$ feeds group $c$ only
if $c' < c$ (mask A: the input's R may inform the prediction of G, never of R) or $c' \le c$
(mask B, later layers: their group $c$ already holds $x_{i,<c}$ only). 1x1 convolutions at the
same pixel are mask-B kernels too. A map that a network later cuts into ``parts`` (the two halves
of a gate, the four LSTM gates) repeats the groups in every part. With ``groups = 1`` (the
default) the centre is open (B) or closed (A) for all channels and all channels of pixel ``i``
are predicted from $x_{<i}$ together, conditionally independent given the past.
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


def channel_groups(n: int, groups: int, parts: int = 1) -> torch.Tensor:
    """Group (0..groups-1, R, G, B) of each of `n` channels: consecutive blocks, repeated in each
    of `parts` equal parts of the map.

    >>> channel_groups(6, 3), channel_groups(4, 2, parts=2)
    (tensor([0, 0, 1, 1, 2, 2]), tensor([0, 1, 0, 1]))
    """
    assert n % parts == 0, "a map cut into parts has equal parts"
    block = n // parts
    return torch.arange(n) % block * groups // block


def ordered_mask(kh: int, kw: int, c_out: int, c_in: int, *, include_center: bool,
                 groups: int = 1, out_parts: int = 1, in_parts: int = 1) -> torch.Tensor:
    r"""(c_out, c_in, kh, kw) kernel mask of the raster past with the channels of the centre pixel
    in order: every channel sees the rows above and the pixels to the left; at the centre, input
    group $c'$ reaches output group $c$ iff $c' < c$ (``include_center=False``, mask A) or
    $c' \le c$ (mask B). ``groups=1`` gives `raster_mask` for every pair of channels.

    >>> ordered_mask(1, 1, 3, 3, include_center=False, groups=3)[:, :, 0, 0]
    tensor([[0., 0., 0.],
            [1., 0., 0.],
            [1., 1., 0.]])
    """
    g_out = channel_groups(c_out, groups, out_parts)[:, None]
    g_in = channel_groups(c_in, groups, in_parts)[None, :]
    centre = (g_in <= g_out) if include_center else (g_in < g_out)      # (c_out, c_in)
    m = raster_mask(kh, kw, include_center=False).expand(c_out, c_in, kh, kw).clone()
    m[:, :, kh // 2, kw // 2] = centre.float()
    return m


def vertical_mask(k: int, *, include_center_row: bool) -> torch.Tensor:
    """(k, k) kernel mask of the vertical stack: whole rows above (and the centre row, if asked)."""
    m = torch.zeros(k, k)
    m[:k // 2 + int(include_center_row)] = 1
    return m


class MaskedConv2d(nn.Conv2d):
    """A 'same'-padded convolution whose kernel is multiplied by a fixed mask: (kh, kw) for every
    pair of channels, or (c_out, c_in / conv_groups, kh, kw) per pair (`ordered_mask`).

    The masked entries contribute nothing and receive an exactly zero gradient, so the output at a
    pixel is a function of the unmasked neighbourhood only.
    """

    def __init__(self, c_in: int, c_out: int, mask: torch.Tensor, *, conv_groups: int = 1):
        kh, kw = mask.shape[-2:]
        assert kh % 2 == 1 and kw % 2 == 1, "masked kernels are odd-sized, centred on the pixel"
        super().__init__(c_in, c_out, (kh, kw), padding=(kh // 2, kw // 2), groups=conv_groups)
        assert mask.dim() == 2 or mask.shape == self.weight.shape, "one mask entry per weight"
        self.register_buffer("mask", mask.clone(), persistent=False)  # rebuilt from the config

    def forward(self, x):
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding,
                        groups=self.groups)


def masked_conv(c_in: int, c_out: int, kh: int, kw: int, *, include_center: bool,
                groups: int = 1, out_parts: int = 1, in_parts: int = 1) -> MaskedConv2d:
    """A kh x kw raster-past convolution with the channels of ``groups`` colours in order
    (mask A without the centre's own group, mask B with it); 1x1 is the centre pixel alone."""
    if groups == 1:
        return MaskedConv2d(c_in, c_out, raster_mask(kh, kw, include_center=include_center))
    mask = ordered_mask(kh, kw, c_out, c_in, include_center=include_center, groups=groups,
                        out_parts=out_parts, in_parts=in_parts)
    return MaskedConv2d(c_in, c_out, mask)


class MaskedResidualBlock(nn.Module):
    """The PixelCNN residual block (van den Oord et al. 2016, PixelRNN paper fig. 5), mask B:

    ``x + conv1x1(relu(maskB_kxk(relu(conv1x1(relu(x))))))``, the middle at half the channels;
    with ``groups`` colours every convolution (the 1x1 ones too) keeps their order.
    """

    def __init__(self, channels: int, kernel_size: int = 3, *, groups: int = 1):
        super().__init__()
        half = max(1, channels // 2)
        k = kernel_size
        self.net = nn.Sequential(
            nn.ReLU(), masked_conv(channels, half, 1, 1, include_center=True, groups=groups),
            nn.ReLU(), masked_conv(half, half, k, k, include_center=True, groups=groups),
            nn.ReLU(), masked_conv(half, channels, 1, 1, include_center=True, groups=groups))

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

    def __init__(self, c_in: int, channels: int, kernel_size: int, *, groups: int = 1):
        super().__init__()
        k = kernel_size
        self.v = MaskedConv2d(c_in, channels, vertical_mask(k, include_center_row=False))
        # mask A: at the centre, only the colours before each group's own (none for groups=1)
        self.h = masked_conv(c_in, channels, 1, k, include_center=False, groups=groups)

    def forward(self, x):
        return self.v(x), self.h(x)  # (B, C, H, W) each


class GatedMaskedLayer(nn.Module):
    r"""One gated layer over the vertical and horizontal stacks (no blind spot):

    $v' = \tanh(W_{v,f} * v) \odot \sigma(W_{v,g} * v)$,
    $h' = h + W_{1\times1}\,\big[\tanh(W_{h,f} * h + V_f v_{feat}) \odot
    \sigma(W_{h,g} * h + V_g v_{feat})\big]$.

    The vertical features already hold rows above only, so its kernel keeps the centre row and
    the link v -> h is a plain 1x1 convolution; the horizontal kernel keeps the centre pixel
    (mask B) and, with ``groups`` colours, so does its 1x1 output (in colour order).
    """

    def __init__(self, channels: int, kernel_size: int = 3, *, groups: int = 1):
        super().__init__()
        c, k = channels, kernel_size
        self.v_conv = MaskedConv2d(c, 2 * c, vertical_mask(k, include_center_row=True))
        self.h_conv = masked_conv(c, 2 * c, 1, k, include_center=True, groups=groups, out_parts=2)
        self.v_to_h = nn.Conv2d(2 * c, 2 * c, 1)
        self.h_out = masked_conv(c, c, 1, 1, include_center=True, groups=groups)

    def forward(self, v, h):
        v_feat = self.v_conv(v)                          # (B, 2C, H, W)
        h_feat = self.h_conv(h) + self.v_to_h(v_feat)    # (B, 2C, H, W)
        return gate(v_feat), h + self.h_out(gate(h_feat))


def pixel_head(c_in: int, hidden: tuple, c_out: int, *, groups: int = 1) -> nn.Sequential:
    """Per-pixel output network: ReLU, then 1x1 convolutions of widths `hidden`, then `c_out`
    (with ``groups`` colours: mask-B 1x1 kernels, the outputs of colour c last in group c)."""
    layers: list[nn.Module] = [nn.ReLU()]
    for width in hidden:
        layers += [masked_conv(c_in, width, 1, 1, include_center=True, groups=groups), nn.ReLU()]
        c_in = width
    layers.append(masked_conv(c_in, c_out, 1, 1, include_center=True, groups=groups))
    return nn.Sequential(*layers)
