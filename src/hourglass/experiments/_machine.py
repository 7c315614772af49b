"""What an experiment records about where it ran (not an experiment: the name starts with _)."""

from __future__ import annotations

import os
import platform

import torch


# the vector extensions that decide CPU matmul speed (the model name alone, e.g. "AMD EPYC",
# does not tell an AVX2-only machine from one with AVX-512 and bf16 instructions)
ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def machine(threads: int) -> dict:
    """CPU, its vector extensions, core count, torch version and threads, and the load average
    at the start."""
    cpu = platform.processor() or platform.machine()
    flags: list[str] = []
    try:
        with open("/proc/cpuinfo") as f:
            info = f.read().splitlines()
        cpu = next((line.split(":", 1)[1].strip() for line in info
                    if line.startswith("model name")), cpu)
        have = next((line.split(":", 1)[1].split() for line in info
                     if line.startswith("flags")), [])
        flags = [f for f in ISA_FLAGS if f in have]
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cpu": cpu, "cpu_flags": flags,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": threads, "load_average_1min_at_start": load,
            "python": platform.python_version()}


def set_threads(threads: int) -> None:
    """One intra-op thread is the default: on a shared machine two threads contend badly."""
    torch.set_num_threads(threads)
