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
the logits. Sampling is pixel by pixel, carrying the states: each draw runs one column of each
layer's step. With ``channel_order`` every mask keeps the channels of a
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
from hourglass.nn.layers import lstm_update
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

    def row_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The weights of one row's product, (taps x C + k C, 4C): the input taps that the mask
        keeps, then every state tap; and the bias of both kernels."""
        w_is = self.input_to_state.weight * self.input_to_state.mask     # (4C, C, 1, k)
        w_ss = self.state_to_state.weight                                # (4C, C, k)
        w = torch.cat([w_is[:, :, 0, t] for t in self.taps] + list(w_ss.unbind(2)), dim=1).t()
        return w, self.input_to_state.bias + self.state_to_state.bias

    def step(self, x_r, h, c, weights):
        """One row: the input row `x_r` and the states `h` of the row above, both (W + 2 pad, B, C)
        with the columns zero-padded, and the cells `c` (W, B, C) -> the row's (h_r, c_r)."""
        w, bias = weights
        k = self.state_to_state.kernel_size[0]
        W, B, C = c.shape
        # $K^{is} \circledast x_r + K^{ss} \circledast h_{r-1}$, every column at once
        inputs = torch.cat([x_r[t:t + W] for t in self.taps] + [h[t:t + W] for t in range(k)],
                           dim=2)
        gates = torch.addmm(bias, inputs.view(W * B, -1), w).view(W, B, 4 * C)
        return lstm_update(gates, c, dim=2)

    def forward(self, x):
        H, W, B, C = x.shape
        weights, pad = self.row_weights(), self.state_to_state.kernel_size[0] // 2
        h = x.new_zeros(W + 2 * pad, B, C)                # state above the first row, padded
        c = x.new_zeros(W, B, C)
        rows = []
        for x_r in F.pad(x, (0, 0, 0, 0, pad, pad)).unbind(0):   # (W + 2 pad, B, C) each
            h_r, c = self.step(x_r, h, c, weights)
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
            h, c = lstm_update(gates_r + self.state_to_state(h), c, dim=1)
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

    def sample(self, n: int, *, generator: torch.Generator | None = None, batch_size: int = 256,
               progress: bool | None = None) -> torch.Tensor:
        """Draw `n` images pixel by pixel (and colour by colour), carrying every layer's LSTM state
        down the rows: a draw at (r, c) runs each layer's step for column c alone, from the
        states of row r - 1 and the layer's inputs left of c (:class:`RowLSTMSampler`). The same
        draws as :meth:`AutoregressiveModel.sample`, with a pixel's work per draw instead of the
        image's."""
        return self.sample_pixels(n, lambda x: RowLSTMSampler(self, x), generator=generator,
                                  batch_size=batch_size, progress=progress)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every pixel's conditional: (B, C, H, W) or (B, 256, C, H, W)."""
        x = self.net_input(x)
        h = self.input(x).permute(2, 3, 0, 1).contiguous()   # (H, W, B, C): see the layer
        h = self.layers(h).permute(2, 3, 0, 1)               # (B, C, H, W)
        return self.per_value_logits(self.head(h))


class RowLSTMSampler:
    """The Row LSTM's state while a batch `x` (B, C, H, W) is drawn pixel by pixel: per layer the
    padded states and the cells of the row above, and the current row's inputs, states and cells
    so far (columns padded by k // 2)."""

    def __init__(self, model: RowLSTM, x: torch.Tensor):
        self.model, self.x = model, x
        self.pad, self.up = model.config.row_kernel // 2, model.config.kernel_size // 2
        self.weights = [layer.row_weights() for layer in model.layers]
        self.above = [(self._zeros(2 * self.pad), self._zeros(0)) for _ in model.layers]
        self._new_row()

    def _zeros(self, extra: int) -> torch.Tensor:
        B, _, _, W = self.x.shape
        return self.x.new_zeros(W + extra, B, self.model.config.channels)

    def _new_row(self):
        L = len(self.model.layers)
        self.rows_in = [self._zeros(2 * self.pad) for _ in range(L)]
        self.h_row = [self._zeros(2 * self.pad) for _ in range(L)]
        self.c_row = [self._zeros(0) for _ in range(L)]

    def _pixel(self, row: int, col: int):
        """The pixel's logits, and each layer's (h, c) there; the mask keeps no input right of
        the pixel, so one column of each layer's step is all it needs."""
        m, pad = self.model, self.pad
        x_rows = self.x[:, :, max(0, row - self.up):row + 1]   # the first kernel's reach
        feat = m.input(m.net_input(x_rows))[:, :, -1, col]                     # (B, C)
        states = []
        for layer, row_in, (h_above, c_above), w in zip(m.layers, self.rows_in, self.above,
                                                        self.weights):
            row_in[pad + col] = feat
            h, c = layer.step(row_in[col:col + 2 * pad + 1], h_above[col:col + 2 * pad + 1],
                              c_above[col:col + 1], w)
            states.append((h[0], c[0]))
            feat = feat + h[0]                                                  # residual
        B, C = feat.shape
        return m.per_value_logits(m.head(feat.view(B, C, 1, 1))), states

    def logits(self, row: int, col: int) -> torch.Tensor:
        return self._pixel(row, col)[0]

    def pixel_done(self, row: int, col: int) -> None:
        for l, (h, c) in enumerate(self._pixel(row, col)[1]):
            self.h_row[l][self.pad + col], self.c_row[l][col] = h, c

    def row_done(self, row: int) -> None:
        self.above = list(zip(self.h_row, self.c_row))
        self._new_row()
