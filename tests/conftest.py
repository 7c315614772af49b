"""Test-wide settings.

The models in the tests are tiny: one thread is faster for them than two, and it keeps the suite
from slowing down many-fold when another process is busy on the other core. The same holds for
scikit-learn's BLAS/OpenMP pools (t-SNE, k-NN), limited through threadpoolctl (a dependency of
scikit-learn).
"""

import torch
from threadpoolctl import threadpool_limits

torch.set_num_threads(1)
threadpool_limits(1)
