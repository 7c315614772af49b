"""What an experiment records about where it ran (not an experiment: the name starts with _)."""

from __future__ import annotations

import os
import platform

import torch


def machine(threads: int) -> dict:
    """CPU, core count, torch version and threads, and the load average at the start."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": threads, "load_average_1min_at_start": load,
            "python": platform.python_version()}


def set_threads(threads: int) -> None:
    """One intra-op thread is the default: on a shared machine two threads contend badly."""
    torch.set_num_threads(threads)
