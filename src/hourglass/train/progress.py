"""What a run shows while it trains: a tqdm bar per epoch with the running means of the loss terms,
and one line per epoch with its history row. Only rank 0 shows anything."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tqdm.auto import tqdm


class Progress:
    """The progress display of one run; with ``enabled=False`` every method does nothing visible."""

    def __init__(self, *, enabled: bool, epochs: int):
        self.enabled, self.epochs = enabled, epochs
        self.bar = None

    def steps(self, epoch: int, steps: Iterable) -> Iterable:
        """`steps` wrapped in the epoch's bar."""
        self.bar = tqdm(steps, desc=f"epoch {epoch + 1}/{self.epochs}", leave=False,
                        disable=not self.enabled, mininterval=0.5)
        return self.bar

    def running(self, totals: dict, *, seen: int, rows: Callable[[str, int], int]) -> None:
        """Show each term's running mean after `seen` rows: its total over ``rows(term, seen)``,
        the rows behind it."""
        if self.enabled:
            self.bar.set_postfix({k: f"{float(v) / rows(k, seen):.4g}" for k, v in totals.items()},
                                 refresh=False)

    def close(self) -> None:
        """The epoch's steps are done: take its bar off the screen."""
        self.bar.close()

    def epoch_line(self, row: dict) -> None:
        """Print the epoch's history row: ``epoch 3  train_loss 97.1  ...  time_s 1.2``."""
        if self.enabled:
            tqdm.write("  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                 for k, v in row.items()))
