"""The runs in a folder at a glance (``hourglass runs``), and several runs side by side
(``hourglass runs compare``).

A run folder is one with a config.json of a training run (:mod:`hourglass.runs.store`). Its status
comes from what it holds:

- ``running``: its lock (``.lock``) is held by a live process;
- ``finished``: it has its trained weights (model.safetensors); ``finished (early stop)`` when
  early stopping ended it before its planned epochs;
- ``interrupted``: no weights yet but a checkpoint: ``hourglass train MODEL --resume --out RUN``
  continues it;
- ``failed``: neither weights nor a checkpoint (it stopped, by an error or a kill, before the end
  of its first epoch), or a config.json that cannot be read.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from hourglass.core.errors import ConfigError, RunError
from hourglass.core.io import MAX_JSON_BYTES, read_checked_text
from hourglass.runs import store
from hourglass.train.checkpoint import TENSORS as CHECKPOINT
from hourglass.train.lock import LOCK
from hourglass.train.progress import format_duration
from hourglass.viz.runs import comparison_page, overlay_curves

# test metrics worth a column, in this order, with their column names
# ("-elbo": minus the ELBO, an upper bound on the NLL, so that both read lower-is-better)
KEY_METRICS = {"nll_nats": "nll", "elbo_nats": "-elbo", "bits_per_dim": "bits/dim",
               "recon_mse": "recon_mse", "knn_accuracy": "knn_acc", "accuracy": "accuracy",
               "sample_frechet_distance": "fd"}
NEGATED = {"elbo_nats"}


@dataclass
class RunSummary:
    """What `hourglass runs` shows of one run folder."""

    name: str
    path: Path
    status: str
    model: str = "?"
    data: str = "?"
    metrics: dict = field(default_factory=dict)   # metrics.json (numbers and text)
    val_loss: float | None = None   # of the weights kept: the best epoch's with early stopping
    epochs_done: int = 0
    epochs_planned: int | None = None
    time_s: float | None = None     # training time (metrics.json, else the history's sum)
    history: list = field(default_factory=list)   # history.csv rows (dicts of text)

    @property
    def epochs(self) -> str:
        return f"{self.epochs_done}/{'?' if self.epochs_planned is None else self.epochs_planned}"


def lock_owner(run_dir: Path) -> int | None:
    """The PID holding the run's lock, if that process is alive (another than this one)."""
    path = run_dir / LOCK
    try:
        if not path.is_file() or path.stat().st_size > 100:
            return None
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    if pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, someone else's
        return pid
    except OverflowError:
        return None
    return pid


def read_history(run_dir: Path) -> list[dict]:
    """history.csv as a list of dicts of text ([] when there is none or it cannot be read)."""
    path = run_dir / "history.csv"
    try:
        text = read_checked_text(path, max_bytes=MAX_JSON_BYTES, what="training history")
    except (RunError, OSError):
        return []
    return list(csv.DictReader(io.StringIO(text)))


def _number(text) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


def summarize(run_dir: str | Path) -> RunSummary:
    """The summary of one run folder; a folder whose files cannot be read is ``failed``."""
    run_dir = Path(run_dir)
    s = RunSummary(name=run_dir.name, path=run_dir, status="failed")
    try:
        config = store.read_training_run(run_dir)
    except RunError:
        s.status = "failed (config.json unreadable)"
        return s
    s.model = config["model"]
    data = config["data"]
    s.data = data["spec"] + (f" (n={data['n']})" if data.get("n") else "")
    train = config["train"]
    s.epochs_planned = train.get("epochs")
    try:
        s.metrics = store.read_metrics(run_dir)
    except RunError:
        s.metrics = {}
    s.history = read_history(run_dir)
    epochs = [int(e) for e in (r.get("epoch") for r in s.history) if str(e).isdigit()]
    s.epochs_done = max(epochs, default=0)
    losses = [v for v in (_number(r.get("val_loss")) for r in s.history) if v is not None]
    if losses:
        s.val_loss = min(losses) if train.get("patience") is not None else losses[-1]
    times = [_number(r.get("time_s")) for r in s.history]
    s.time_s = (s.metrics.get("train_time_s") if isinstance(s.metrics.get("train_time_s"), float)
                else sum(t for t in times if t is not None) if times else None)
    if lock_owner(run_dir) is not None:
        s.status = "running"
    elif (run_dir / store.WEIGHTS).exists():
        early = (train.get("patience") is not None and s.epochs_planned is not None
                 and s.epochs_done < s.epochs_planned)
        s.status = "finished (early stop)" if early else "finished"
    elif (run_dir / CHECKPOINT).exists() or (run_dir / "checkpoint.json").exists():
        s.status = "interrupted"
    return s


def find_runs(folder: str | Path) -> list[Path]:
    """The run folders under `folder` (it included), sorted by path; a run's own subfolders
    (figures, checkpoints) are not searched."""
    folder = Path(folder)
    if not folder.is_dir():
        what = "a file" if folder.exists() else "no folder"
        raise ConfigError(f"{folder} is {what}, not a folder of runs. Give the folder that holds "
                          "the run directories (hourglass train --out FOLDER/NAME).")
    found = []
    for here, dirs, files in os.walk(folder):
        if store.CONFIG in files and _is_training_run(Path(here) / store.CONFIG):
            found.append(Path(here))
            dirs.clear()
        else:
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    return sorted(found)


def _is_training_run(path: Path) -> bool:
    """A config.json that names a model and has the train and data entries of a training run (a
    damaged one too: it is listed as failed)."""
    try:
        config = json.loads(read_checked_text(path, what="run config"))
    except (RunError, OSError, ValueError, RecursionError):
        return True  # unreadable: listed, as failed
    return isinstance(config, dict) and "model" in config and "train" in config


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table(summaries: list[RunSummary]) -> tuple[list[str], list[list[str]]]:
    """The header and rows of `hourglass runs`: the metrics columns are those of KEY_METRICS that
    some run has."""
    metric_keys = [k for k in KEY_METRICS if any(k in s.metrics for s in summaries)]
    header = ["name", "model", "data", *(KEY_METRICS[k] for k in metric_keys), "val_loss",
              "epochs", "time", "status"]
    rows = [[s.name, s.model, s.data, *(_fmt(_metric(s.metrics, k)) for k in metric_keys),
             _fmt(s.val_loss), s.epochs,
             "" if s.time_s is None else format_duration(s.time_s), s.status]
            for s in summaries]
    return header, rows


def _metric(metrics: dict, key: str):
    v = metrics.get(key)
    return -v if key in NEGATED and isinstance(v, (int, float)) and not isinstance(v, bool) else v


def side_by_side(summaries: list[RunSummary]) -> tuple[list[str], list[list[str]]]:
    """The header (``metric``, then the run names) and one row per metric of any run: the
    test metrics, then val_loss, epochs, time and status."""
    keys = list(dict.fromkeys(k for s in summaries for k, v in s.metrics.items()
                              if isinstance(v, (int, float)) and not isinstance(v, bool)))
    header = ["metric", *(s.name for s in summaries)]
    rows = [[k, *(_fmt(s.metrics.get(k)) for s in summaries)] for k in keys]
    rows += [["model", *(s.model for s in summaries)],
             ["data", *(s.data for s in summaries)],
             ["val_loss", *(_fmt(s.val_loss) for s in summaries)],
             ["epochs", *(s.epochs for s in summaries)],
             ["time", *("" if s.time_s is None else format_duration(s.time_s) for s in summaries)],
             ["status", *(s.status for s in summaries)]]
    return header, rows


def text_table(header: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart (no trailing spaces)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
                     for r in [header, *rows])


COMPARE_FILES = ("compare.png", "compare.html")


def compare_runs(run_dirs: list[str | Path], out: str | Path) -> tuple[str, list[Path]]:
    """Compare runs: the side-by-side table (returned as text) and, in the folder `out`,
    compare.png (their training curves over each other) and compare.html (table and figure).
    Existing files are never overwritten."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder. Choose a folder for "
                          f"{' and '.join(COMPARE_FILES)}.")
    taken = [name for name in COMPARE_FILES if (out / name).exists()]
    if taken:
        raise ConfigError(f"{out} already holds {', '.join(taken)}; nothing was overwritten. "
                          "Choose another --out.")
    summaries = []
    for d in run_dirs:
        store.read_training_run(d)  # not a run: one clear error
        summaries.append(summarize(d))
    names = [s.name for s in summaries]
    if len(set(names)) < len(names):  # runs/a/x and runs/b/x: tell them apart by their paths
        for s in summaries:
            s.name = str(s.path)
    header, rows = side_by_side(summaries)
    histories = {s.name: s.history for s in summaries if s.history}
    if not histories:
        raise RunError("None of these runs has a training history (history.csv) to draw: they "
                       "stopped before their first epoch ended.")
    png = overlay_curves(histories, out / COMPARE_FILES[0])
    page = comparison_page(out / COMPARE_FILES[1], title="Runs compared: " + ", ".join(names),
                           header=header, rows=rows, figure=png)
    return text_table(header, rows), [png, page]
