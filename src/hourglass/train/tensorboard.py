"""TensorBoard event files for a run: ``hourglass train --tensorboard``.

Everything goes into ``RUN/tensorboard/`` (view it with ``tensorboard --logdir RUN/tensorboard``,
or ``--logdir runs`` to compare runs):

- every row of ``history.csv`` as scalars, step = epoch: ``train_loss`` -> ``train/loss``,
  ``val_kl`` -> ``val/kl``, ``time_s`` -> ``time/epoch_s``;
- after evaluation, the test metrics as scalars (``test/nll_nats``, ...) and every
  ``RUN/figures/*.png`` as an image (``figures/samples``, ...), at the step of the last epoch.

The writer only reads what the loop logs (through `train`'s ``on_epoch_end`` hook), so it cannot
change a result. TensorBoard's event files are append-only streams written by its own thread; unlike
the rest of a run directory they are not replaced atomically, and a resumed run adds a new file
beside the old ones (TensorBoard reads them as one run).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.image
import numpy as np

from hourglass.core.errors import ConfigError

INSTALL = 'pip install "hourglass-ae[tensorboard]"'


def summary_writer_class():
    """torch's ``SummaryWriter``, or a ConfigError that names the extra to install."""
    try:
        import tensorboard  # noqa: F401  (imported first: torch.utils.tensorboard needs it)
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(f"--tensorboard needs the tensorboard package: {INSTALL}") from None
    return SummaryWriter


def scalar_tag(column: str) -> str:
    """A history.csv column as a TensorBoard tag: ``train_loss`` -> ``train/loss``."""
    for split in ("train", "val"):
        if column.startswith(split + "_"):
            return f"{split}/{column[len(split) + 1:]}"
    return {"time_s": "time/epoch_s"}.get(column, column)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def png_pixels(path: str | Path) -> np.ndarray:
    """A PNG as a (H, W, C) uint8 array. matplotlib reads PNGs as floats k/255; rounding (rather
    than TensorBoard's truncation of x * 255) gives back the integers k exactly."""
    img = matplotlib.image.imread(str(path))
    if img.dtype != np.uint8:
        img = np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8)
    return img[:, :, None] if img.ndim == 2 else img  # grey: (H, W) -> (H, W, 1)


class TensorBoardWriter:
    """Scalars and figures of one run, written into ``run_dir/tensorboard``."""

    def __init__(self, run_dir: str | Path):
        summary_writer = summary_writer_class()
        self.log_dir = Path(run_dir) / "tensorboard"
        self._writer = summary_writer(log_dir=str(self.log_dir))

    def log_epoch(self, row: dict, model=None) -> None:
        """The ``on_epoch_end(row, model)`` hook of `train`: one scalar per column of the row."""
        step = int(row["epoch"])
        for column, value in row.items():
            if column != "epoch" and _is_number(value):
                self._writer.add_scalar(scalar_tag(column), value, step)
        self._writer.flush()  # a long run can be watched while it trains

    def log_evaluation(self, metrics: dict, figures_dir: str | Path, *, step: int) -> list[str]:
        """The test metrics as ``test/<name>`` and each figure PNG as ``figures/<stem>``; return
        the image tags written."""
        for name, value in metrics.items():
            if _is_number(value) and math.isfinite(value):
                self._writer.add_scalar(f"test/{name}", value, step)
        tags = []
        for path in sorted(Path(figures_dir).glob("*.png")):
            tag = f"figures/{path.stem}"
            self._writer.add_image(tag, png_pixels(path), step, dataformats="HWC")
            tags.append(tag)
        self._writer.flush()
        return tags

    def close(self) -> None:
        self._writer.close()
