"""Semi-supervised classification with M2 (Kingma et al. 2014): 50 labels, the rest unlabelled.

    python examples/semi_supervised_m2.py

Five labelled digits per class (seeded); every other training label is hidden (y = -1, the
scikit-learn convention). Prints the test accuracy of M2's classifier q(y|x) and, for
comparison, that of logistic regression on the 50 labelled digits alone (higher is better).
"""

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from hourglass import M2
from hourglass.data import load

torch.set_num_threads(1)
ds = load("digits")
X, y = ds.train.x.numpy().reshape(len(ds.train.x), -1), ds.train.y.numpy()
X_test, y_test = ds.test.x.numpy().reshape(len(ds.test.x), -1), ds.test.y.numpy()

rng = np.random.default_rng(0)
labelled = np.concatenate([rng.choice(np.flatnonzero(y == c), 5, replace=False) for c in range(10)])
y_semi = np.full_like(y, -1)
y_semi[labelled] = y[labelled]

m2 = M2(latent_dim=8, hidden=(128,), epochs=40, random_state=0).fit(X, y_semi)
baseline = LogisticRegression(max_iter=2000).fit(X[labelled], y[labelled])
print(f"m2_accuracy {m2.score(X_test, y_test):.3f}")
print(f"labelled_only_accuracy {baseline.score(X_test, y_test):.3f}")
