"""How the loss step is computed: numeric precision (autocast) and ``torch.compile``.

``precision``: ``fp32`` computes everything in float32. ``bf16`` runs the matrix products in
bfloat16 under :func:`torch.autocast` (on CUDA, and on CPUs with native bf16 such as AVX-512 BF16
or AMX; elsewhere it is emulated, and slower than fp32: a warning says so). ``fp16`` (CUDA only)
runs them in float16 with a gradient scaler, which multiplies the loss before the backward pass
so that small gradients do not underflow, and skips the steps whose gradients overflowed
(Micikevicius et al. 2018). The models compute their log-likelihoods and KL terms in float32
whatever the precision.

``compile``: each phase's loss function goes through :func:`torch.compile` (TorchInductor); the
first step compiles it, and its time is reported. Where the compiler cannot run (no C compiler,
an unsupported platform), one line says so and training goes on eagerly.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import time
import warnings
from collections.abc import Callable

import torch

from hourglass.core.errors import ConfigError

PRECISIONS = ("fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bfloat16 matrix products natively (not emulated)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


class Precision:
    """Autocast and, for fp16, gradient scaling, for one run on `device`."""

    def __init__(self, precision: str, device: torch.device):
        if precision == "fp16" and device.type != "cuda":
            raise ConfigError("precision='fp16' needs a CUDA device (it relies on a gradient "
                              "scaler); on the CPU use precision='bf16' or 'fp32'.")
        if precision == "bf16" and not native_bf16(device):
            warnings.warn(f"This {device.type.upper()} has no native bfloat16 arithmetic "
                          f"(capability: {torch.backends.cpu.get_cpu_capability()}); bf16 is "
                          "emulated and slower than fp32 here.", stacklevel=3)
        self.device_type = device.type
        self.dtype = _DTYPES.get(precision)
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None

    def autocast(self):
        """The context the loss is computed in."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def scale(self, loss: torch.Tensor) -> torch.Tensor:
        """The loss to backpropagate (multiplied by the scaler's factor under fp16)."""
        return loss if self.scaler is None else self.scaler.scale(loss)

    def unscale(self, optimizer: torch.optim.Optimizer) -> None:
        """Bring the gradients back to their true size (before clipping or checking them)."""
        if self.scaler is not None:
            self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            optimizer.step()
        else:
            self.scaler.step(optimizer)
            self.scaler.update()


class Compiled:
    """A loss function compiled with :func:`torch.compile` on its first call, falling back to the
    eager function (with one line on stderr) where compilation fails. ``seconds`` is the time the
    first call took, compilation included."""

    def __init__(self, fn: Callable, name: str):
        self.eager, self.name = fn, name
        self.fn = torch.compile(fn)
        self.seconds: float | None = None

    def __call__(self, *args):
        if self.seconds is not None:
            return self.fn(*args)
        t0 = time.perf_counter()
        try:
            out = self.fn(*args)
        except Exception as e:  # noqa: BLE001  (any compiler failure: train eagerly instead)
            reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            print(f"hourglass: torch.compile is not available here ({reason}); training the "
                  f"{self.name!r} phase without it.", file=sys.stderr)
            self.fn = self.eager
            out = self.fn(*args)
        self.seconds = time.perf_counter() - t0
        return out


def compile_forwards(forwards: dict[str, Callable]) -> dict[str, Compiled]:
    """Every phase's loss function, compiled. The compiled code draws its random numbers (the
    reparameterization noise, dropout) from torch's generator as eager code does, so a seed gives
    the same run compiled or not."""
    # the compiler's settings are imported only when compiling: importing them costs seconds
    importlib.import_module("torch._inductor.config").fallback_random = True
    return {name: Compiled(fn, name) for name, fn in forwards.items()}
