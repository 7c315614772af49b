"""A run's report: one self-contained HTML page with its metrics, config and figures.

The page needs nothing but itself: figures are embedded as base64 data URIs, the CSS is inline,
and nothing is fetched from the network, so it can be mailed, archived or opened offline. Every
string that reaches the page goes through `html.escape`.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from hourglass.core.io import atomic_write_text
from hourglass.core.errors import RunError

__all__ = ["write_report", "flatten", "format_value"]

# figure types a browser shows from a data URI, by file suffix
_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; border-bottom: 1px solid #ddd; padding-bottom: .3em; }
h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: .95em; }
th, td { text-align: left; padding: .25em 1em .25em .4em; border-bottom: 1px solid #eee; }
td.num { text-align: right; font-family: ui-monospace, monospace;
         font-variant-numeric: tabular-nums; }
pre { background: #f6f8fa; padding: .8em; overflow-x: auto; font-size: .9em; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .95em; margin-top: .3em; }
.notes { white-space: pre-wrap; }
"""


def flatten(d: Mapping, prefix: str = "") -> dict[str, object]:
    """Flatten nested dicts into one level with dotted keys.

    Examples
    --------
    >>> flatten({"test": {"elbo": -90.0, "kl": 20.0}, "epochs": 10})
    {'test.elbo': -90.0, 'test.kl': 20.0, 'epochs': 10}
    """
    flat: dict[str, object] = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


def format_value(value) -> str:
    """A metric as text: floats to 4 significant digits, large round figures in full, ints as is.

    Examples
    --------
    >>> [format_value(v) for v in (0.012345678, -98.7654, 123456.0, 3, float("nan"), None)]
    ['0.01235', '-98.77', '123456', '3', 'nan', '—']
    """
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy / torch scalar
        value = value.item()
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)  # 'nan', 'inf', '-inf'
        if 1e4 <= abs(value) < 1e12:
            return f"{value:.0f}"  # 123456 reads better than 1.235e+05
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def _figure_html(caption: str, path: Path) -> str:
    mime = _MIME.get(path.suffix.lower())
    if mime is None:
        raise RunError(
            f"Cannot embed figure {path} in the report: its type is not one of "
            f"{', '.join(sorted(_MIME))}. Save figures as PNG."
        )
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    alt = html.escape(caption)
    return (
        f'<figure><img src="data:{mime};base64,{data}" alt="{alt}">'
        f"<figcaption>{alt}</figcaption></figure>"
    )


def _resolve_figure(run_dir: Path, path) -> Path:
    """A figure path as given, or relative to the run folder when that is where it is."""
    path = Path(path)
    if not path.is_absolute() and not path.is_file() and (run_dir / path).is_file():
        path = run_dir / path
    if not path.is_file():
        raise RunError(
            f"Figure {path} does not exist, so the report cannot embed it. Write the figure "
            f"before calling write_report, or leave it out of 'figures'."
        )
    return path


def write_report(
    run_dir: str | os.PathLike,
    *,
    title: str,
    config: Mapping,
    metrics: Mapping,
    figures: Sequence[tuple[str, str | os.PathLike]],
    notes: str | None = None,
) -> Path:
    """Write ``run_dir/report.html``: a self-contained page with metrics, config and figures.

    Parameters
    ----------
    run_dir : str or PathLike
        The run folder; created if missing.
    title : str
        Page title and heading.
    config : dict
        The run's configuration, shown as sorted, indented JSON (values JSON cannot encode
        are shown as their ``str``).
    metrics : dict
        Final metrics; nested dicts are flattened to dotted names (``test.elbo``), floats shown
        to 4 significant digits.
    figures : list of (caption, path)
        Images to embed (PNG, JPEG or SVG), in order. Relative paths are tried as given, then
        relative to `run_dir`.
    notes : str, optional
        Free text shown under the title, line breaks kept.

    Returns
    -------
    Path
        The report written (atomically).
    """
    run_dir = Path(run_dir)
    esc = html.escape
    figure_blocks = [_figure_html(str(caption), _resolve_figure(run_dir, path))
                     for caption, path in figures]

    rows = "\n".join(
        f'<tr><th scope="row">{esc(str(name))}</th>'
        f'<td class="num">{esc(format_value(value))}</td></tr>'
        for name, value in flatten(metrics).items()
    )
    config_json = json.dumps(config, indent=2, sort_keys=True, default=str, ensure_ascii=False)

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{esc(title)}</h1>",
    ]
    if notes:
        parts.append(f'<p class="notes">{esc(notes)}</p>')
    parts.append("<h2>Metrics</h2>")
    parts.append(f"<table>\n{rows}\n</table>" if rows else "<p>No metrics recorded.</p>")
    if figure_blocks:
        parts.append("<h2>Figures</h2>")
        parts.extend(figure_blocks)
    parts += [
        "<h2>Configuration</h2>",
        f"<pre>{esc(config_json)}</pre>",
        "</body>",
        "</html>",
        "",
    ]
    return atomic_write_text(run_dir / "report.html", "\n".join(parts))
