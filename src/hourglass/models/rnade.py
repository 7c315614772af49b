r"""RNADE, the real-valued neural autoregressive density estimator (Uria, Murray & Larochelle 2013).

NADE (Larochelle & Murray 2011) for continuous $x \in \mathbb R^D$: every conditional is a
mixture of K Gaussians whose parameters come from a hidden layer that sees only the values before
it, with NADE's one weight matrix shared by all of them:

$a_1 = c$, $a_{i+1} = a_i + W_{:,i}\, x_i$,  $h_i = g(\rho_i\, a_i)$,

$p(x_i \mid x_{<i}) = \sum_{k=1}^K \pi_{ik}\, \mathcal N(x_i; \mu_{ik}, \sigma_{ik}^2)$ with
$\pi_i = \mathrm{softmax}(V^\pi_i{}^\top h_i + b^\pi_i)$, $\mu_i = V^\mu_i{}^\top h_i + b^\mu_i$,
$\sigma_i = \exp(V^\sigma_i{}^\top h_i + b^\sigma_i)$,

and $\log p(x) = \sum_{i=1}^D \log p(x_i \mid x_{<i})$ is an exact density (it integrates to 1).
$\rho_i$ is the paper's per-position rescaling of the pre-activation (learned, initially 1), $g$
the hidden nonlinearity (``activation``); extra ``hidden`` widths add per-position layers on top
of $h_i$ (weights shared across positions), which keeps the order. The running sum computes all D hidden layers in
$O(DH)$ (one cumulative sum); sampling is D cheap steps: draw a component from $\pi_i$, then
$x_i \sim \mathcal N(\mu_{ik}, \sigma_{ik}^2)$. The data are modelled as they are given: on
standardized data (zero mean, unit variance per feature) the initial conditionals (means spread
over [-1, 1], $\sigma = 1$) start near the data. $\log\sigma$ is kept in [-7, 5].
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
from hourglass.core import objectives as O
from hourglass.core.options import option
from hourglass.core.tensors import rng
from hourglass.core.validation import Interval, Options, Sizes
from hourglass.models.autoregressive import check_n, progress_bar, running_sums
from hourglass.models.protocol import declare
from hourglass.models.registry import ModelConfig, register_model

LOG_SCALE_RANGE = (-7.0, 5.0)  # sigma in [9e-4, 148]: keeps the density finite on flat features
ACTIVATIONS = {"relu": torch.relu, "sigmoid": torch.sigmoid}
ACTIVATION_MODULES = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid}


KERNEL_BLOCK = 16  # positions between the pre-activations the C kernel keeps for its backward pass


def kernel() -> ctypes.CDLL | None:
    """The compiled ``rnade.c`` (:mod:`hourglass.core.native`), or None where it cannot be built."""
    return native.load(Path(__file__).with_name("rnade.c"),
                       (("rnade_forward", 7, 7), ("rnade_backward", 7, 9)))


class _KernelHidden(torch.autograd.Function):
    r"""$h_i = g(\rho_i a_i)$ for every position, position-major (D, B, H), in one C loop per
    element: the running sum, the rescaling and the nonlinearity forward, and their gradient with
    respect to W, c and rho backward, recomputing $a_i$ block by block (``rnade.c``)."""

    @staticmethod
    def forward(ctx, x, W, c, rho, act):
        lib = kernel()
        B, D = x.shape
        H = W.shape[0]
        c, rho = c.contiguous(), rho.contiguous()
        Wt = W.t().contiguous()                                     # (D, H): row j is W_{:,j}
        h = torch.empty(D, B, H)
        starts = torch.empty(B, -(-D // KERNEL_BLOCK), H)          # a at each block's first i

        native.in_threads([native.bind(lib.rnade_forward, B, s, e, D, H, KERNEL_BLOCK, act, x,
                                       Wt, c, rho, h, starts, torch.empty(H))
                           for s, e in native.row_chunks(B)])
        if any(ctx.needs_input_grad):
            ctx.save_for_backward(x, Wt, rho, starts)
        ctx.act = act
        return h

    @staticmethod
    @once_differentiable
    def backward(ctx, dh):
        lib = kernel()
        x, Wt, rho, starts = ctx.saved_tensors
        B, D = x.shape
        H = Wt.shape[1]
        dh = dh.contiguous()

        chunks = native.row_chunks(B)
        # each thread its own sums dWt, dc, drho
        parts = [(torch.zeros(D, H), torch.zeros(H), torch.zeros(D)) for _ in chunks]
        native.in_threads([native.bind(lib.rnade_backward, B, s, e, D, H, KERNEL_BLOCK, ctx.act,
                                       x, Wt, rho, starts, dh, *sums,
                                       torch.empty(KERNEL_BLOCK + 1, H))
                           for (s, e), sums in zip(chunks, parts)])
        dWt, dc, drho = native.sum_in_order(parts)
        return None, dWt.t(), dc, drho, None


@dataclass
class RNADEConfig(ModelConfig):
    input_shape: tuple = option((2,), Sizes(),
                                "shape of one example; any shape, flattened in C-order",
                                cli=False, estimator=False)
    hidden: tuple = option((100,), Sizes(),
                           "H of the shared layer h_i; more widths add per-position layers")
    components: int = option(10, Interval(int, 1, None),
                             "K Gaussians in the mixture of every conditional p(x_i|x_<i)")
    activation: str = option("relu", Options(tuple(ACTIVATIONS)),
                             'the hidden nonlinearity g: "relu" or "sigmoid"')


@register_model("rnade")
class RNADE(nn.Module):
    """RNADE: exact log p(x) of real vectors, a mixture of Gaussians per NADE conditional."""

    config_class = RNADEConfig
    capabilities = declare("log_prob", "sample")  # the exact density, not a bound
    tiny_configs = [dict(hidden=(16,), components=3),
                    dict(hidden=(8, 6), components=1, activation="sigmoid")]

    def __init__(self, config: RNADEConfig | None = None, **kwargs):
        super().__init__()
        config = config if config is not None else self.config_class(**kwargs)
        config.validate(type(self).__name__)
        self.config = config
        D, H, K = self.dim, config.hidden[0], config.components
        H_top = config.hidden[-1]
        bound_w, bound_v = 1 / math.sqrt(D), 1 / math.sqrt(H_top)
        self.W = nn.Parameter(torch.empty(H, D).uniform_(-bound_w, bound_w))  # shared input weights
        self.c = nn.Parameter(torch.zeros(H))
        self.rho = nn.Parameter(torch.ones(D))                      # activation rescaling rho_i
        layers: list[nn.Module] = []
        for h_in, h_out in zip(config.hidden[:-1], config.hidden[1:]):
            layers += [nn.Linear(h_in, h_out), ACTIVATION_MODULES[config.activation]()]
        self.deep = nn.Sequential(*layers)                          # per-position, shared
        # one (H, 3K) output matrix per position: mixture logits, means, log-scales
        self.V = nn.Parameter(torch.empty(D, H_top, 3 * K).uniform_(-bound_v, bound_v))
        b = torch.zeros(D, 3, K)
        b[:, 1] = torch.linspace(-1, 1, K) if K > 1 else 0.0        # spread the initial means
        self.b = nn.Parameter(b.view(D, 3 * K))

    @property
    def dim(self) -> int:
        """Number of data dimensions D."""
        return math.prod(self.config.input_shape)

    @staticmethod
    def _mixture(out: torch.Tensor):
        """(…, 3K) outputs of the mixture layer -> the conditionals' logits, means and
        log-scales, (…, K) each."""
        logits, mean, log_scale = out.chunk(3, dim=-1)
        return logits, mean, log_scale.clamp(*LOG_SCALE_RANGE)

    def _conditionals_by_position(self, x: torch.Tensor):
        """:meth:`conditionals`, position-major: (D, B, K) each. Position i's (B, H) hidden
        states times its own (H, 3K) weights, for every i, is one batched product."""
        x = x.flatten(1).to(self.W.dtype)                         # (B, D)
        h = self.deep(self.first_hidden(x))                        # (D, B, H_top)
        return self._mixture(torch.baddbmm(self.b[:, None, :], h, self.V))

    def conditionals(self, x: torch.Tensor):
        r"""Parameters of every $p(x_i \mid x_{<i})$ in one pass: mixture logits, means and
        log-scales, each (B, D, K); the entries of position i depend on $x_{<i}$ only."""
        return tuple(t.transpose(0, 1) for t in self._conditionals_by_position(x))

    def first_hidden(self, x: torch.Tensor) -> torch.Tensor:
        r"""$h_i = g(\rho_i a_i)$ for every position, position-major (D, B, H), from `x` (B, D).

        In float32 on the CPU (and `x` needing no gradient) one C kernel (``rnade.c``, built on
        first use by :mod:`hourglass.core.native`); otherwise, or where no C compiler is found,
        the same in PyTorch operations. Both give the same numbers and gradients, to float32
        rounding.
        """
        params = (self.W, self.c, self.rho)
        if (x.dtype == torch.float32 and not x.requires_grad and x.device.type == "cpu"
                and all(p.dtype == torch.float32 and p.device.type == "cpu" for p in params)
                and kernel() is not None):
            act = ("relu", "sigmoid").index(self.config.activation)
            return _KernelHidden.apply(x.contiguous(), *params, act)
        a = running_sums(x, self.W, self.c).transpose(0, 1)      # (D, B, H): a_i
        return ACTIVATIONS[self.config.activation](self.rho[:, None, None] * a)

    def conditional_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        r"""$\log p(x_i \mid x_{<i})$ for every position, (B, D), nats."""
        xt = x.flatten(1).to(self.W.dtype).t()                    # (D, B)
        return O.gaussian_mixture_log_density(xt, *self._conditionals_by_position(x)).t()

    def log_prob(self, x: torch.Tensor, *, k: int | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        r"""Exact $\log p(x) = \sum_i \log p(x_i \mid x_{<i})$ per example, nats, shape (B,).

        A log-*density*: it may be positive. ``k`` and ``generator`` are accepted for the common
        protocol and ignored (no sampling).
        """
        return self.conditional_log_prob(x).sum(1)

    def forward(self, x, y=None):
        loss = -self.log_prob(x).mean()
        return {"loss": loss, "nll_per_dim": loss.detach() / self.dim}

    @torch.no_grad()
    def sample(self, n: int, *, generator: torch.Generator | None = None, batch_size: int = 256,
               progress: bool | None = None) -> torch.Tensor:
        """D steps of the running sum: draw a component, then $x_i$, then
        $a \\leftarrow a + W_{:,i} x_i$. All `n` examples are drawn together (memory O(nH))."""
        check_n(n)
        g = ACTIVATIONS[self.config.activation]
        a = self.c.expand(n, -1).clone()                          # (n, H)
        x = torch.zeros(n, self.dim, device=a.device)
        with progress_bar(self.dim, progress) as bar:
            for i in range(self.dim):
                h = self.deep(g(self.rho[i] * a))                               # (n, H_top)
                logits, mean, log_scale = self._mixture(h @ self.V[i] + self.b[i])  # (n, K) each
                k = torch.multinomial(logits.softmax(-1), 1, **rng(generator))     # (n, 1)
                eps = torch.randn(n, **rng(generator), device=a.device)
                x[:, i] = (mean.gather(1, k).squeeze(1)
                           + log_scale.gather(1, k).squeeze(1).exp() * eps)
                a += x[:, i:i + 1] * self.W[:, i]
                bar.update()
        return x.view(n, *self.config.input_shape)
