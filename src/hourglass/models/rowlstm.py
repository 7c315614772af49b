r"""PixelRNN with Row LSTM layers (van den Oord et al. 2016, sec. 3.1).

The image is processed row by row, top to bottom; an LSTM state runs down the rows, one state
vector per pixel of the row. For row $r$ (all columns at once):

$[o, f, i, g]_r = K^{is} \circledast x_r + K^{ss} \circledast h_{r-1}$,
$c_r = \sigma(f) \odot c_{r-1} + \sigma(i) \odot \tanh(g)$,  $h_r = \sigma(o) \odot \tanh(c_r)$,

where the input-to-state convolution $K^{is}$ is 1 x k and masked (mask B: the pixel and those to
its left) and the state-to-state convolution $K^{ss}$ is 1 x k over the previous row's states. The
first layer is a k x k mask-A convolution of the image, so the output at a pixel depends only on
the pixels before it in raster order (a triangular context above it plus the row to its left):
$\log p(x) = \sum_i \log p(x_i \mid x_{<i})$ is exact. Layers are residual; a ReLU + 1x1 head gives
the logits. Sampling is pixel by pixel. With ``channel_order`` every mask keeps the channels of a
colour pixel in order (R, G, B; sec. 3.4): the gates are elementwise and the state-to-state
convolution reads the row above only, so the order survives the recurrence.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hourglass.core.options import option
from hourglass.core.validation import Interval
from hourglass.nn.masked import masked_conv, pixel_head
from hourglass.models.autoregressive import AutoregressiveModel, ImageAutoregressiveConfig
from hourglass.models.registry import register_model


@dataclass
class RowLSTMConfig(ImageAutoregressiveConfig):
    channels: int = option(32, Interval(int, 1, None),
                           "LSTM state size per pixel (and feature maps of the first layer)")
    n_layers: int = option(2, Interval(int, 1, None), "Row LSTM layers (residual)")
    kernel_size: int = option(7, Interval(int, 1, None), "odd kernel of the first layer (mask A)")
    row_kernel: int = option(3, Interval(int, 1, None),
                             "odd width k of the input-to-state (mask B) and state-to-state kernels")
    odd_fields = ("kernel_size", "row_kernel")


class RowLSTMLayer(nn.Module):
    """One Row LSTM layer with a residual connection: (H, W, B, C) -> (H, W, B, C).

    The layer works on maps laid out rows, columns, batch, channels, so that a row is one
    contiguous block, and computes each row's gates as one product, over the taps of the
    input-to-state kernel (those its mask keeps) and of the state-to-state kernel side by side.
    """

    def __init__(self, channels: int, k: int, *, groups: int = 1):
        super().__init__()
        # mask B; with colour groups, each of the four gates keeps their order at the centre
        self.input_to_state = masked_conv(channels, 4 * channels, 1, k, include_center=True,
                                          groups=groups, out_parts=4)
        self.state_to_state = nn.Conv1d(channels, 4 * channels, k, padding=k // 2)
        self.taps = list(range(k // 2 + 1))  # mask B keeps nothing right of the centre

    def forward(self, x):
        H, W, B, C = x.shape
        k = self.state_to_state.kernel_size[0]
        w_is = self.input_to_state.weight * self.input_to_state.mask     # (4C, C, 1, k)
        w_ss = self.state_to_state.weight                                # (4C, C, k)
        # (taps x C + k C, 4C): the kept input taps, then every state tap
        w = torch.cat([w_is[:, :, 0, t] for t in self.taps] + list(w_ss.unbind(2)), dim=1).t()
        bias = self.input_to_state.bias + self.state_to_state.bias
        pad = k // 2
        h = x.new_zeros(W + 2 * pad, B, C)                # state above the first row, padded
        c = x.new_zeros(W, B, C)
        rows = []
        for x_r in F.pad(x, (0, 0, 0, 0, pad, pad)).unbind(0):   # (W + 2 pad, B, C) each
            # $K^{is} \circledast x_r + K^{ss} \circledast h_{r-1}$, every column at once
            inputs = torch.cat([x_r[t:t + W] for t in self.taps]
                               + [h[t:t + W] for t in range(k)], dim=2)
            gates = torch.addmm(bias, inputs.view(W * B, -1), w).view(W, B, 4 * C)
            o, f, i, g = gates.chunk(4, dim=2)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h_r = torch.sigmoid(o) * torch.tanh(c)
            rows.append(h_r)
            h = F.pad(h_r, (0, 0, 0, 0, pad, pad))
        return x + torch.stack(rows)                      # (H, W, B, C)

    def forward_convolutions(self, x: torch.Tensor) -> torch.Tensor:
        """The same layer as the paper writes it, on (B, C, H, W) maps: the masked 1 x k
        input-to-state convolution of the whole map, then row by row the 1 x k state-to-state
        convolution. A reference for `forward`: it gives the same result, more slowly."""
        gates_in, (B, C, H, W) = self.input_to_state(x), x.shape
        h, c, rows = x.new_zeros(B, C, W), x.new_zeros(B, C, W), []
        for gates_r in gates_in.unbind(2):                # unbind: one backward for all rows
            o, f, i, g = (gates_r + self.state_to_state(h)).chunk(4, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            rows.append(h)
        return x + torch.stack(rows, dim=2)


@register_model("row-lstm")
class RowLSTM(AutoregressiveModel):
    """PixelRNN Row LSTM: an LSTM state down the rows, masked input-to-state, exact log p(x)."""

    config_class = RowLSTMConfig
    tiny_configs = [
        dict(channels=8, n_layers=1, kernel_size=3, hidden=(8,)),
        dict(channels=4, n_layers=2, hidden=(8,), likelihood="categorical"),
    ]

    def __init__(self, config: RowLSTMConfig | None = None, **kwargs):
        super().__init__(config, **kwargs)
        c = self.config
        c_in, k, groups = c.input_shape[0], c.kernel_size, self.colour_groups
        self.input = masked_conv(c_in, c.channels, k, k, include_center=False, groups=groups)
        self.layers = nn.Sequential(*(RowLSTMLayer(c.channels, c.row_kernel, groups=groups)
                                      for _ in range(c.n_layers)))
        self.head = pixel_head(c.channels, c.hidden, c_in * self.out_channels, groups=groups)

    def context_rows(self) -> int:
        """Every row above: the LSTM state runs down the image."""
        return self.config.input_shape[1] - 1

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every pixel's conditional: (B, C, H, W) or (B, 256, C, H, W)."""
        x = self.net_input(x)
        h = self.input(x).permute(2, 3, 0, 1).contiguous()   # (H, W, B, C): see the layer
        h = self.layers(h).permute(2, 3, 0, 1)               # (B, C, H, W)
        return self.per_value_logits(self.head(h))
