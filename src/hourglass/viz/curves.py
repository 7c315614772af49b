"""Training curves: one subplot per loss term, train and validation on the same axes.

`history_columns` (a training history -> float columns) and `group_terms` (columns -> terms) hold
the arithmetic and are tested directly.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from hourglass.core.errors import DataError
from hourglass.viz.canvas import _new_figure, _save_png

__all__ = ["history_columns", "group_terms", "training_curves"]

SPLIT_PREFIXES = ("train_", "val_", "valid_", "test_")  # history columns are "<split>_<term>"


def _parse_number(value) -> float | None:
    """A history cell as a float: blanks and None are NaN; text that is not a number gives None."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return math.nan
    if hasattr(value, "item"):  # numpy or torch scalar
        value = value.item()
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def history_columns(history) -> dict[str, np.ndarray]:
    """Turn a training history into float columns, one per key, in order of first appearance.

    Parameters
    ----------
    history : list of dict, or str or PathLike
        One dict per epoch (``{"epoch": 1, "train_loss": ..., "val_loss": ...}``), or the path to
        a ``history.csv`` with those columns. Both forms give identical columns.

    Returns
    -------
    dict of str to ndarray of shape (n_epochs,)
        Float64 columns. A key missing from an epoch, or a blank cell, is NaN. Columns holding
        text that is not a number (a timestamp, say) are left out.
    """
    if isinstance(history, (str, os.PathLike)):
        path = Path(history)
        if not path.is_file():
            raise DataError(
                f"No history file at {path}. Pass the path to a run's history.csv, or the "
                f"history itself as a list of dicts (one per epoch)."
            )
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    elif isinstance(history, Iterable) and not isinstance(history, Mapping):
        rows = list(history)
        if not all(isinstance(r, Mapping) for r in rows):
            raise DataError(
                "The 'history' argument must be a list of dicts (one per epoch) or the path to a "
                "history.csv. Got a list with non-dict items."
            )
    else:
        raise DataError(
            f"The 'history' argument must be a list of dicts (one per epoch) or the path to a "
            f"history.csv. Got {type(history).__name__} instead."
        )
    if not rows:
        raise DataError("The training history is empty; train for at least one epoch first.")

    keys = list(dict.fromkeys(k for row in rows for k in row))
    columns = {}
    for key in keys:
        values = [_parse_number(row.get(key)) for row in rows]
        if all(v is not None for v in values):
            columns[key] = np.array(values, dtype=np.float64)
    return columns


def group_terms(names: Iterable[str]) -> dict[str, list[str]]:
    """Group history columns by term: ``train_kl`` and ``val_kl`` share the term ``kl``.

    Columns without a split prefix (``lr``, say) are a term of their own; ``epoch`` is the x axis
    and belongs to none. The term ``loss`` comes first, the rest in order of first appearance.
    """
    groups: dict[str, list[str]] = {}
    for name in names:
        if name == "epoch":
            continue
        prefix = next((p for p in SPLIT_PREFIXES if name.startswith(p)), "")
        groups.setdefault(name[len(prefix):], []).append(name)
    if "loss" in groups:
        groups = {"loss": groups.pop("loss"), **groups}
    return groups


def training_curves(history, path) -> Path:
    """Save one subplot per loss term, train and validation on the same axes, against epoch.

    Parameters
    ----------
    history : list of dict, or str or PathLike
        One dict per epoch with ``"epoch"`` and float columns such as ``"train_loss"``,
        ``"val_loss"``, ``"train_kl"``, ``"val_recon"``; or the path to a ``history.csv``.
    path : str or PathLike
        Where to write the PNG.

    Returns
    -------
    Path
        The PNG written.
    """
    columns = history_columns(history)
    n_epochs = len(next(iter(columns.values()))) if columns else 0
    epoch = columns.get("epoch", np.arange(1, n_epochs + 1, dtype=np.float64))
    # seconds per epoch (time_s, compile_s) are bookkeeping, not a loss: the report lists them
    groups = {t: n for t, n in group_terms(columns).items() if not t.endswith("_s")}
    if not groups:
        raise DataError(
            "The training history has no numeric columns besides 'epoch'; expected columns such "
            "as 'train_loss' and 'val_loss'."
        )

    ncols = min(3, len(groups))
    nrows = math.ceil(len(groups) / ncols)
    fig = _new_figure((4.0 * ncols, 3.0 * nrows))
    marker = "o" if n_epochs <= 30 else None  # dots help read short runs, clutter long ones
    for i, (term, names) in enumerate(groups.items()):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        for name in names:
            split = name[: -len(term) - 1] if name != term else name
            ax.plot(epoch, columns[name], marker=marker, markersize=3, label=split)
        ax.set_title(term)
        ax.set_xlabel("epoch")
        ax.set_ylabel(term)
        ax.grid(True, alpha=0.3)
        if len(names) > 1:
            ax.legend()
    return _save_png(fig, path)
