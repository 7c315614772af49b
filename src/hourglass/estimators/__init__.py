"""scikit-learn estimators over the registered models, one module per family:
:mod:`~hourglass.estimators.autoencoders` (AE, VAE and the regularized AEs),
:mod:`~hourglass.estimators.conditional` (CVAE, M2), :mod:`~hourglass.estimators.adversarial`
(AAE, GAN), :mod:`~hourglass.estimators.stacked` (SDAEClassifier) and
:mod:`~hourglass.estimators.generic` (any registered model by name)."""

from hourglass.estimators.adversarial import AAE, GAN
from hourglass.estimators.autoencoders import AE, CAE, DAE, SCAE, VAE, SparseAE
from hourglass.estimators.conditional import CVAE, M2
from hourglass.estimators.generic import ModelEstimator, estimator_for
from hourglass.estimators.stacked import SDAEClassifier

__all__ = ["AAE", "AE", "CAE", "CVAE", "DAE", "GAN", "M2", "ModelEstimator", "SCAE",
           "SDAEClassifier", "SparseAE", "VAE", "estimator_for"]
