"""What a run shows while it trains. Only rank 0 shows anything.

On a terminal (stderr is a TTY): a bar over the whole run, with its ETA, and below it a bar over
the epoch with the running means of the loss terms; each finished epoch leaves one line above the
bars. Redirected to a file or a pipe: no bars (no carriage returns), only the one line per epoch,
``epoch 3/10  train_loss 97.1  val_loss 99.3  time_s 1.2  eta 8s``.

The lines are log messages of the logger ``"hourglass.train"`` (level INFO), so a Python user
silences them with ``logging.getLogger("hourglass").setLevel(logging.WARNING)``, or routes them
through their own handlers. When nothing has set up logging, :func:`log_to_stderr` gives the
``"hourglass"`` logger one handler that writes the bare message to stderr (above any bar). What
early stopping did is one line too, also with ``progress=False`` (``--quiet``).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Iterable

from tqdm.auto import tqdm

logger = logging.getLogger("hourglass.train")


class _StderrHandler(logging.Handler):
    """The bare message on the current ``sys.stderr``, written above any tqdm bar."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging never raises into the caller
            self.handleError(record)


def log_to_stderr() -> None:
    """Show the library's messages (logger ``"hourglass"``, INFO and up) on stderr, unless logging
    was set up already (a handler on the logger or one above it, or a level of its own)."""
    root = logging.getLogger("hourglass")
    if root.hasHandlers() or root.level != logging.NOTSET:
        return
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def format_duration(seconds: float) -> str:
    """8 -> '8s', 75 -> '1:15', 3725 -> '1:02:05'."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def epoch_text(row: dict, epochs: int, eta_s: float | None = None) -> str:
    """One epoch's line: ``epoch 3/10  train_loss 97.1  ...  time_s 1.2  eta 8s``."""
    parts = [f"epoch {row['epoch']}/{epochs}"]
    parts += [f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
              for k, v in row.items() if k != "epoch"]
    if eta_s is not None and row["epoch"] < epochs:
        parts.append(f"eta {format_duration(eta_s)}")
    return "  ".join(parts)


def early_stop_text(epoch: int, epochs: int, patience: int, best_epoch: int,
                    best_loss: float) -> str:
    """What early stopping did, in one line."""
    return (f"early stopping: val_loss has not improved for {patience} epochs; stopped after "
            f"epoch {epoch} of {epochs} and restored the weights of epoch {best_epoch} "
            f"(val_loss {best_loss:.4g})")


class Progress:
    """The progress display of one run; with ``enabled=False`` every method shows nothing but
    the early-stopping line (and that only on rank 0, ``main``).

    ``bars=None`` shows bars when stderr is a terminal; ``steps_per_epoch`` sizes the run's bar.
    """

    def __init__(self, *, enabled: bool, epochs: int, steps_per_epoch: int | None = None,
                 first_epoch: int = 0, main: bool = True, bars: bool | None = None):
        self.enabled, self.epochs, self.main = enabled, epochs, main
        self.steps_per_epoch, self.first_epoch = steps_per_epoch, first_epoch
        if bars is None:
            bars = bool(getattr(sys.stderr, "isatty", lambda: False)())
        self.bars = enabled and bars
        self.bar = self.run_bar = None
        self.t0 = time.perf_counter()
        if enabled or main:
            log_to_stderr()

    def steps(self, epoch: int, steps: Iterable) -> Iterable:
        """`steps` wrapped in the epoch's bar (and counted on the run's bar)."""
        if self.bars and self.run_bar is None and self.steps_per_epoch is not None:
            done = self.first_epoch * self.steps_per_epoch
            self.run_bar = tqdm(total=self.epochs * self.steps_per_epoch, initial=done,
                                desc="run", unit="step", position=0, leave=False,
                                mininterval=0.5, dynamic_ncols=True)
        self.bar = tqdm(steps, desc=f"epoch {epoch + 1}/{self.epochs}", leave=False,
                        disable=not self.bars, mininterval=0.5, position=1,
                        dynamic_ncols=True)
        if self.run_bar is None:
            return self.bar
        return self._counted(self.bar)

    def _counted(self, bar):
        for step in bar:
            yield step
            self.run_bar.update(1)

    def running(self, totals: dict, *, seen: int, rows: Callable[[str, int], int]) -> None:
        """Show each term's running mean after `seen` rows: its total over ``rows(term, seen)``,
        the rows behind it."""
        if self.bars:
            self.bar.set_postfix({k: f"{float(v) / rows(k, seen):.4g}" for k, v in totals.items()},
                                 refresh=False)

    def close(self) -> None:
        """The epoch's steps are done: take its bar off the screen."""
        if self.bar is not None:
            self.bar.close()

    def eta_s(self, epoch: int) -> float:
        """Seconds left after `epoch` (1-based) epochs, at the mean pace of this session."""
        done = epoch - self.first_epoch
        return (time.perf_counter() - self.t0) / max(done, 1) * (self.epochs - epoch)

    def epoch_line(self, row: dict) -> None:
        """Log the epoch's history row with the run's ETA (one line)."""
        if self.enabled:
            logger.info(epoch_text(row, self.epochs, self.eta_s(row["epoch"])))

    def stopped_early(self, *, epoch: int, patience: int, history: list[dict]) -> None:
        """Log what early stopping did after `epoch`: the epoch whose weights were restored."""
        if not self.main:
            return
        losses = [(r["val_loss"], r["epoch"]) for r in history
                  if isinstance(r.get("val_loss"), float) and not math.isnan(r["val_loss"])]
        best_loss, best_epoch = min(losses, key=lambda t: t[0]) if losses else (math.nan, epoch)
        logger.info(early_stop_text(epoch, self.epochs, patience, best_epoch, best_loss))

    def finish(self) -> None:
        """Training is over: take the run's bar off the screen."""
        self.close()
        if self.run_bar is not None:
            self.run_bar.close()
            self.run_bar = None
