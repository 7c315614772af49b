"""Fit a VAE to the digits, draw from it, and print its test log-likelihood bound.

    python examples/vae_digits.py

Prints ``test_nll_nats <value>``: minus the importance-weighted bound L_k(x) (Burda et al. 2016)
averaged over the held-out digits, an upper bound on their negative log-likelihood in nats
(lower is better), and writes samples.png (64 draws from the prior).
"""

import torch

from hourglass import VAE
from hourglass.data import load
from hourglass.viz import image_grid

torch.set_num_threads(1)
ds = load("digits")                                  # 8x8 grey images in [0, 1], embedded
vae = VAE(latent_dim=8, hidden=(128,), epochs=40, n_importance=100, random_state=0)
vae.fit(ds.train.x)
samples = vae.sample(64, random_state=0)             # mean of p(x|z) for z ~ N(0, I)
image_grid(samples, "samples.png", shape=(1, 8, 8))
print(f"test_nll_nats {-vae.score(ds.test.x):.2f}")
