"""Figures of the uses of the codes: embeddings side by side (``hourglass compare``), AUROC per class
and score histograms (``hourglass detect``). Same conventions as :mod:`hourglass.viz.canvas`:
Agg canvas, no pyplot, PNG written atomically, the path returned.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps

from hourglass.viz.canvas import _new_figure, _save_png
from hourglass.viz.embedding import _class_names, project_2d


def embedding_panel(embeddings: Mapping[str, np.ndarray], path, *, color=None,
                    classes: Sequence[str] | None = None, notes: Mapping[str, str] | None = None,
                    title: str | None = None) -> Path:
    """One 2-D scatter per method (codes of more than 2 dimensions are PCA-projected), coloured by
    integer labels (with `classes`, a shared legend) or a continuous value; methods listed only in
    `notes` get an empty panel with the note (why they did not run)."""
    notes = dict(notes or {})
    names = list(embeddings) + [n for n in notes if n not in embeddings]
    cols = min(4, max(1, len(names)))
    rows = math.ceil(len(names) / cols)
    fig = _new_figure((3.2 * cols + (1.6 if classes is not None else 0.6), 3.0 * rows + 0.4))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    color = None if color is None else np.asarray(color)
    handles = None
    for ax, name in zip(axes, names):
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(name)
        if name not in embeddings:
            ax.text(0.5, 0.5, textwrap.fill(notes[name], 32), ha="center", va="center",
                    fontsize="small", transform=ax.transAxes)
            continue
        z2, _ = project_2d(embeddings[name])
        size = float(np.clip(4000 / len(z2), 1, 20))
        if color is not None and classes is not None:
            cmap = colormaps["tab10" if len(classes) <= 10 else "tab20"]
            handles = []
            for value, label in zip(np.unique(color), _class_names(np.unique(color), classes)):
                keep = color == value
                handles.append(ax.scatter(z2[keep, 0], z2[keep, 1], s=size, linewidths=0,
                                          color=cmap(int(value) % cmap.N), label=label, alpha=0.7))
        else:
            ax.scatter(z2[:, 0], z2[:, 1], s=size, linewidths=0, alpha=0.7,
                       c=None if color is None else color.astype(np.float64), cmap="viridis")
    for ax in axes[len(names):]:
        ax.set_axis_off()
    if handles:
        fig.legend(handles=handles, loc="outside right center", fontsize="small",
                   markerscale=3, frameon=False)
    if title:
        fig.suptitle(title)
    return _save_png(fig, path)


def auroc_heatmap(table: Mapping[str, Sequence[float]], columns: Sequence[str], path, *,
                  title: str | None = None) -> Path:
    """Methods (rows) x columns (classes, then the mean) of AUROC values in [0, 1], annotated."""
    names = list(table)
    values = np.array([list(table[n]) for n in names], dtype=np.float64)
    fig = _new_figure((1.0 + 0.75 * len(columns) + 1.5, 0.8 + 0.45 * len(names)))
    ax = fig.add_subplot()
    image = ax.imshow(values, vmin=0.5, vmax=1.0, cmap="viridis", aspect="auto")
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            ax.text(j, i, f"{100 * values[i, j]:.1f}", ha="center", va="center", fontsize=7,
                    color="white" if values[i, j] < 0.8 else "black")
    ax.set_xticks(range(len(columns)), [str(c) for c in columns], rotation=45, ha="right",
                  fontsize="small")
    ax.set_yticks(range(len(names)), names, fontsize="small")
    fig.colorbar(image, ax=ax, label="AUROC")
    if title:
        ax.set_title(title)
    return _save_png(fig, path)


def score_histograms(scores: Mapping[str, Mapping[str, np.ndarray]], path, *,
                     title: str | None = None) -> Path:
    """Per method, overlaid histograms of the scores of each named set (in-distribution first)."""
    names = list(scores)
    cols = min(3, max(1, len(names)))
    rows = math.ceil(len(names) / cols)
    fig = _new_figure((3.6 * cols, 2.8 * rows + 0.4))
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, name in zip(axes, names):
        sets = scores[name]
        finite = np.concatenate([np.asarray(v)[np.isfinite(v)] for v in sets.values()])
        lo, hi = np.percentile(finite, [1, 99.5]) if finite.size else (0.0, 1.0)
        bins = np.linspace(lo, hi if hi > lo else lo + 1, 50)
        for label, values in sets.items():
            ax.hist(np.clip(values, lo, hi), bins=bins, alpha=0.5, density=True, label=label)
        ax.set_title(name, fontsize="small")
        ax.set_yticks([])
        ax.legend(fontsize="x-small", frameon=False)
    for ax in axes[len(names):]:
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return _save_png(fig, path)
