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
input at $(r', c')$ with $r' \le r$, $c' \le c$.

A second LSTM, with weights of its own, runs on the horizontally flipped map (right to left), where
the state at $(r, c)$ sees $r' \le r$, $c' \ge c$: the pixels right of $(r, c)$ in its own row,
which come after it in raster order. Shifting that output down by one row keeps only rows above,
$r' \le r - 1$; the two outputs are added to the input (a residual connection). After a mask-A
k x k first layer the output at a pixel depends on no pixel at or after it in raster order, and
$\log p(x) = \sum_i \log p(x_i \mid x_{<i})$ is exact. A ReLU + 1x1 head (mask B) gives the
logits. Sampling is pixel by pixel. With ``channel_order`` the first layer, the input-to-state
kernels and the head keep the channels of a colour pixel in order (R, G, B; sec. 3.4); the
state-to-state kernel reads earlier pixels only, and the right-to-left map is shifted a row down.

The context is the whole past but one pixel: the last pixel of the row above, $(r - 1, W - 1)$,
reaches $(r, c)$ only through the first layer's kernel, so for $c < W - 1 - \lfloor k/2 \rfloor$
it is out of view at any depth (every feature of row $r - 1$ excludes it, as mask A requires, and
the shifted right-to-left map sees row $r - 1$ only through those features). A wider first kernel
narrows this gap; with $k \ge 2W - 1$ it is closed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hourglass.core.options import option
from hourglass.core.validation import Interval
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


def skew(x: torch.Tensor) -> torch.Tensor:
    """Shift row r right by r: (B, C, H, W) -> (B, C, H, W + H - 1), zeros elsewhere.

    Padding each row with H zeros and reading the flat map back with rows one shorter moves
    row r by r places: flat index r (W + H) + c is row r, column r + c of width W + H - 1.
    """
    B, C, H, W = x.shape
    flat = F.pad(x, (0, H)).flatten(2)                    # (B, C, H * (W + H))
    return flat[:, :, :H * (W + H - 1)].view(B, C, H, W + H - 1)


def unskew(x: torch.Tensor, width: int) -> torch.Tensor:
    """The inverse of `skew`: (B, C, H, W + H - 1) -> (B, C, H, W)."""
    B, C, H, _ = x.shape
    flat = F.pad(x.flatten(2), (0, H))                    # (B, C, H * (W + H))
    return flat.view(B, C, H, width + H)[..., :width]


def shift_down(x: torch.Tensor) -> torch.Tensor:
    """Move every row one down, zeros in the first: (B, C, H, W) -> (B, C, H, W)."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


class DiagonalBiLSTMLayer(nn.Module):
    """One Diagonal BiLSTM layer with a residual connection: (B, C, H, W) -> (B, C, H, W).

    Both directions run in the same loop over the skewed columns: channel group 0 is the
    left-to-right LSTM, group 1 the right-to-left one (on the flipped map); ``groups=2`` keeps
    their weights apart.
    """

    def __init__(self, channels: int, *, groups: int = 1):
        super().__init__()
        c = channels
        # a 1x1 mask B: the whole kernel, or with colour groups their order at the pixel, in
        # each of the 2 directions x 4 gates
        self.input_to_state = MaskedConv2d(
            2 * c, 2 * 4 * c, ordered_mask(1, 1, 8 * c, c, include_center=True, groups=groups,
                                           out_parts=8), conv_groups=2)
        # rows r - 1 and r of the previous column; no bias (the input-to-state has one), so the
        # zero gates of the skew's padding keep the states left of every row's start at zero
        self.state_to_state = nn.Conv1d(2 * c, 2 * 4 * c, 2, groups=2, bias=False)

    def forward(self, x):
        B, C, H, W = x.shape
        both = torch.cat([x, x.flip(3)], dim=1)             # (B, 2C, H, W): both directions
        gates_in = skew(self.input_to_state(both))         # (B, 8C, H, W + H - 1)
        h = x.new_zeros(B, 2 * C, H)                        # state left of the first column
        c = x.new_zeros(B, 2, C, H)
        columns = []
        for gates_j in gates_in.unbind(3):                  # column by column; all rows at once
            # $K^{ss} \circledast h_{j-1}$: row r of the output sees rows r - 1 and r
            gates = gates_j + self.state_to_state(F.pad(h, (1, 0)))   # (B, 8C, H)
            o, f, i, g = gates.view(B, 2, 4 * C, H).chunk(4, dim=2)   # (B, 2, C, H) each
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h_j = torch.sigmoid(o) * torch.tanh(c)
            h = h_j.reshape(B, 2 * C, H)
            columns.append(h)
        states = unskew(torch.stack(columns, dim=3), W)     # (B, 2C, H, W)
        left_to_right, right_to_left = states.chunk(2, dim=1)
        return x + left_to_right + shift_down(right_to_left.flip(3))


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

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every pixel's conditional: (B, C, H, W) or (B, 256, C, H, W)."""
        x = self.net_input(x)
        return self.per_value_logits(self.head(self.layers(self.input(x))))
