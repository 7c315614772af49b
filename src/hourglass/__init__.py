"""Hourglass: autoencoders and deep generative models — learn, evaluate, use."""

__version__ = "0.1.0"

from .errors import ConfigError, DataError, HourglassError, RunError  # noqa: E402
from .estimators import AE, VAE  # noqa: E402

__all__ = ["AE", "VAE", "ConfigError", "DataError", "HourglassError", "RunError", "__version__"]
