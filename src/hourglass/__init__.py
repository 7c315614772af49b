"""Hourglass: autoencoders and deep generative models — learn, evaluate, use."""

__version__ = "0.1.0"

from .errors import ConfigError, DataError, HourglassError, RunError  # noqa: E402
from .estimators import AE, CAE, DAE, SCAE, VAE, SparseAE  # noqa: E402
from .stacked_estimators import SDAEClassifier  # noqa: E402
from .conditional_estimators import CVAE, M2  # noqa: E402
from .adversarial_estimators import AAE, GAN  # noqa: E402

__all__ = ["AE", "VAE", "DAE", "SCAE", "CAE", "SparseAE", "SDAEClassifier", "CVAE", "M2", "AAE", "GAN", "ConfigError", "DataError", "HourglassError", "RunError", "__version__"]
