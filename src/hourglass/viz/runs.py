"""Several runs on one page: their training curves over each other, and an HTML page with that
figure and a table of their metrics (``hourglass runs compare``)."""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from hourglass.core.errors import DataError
from hourglass.core.io import atomic_write_text
from hourglass.viz.canvas import _new_figure, _save_png
from hourglass.viz.curves import group_terms, history_columns

__all__ = ["overlay_curves", "comparison_page"]

SPLIT_STYLES = {"train": "-", "val": "--", "valid": "--", "test": ":"}


def overlay_curves(histories: Mapping[str, object], path) -> Path:
    """One subplot per loss term that any run logged; each run one colour, train solid and
    validation dashed, against epoch.

    Parameters
    ----------
    histories : dict of str to history
        Run name -> its history: a list of dicts (one per epoch) or the path to a history.csv.
    path : str or PathLike
        Where to write the PNG.

    Returns
    -------
    Path
        The PNG written.
    """
    if not histories:
        raise DataError("overlay_curves needs at least one run's history.")
    columns = {name: history_columns(h) for name, h in histories.items()}
    terms: dict[str, list[str]] = {}
    for cols in columns.values():
        for term, names in group_terms(cols).items():
            known = terms.setdefault(term, [])
            known += [n for n in names if n not in known]
    if not terms:
        raise DataError("The runs' histories have no numeric columns besides 'epoch'; expected "
                        "columns such as 'train_loss' and 'val_loss'.")
    ncols = min(3, len(terms))
    nrows = math.ceil(len(terms) / ncols)
    fig = _new_figure((4.5 * ncols, 3.2 * nrows))
    colours = [f"C{i % 10}" for i in range(len(columns))]
    for i, (term, names) in enumerate(terms.items()):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        for colour, (run, cols) in zip(colours, columns.items()):
            n = len(next(iter(cols.values())))
            epoch = cols.get("epoch", np.arange(1, n + 1, dtype=np.float64))
            for name in names:
                if name not in cols:
                    continue
                split = name[: -len(term) - 1] if name != term else ""
                ax.plot(epoch, cols[name], SPLIT_STYLES.get(split, "-"), color=colour,
                        marker="o" if n <= 30 else None, markersize=3,
                        label=f"{run} {split}".strip())
        ax.set_title(term)
        ax.set_xlabel("epoch")
        ax.set_ylabel(term)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize="small")
    return _save_png(fig, path)


def comparison_page(path, *, title: str, header: Sequence[str], rows: Sequence[Sequence[str]],
                    figure: str | os.PathLike) -> Path:
    """Write a self-contained HTML page: `title`, the table (`header`, `rows` of text) and the
    PNG `figure`, embedded."""
    png = base64.b64encode(Path(figure).read_bytes()).decode("ascii")
    cells = lambda tag, values: "".join(f"<{tag}>{html.escape(str(v))}</{tag}>" for v in values)  # noqa: E731
    table = "\n".join([f"<tr>{cells('th', header)}</tr>"]
                      + [f"<tr>{cells('td', r)}</tr>" for r in rows])
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
td:first-child,th:first-child{{text-align:left}}img{{max-width:100%}}</style></head>
<body><h1>{html.escape(title)}</h1>
<table>
{table}
</table>
<h2>Training curves</h2>
<img alt="training curves of the runs" src="data:image/png;base64,{png}">
</body></html>
"""
    return atomic_write_text(path, page)
