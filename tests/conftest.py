"""Test-wide settings.

The models in the tests are tiny: one thread is faster for them than two, and it keeps the suite
from slowing down many-fold when another process is busy on the other core.
"""

import torch

torch.set_num_threads(1)
