"""SIGINT/SIGTERM during training: finish the current step, checkpoint, stop with a message.

While a run with a run directory trains, the two signals only set a flag; the loop looks at it
after each step (one attribute read), writes a checkpoint and raises :class:`Interrupted`, which
the CLI prints as one line and exits with status 130. A second signal of the same kind while the
checkpoint is written is ignored; the handlers in place before are restored afterwards.
"""

from __future__ import annotations

import signal
import threading

from hourglass.core.errors import RunError

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(RunError):
    """Training stopped by SIGINT/SIGTERM after writing a checkpoint (``--resume`` continues)."""


class StopSignals:
    """Context manager: while active, SIGINT/SIGTERM set ``received`` (the signal's name)."""

    def __init__(self, *, enabled: bool = True):
        # handlers can only be installed from the main thread
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.received: str | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame):
        self.received = signal.Signals(signum).name

    def __enter__(self):
        if self.enabled:
            self._previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
        return self

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        return False

    def message(self, run_dir, epoch: int, step: int, received: str | None = None) -> str:
        """`received`: the signal the ranks of a distributed run agreed on (default: this one's)."""
        return (f"{received or self.received} received: stopped after step {step} of epoch {epoch} and saved a "
                f"checkpoint in {run_dir}. Continue with the same command and --resume.")
