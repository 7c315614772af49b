"""A denoising autoencoder (Vincent et al. 2008) cleans digits it has never seen.

    python examples/denoising_digits.py

Half the pixels of each test digit are set to 0 (masking noise). Prints the mean squared error
per pixel between the clean digits and the corrupted ones, then between the clean digits and the
DAE's reconstructions of the corrupted ones (lower is better), and their ratio.
"""

import numpy as np
import torch

from hourglass import DAE
from hourglass.data import load

torch.set_num_threads(1)
ds = load("digits")
x_train, x_test = ds.train.x.numpy(), ds.test.x.numpy()
dae = DAE(latent_dim=32, hidden=(128,), corruption="masking", corruption_level=0.5,
          epochs=60, random_state=0).fit(x_train)

mask = np.random.default_rng(0).random(x_test.shape) >= 0.5          # keep half the pixels
noisy = x_test * mask
cleaned = dae.inverse_transform(dae.transform(noisy))
mse_noisy = float(((noisy - x_test) ** 2).mean())
mse_cleaned = float(((cleaned - x_test) ** 2).mean())
print(f"mse_noisy {mse_noisy:.4f}")
print(f"mse_denoised {mse_cleaned:.4f}")
print(f"improvement {mse_noisy / mse_cleaned:.2f}")
