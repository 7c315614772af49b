r"""NADE, the neural autoregressive density estimator (Larochelle & Murray 2011).

For binary $x \in \{0,1\}^D$ in a fixed order, every conditional is a logistic regression on a
hidden layer that sees only the values before it, with one weight matrix shared by all of them:

$h_i = \sigma(W_{:,<i}\, x_{<i} + c)$,  $p(x_i = 1 \mid x_{<i}) = \sigma(V_i^\top h_i + b_i)$,

$\log p(x) = \sum_{i=1}^D \log p(x_i \mid x_{<i})$ (exact). The shared weights give the running-sum
trick: $a_1 = c$, $a_{i+1} = a_i + W_{:,i}\, x_i$, so all D hidden layers cost $O(DH)$, and
sampling is D cheap steps. Extra ``hidden`` widths add per-position layers on top of $h_i$ (weights
shared across positions), which keeps the order.

Two ways to compute the D logits. With one hidden layer (the NADE of the paper) on the CPU,
:func:`running_sum_logits` does the paper's forward and backward pass (Larochelle & Murray 2011,
Algorithm 1): positions are taken in blocks small enough for the cache, the backward pass
accumulates $\partial a$ over the positions in reverse and recomputes $h_i$ block by block, so
nothing of size (B, D, H) is ever stored. In float32 it runs a small C kernel (``nade.c``, built on
first use by :mod:`hourglass.core.native`) that does each element's whole chain of operations in
one loop, about three times as fast as the same pass in PyTorch ops, which is the fallback where no
C compiler is found. Otherwise (several hidden layers, a GPU, an input that
needs its gradient) :meth:`NADE.logits_cumsum` builds all (B, D, H) pre-activations at once with a
cumulative sum and leaves the backward pass to autograd.
"""

from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.autograd.function import once_differentiable

from hourglass.core import native
from hourglass.core.errors import ConfigError
from hourglass.core.options import option
from hourglass.core.tensors import rng
from hourglass.core.validation import Options, Sizes
from hourglass.models.autoregressive import (AutoregressiveConfig, AutoregressiveModel, check_n,
                                             progress_bar, running_sums)
from hourglass.models.registry import register_model


@dataclass
class NADEConfig(AutoregressiveConfig):
    input_shape: tuple = option((784,), Sizes(),
                                "shape of one example; any shape, flattened in C-order", cli=False, estimator=False)
    hidden: tuple = option((500,), Sizes(),
                           "H of the shared layer h_i; more widths add per-position layers")
    likelihood: str = option("bernoulli", Options(("bernoulli",)),
                             'p(x_i|x_<i): "bernoulli", for binary data (NADE models bits; '
                             'rnade models real values)')
    needs_image = False


BLOCK_FLOATS = 2 ** 19  # floats in one (B, block, H) buffer: 2 MiB, one core's L2 where it was tuned


def default_block(batch: int, hidden: int) -> int:
    """Positions per block: 16, or 8 where a (B, 16, H) buffer would outgrow ``BLOCK_FLOATS``.

    A block of m positions costs a (B m, m) x (m, H) product, 2m FLOPs per (b, i, h) on top of the
    sigmoid, so long blocks lose to the product; short ones lose to the per-block overhead and to
    the thin product. ``benchmarks/models.py`` sweeps m = 4..64 at batch 32..256 (H = 500): 8 or 16
    is the fastest at every batch.
    """
    return max(8, min(16, BLOCK_FLOATS // max(1, batch * hidden)))


def _block_pre_activations(out, a, u_block, Wt_block, tril):
    r"""$a_i = a_s + \sum_{s \le j < i} W_{:,j}\, u_j$ for the positions $i$ of a block, into `out`.

    `out` (B, m, H), `a` (B, H) the pre-activation at the block's first position $s$, `u_block`
    (B, m), `Wt_block` (m, H) the block's columns of W, `tril` the strictly lower (m, m) mask. The
    sum within the block is one matrix product: row (b, i) of the (B m, m) matrix $u_{bj} [j < i]$
    times $W^\top$. Returns that matrix (the backward pass reuses it).
    """
    B, m, H = out.shape
    mask = u_block.unsqueeze(1) * tril                              # (B, m, m): u_bj [j < i]
    out.copy_(a.unsqueeze(1).expand(B, m, H))
    out.view(B * m, H).addmm_(mask.view(B * m, m), Wt_block)
    return mask


def _block_views(buffers, B, m, H):
    """Contiguous (B, m, H) views at the start of each (B, block, H) buffer."""
    return [t.view(-1)[:B * m * H].view(B, m, H) for t in buffers]


class _RunningSumLogits(torch.autograd.Function):
    """NADE's logits and their gradient in O(BDH) time, keeping O(BH D / block) floats."""

    @staticmethod
    def forward(ctx, u, W, c, V, b, block):
        B, D = u.shape
        H = W.shape[0]
        Wt = W.t()                                                  # (D, H): column j of W is row j
        tril = torch.ones(block, block, dtype=u.dtype).tril_(-1)
        logits = torch.empty(B, D, dtype=u.dtype)
        buffers = [torch.empty(B, block, H, dtype=u.dtype) for _ in range(2)]
        a = c.expand(B, H).contiguous()                             # a_1 = c
        starts = []                                                # a at each block's first position
        for s in range(0, D, block):
            e = min(D, s + block)
            h, tmp = _block_views(buffers, B, e - s, H)
            starts.append(a)
            _block_pre_activations(h, a, u[:, s:e], Wt[s:e], tril[:e - s, :e - s])
            h.sigmoid_()                                            # h_i = sigma(a_i)
            torch.mul(h, V[s:e], out=tmp)
            logits[:, s:e] = tmp.sum(-1)                            # V_i . h_i
            a = torch.addmm(a, u[:, s:e], Wt[s:e])                  # a at the next block's start
        logits += b
        if any(ctx.needs_input_grad):
            ctx.save_for_backward(u, W, V, *starts)
        ctx.block = block
        return logits

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        u, W, V, *starts = ctx.saved_tensors
        block = ctx.block
        B, D = u.shape
        H = W.shape[0]
        Wt = W.t()
        g = g.contiguous()
        tril = torch.ones(block, block, dtype=u.dtype).tril_(-1)
        dWt = torch.empty(D, H, dtype=u.dtype)
        dV = torch.empty(D, H, dtype=u.dtype)
        buffers = [torch.empty(B, block, H, dtype=u.dtype) for _ in range(2)]
        carry = torch.zeros(B, H, dtype=u.dtype)                    # sum of da_i, later blocks
        for k in range(len(starts) - 1, -1, -1):                    # positions in reverse
            s = k * block
            e = min(D, s + block)
            h, da = _block_views(buffers, B, e - s, H)
            mask = _block_pre_activations(h, starts[k], u[:, s:e], Wt[s:e], tril[:e - s, :e - s])
            h.sigmoid_()                                            # recomputed, not stored
            g_block = g[:, s:e]
            # dV_i = sum_b g_bi h_bi
            torch.bmm(g_block.t().contiguous().unsqueeze(1), h.transpose(0, 1),
                      out=dV[s:e].unsqueeze(1))
            # da_i = g_i V_i * h_i (1 - h_i)
            torch.mul(g_block.unsqueeze(2), V[s:e], out=da)
            torch.ops.aten.sigmoid_backward.grad_input(da, h, grad_input=da)
            # dW_{:,j} = sum_b u_bj sum_{i > j} da_bi: this block's later positions, then the rest
            torch.mm(mask.view(-1, e - s).t(), da.view(-1, H), out=dWt[s:e])
            dWt[s:e].addmm_(u[:, s:e].t(), carry)
            carry += da.sum(1)
        # dc = sum_i da_i (every a_i contains c); db_i = sum_b g_bi
        return None, dWt.t().contiguous(), carry.sum(0), dV, g.sum(0), None


KERNEL_BLOCK = 16   # positions between the pre-activations the C kernel saves for its backward pass
KERNEL_TILE = 8     # rows the C kernel takes together (TILE in nade.c)


def kernel() -> ctypes.CDLL | None:
    """The compiled ``nade.c`` (:mod:`hourglass.core.native`), or None where it cannot be built."""
    return native.load(Path(__file__).with_name("nade.c"),
                       (("nade_forward", 4, 7), ("nade_backward", 4, 9)))


class _KernelLogits(torch.autograd.Function):
    """:class:`_RunningSumLogits`, with each block's chain of operations fused in ``nade.c``."""

    @staticmethod
    def forward(ctx, u, W, c, V, b, block):
        lib = kernel()
        B, D = u.shape
        H = W.shape[0]
        u, c, V = u.contiguous(), c.contiguous(), V.contiguous()
        Wt = W.t().contiguous()                                     # (D, H): row j is W_{:,j}
        logits = torch.empty(B, D)
        starts = torch.empty(B, -(-D // block), H)                 # a at each block's first i

        native.in_threads([native.bind(lib.nade_forward, e - s, D, H, block, u[s:e], Wt, c, V,
                                       logits[s:e], starts[s:e], torch.empty(KERNEL_TILE, H))
                           for s, e in native.row_chunks(B, KERNEL_TILE)])
        if any(ctx.needs_input_grad):
            ctx.save_for_backward(u, Wt, V, starts)
        ctx.block = block
        return logits + b

    @staticmethod
    @once_differentiable
    def backward(ctx, g):
        lib = kernel()
        u, Wt, V, starts = ctx.saved_tensors
        block = ctx.block
        B, D = u.shape
        H = Wt.shape[1]
        g = g.contiguous()

        chunks = native.row_chunks(B, KERNEL_TILE)
        # each thread its own sums dWt, dV, dc
        parts = [(torch.zeros(D, H), torch.zeros(D, H), torch.zeros(H)) for _ in chunks]
        native.in_threads([native.bind(lib.nade_backward, e - s, D, H, block, u[s:e], Wt, V,
                                       starts[s:e], g[s:e], *sums,
                                       torch.empty(KERNEL_TILE * (block + 1), H))
                           for (s, e), sums in zip(chunks, parts)])
        dWt, dV, dc = native.sum_in_order(parts)
        return None, dWt.t(), dc, dV, g.sum(0), None


def running_sum_logits(u: torch.Tensor, W: torch.Tensor, c: torch.Tensor, V: torch.Tensor,
                       b: torch.Tensor, *, block: int | None = None,
                       fused: bool | None = None) -> torch.Tensor:
    r"""$\ell_i = V_i^\top \sigma(a_i) + b_i$, $a_1 = c$, $a_{i+1} = a_i + W_{:,i} u_i$; shape (B, D).

    The forward and backward pass of Larochelle & Murray (2011), Algorithm 1, over blocks of
    `block` positions (default: :func:`default_block`): per block one matrix product gives the
    pre-activations, the backward pass runs over the blocks in reverse, carrying
    $\sum_{i' > i} \partial a_{i'}$, and recomputes the block's $h_i$ from the saved $a$ at its
    start. Memory beyond the parameters: O(B H D / block). `u` (B, D) gets no gradient.

    `fused`: run the C kernel (float32 only; the default where it can be built), or the same
    pass in PyTorch operations (False). The kernel's default block is ``KERNEL_BLOCK``.
    """
    B, D = u.shape
    cpu32 = all(t.dtype == torch.float32 and t.device.type == "cpu" for t in (u, W, c, V, b))
    if fused is None:
        fused = cpu32 and kernel() is not None
    elif fused and not (cpu32 and kernel() is not None):
        raise ConfigError("The fused NADE pass needs float32 CPU tensors and a C compiler (see "
                          "hourglass.core.native). Pass fused=None to fall back to PyTorch.")
    if block is None:
        block = KERNEL_BLOCK if fused else default_block(B, W.shape[0])
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ConfigError(f"The block of running_sum_logits must be a positive int. Got {block!r} "
                          "instead.")
    function = _KernelLogits if fused else _RunningSumLogits
    return function.apply(u, W, c, V, b, min(block, D))


@register_model("nade")
class NADE(AutoregressiveModel):
    """NADE: exact log p(x) of binary vectors with a shared-weight hidden layer (running sum)."""

    config_class = NADEConfig
    tiny_configs = [dict(hidden=(16,)), dict(hidden=(16, 8))]

    def __init__(self, config: NADEConfig | None = None, **kwargs):
        super().__init__(config, **kwargs)
        D, H = self.dim, self.config.hidden[0]
        bound_w, bound_v = 1 / math.sqrt(D), 1 / math.sqrt(H)
        self.W = nn.Parameter(torch.empty(H, D).uniform_(-bound_w, bound_w))  # shared input weights
        self.c = nn.Parameter(torch.zeros(H))
        layers: list[nn.Module] = []
        for h_in, h_out in zip(self.config.hidden[:-1], self.config.hidden[1:]):
            layers += [nn.Linear(h_in, h_out), nn.Sigmoid()]
        self.deep = nn.Sequential(*layers)                                  # per-position, shared
        H_top = self.config.hidden[-1]
        self.V = nn.Parameter(torch.empty(D, H_top).uniform_(-bound_v, bound_v))  # one row per i
        self.b = nn.Parameter(torch.zeros(D))

    def order(self) -> torch.Tensor:
        return torch.arange(self.dim).view(self.config.input_shape)

    def net_input(self, x: torch.Tensor) -> torch.Tensor:
        return x  # NADE reads the bits themselves (x_<i)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """$\\ell_i = V_i^\\top h_i + b_i$ for every i in one pass, shape (B, *input_shape).

        One hidden layer on the CPU: :func:`running_sum_logits` (blockwise, O(DH) memory per
        example); otherwise :meth:`logits_cumsum`. Both give the same numbers and gradients.
        """
        u = self.net_input(x.flatten(1))                        # (B, D)
        if self.fast_path_applies(u):
            out = running_sum_logits(u, self.W, self.c, self.V, self.b)
            return out.view(-1, *self.config.input_shape)
        return self.logits_cumsum(x)

    def fast_path_applies(self, u: torch.Tensor) -> bool:
        """Whether :func:`running_sum_logits` computes the logits of the network input `u`."""
        return (len(self.config.hidden) == 1 and u.device.type == "cpu" and not u.requires_grad
                and u.dtype in (torch.float32, torch.float64) and u.dtype == self.W.dtype
                and all(p.device.type == "cpu" and p.dtype == u.dtype
                        for p in (self.W, self.c, self.V, self.b)))

    def logits_cumsum(self, x: torch.Tensor) -> torch.Tensor:
        """The logits from all (B, D, H) pre-activations at once (a cumulative sum), any depth."""
        x = self.net_input(x.flatten(1))                        # (B, D)
        a = running_sums(x, self.W, self.c)                     # (B, D, H): a_i, exclusive
        h = self.deep(torch.sigmoid(a))                         # (B, D, H_top)
        return (torch.einsum("bdh,dh->bd", h, self.V) + self.b).view(-1, *self.config.input_shape)

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, batch_size: int = 256,
               progress: bool | None = None) -> torch.Tensor:
        """D steps of the running sum: draw $x_i$, then $a \\leftarrow a + W_{:,i} x_i$.

        All `n` examples are drawn together (memory O(nH)); `batch_size` is not needed here.
        """
        check_n(n)
        a = self.c.expand(n, -1).clone()                        # (n, H)
        x = torch.zeros(n, self.dim, device=a.device)
        with progress_bar(self.dim, progress) as bar:
            for i in range(self.dim):
                h = self.deep(torch.sigmoid(a))                 # (n, H_top)
                p = torch.sigmoid(h @ self.V[i] + self.b[i])    # (n,)
                x[:, i] = torch.bernoulli(p, **rng(generator))
                a += x[:, i:i + 1] * self.W[:, i]
                bar.update()
        return x.view(n, *self.config.input_shape)
