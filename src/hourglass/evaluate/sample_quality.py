r"""Sample quality without downloading anything: Fréchet distance, precision and recall in the
feature space of a classifier that Hourglass trains on the dataset itself.

The FID (Heusel et al. 2017) needs Inception weights that clusters and offline machines often
cannot fetch, and Inception features of 28x28 grey images say little anyway. Here the features are
the penultimate layer of a small convnet trained once per dataset on its training split, cached in
the data cache (``<cache>/features/``) beside a JSON with its test accuracy. Numbers are comparable
between models scored with the same feature network (same dataset, same seed), not with published
FIDs.

- **Fréchet distance** between Gaussians fitted to real and generated features,
  $d^2 = \lVert\mu_r - \mu_g\rVert^2 + \mathrm{tr}\big(\Sigma_r + \Sigma_g - 2(\Sigma_r\Sigma_g)^{1/2}\big)$;
- **precision / recall** (Kynkäänniemi et al. 2019): the share of generated samples inside the
  real data's k-NN manifold estimate (a union of balls reaching each real point's k-th neighbour),
  and the share of real samples inside the generated one.
"""

from __future__ import annotations

import hashlib
import json
import math
import time

import numpy as np
import torch
from safetensors.torch import load_file
from sklearn.neighbors import NearestNeighbors
from torch import nn

from hourglass.core.io import atomic_save_safetensors, atomic_write_json
from hourglass.core.errors import DataError
from hourglass.data.sources import cache_root
from hourglass.train import TrainConfig, train


def frechet_distance_gaussians(mu1, cov1, mu2, cov2) -> float:
    r"""$\lVert\mu_1-\mu_2\rVert^2 + \mathrm{tr}(\Sigma_1 + \Sigma_2 - 2(\Sigma_1\Sigma_2)^{1/2})$.

    $\mathrm{tr}(\Sigma_1\Sigma_2)^{1/2} = \mathrm{tr}(\Sigma_1^{1/2}\Sigma_2\Sigma_1^{1/2})^{1/2}$,
    the trace of the square root of a symmetric PSD matrix: the sum of the square roots of its
    eigenvalues. No complex square roots, no scipy.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.atleast_2d(np.asarray(cov1, np.float64)), np.atleast_2d(np.asarray(cov2, np.float64))
    w, v = np.linalg.eigh(cov1)
    s1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T                      # Sigma_1^{1/2}
    m = s1 @ cov2 @ s1
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2 * tr_sqrt)


def frechet_distance(feat_real, feat_fake) -> float:
    """Fréchet distance between Gaussians fitted to two sets of features (n, d)."""
    a, b = np.asarray(feat_real, np.float64), np.asarray(feat_fake, np.float64)
    return frechet_distance_gaussians(a.mean(0), np.cov(a, rowvar=False),
                                      b.mean(0), np.cov(b, rowvar=False))


def _knn_radii(feats, k):
    """Distance of each point to its k-th nearest other point."""
    nn_ = NearestNeighbors(n_neighbors=k + 1).fit(feats)
    return nn_.kneighbors(feats)[0][:, -1]


def _coverage(ref, radii, query, block: int = 2048) -> float:
    """Share of `query` points inside at least one ball (ref_i, radii_i); distances in blocks of
    `block` query rows, so memory stays at block x len(ref)."""
    ref, radii = torch.as_tensor(ref), torch.as_tensor(radii, dtype=torch.float32)
    query = torch.as_tensor(query)
    inside = [(torch.cdist(query[i:i + block], ref) <= radii).any(1)
              for i in range(0, len(query), block)]
    return float(torch.cat(inside).float().mean())


def precision_recall(feat_real, feat_fake, *, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall of generated features against real ones (k-NN manifolds)."""
    real, fake = np.asarray(feat_real, np.float32), np.asarray(feat_fake, np.float32)
    precision = _coverage(real, _knn_radii(real, k), fake)
    recall = _coverage(fake, _knn_radii(fake, k), real)
    return precision, recall


class FeatureNet(nn.Module):
    """A small classifier whose penultimate layer gives the features: two strided convolutions
    and a 128-unit layer for images, an MLP for vectors."""

    def __init__(self, input_shape, n_classes: int, width: int = 128):
        super().__init__()
        if len(input_shape) == 3:
            c, h, w = input_shape
            self.body = nn.Sequential(
                nn.Conv2d(c, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                nn.Flatten(), nn.Linear(64 * (h // 4) * (w // 4), width), nn.ReLU())
        else:
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), 256),
                                      nn.ReLU(), nn.Linear(256, width), nn.ReLU())
        self.head = nn.Linear(width, n_classes)

    def features(self, x):
        return self.body(x)

    def forward(self, x, y=None):
        logits = self.head(self.body(x))
        loss = nn.functional.cross_entropy(logits, y)
        return {"loss": loss, "error": (logits.argmax(1) != y).float().mean()}


def feature_net(ds, *, epochs: int = 3, max_train: int = 20_000, seed: int = 0, cache_dir=None,
                progress: bool = False):
    """The dataset's feature network: loaded from the cache, or trained once and cached, on the
    first `max_train` training images for `epochs` epochs (a few minutes on a CPU).

    Returns ``(net, info)`` with ``info["test_accuracy"]`` recorded at training time.
    """
    if ds.train.y is None:
        raise DataError(f"Sample-quality features need a labelled dataset; {ds.name!r} has no "
                        "labels.")
    n_train = min(len(ds.train), max_train)
    key = json.dumps({"name": ds.name, "shape": list(ds.shape), "n": n_train,
                      "classes": ds.n_classes, "epochs": epochs, "seed": seed, "v": 1})
    tag = hashlib.sha256(key.encode()).hexdigest()[:12]
    folder = cache_root(cache_dir) / "features"
    weights, meta = folder / f"{tag}.safetensors", folder / f"{tag}.json"
    torch.manual_seed(seed)
    net = FeatureNet(ds.shape, ds.n_classes)
    if weights.exists() and meta.exists():
        net.load_state_dict(load_file(str(weights)))
        return net.eval(), json.loads(meta.read_text())
    t0 = time.perf_counter()
    train(net, ds.train.x[:n_train], y=ds.train.y[:n_train],
          config=TrainConfig(epochs=epochs, batch_size=128, seed=seed, progress=progress))
    net.eval()
    with torch.no_grad():
        x = ds.to_float(ds.test.x)
        pred = torch.cat([net.head(net.features(x[i:i + 1000])).argmax(1)
                          for i in range(0, len(x), 1000)])
    info = {"dataset": ds.name, "key": json.loads(key), "train_time_s": time.perf_counter() - t0,
            "test_accuracy": float((pred == ds.test.y).float().mean())}
    atomic_save_safetensors(weights, net.state_dict())
    atomic_write_json(meta, info)
    return net, info


@torch.no_grad()
def features_of(net, x: torch.Tensor, batch_size: int = 1000) -> np.ndarray:
    """Features of float inputs in [0, 1] (uint8 is scaled by 1/255)."""
    x = x.float() / 255 if x.dtype == torch.uint8 else x.float()
    return torch.cat([net.features(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]).numpy()


def sample_quality(samples: torch.Tensor, ds, *, net=None, n_real: int = 10_000, k: int = 3,
                   seed: int = 0) -> dict:
    """Fréchet distance, precision and recall of `samples` against the dataset's test images."""
    if net is None:
        net, info = feature_net(ds, seed=seed)
    else:
        info = {}
    real = ds.test.x[:n_real]
    f_real, f_fake = features_of(net, real), features_of(net, samples.reshape(-1, *ds.shape))
    precision, recall = precision_recall(f_real, f_fake, k=k)
    return {"frechet_distance": frechet_distance(f_real, f_fake), "precision": precision,
            "recall": recall, "n_real": len(f_real), "n_fake": len(f_fake), "pr_k": k,
            "feature_net_test_accuracy": info.get("test_accuracy")}


def mmd_rbf(a, b, *, bandwidths=(0.5, 1.0, 2.0, 4.0)) -> float:
    r"""Squared maximum mean discrepancy between samples `a` (n, d) and `b` (m, d), unbiased,
    with a sum of RBF kernels $k(u, v) = \sum_s \exp(-\lVert u - v\rVert^2 / 2s^2)$:

    $\mathrm{MMD}^2 = \frac{1}{n(n-1)}\sum_{i \ne j} k(a_i, a_j)
    + \frac{1}{m(m-1)}\sum_{i \ne j} k(b_i, b_j) - \frac{2}{nm}\sum_{i,j} k(a_i, b_j)$

    0 in expectation when both come from the same distribution (Gretton et al. 2012).
    """
    a = torch.as_tensor(np.asarray(a), dtype=torch.float64)
    b = torch.as_tensor(np.asarray(b), dtype=torch.float64)

    def k(u, v):
        d2 = torch.cdist(u, v) ** 2
        return sum(torch.exp(-d2 / (2 * s * s)) for s in bandwidths)

    n, m = len(a), len(b)
    kaa, kbb, kab = k(a, a), k(b, b), k(a, b)
    return float((kaa.sum() - kaa.diagonal().sum()) / (n * (n - 1))
                 + (kbb.sum() - kbb.diagonal().sum()) / (m * (m - 1)) - 2 * kab.mean())
