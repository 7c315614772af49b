r"""What the explicit density models share.

By the chain rule every distribution over D discrete values factorizes as

$p(x) = \prod_{i=1}^D p(x_i \mid x_{<i})$, so $\log p(x) = \sum_{i=1}^D \log p(x_i \mid x_{<i})$.

An autoregressive model computes all D conditionals in one pass with a network whose output ``i``
sees only the inputs before ``i`` in its ordering. The log-likelihood is then exact (no bound, no
sampling), training minimizes the negative log-likelihood itself, and sampling draws
$x_1, x_2, \dots$ one position at a time, each from its conditional given the ones drawn before.

Two observation models for each conditional (the ``likelihood`` config field):

- ``"bernoulli"``: binary $x_i$, $p(x_i = 1 \mid x_{<i}) = \sigma(\ell_i)$ (binarized images);
- ``"categorical"``: 8-bit $x_i \in \{0, \dots, 255\}$, a 256-way softmax (one per channel of a
  colour pixel). The data pipeline gives
  such images as floats ``x / 255``; the model reads the level back as ``round(255 x)``, and its
  samples are ``level / 255`` again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from tqdm.auto import tqdm

from hourglass.core.options import option
from hourglass.core import objectives as O
from hourglass.core.tensors import rng
from hourglass.core.validation import Boolean, Options, Sizes
from hourglass.core.errors import ConfigError, DataError
from hourglass.models.protocol import declare
from hourglass.models.registry import ModelConfig

N_LEVELS = {"bernoulli": 2, "categorical": 256}


@dataclass
class AutoregressiveConfig(ModelConfig):
    input_shape: tuple = option((1, 28, 28), Sizes(),
                                "shape of one example: (D,) or (C, H, W)", cli=False, estimator=False)
    likelihood: str = option("bernoulli", Options(tuple(N_LEVELS)),
                             'p(x_i|x_<i): "bernoulli" (binary) or "categorical" (8-bit)')
    hidden: tuple = option((64,), Sizes(),
                           "widths of the per-position output layers before the logits")
    needs_image = True  # the convolutional models order pixels in raster order
    odd_fields = ()     # kernel sizes: a masked kernel is centred on its pixel

    def validate(self, owner=None):
        super().validate(owner)
        owner = owner or type(self).__name__
        if self.needs_image and len(self.input_shape) != 3:
            raise ConfigError(f"{owner} models images: it needs input of shape (C, H, W); got "
                              f"input_shape={tuple(self.input_shape)}. Use nade for vector data.")
        for name in self.odd_fields:
            if getattr(self, name) % 2 == 0:
                raise ConfigError(f"The {name!r} parameter of {owner} must be odd (a masked "
                                  f"kernel is centred on its pixel). Got {getattr(self, name)} "
                                  "instead.")


@dataclass
class ImageAutoregressiveConfig(AutoregressiveConfig):
    channel_order: bool = option(True, Boolean(),
                                 "predict a pixel's channels in order (R, then G given R, then B "
                                 "given R and G); off: all channels of a pixel at once")


def progress_bar(total: int, progress: bool | None):
    """A tqdm bar for sampling; ``progress=None`` shows it on a terminal only."""
    return tqdm(total=total, desc="sampling", leave=False,
                disable=None if progress is None else not progress)


def check_n(n) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"The number of samples n must be a positive int. Got {n!r} instead.")


class _RunningSums(torch.autograd.Function):
    """All D pre-activations of the NADE family at once, with a backward pass of one cumsum."""

    @staticmethod
    def forward(ctx, x, W, c):
        B, D = x.shape
        a = torch.empty(B, D, W.shape[0], dtype=W.dtype, device=W.device)
        a[:, 0] = 0
        torch.mul(x[:, :-1, None], W.t()[:-1], out=a[:, 1:])    # W_{:,j} x_j at position j + 1
        torch.cumsum(a, 1, out=a)
        a += c
        ctx.save_for_backward(x)
        return a

    @staticmethod
    def backward(ctx, da):
        (x,) = ctx.saved_tensors
        # dW_{:,j} = sum_b x_bj sum_{i > j} da_bi, and sum_{i > j} = (all i) - (i <= j)
        later = da.cumsum(1)
        total = later[:, -1:].clone()                            # (B, 1, H): sum over all i
        torch.sub(total, later, out=later)
        dWt = torch.bmm(x.t().unsqueeze(1), later.transpose(0, 1)).squeeze(1)  # (D, H)
        return None, dWt.t(), total.sum((0, 1))


def running_sums(x: torch.Tensor, W: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    r"""$a_i = c + \sum_{j<i} W_{:,j}\, x_j$ for every position i, (B, D, H), from `x` (B, D).

    The hidden pre-activations of NADE (Larochelle & Murray 2011) and RNADE (Uria et al. 2013):
    an exclusive cumulative sum, whose gradient with respect to W is one more cumulative sum
    (autograd's would flip the tensor twice and keep the products). Where `x` needs its own
    gradient, plain autograd ops.
    """
    x = x.to(W.dtype)
    if x.requires_grad:
        contrib = x.unsqueeze(2) * W.T                           # (B, D, H): W_{:,j} x_j
        return c + torch.cat([torch.zeros_like(contrib[:, :1]), contrib[:, :-1].cumsum(1)], dim=1)
    return _RunningSums.apply(x, W, c)


class AutoregressiveModel(nn.Module):
    """Exact ``log_prob``, NLL loss and position-by-position ``sample`` over ``logits(x)``.

    A subclass defines ``logits(x)``: the parameters of every conditional, shape ``(B, *shape)``
    (Bernoulli logits) or ``(B, 256, *shape)`` (categorical logits), where the entry of position
    ``i`` depends only on the inputs whose rank in ``order()`` is smaller than the rank of ``i``.
    """

    config_class = AutoregressiveConfig
    capabilities = declare("log_prob", "sample")  # the exact log p(x), not a bound

    def __init__(self, config: AutoregressiveConfig | None = None, **kwargs):
        super().__init__()
        config = config if config is not None else self.config_class(**kwargs)
        config.validate(type(self).__name__)
        self.config = config

    @property
    def dim(self) -> int:
        """Number of data dimensions D (for bits/dim)."""
        return math.prod(self.config.input_shape)

    @property
    def n_levels(self) -> int:
        return N_LEVELS[self.config.likelihood]

    @property
    def out_channels(self) -> int:
        """Logits per input value: 1 (Bernoulli) or 256 (categorical)."""
        return 1 if self.config.likelihood == "bernoulli" else self.n_levels

    @property
    def colour_groups(self) -> int:
        """Channel groups ordered within a pixel by the masks: C with ``channel_order``, else 1."""
        return self.config.input_shape[0] if getattr(self.config, "channel_order", False) else 1

    def order(self) -> torch.Tensor:
        """Rank of every input value in the autoregressive order, a LongTensor of the input shape.

        Values of equal rank are predicted together (conditionally independent given the past).
        Default: raster order of the pixels; with ``channel_order`` the channels of a pixel one
        after the other (rank ``C * pixel + channel``), otherwise all channels of a pixel at once.
        """
        c, h, w = self.config.input_shape
        pixel = torch.arange(h * w).view(1, h, w)
        if self.colour_groups > 1:
            return pixel * c + torch.arange(c).view(c, 1, 1)
        return pixel.expand(c, h, w)

    def per_value_logits(self, out: torch.Tensor) -> torch.Tensor:
        """A per-pixel head's (B, C * K, H, W) output as (B, C, H, W) Bernoulli logits or
        (B, K, C, H, W) categorical logits."""
        if self.out_channels == 1:
            return out
        B, _, H, W = out.shape
        return out.view(B, -1, self.out_channels, H, W).transpose(1, 2)

    def net_input(self, x: torch.Tensor) -> torch.Tensor:
        """What the network sees: the data centred on 0, ``2x - 1`` in [-1, 1]."""
        return 2 * x - 1

    def levels(self, x: torch.Tensor) -> torch.Tensor:
        """The 8-bit levels ``round(255 x)`` of categorical data given as floats in [0, 1]."""
        lo, hi = float(x.min()), float(x.max())
        if lo < 0 or hi > 1:
            raise DataError(f"likelihood='categorical' models 8-bit data given as floats in [0, 1] "
                            f"(uint8 / 255); got values in [{lo:.4g}, {hi:.4g}]. Rescale the data "
                            "or use likelihood='bernoulli' for binary data.")
        return torch.round(x * (self.n_levels - 1)).long()

    def log_prob(self, x: torch.Tensor, *, k: int | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        r"""Exact $\log p(x) = \sum_i \log p(x_i \mid x_{<i})$ per example, nats, shape (B,).

        ``k`` and ``generator`` are accepted for the common protocol and ignored (no sampling).
        """
        logits = self.logits(x)
        if self.config.likelihood == "bernoulli":
            return O.bernoulli_log_likelihood(x, logits)
        return O.categorical_log_likelihood(self.levels(x), logits)

    def forward(self, x, y=None):
        nll = -self.log_prob(x)
        loss = nll.mean()
        return {"loss": loss, "bits_per_dim": O.bits_per_dim(loss.detach(), self.dim)}

    def context_rows(self) -> int | None:
        """How many rows above a pixel its conditional sees, for image models in raster order:
        the logits of row r are a function of input rows r - n .. r alone (n = H - 1 where a
        recurrent state runs down every row above). The sampler then runs the network on those
        rows only: the rows below r are not drawn yet and cannot matter. None (the default):
        the order is not by rows, and the sampler feeds the whole example."""
        return None

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, batch_size: int = 256,
               progress: bool | None = None) -> torch.Tensor:
        """Draw `n` examples, one rank of ``order()`` at a time, `batch_size` examples at once.

        Each step recomputes the logits of the partly drawn batch (of its rows that the next
        rank's conditionals see, :meth:`context_rows`) and draws the positions of that rank.
        ``progress=None`` shows a tqdm bar on a terminal only. Returns floats of the data's kind:
        0/1 (Bernoulli) or level / 255 (categorical).
        """
        check_n(n)
        device = next(self.parameters()).device
        order = self.order().flatten().to(device)                # (D,)
        ranks = torch.unique(order)
        steps = [self._sample_step(order, r) for r in ranks.tolist()]
        chunks = [(s, min(n, s + batch_size)) for s in range(0, n, batch_size)]
        out = []
        with progress_bar(len(chunks) * len(ranks), progress) as bar:
            for start, stop in chunks:
                x = torch.zeros(stop - start, self.dim, device=device)  # (b, D)
                image = x.view(-1, *self.config.input_shape)
                for where, rows, where_in_rows in steps:
                    logits = self.logits(image if rows is None else image[:, :, rows])
                    x[:, where] = self._draw(logits, where_in_rows, generator)
                    bar.update()
                out.append(image)
        return torch.cat(out)

    @torch.no_grad()
    def sample_pixels(self, n: int, stepper, *, generator: torch.Generator | None = None,
                      batch_size: int = 256, progress: bool | None = None) -> torch.Tensor:
        """:meth:`sample` for a model that carries its network's state from pixel to pixel (the
        PixelRNNs): for each batch ``x`` (b, C, H, W) of zeros, ``s = stepper(x)``, then in
        raster order ``s.logits(row, col)`` gives the pixel's logits, (b, C, 1, 1) or
        (b, 256, C, 1, 1), from the values drawn so far (called once per rank drawn there: each
        colour in turn), ``s.pixel_done(row, col)`` and ``s.row_done(row)`` advance the state."""
        check_n(n)
        C, H, W = self.config.input_shape
        device = next(self.parameters()).device
        order = self.order().flatten().to(device)
        ranks = torch.unique(order).tolist()
        draws = [[[] for _ in range(W)] for _ in range(H)]  # per pixel: (where, its channels)
        for r in ranks:
            where = (order == r).nonzero().squeeze(1)
            pixel = int(where[0]) % (H * W)
            draws[pixel // W][pixel % W].append((where, where // (H * W)))
        chunks = [(s, min(n, s + batch_size)) for s in range(0, n, batch_size)]
        out = []
        with progress_bar(len(chunks) * len(ranks), progress) as bar:
            for start, stop in chunks:
                x = torch.zeros(stop - start, C, H, W, device=device)
                flat, state = x.view(stop - start, -1), stepper(x)
                for row in range(H):
                    for col in range(W):
                        for where, channels in draws[row][col]:
                            flat[:, where] = self._draw(state.logits(row, col), channels,
                                                        generator)
                            bar.update()
                        state.pixel_done(row, col)
                    state.row_done(row)
                out.append(x)
        return torch.cat(out)

    def _sample_step(self, order: torch.Tensor, rank: int):
        """The flat positions of `rank`, the rows of the image the network needs for them (a
        slice, or None for the whole example) and the positions' flat indices within those
        rows."""
        where = (order == rank).nonzero().squeeze(1)
        context = self.context_rows()
        if context is None:
            return where, None, where
        C, H, W = self.config.input_shape
        channel, row, col = where // (H * W), where // W % H, where % W
        last = int(row.max())
        first = max(0, int(row.min()) - context)
        height = last + 1 - first
        return where, slice(first, last + 1), channel * height * W + (row - first) * W + col

    def _draw(self, logits: torch.Tensor, where: torch.Tensor, generator) -> torch.Tensor:
        """Draw the values at flat positions `where` from their conditionals: (b, len(where))."""
        b = logits.shape[0]
        if self.config.likelihood == "bernoulli":
            p = torch.sigmoid(logits.reshape(b, -1)[:, where])             # (b, m)
            return torch.bernoulli(p, **rng(generator))
        probs = logits.reshape(b, self.n_levels, -1)[:, :, where].softmax(1)  # (b, K, m)
        m = where.numel()
        level = torch.multinomial(probs.permute(0, 2, 1).reshape(b * m, self.n_levels), 1,
                                  generator=generator).view(b, m)
        return level.float() / (self.n_levels - 1)
