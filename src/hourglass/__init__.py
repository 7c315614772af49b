"""Hourglass: autoencoders and deep generative models — learn, evaluate, use.

The estimators (``hourglass.VAE``, ``hourglass.AE``, ...) are imported when first used, so that
``import hourglass`` and the command line start without loading scikit-learn.
"""

import importlib

from hourglass.core.errors import ConfigError, DataError, HourglassError, RunError
from hourglass.core.version import __version__

_ESTIMATORS = ("AE", "VAE", "DAE", "SCAE", "CAE", "SparseAE", "SDAEClassifier", "CVAE", "M2",
               "AAE", "GAN")

__all__ = [*_ESTIMATORS, "ConfigError", "DataError", "HourglassError", "RunError", "__version__"]


def __getattr__(name: str):
    if name in _ESTIMATORS:
        return getattr(importlib.import_module("hourglass.estimators"), name)
    raise AttributeError(f"module 'hourglass' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
