"""Datasets for Hourglass: one `load(name)` for embedded, packaged, downloaded and user data.

>>> from hourglass.data import load
>>> ds = load("digits")
>>> ds.shape, ds.n_classes, ds.value_range
((1, 8, 8), 10, (0.0, 1.0))

Downloads go through `hourglass.data.download.download` (verified, atomic); `fetch(name)` fetches
a whole published dataset into the cache.
"""

from hourglass.data.dataset import BINARIZE_MODES, Dataset, Split, binarize
from hourglass.data.idx import read_idx, write_idx
from hourglass.data.sources import fetch, list_datasets, load, register_dataset
from hourglass.data.sprites import Sprites, load_sprites  # registers sprites, sprites-28

__all__ = ["load", "list_datasets", "register_dataset", "fetch", "Dataset", "Split", "binarize",
           "BINARIZE_MODES", "read_idx", "write_idx", "Sprites", "load_sprites"]
