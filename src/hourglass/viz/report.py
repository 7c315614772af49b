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
from hourglass.core.options import options
from hourglass.models import get_model_class
from hourglass.train import TrainConfig

__all__ = ["write_report", "flatten", "format_value", "METRICS", "reproduce_command"]

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
.warnings { background: #fff4e5; border: 1px solid #f0a030; border-left: 6px solid #e07b00;
            padding: .6em 1em; margin: 1em 0; }
.warnings h2 { margin-top: 0; color: #8a4500; }
table.metrics th.group { background: #f3f4f6; font-size: 1em; padding-top: .5em; }
table.metrics td.unit, table.metrics td.better { color: #555; font-size: .9em; }
table.metrics code, .bookkeeping code { font-size: .85em; color: #666; }
details { margin: .8em 0; }
summary { cursor: pointer; font-weight: 600; }
.command { white-space: pre-wrap; word-break: break-all; }
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


# name -> (group, readable name, unit, "lower"/"higher" is better, or None for no direction)
METRICS: dict[str, tuple[str, str, str, str | None]] = {
    "nll_nats": ("likelihood", "Test negative log-likelihood", "nats", "lower"),
    "bits_per_dim": ("likelihood", "Test negative log-likelihood per dimension", "bits/dim", "lower"),
    "elbo_nats": ("likelihood", "Test ELBO", "nats", "higher"),
    "recon_nll": ("reconstruction", "Reconstruction negative log-likelihood", "nats", "lower"),
    "recon_mse": ("reconstruction", "Reconstruction mean squared error", "per value", "lower"),
    "kl_nats": ("codes", "KL of the posterior to the prior", "nats", None),
    "active_units": ("codes", "Active latent dimensions", "dimensions", "higher"),
    "knn_accuracy": ("codes", "k-NN accuracy of the test codes", "fraction", "higher"),
    "knn_accuracy_pca2d": ("codes", "k-NN accuracy of the 2-D PCA of the codes", "fraction", "higher"),
    "accuracy": ("codes", "Test accuracy of the classifier", "fraction", "higher"),
    "sample_frechet_distance": ("samples", "Fréchet distance of samples to test images", "", "lower"),
    "sample_precision": ("samples", "Precision of samples (realism)", "fraction", "higher"),
    "sample_recall": ("samples", "Recall of samples (coverage)", "fraction", "higher"),
}
GROUPS = {"likelihood": "Likelihood", "reconstruction": "Reconstruction", "codes": "Codes",
          "samples": "Samples", "other": "Other measurements"}
# what describes how a number was measured or what the run cost, shown apart from the results
BOOKKEEPING = {
    "nll_k": "importance samples k of the likelihood bound",
    "latent_dim": "latent dimensions",
    "nll_exact": "exact likelihood (an explicit density model)",
    "knn_k": "neighbours k of the k-NN classifier",
    "n_test": "test examples",
    "test_binarization": "binarization of the test data",
    "given_labels": "likelihoods conditioned on the labels",
    "n_parameters": "parameters of the model",
    "train_time_s": "training time (s)",
    "eval_time_s": "evaluation time (s)",
    "sample_n_real": "test images the samples are compared with",
    "sample_n_fake": "samples compared",
    "sample_pr_k": "neighbours k of precision and recall",
    "sample_feature_net_test_accuracy": "test accuracy of the feature network",
}


def _metric_rows(metrics: Mapping) -> tuple[str, str]:
    """The HTML rows of the results table (grouped) and of the bookkeeping table."""
    esc = html.escape
    groups: dict[str, list[str]] = {g: [] for g in GROUPS}
    bookkeeping = []
    order = {name: i for i, name in enumerate([*METRICS, *BOOKKEEPING])}
    flat = flatten(metrics)
    for name in sorted(flat, key=lambda n: order.get(n, len(order))):
        value = flat[name]
        if name == "warnings":
            continue
        if name in BOOKKEEPING or name.endswith("_time_s") or name.endswith("_s"):
            what = BOOKKEEPING.get(name, name)
            bookkeeping.append(f'<tr><th scope="row">{esc(what)} <code>{esc(name)}</code></th>'
                               f'<td class="num">{esc(format_value(value))}</td></tr>')
            continue
        group, label, unit, better = METRICS.get(name, ("other", name, "", None))
        arrow = {"lower": "lower is better ↓", "higher": "higher is better ↑"}.get(better, "")
        groups[group].append(
            f'<tr><th scope="row">{esc(label)} <code>{esc(name)}</code></th>'
            f'<td class="num">{esc(format_value(value))}</td><td class="unit">{esc(unit)}</td>'
            f'<td class="better">{arrow}</td></tr>')
    rows = []
    for group, items in groups.items():
        if items:
            rows.append(f'<tr><th class="group" colspan="4" scope="rowgroup">{GROUPS[group]}</th></tr>')
            rows += items
    return "\n".join(rows), "\n".join(bookkeeping)


def _flag_value(value) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def reproduce_command(config: Mapping, run_dir: str | os.PathLike) -> list[str]:
    """Commands that reproduce the run of `config` (a run's ``config.json``): the exact replay
    from the run's config file, and ``hourglass train`` with the options that differ from their
    defaults spelled out as flags. Empty when `config` is not a training run's."""
    model = config.get("model")
    if not isinstance(model, str) or not isinstance(config.get("data"), Mapping):
        return []
    run = Path(run_dir).as_posix()
    commands = [f"hourglass train --config {run}/config.json --out {run}-again"]
    try:  # the registry and the training options say which values are defaults
        declared = [(options(get_model_class(model).config_class), config.get("model_config", {})),
                    (options(TrainConfig), config.get("train", {}))]
    except Exception:  # an unknown model: the replay command alone
        return commands
    words = ["hourglass", "train", model, "--data", str(config["data"].get("spec", ""))]
    for opts, values in declared:
        for name, value in values.items():
            if name not in opts or opts[name][1].flag is None or value is None:
                continue
            default = opts[name][0].default
            if isinstance(default, tuple) and isinstance(value, list):
                value = tuple(value)
            if value == default:
                continue
            over = opts[name][1].flag
            dest = over.get("name", name).replace("_", "-")
            flag = "--" + dest
            if over.get("negate"):  # progress=False is --quiet
                if not value:
                    words.append(flag)
            elif isinstance(value, bool):
                words.append(flag if value else "--no-" + dest)
            else:
                words += [flag, _flag_value(value)]
    commands.append(" ".join([*words, "--out", run]))
    return commands


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

    rows, bookkeeping = _metric_rows(metrics)
    warnings = metrics.get("warnings") if isinstance(metrics, Mapping) else None
    if isinstance(warnings, str):
        warnings = [warnings]
    config_json = json.dumps(config, indent=2, sort_keys=True, default=str, ensure_ascii=False)
    commands = reproduce_command(config, run_dir)

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
    if warnings:
        items = "".join(f"<li>{esc(str(w))}</li>" for w in warnings)
        parts.append(f'<div class="warnings" role="alert"><h2>Warnings</h2><ul>{items}</ul></div>')
    if notes:
        parts.append(f'<p class="notes">{esc(notes)}</p>')
    parts.append("<h2>Metrics</h2>")
    if rows:
        parts.append('<table class="metrics">\n<thead><tr><th>metric</th><th>value</th>'
                     '<th>unit</th><th></th></tr></thead>\n<tbody>\n' + rows + "\n</tbody>\n</table>")
    else:
        parts.append("<p>No metrics recorded.</p>")
    if bookkeeping:
        parts.append('<h2>How it was measured</h2>')
        parts.append(f'<table class="bookkeeping">\n{bookkeeping}\n</table>')
    if figure_blocks:
        parts.append("<h2>Figures</h2>")
        parts.extend(figure_blocks)
    parts.append("<h2>Configuration</h2>")
    if commands:
        parts.append("<p>Reproduce this run:</p>")
        parts += [f'<pre class="command">{esc(c)}</pre>' for c in commands]
    parts += [
        "<details><summary>Full configuration (config.json)</summary>",
        f"<pre>{esc(config_json)}</pre>",
        "</details>",
        "</body>",
        "</html>",
        "",
    ]
    return atomic_write_text(run_dir / "report.html", "\n".join(parts))
