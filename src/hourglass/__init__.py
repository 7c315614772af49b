"""Hourglass: autoencoders and deep generative models — learn, evaluate, use.

The estimators (``hourglass.VAE``, ``hourglass.AE``, ...) and the uses built on them
(``hourglass.OutlierDetector``, ``hourglass.DebiasSampler``) are imported when first used, so that
``import hourglass`` and the command line start without loading scikit-learn.
"""

import importlib

from hourglass.core.errors import ConfigError, DataError, HourglassError, RunError
from hourglass.core.version import __version__

_ESTIMATORS = ("AE", "VAE", "DAE", "SCAE", "CAE", "SparseAE", "SDAEClassifier", "CVAE", "M2",
               "AAE", "GAN")
_USES = {"OutlierDetector": "hourglass.uses.detect", "DebiasSampler": "hourglass.uses.debias"}

__all__ = [*_ESTIMATORS, *_USES, "ConfigError", "DataError", "HourglassError", "RunError",
           "__version__"]


def __getattr__(name: str):
    if name in _ESTIMATORS:
        return getattr(importlib.import_module("hourglass.estimators"), name)
    if name in _USES:
        return getattr(importlib.import_module(_USES[name]), name)
    raise AttributeError(f"module 'hourglass' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
