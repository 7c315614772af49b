r"""PixelRNN with Diagonal BiLSTM layers (van den Oord et al. 2016, sec. 3.2).

A Row LSTM's state at a pixel sees a triangle above it; a Diagonal BiLSTM's state sees the whole
past (but one pixel, see below). Each layer *skews* its input map, shifting row $r$ right by $r$
((H, W) -> (H, W + H - 1)), so that the pixels of one diagonal of the image stand in one column.
The LSTM then runs column by column, all rows at once; for column $j$ of the skewed map:

$[o, f, i, g]_j = K^{is} \circledast x_j + K^{ss} \circledast h_{j-1}$,
$c_j = \sigma(f) \odot c_{j-1} + \sigma(i) \odot \tanh(g)$,  $h_j = \sigma(o) \odot \tanh(c_j)$,

where the input-to-state $K^{is}$ is a 1x1 convolution (mask B: all of the pixel's own features)
and the state-to-state $K^{ss}$ a 2x1 convolution down the column, over the states of rows
$r - 1$ and $r$ of the previous column: in the image, the states of the pixel above and of the
pixel to the left. Unskewing gives back an (H, W) map whose state at $(r, c)$ has seen every
input at $(r', c')$ with $r' \le r$, $c' \le c$. Column $j$ of the skewed map is diagonal
$r + c = j$ of the image, so the layers here never build the skewed map (nearly half of whose
entries are padding): they gather the pixels diagonal by diagonal and step through the diagonals,
with the same result.

A second LSTM, with weights of its own, runs on the horizontally flipped map (right to left), where
the state at $(r, c)$ sees $r' \le r$, $c' \ge c$: the pixels right of $(r, c)$ in its own row,
which come after it in raster order. Shifting that output down by one row keeps only rows above,
$r' \le r - 1$; the two outputs are added to the input (a residual connection). After a mask-A
k x k first layer the output at a pixel depends on no pixel at or after it in raster order, and
$\log p(x) = \sum_i \log p(x_i \mid x_{<i})$ is exact. A ReLU + 1x1 head (mask B) gives the
logits. Sampling is pixel by pixel, carrying the states: each draw runs one step per layer. With
``channel_order`` the first layer, the input-to-state
kernels and the head keep the channels of a colour pixel in order (R, G, B; sec. 3.4); the
state-to-state kernel reads earlier pixels only, and the right-to-left map is shifted a row down.

The context is the whole past but one pixel: the last pixel of the row above, $(r - 1, W - 1)$,
reaches $(r, c)$ only through the first layer's kernel, so for $c < W - 1 - \lfloor k/2 \rfloor$
it is out of view at any depth (every feature of row $r - 1$ excludes it, as mask A requires, and
the shifted right-to-left map sees row $r - 1$ only through those features). A wider first kernel
narrows this gap; with $k \ge 2W - 1$ it is closed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hourglass.core.options import option
from hourglass.core.validation import Interval
from hourglass.nn.layers import lstm_update
from hourglass.nn.masked import MaskedConv2d, masked_conv, ordered_mask, pixel_head
from hourglass.models.autoregressive import AutoregressiveModel, ImageAutoregressiveConfig
from hourglass.models.registry import register_model


@dataclass
class DiagonalBiLSTMConfig(ImageAutoregressiveConfig):
    channels: int = option(32, Interval(int, 1, None),
                           "LSTM state size per pixel and direction (and feature maps of the "
                           "first layer)")
    n_layers: int = option(2, Interval(int, 1, None), "Diagonal BiLSTM layers (residual)")
    kernel_size: int = option(7, Interval(int, 1, None), "odd kernel of the first layer (mask A)")
    odd_fields = ("kernel_size",)


@functools.lru_cache(maxsize=None)
def diagonal_order(H: int, W: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    r"""The pixels of an (H, W) map in the order the LSTM visits them: diagonal $j = r + c$ by
    diagonal, each from its top row down.

    Returns raster indices $r W + c$ of shape (2, H W), row 0 for the map itself and row 1 for the
    horizontally flipped map (its pixel $(r, c)$ is $(r, W - 1 - c)$ of the image), and the length
    of every diagonal. Diagonal $j$ of the map is column $j$ of the skewed map (row $r$ shifted
    right by $r$), rows $\max(0, j - W + 1) .. \min(j, H - 1)$.
    """
    r, c = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    r, c = r.flatten(), c.flatten()
    visit = ((r + c) * H + r).argsort()
    order = torch.stack([r[visit] * W + c[visit], r[visit] * W + (W - 1 - c[visit])])
    return order, tuple(torch.bincount(r + c, minlength=H + W - 1).tolist())


def shift_down(x: torch.Tensor) -> torch.Tensor:
    """Move every row one down, zeros in the first: (H, W, B, C) -> (H, W, B, C)."""
    return F.pad(x, (0, 0, 0, 0, 0, 0, 1, 0))[:-1]


class DiagonalBiLSTMLayer(nn.Module):
    """One Diagonal BiLSTM layer with a residual connection: (H, W, B, C) -> (H, W, B, C).

    The layer works on maps laid out rows, columns, batch, channels, so that a pixel's features for
    the whole batch are one contiguous block. Instead of skewing the map and stepping through its
    columns (nearly half of whose entries are the skew's zeros), it gathers the pixels diagonal
    by diagonal (`diagonal_order`) and steps through the diagonals, each a contiguous run of
    rows; a column of the skewed map, read in place, would pull one cache line per element. Both
    directions run in the same loop: index 0 is the left-to-right LSTM, 1 the right-to-left one
    (on the flipped map), each with weights of its own.
    """

    def __init__(self, channels: int, *, groups: int = 1):
        super().__init__()
        c = channels
        # a 1x1 mask B: the whole kernel, or with colour groups their order at the pixel, in
        # each of the 2 directions x 4 gates
        self.input_to_state = MaskedConv2d(
            2 * c, 2 * 4 * c, ordered_mask(1, 1, 8 * c, c, include_center=True, groups=groups,
                                           out_parts=8), conv_groups=2)
        # rows r - 1 and r of the previous column; no bias (the input-to-state has one)
        self.state_to_state = nn.Conv1d(2 * c, 2 * 4 * c, 2, groups=2, bias=False)

    def step_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Both directions' weights of one step's product, (2, 3C, 4C): over the pixel's input, the
        state above it and the state before it in its row; and their biases, (2, 1, 4C)."""
        C = self.state_to_state.in_channels // 2
        w_is = (self.input_to_state.weight * self.input_to_state.mask).view(2, 4 * C, C)
        w_ss = self.state_to_state.weight.view(2, 4 * C, C, 2)
        w = torch.cat([w_is, w_ss[..., 0], w_ss[..., 1]], dim=2).transpose(1, 2)
        return w, self.input_to_state.bias.view(2, 1, 4 * C)

    @staticmethod
    def cell(direction: int, x, h_above, h_before, c_before, weights):
        """One pixel's LSTM step in one direction (0: left to right, 1: right to left), for the
        whole batch: its input, the states above it and before it in its row, and the cell
        before it, each (B, C) -> its (h, c)."""
        w, bias = weights
        gates = torch.addmm(bias[direction], torch.cat([x, h_above, h_before], dim=1),
                            w[direction])
        return lstm_update(gates, c_before, dim=1)

    def forward(self, x):
        H, W, B, C = x.shape
        order, sizes = diagonal_order(H, W)
        order = order.to(x.device)
        flat = x.reshape(H * W, B, C)
        seq = torch.stack([flat.index_select(0, order[0]), flat.index_select(0, order[1])])
        # one product per diagonal, $K^{is} \circledast x_j + K^{ss} \circledast h_{j-1}$, over
        # the pixel's input and the states of rows r - 1 and r side by side
        w, bias = self.step_weights()
        h = x.new_zeros(2, 0, B, C)                         # (2, rows of the last diagonal, B, C)
        c = x.new_zeros(2, 0, B, C)
        states = []
        for j, x_j in enumerate(seq.split(sizes, dim=1)):   # (2, n, B, C), diagonal by diagonal
            n = x_j.shape[1]
            top = int(j < W)  # the diagonal starts in row 0: above it is outside the image
            new = int(j < H)  # it ends in row j, whose previous column is left of the row: zeros
            # the states of rows lo - 1 .. hi of the previous diagonal: (2, n + 1, B, C)
            h = F.pad(h, (0, 0, 0, 0, top, new))
            c = F.pad(c[:, 1 - top:], (0, 0, 0, 0, 0, new))       # rows lo .. hi
            inputs = torch.cat([x_j, h[:, :-1], h[:, 1:]], dim=3)  # (2, n, B, 3C)
            gates = torch.baddbmm(bias, inputs.view(2, n * B, 3 * C), w).view(2, n, B, 4 * C)
            h, c = lstm_update(gates, c, dim=3)
            states.append(h)
        states = torch.cat(states, dim=1)                    # (2, HW, B, C), visiting order
        inverse = order.argsort(dim=1)                       # back to raster order
        left_to_right = states[0].index_select(0, inverse[0]).view(H, W, B, C)
        right_to_left = states[1].index_select(0, inverse[1]).view(H, W, B, C)
        return x + left_to_right + shift_down(right_to_left)

    def forward_skewed(self, x: torch.Tensor) -> torch.Tensor:
        """The same layer as the paper writes it, on (B, C, H, W) maps: skew, step through the
        columns of the skewed map (all rows, its zeros included), unskew. A reference for
        `forward`: it gives the same result, several times slower."""
        B, C, H, W = x.shape
        both = torch.cat([x, x.flip(3)], dim=1)                 # right to left: the flipped map
        gates_in = F.pad(self.input_to_state(both), (0, H)).flatten(2)   # skew: row r right by r
        gates_in = gates_in[:, :, :H * (W + H - 1)].view(B, 8 * C, H, W + H - 1)
        h, c, columns = x.new_zeros(B, 2 * C, H), x.new_zeros(B, 2, C, H), []
        for gates_j in gates_in.unbind(3):
            gates = gates_j + self.state_to_state(F.pad(h, (1, 0)))     # rows r - 1 and r
            h, c = lstm_update(gates.view(B, 2, 4 * C, H), c, dim=2)
            h = h.reshape(B, 2 * C, H)
            columns.append(h)
        states = F.pad(torch.stack(columns, dim=3).flatten(2), (0, H))  # unskew
        left, right = states.view(B, 2 * C, H, W + H)[..., :W].chunk(2, dim=1)
        return x + left + F.pad(right.flip(3), (0, 0, 1, 0))[:, :, :-1]


@register_model("diagonal-bilstm")
class DiagonalBiLSTM(AutoregressiveModel):
    """PixelRNN Diagonal BiLSTM: LSTMs along the diagonals both ways, exact log p(x)."""

    config_class = DiagonalBiLSTMConfig
    tiny_configs = [
        dict(channels=8, n_layers=1, kernel_size=3, hidden=(8,)),
        dict(channels=4, n_layers=2, hidden=(8,), likelihood="categorical"),
    ]

    def __init__(self, config: DiagonalBiLSTMConfig | None = None, **kwargs):
        super().__init__(config, **kwargs)
        c = self.config
        c_in, k, groups = c.input_shape[0], c.kernel_size, self.colour_groups
        self.input = masked_conv(c_in, c.channels, k, k, include_center=False, groups=groups)
        self.layers = nn.Sequential(*(DiagonalBiLSTMLayer(c.channels, groups=groups)
                                      for _ in range(c.n_layers)))
        self.head = pixel_head(c.channels, c.hidden, c_in * self.out_channels, groups=groups)

    def context_rows(self) -> int:
        """Every row above: the LSTM state runs down the image."""
        return self.config.input_shape[1] - 1

    def sample(self, n: int, *, generator: torch.Generator | None = None, batch_size: int = 256,
               progress: bool | None = None) -> torch.Tensor:
        """Draw `n` images pixel by pixel (and colour by colour), carrying the LSTM states: a draw
        at (r, c) runs one left-to-right step per layer, from the states above and to the left;
        a finished row runs the right-to-left LSTM along it once, for the row below
        (:class:`DiagonalBiLSTMSampler`). The same draws as :meth:`AutoregressiveModel.sample`,
        with a pixel's work per draw instead of the image's."""
        return self.sample_pixels(n, lambda x: DiagonalBiLSTMSampler(self, x),
                                  generator=generator, batch_size=batch_size, progress=progress)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every pixel's conditional: (B, C, H, W) or (B, 256, C, H, W)."""
        x = self.net_input(x)
        h = self.input(x).permute(2, 3, 0, 1).contiguous()   # (H, W, B, C): see the layer
        h = self.layers(h).permute(2, 3, 0, 1)               # (B, C, H, W)
        return self.per_value_logits(self.head(h))


class DiagonalBiLSTMSampler:
    """The Diagonal BiLSTM's state while a batch `x` (B, C, H, W) is drawn pixel by pixel: per
    layer the left-to-right and right-to-left states of the row above, (W, B, C) each, and in the
    current row the left-to-right states and the layer's inputs so far."""

    def __init__(self, model: DiagonalBiLSTM, x: torch.Tensor):
        self.model, self.x = model, x
        self.up = model.config.kernel_size // 2
        self.weights = [layer.step_weights() for layer in model.layers]
        self.zero = x.new_zeros(x.shape[0], model.config.channels)
        self.above = [(self._row(), self._row()) for _ in model.layers]
        self._new_row()

    def _row(self) -> torch.Tensor:
        B, _, _, W = self.x.shape
        return self.x.new_zeros(W, B, self.model.config.channels)

    def _new_row(self):
        L = len(self.model.layers)
        self.before = [(self.zero, self.zero)] * L   # (h, c) of the pixel to the left
        self.h_row = [self._row() for _ in range(L)]
        self.inputs = [self._row() for _ in range(L)]

    def _pixel(self, row: int, col: int):
        """The pixel's logits, and per layer the left-to-right (h, c) there and its input."""
        m = self.model
        x_rows = self.x[:, :, max(0, row - self.up):row + 1]   # the first kernel's reach
        feat = m.input(m.net_input(x_rows))[:, :, -1, col]                     # (B, C)
        steps = []
        for (h_up, rev_up), (h_left, c_left), w in zip(self.above, self.before, self.weights):
            h, c = DiagonalBiLSTMLayer.cell(0, feat, h_up[col], h_left, c_left, w)
            steps.append((h, c, feat))
            feat = feat + h + rev_up[col]           # the residual sum; right to left: a row up
        B, C = feat.shape
        return m.per_value_logits(m.head(feat.view(B, C, 1, 1))), steps

    def logits(self, row: int, col: int) -> torch.Tensor:
        return self._pixel(row, col)[0]

    def pixel_done(self, row: int, col: int) -> None:
        steps = self._pixel(row, col)[1]
        self.before = [(h, c) for h, c, _ in steps]
        for l, (h, _, feat) in enumerate(steps):
            self.h_row[l][col], self.inputs[l][col] = h, feat

    def row_done(self, row: int) -> None:
        """The right-to-left LSTM along the finished row, per layer: the row below's context."""
        above = []
        for l, w in enumerate(self.weights):
            rev, (h, c) = self._row(), (self.zero, self.zero)
            for col in reversed(range(rev.shape[0])):
                h, c = DiagonalBiLSTMLayer.cell(1, self.inputs[l][col], self.above[l][1][col],
                                                h, c, w)
                rev[col] = h
            above.append((self.h_row[l], rev))
        self.above = above
        self._new_row()
