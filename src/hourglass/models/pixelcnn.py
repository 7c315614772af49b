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
sequential, one pixel (one channel, with ``channel_order``) per network pass. The name
``gated-pixelcnn`` is this model with ``gated=True`` by default.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hourglass.core.options import option
from hourglass.core.validation import Boolean, Interval
from hourglass.nn.masked import (GatedMaskedLayer, GatedStacksInput, MaskedResidualBlock,
                                 masked_conv, pixel_head)
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
