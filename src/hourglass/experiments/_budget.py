"""What the wall-clock experiments share (not an experiment: the name starts with _): the epochs
that fit a budget, measured from timed probe epochs, and the file of measured rows that
``--reuse-rows`` reads, so that a long sitting can be split or survive a crash."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Callable

import torch

from hourglass.core.io import atomic_write_json
from hourglass.train import TrainConfig, train


def fit_epochs(make: Callable[[], torch.nn.Module], x: torch.Tensor, config: TrainConfig,
               minutes: float, *, probe_rows: int | None = None) -> tuple[int, float]:
    """(epochs that fit `minutes`, measured seconds per epoch of all of `x`): ``config.epochs``
    epochs of a fresh model over the first `probe_rows` rows of `x` (default: all) are timed, not
    counted; the first warms up the kernels and the allocator, the median of the others gives the
    time per step."""
    n = len(x) if probe_rows is None else min(len(x), probe_rows)
    times = [h["time_s"] for h in train(make(), x[:n], config=config)[1:]]
    epoch_s = statistics.median(times) * math.ceil(len(x) / config.batch_size) \
        / math.ceil(n / config.batch_size)
    return max(1, math.floor(minutes * 60 / epoch_s)), epoch_s


def measured(path: Path, key: dict, measure: Callable[[], dict], *, reuse: bool) -> dict:
    """The row measured with `key` (what it depends on): read from the rows file `path` when
    `reuse` and it is there, else ``measure()``, appended to `path` at once."""
    key = json.loads(json.dumps(key))  # as it reads back (a tuple of widths comes back a list)
    saved = json.loads(path.read_text()) if path.exists() else []
    old = [e["row"] for e in saved if e["key"] == key] if reuse else []
    if old:
        print(f"reused ({path}):", old[-1], flush=True)
        return old[-1]
    row = measure()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, saved + [{"key": key, "row": row}])
    return row
