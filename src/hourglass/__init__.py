"""Hourglass: autoencoders and deep generative models — learn, evaluate, use."""

from hourglass.core.errors import ConfigError, DataError, HourglassError, RunError
from hourglass.core.version import __version__
from hourglass.estimators import (AAE, AE, CAE, CVAE, DAE, GAN, M2, SCAE, VAE,
                                  SDAEClassifier, SparseAE)

__all__ = ["AE", "VAE", "DAE", "SCAE", "CAE", "SparseAE", "SDAEClassifier", "CVAE", "M2", "AAE",
           "GAN", "ConfigError", "DataError", "HourglassError", "RunError", "__version__"]
