"""Dimensionality reduction to 2-D: PCA against an autoencoder and a VAE.

    python examples/reduce_dimensions.py

Each method maps the 64-pixel digits to 2 numbers. Prints, per method, the accuracy of a
5-nearest-neighbour classifier fitted on the training codes and scored on the test codes (how
well the 2-D map keeps the classes apart; higher is better) and the trustworthiness of the map
(Venna & Kaski 2001: 1 when every 10-neighbourhood of the map is one of the data).
"""

import torch
from sklearn.decomposition import PCA
from sklearn.manifold import trustworthiness
from sklearn.neighbors import KNeighborsClassifier

from hourglass import AE, VAE
from hourglass.data import load

torch.set_num_threads(1)
ds = load("digits")
X, y = ds.train.x.numpy().reshape(len(ds.train.x), -1), ds.train.y.numpy()
X_test, y_test = ds.test.x.numpy().reshape(len(ds.test.x), -1), ds.test.y.numpy()

methods = {
    "pca": PCA(n_components=2, random_state=0),
    "ae": AE(latent_dim=2, hidden=(128, 64), epochs=60, random_state=0),
    "vae": VAE(latent_dim=2, hidden=(128, 64), epochs=60, random_state=0),
}
for name, method in methods.items():
    z, z_test = method.fit(X).transform(X), method.transform(X_test)
    knn = KNeighborsClassifier(5).fit(z, y).score(z_test, y_test)
    trust = trustworthiness(X_test, z_test, n_neighbors=10)
    print(f"{name} knn_accuracy {knn:.3f} trustworthiness {trust:.3f}")
