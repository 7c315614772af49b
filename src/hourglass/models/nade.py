r"""NADE, the neural autoregressive density estimator (Larochelle & Murray 2011).

For binary $x \in \{0,1\}^D$ in a fixed order, every conditional is a logistic regression on a
hidden layer that sees only the values before it, with one weight matrix shared by all of them:

$h_i = \sigma(W_{:,<i}\, x_{<i} + c)$,  $p(x_i = 1 \mid x_{<i}) = \sigma(V_i^\top h_i + b_i)$,

$\log p(x) = \sum_{i=1}^D \log p(x_i \mid x_{<i})$ (exact). The shared weights give the running-sum
trick: $a_1 = c$, $a_{i+1} = a_i + W_{:,i}\, x_i$, so all D hidden layers cost $O(DH)$, computed
here in one pass with a cumulative sum, and sampling is D cheap steps. Extra ``hidden`` widths add
per-position layers on top of $h_i$ (weights shared across positions), which keeps the order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from hourglass.core.options import option
from hourglass.core.validation import Options, Sizes
from hourglass.models.autoregressive import AutoregressiveConfig, AutoregressiveModel, check_n, progress_bar
from hourglass.models.registry import register_model


@dataclass
class NADEConfig(AutoregressiveConfig):
    input_shape: tuple = option((784,), Sizes(),
                                "shape of one example; any shape, flattened in C-order", cli=False, estimator=False)
    hidden: tuple = option((500,), Sizes(),
                           "H of the shared layer h_i; more widths add per-position layers")
    likelihood: str = option("bernoulli", Options(("bernoulli",)),
                             'p(x_i|x_<i): "bernoulli" (binary) or "categorical" (8-bit)')
    needs_image = False


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
        """$\\ell_i = V_i^\\top h_i + b_i$ for every i in one pass, shape (B, *input_shape)."""
        x = self.net_input(x.flatten(1))                        # (B, D)
        contrib = x.unsqueeze(2) * self.W.T                     # (B, D, H): W_{:,j} x_j
        # $a_i = c + \sum_{j<i} W_{:,j} x_j$: an exclusive cumulative sum (zero for i = 1)
        a = self.c + torch.cat([torch.zeros_like(contrib[:, :1]),
                                contrib[:, :-1].cumsum(1)], dim=1)  # (B, D, H)
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
                x[:, i] = torch.bernoulli(p, generator=generator)
                a += x[:, i:i + 1] * self.W[:, i]
                bar.update()
        return x.view(n, *self.config.input_shape)
