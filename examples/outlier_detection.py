"""Outlier detection with an autoencoder's reconstruction score.

    python examples/outlier_detection.py

An OutlierDetector is fitted on the digits 0-4 only; the test digits 5-9 play the outliers.
Prints the AUROC of telling the held-out 0-4 digits (normal) from the 5-9 digits by the
reconstruction log-likelihood (0.5 is chance, 1 is perfect; higher is better), and the share of
outliers that predict() flags.
"""

import numpy as np
import torch

from hourglass import OutlierDetector
from hourglass.data import load
from hourglass.uses.detect import auroc

torch.set_num_threads(1)
ds = load("digits")
x_train, y_train = ds.train.x.numpy(), ds.train.y.numpy()
x_test, y_test = ds.test.x.numpy(), ds.test.y.numpy()
det = OutlierDetector("ae", score_type="recon", contamination=0.05, random_state=0,
                      model_params=dict(latent_dim=4, hidden=(64,), epochs=60))
det.fit(x_train[y_train < 5])

normal, outliers = x_test[y_test < 5], x_test[y_test >= 5]
print(f"auroc {auroc(det.score_samples(normal), det.score_samples(outliers)):.3f}")
print(f"flagged_outliers {np.mean(det.predict(outliers) == -1):.3f}")
