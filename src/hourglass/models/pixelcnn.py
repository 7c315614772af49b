r"""PixelCNN, plain and gated (van den Oord et al. 2016).

$\log p(x) = \sum_{i} \log p(x_i \mid x_{<i})$ over the pixels in raster order, every conditional
computed at once by masked convolutions (:mod:`hourglass.nn.masked`): a ``kernel_size`` mask-A
layer, then ``n_layers`` layers that may see the centre (mask B), then a per-pixel ReLU + 1x1 head.

- plain (``gated=False``, "Pixel Recurrent Neural Networks" sec. 3.5): residual blocks
  ``x + 1x1(relu(maskB(relu(1x1(relu(x))))))``; the stack has a blind spot up and to the right.
- gated (``gated=True``, "Conditional Image Generation with PixelCNN Decoders"): vertical and
  horizontal stacks with $\tanh \odot \sigma$ gates; the receptive field is the whole past.

The channels of a colour pixel are predicted in order, R, then G given R, then B given R and G
(``channel_order``, "Pixel Recurrent Neural Networks" sec. 3.4), each with a 256-way softmax for
8-bit data (``likelihood="categorical"``). Training is parallel over pixels; sampling is
sequential, one pixel (one channel, with ``channel_order``) per draw; the sampler caches every
layer's feature maps and computes each layer at the drawn pixel alone (Ramachandran et al. 2017,
"Fast Generation for Convolutional Autoregressive Models"), :class:`PixelCNNSampler`. The name
``gated-pixelcnn`` is this model with ``gated=True`` by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hourglass.core.options import option
from hourglass.core.validation import Boolean, Interval
from hourglass.nn.masked import (GatedMaskedLayer, GatedStacksInput, MaskedResidualBlock,
                                 gate, masked_conv, pixel_head)
from hourglass.models.autoregressive import AutoregressiveModel, ImageAutoregressiveConfig
from hourglass.models.registry import register_model


@dataclass
class PixelCNNConfig(ImageAutoregressiveConfig):
    channels: int = option(64, Interval(int, 1, None), "feature maps of every masked layer")
    n_layers: int = option(5, Interval(int, 1, None),
                           "residual (plain) or gated layers after the first, mask-A layer")
    kernel_size: int = option(7, Interval(int, 1, None), "odd kernel of the first layer (mask A)")
    layer_kernel: int = option(3, Interval(int, 1, None),
                               "odd kernel of each later layer (mask B / both stacks)")
    gated: bool = option(False, Boolean(),
                         "vertical + horizontal stacks with tanh*sigmoid gates: no blind spot")
    odd_fields = ("kernel_size", "layer_kernel")


@register_model("pixelcnn")
class PixelCNN(AutoregressiveModel):
    """PixelCNN: masked convolutions (A, then B), exact log p(x); --gated for the gated stacks."""

    config_class = PixelCNNConfig
    tiny_configs = [
        dict(channels=8, n_layers=2, kernel_size=3, hidden=(8,)),
        dict(channels=8, n_layers=1, hidden=(8,), likelihood="categorical"),
        dict(channels=8, n_layers=2, kernel_size=3, hidden=(8,), gated=True),
    ]

    def __init__(self, config: PixelCNNConfig | None = None, **kwargs):
        super().__init__(config, **kwargs)
        c = self.config
        c_in, k, groups = c.input_shape[0], c.kernel_size, self.colour_groups
        if c.gated:
            self.input = GatedStacksInput(c_in, c.channels, k, groups=groups)
            self.layers = nn.ModuleList(GatedMaskedLayer(c.channels, c.layer_kernel, groups=groups)
                                        for _ in range(c.n_layers))
        else:
            self.input = masked_conv(c_in, c.channels, k, k, include_center=False, groups=groups)
            self.layers = nn.ModuleList(MaskedResidualBlock(c.channels, c.layer_kernel,
                                                            groups=groups)
                                        for _ in range(c.n_layers))
        self.head = pixel_head(c.channels, c.hidden, c_in * self.out_channels, groups=groups)

    def context_rows(self) -> int:
        """Rows above a pixel in its receptive field: each masked kernel of height k reaches k // 2
        rows up, and the layers are stacked (a bound: the vertical stack's input and each layer
        reach one more row up, the horizontal kernels none)."""
        return sum(m.kernel_size[0] // 2 for m in self.modules() if isinstance(m, nn.Conv2d))

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, batch_size: int = 256,
               progress: bool | None = None) -> torch.Tensor:
        """Draw `n` images pixel by pixel (and colour by colour), each layer computed at the drawn
        pixel alone from the cached maps of the pixels before it (:class:`PixelCNNSampler`): a
        draw costs one pixel's work, not the image's. The same draws as
        :meth:`AutoregressiveModel.sample`, which reruns the network on the rows a pixel sees."""
        return self.sample_pixels(n, lambda x: PixelCNNSampler(self, x), generator=generator,
                                  batch_size=batch_size, progress=progress)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every pixel's conditional: (B, C, H, W) or (B, 256, C, H, W)."""
        x = self.net_input(x)
        if self.config.gated:
            v, h = self.input(x)                      # (B, ch, H, W) each
            for layer in self.layers:
                v, h = layer(v, h)
            feat = h
        else:
            feat = self.input(x)                      # (B, ch, H, W)
            for layer in self.layers:
                feat = layer(feat)
        return self.per_value_logits(self.head(feat))  # head: (B, C * K, H, W)


def _kernel(conv: nn.Conv2d, rows: int | None = None):
    """A convolution's masked kernel as a matrix (c_out, rows * kw * c_in), its columns in the
    order of a window laid out (row, column, channel), and its bias; `rows`: the top rows only
    (the rows below a raster kernel's centre are masked out)."""
    w = conv.weight * conv.mask if hasattr(conv, "mask") else conv.weight
    w = w[:, :, :rows] if rows is not None else w
    return w.permute(0, 2, 3, 1).reshape(w.shape[0], -1), conv.bias


def _rows_kept(conv: nn.Conv2d):
    """A vertical-stack convolution's (masked kernel, bias) cut to the rows its mask keeps, and
    their number."""
    w = conv.weight * conv.mask
    kept = conv.mask.reshape(-1, *conv.mask.shape[-2:]).any(0).any(1)   # (kh,): a row kept
    rows = int(kept.nonzero().max()) + 1
    return (w[:, :, :rows].contiguous(), conv.bias), rows


def _at(kernel, padded: torch.Tensor, top: int, c: int, rows: int, kw: int) -> torch.Tensor:
    """A convolution at one pixel of a map laid out (H, W, B, C), zero-padded: the window of
    `rows` x `kw` pixels from row `top` and column `c` of the padded map, times the kernel
    matrix; (B, c_out)."""
    window = padded[top:top + rows, c:c + kw]                      # (rows, kw, B, C)
    return F.linear(window.permute(2, 0, 1, 3).reshape(window.shape[2], -1), *kernel)


class PixelCNNSampler:
    r"""A PixelCNN's feature maps while a batch `x` (B, C, H, W) is drawn pixel by pixel.

    A masked layer's output at pixel p reads its input at p and at pixels before p (raster
    order); those were computed when they were drawn, so each draw computes every layer at p
    alone, a (B, c_in k^2) x (c_in k^2, c_out) product per layer over the kernel's rows down to
    p's, and stores the result in that layer's cached map (Ramachandran et al. 2017). The gated
    model's vertical stack sees only the rows above, so it is computed a whole row at a time,
    when the row above is drawn. The cached maps are laid out (H, W, B, C), so that a window is
    a few contiguous blocks, and zero-padded as the convolutions pad them; the entries not yet
    computed are masked out. With colours in order the values at p depend on its colours drawn
    so far, so they are computed again once the pixel is complete.
    """

    def __init__(self, model: PixelCNN, x: torch.Tensor):
        self.model, self.x = model, x
        B, C, H, W = x.shape
        self.gated = model.config.gated
        k, q = model.config.kernel_size // 2, model.config.layer_kernel // 2
        self.k, self.q = k, q
        # the network's input, 2x - 1, zero-padded as the first layer pads it, (H, W, B, C);
        # refreshed at each pixel from the values drawn there
        self.x_in = F.pad(model.net_input(x), (k, k, k, k)).permute(2, 3, 0, 1).contiguous()
        ch = model.config.channels
        self.head = [None if isinstance(m, nn.ReLU) else _kernel(m) for m in model.head]
        if self.gated:
            self.input_h = _kernel(model.input.h)
            self.input_v = _rows_kept(model.input.v)
            self.v_convs = [_rows_kept(l.v_conv) for l in model.layers]
            self.v_links = [(l.v_to_h.weight, l.v_to_h.bias) for l in model.layers]
            self.weights = [(_kernel(l.h_conv), _kernel(l.h_out)) for l in model.layers]
            # the vertical stack's maps (B, ch, H, W), the input of layer l (l = 0: the input
            # layer's output), padded by q: computed a row at a time by convolutions
            self.v = [x.new_zeros(B, ch, H + 2 * q, W + 2 * q) for _ in model.layers]
            self.links = [None] * len(model.layers)   # V v_feat of the current row, (W, B, 2ch)
            self.h = [x.new_zeros(1, W + 2 * q, B, ch) for _ in model.layers]  # current row
            self._vertical(0)
        else:
            self.input_w = _kernel(model.input, k + 1)
            self.weights = [(_kernel(b.net[1]), _kernel(b.net[3], q + 1), _kernel(b.net[5]))
                            for b in model.layers]
            half = model.layers[0].net[1].out_channels
            self.u = [x.new_zeros(H + 2 * q, W + 2 * q, B, half) for _ in model.layers]

    def _vertical(self, r: int) -> None:
        """Row r of the gated model's vertical stack, from the rows above it: per layer one
        convolution over the kernel's rows that its mask keeps (those above r, then down to r)."""
        k, q = self.k, self.q
        W = self.x.shape[-1]
        (w, b), rows = self.input_v
        strip = self.x_in[r:r + rows].permute(2, 3, 0, 1)           # rows r - k .. r - 1
        row = F.conv2d(strip, w, b)[:, :, 0]                        # (B, ch, W)
        for l, (v, ((w, b), rows), link) in enumerate(zip(self.v, self.v_convs, self.v_links)):
            v[:, :, q + r, q:q + W] = row
            feat = F.conv2d(v[:, :, r:r + rows], w, b)               # (B, 2ch, 1, W)
            self.links[l] = F.conv2d(feat, *link)[:, :, 0].permute(2, 0, 1).contiguous()
            row = gate(feat[:, :, 0])

    def _pixel(self, r: int, c: int) -> torch.Tensor:
        m, k, q = self.model, self.k, self.q
        self.x_in[k + r, k + c] = m.net_input(self.x[:, :, r, c])
        if self.gated:
            f = _at(self.input_h, self.x_in, k + r, c, 1, 2 * k + 1)
            for h, link, (w_h, w_out) in zip(self.h, self.links, self.weights):
                h[0, q + c] = f
                f = f + F.linear(gate(_at(w_h, h, 0, c, 1, 2 * q + 1) + link[c]), *w_out)
        else:
            f = _at(self.input_w, self.x_in, r, c, k + 1, 2 * k + 1)
            for u, (w_in, w_mid, w_out) in zip(self.u, self.weights):
                u[q + r, q + c] = torch.relu(F.linear(torch.relu(f), *w_in))
                f = f + F.linear(torch.relu(_at(w_mid, u, r, c, q + 1, 2 * q + 1)), *w_out)
        for kernel in self.head:                          # ReLU, 1x1, ..., ReLU, 1x1
            f = torch.relu(f) if kernel is None else F.linear(f, *kernel)
        return m.per_value_logits(f[:, :, None, None])

    def logits(self, row: int, col: int) -> torch.Tensor:
        return self._pixel(row, col)

    def pixel_done(self, row: int, col: int) -> None:
        if self.model.colour_groups > 1:
            self._pixel(row, col)             # the maps at the pixel, from all its colours
        else:                                  # nothing at the pixel depends on its own value
            k = self.k
            self.x_in[k + row, k + col] = self.model.net_input(self.x[:, :, row, col])

    def row_done(self, row: int) -> None:
        if self.gated and row + 1 < self.x.shape[2]:
            self._vertical(row + 1)


@dataclass
class GatedPixelCNNConfig(PixelCNNConfig):
    gated: bool = option(True, Boolean(),
                         "vertical + horizontal stacks with tanh*sigmoid gates: no blind spot")


@register_model("gated-pixelcnn")
class GatedPixelCNN(PixelCNN):
    """Gated PixelCNN: vertical + horizontal masked stacks, no blind spot (pixelcnn --gated)."""

    config_class = GatedPixelCNNConfig
    tiny_configs = [
        dict(channels=8, n_layers=2, kernel_size=3, hidden=(8,)),
        dict(channels=8, n_layers=1, hidden=(8,), likelihood="categorical"),
    ]
