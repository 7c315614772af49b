"""Test-wide settings.

The models in the tests are tiny: one thread is faster for them than two, and it keeps the suite
from slowing down many-fold when another process is busy on the other core. The same holds for
scikit-learn's BLAS/OpenMP pools (t-SNE, k-NN), limited through threadpoolctl (a dependency of
scikit-learn).

SCIPY_ARRAY_API=1 (read when scipy is first imported, so set before anything imports it) lets
scikit-learn's estimator checks run their array-API check on our estimators instead of skipping it.
"""

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")

import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

torch.set_num_threads(1)
threadpool_limits(1)


import pytest  # noqa: E402


@pytest.fixture
def native_kernels(monkeypatch):
    """The C kernels built (and used) whatever ``HOURGLASS_NATIVE`` says outside the test."""
    from hourglass.core import native
    monkeypatch.delenv("HOURGLASS_NATIVE", raising=False)
    native.load.cache_clear()
    yield
    native.load.cache_clear()
