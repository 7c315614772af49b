"""Hourglass: autoencoders and deep generative models — learn, evaluate, use."""

__version__ = "0.1.0"

from hourglass.core.errors import ConfigError, DataError, HourglassError, RunError  # noqa: E402
from hourglass.estimators import (AAE, AE, CAE, CVAE, DAE, GAN, M2, SCAE, VAE,  # noqa: E402
                                  SDAEClassifier, SparseAE)

__all__ = ["AE", "VAE", "DAE", "SCAE", "CAE", "SparseAE", "SDAEClassifier", "CVAE", "M2", "AAE",
           "GAN", "ConfigError", "DataError", "HourglassError", "RunError", "__version__"]
