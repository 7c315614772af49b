"""Test metrics: negative log-likelihood (nats and bits/dim), reconstruction error, k-NN accuracy
of the codes.

The NLL is exact for explicit density models and the importance-weighted bound
$-\\mathcal L_k$ (an upper bound on the true NLL) for VAEs; the table says which.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier

from hourglass.core.objectives import bits_per_dim
from hourglass.core.tensors import batched
from hourglass.models.protocol import has


def knn_accuracy(z_train, y_train, z_test, y_test, *, k: int = 5) -> float:
    """Accuracy of a k-nearest-neighbour classifier that uses the training codes as reference."""
    clf = KNeighborsClassifier(n_neighbors=k).fit(np.asarray(z_train), np.asarray(y_train))
    return float(clf.score(np.asarray(z_test), np.asarray(y_test)))


def pca_2d(z_train, z_test):
    """Project codes to 2-D with a PCA fitted on the training codes."""
    pca = PCA(n_components=2).fit(np.asarray(z_train))
    return pca.transform(np.asarray(z_train)), pca.transform(np.asarray(z_test))


@torch.inference_mode()
def evaluate_model(model, x_test: torch.Tensor, *, y_test=None, x_train=None, y_train=None,
                   k: int = 1000, batch_size: int | None = None, seed: int = 0,
                   knn_k: int = 5, x_test_codes: torch.Tensor | None = None) -> dict:
    """Metrics of `model` on float test inputs `x_test` (already scaled/binarized as trained).

    Returns a dict with, where the model supports them:

    - ``nll_nats``, ``bits_per_dim``: $-\\frac1N\\sum \\log p(x)$ (IWAE bound with ``k`` samples
      for VAEs, exact for explicit models) and the same in bits per dimension;
    - ``elbo_nats`` (VAEs): the $k=1$ bound, for comparison;
    - ``recon_nll``: $-\\log p(x \\mid g(h(x)))$ at the deterministic code; ``recon_mse``: mean
      squared error per dimension;
    - ``knn_accuracy`` of the codes (training codes as reference) and ``knn_accuracy_pca2d`` of
      their 2-D PCA projection when the code has more than two dimensions;
      (``x_train`` and ``x_test_codes``, default ``x_test``, are the inputs encoded: under a
      binarized likelihood, the grey images whose Bernoulli samples the model was trained on,
      since one binary sample of a small image loses much of what it shows);
    - ``accuracy`` of a model that classifies (``classify``, e.g. M2) on the test labels.

    What is computed follows the model's declared capabilities
    (:mod:`hourglass.models.protocol`). A ``conditional`` model (CVAE, M2) gets the test labels
    for the likelihoods and reconstructions, which are then of $p(x|y)$ (``given_labels``); the
    codes for the k-NN are computed without labels.
    """
    model.eval()
    device = next(model.parameters()).device
    dim = math.prod(x_test.shape[1:])
    gen = torch.Generator(device=device).manual_seed(seed)
    metrics: dict = {"n_test": int(x_test.shape[0])}
    given = y_test if has(model, "conditional") else None  # labels for p(x|y)
    if given is not None:
        metrics["given_labels"] = True
    if has(model, "log_prob") or has(model, "log_prob_bound"):
        bs = batch_size or max(1, min(500, 2 ** 22 // max(1, dim * min(k, 64))))
        log_p = batched(lambda xb, *yb: model.log_prob(xb, *yb, k=k, generator=gen), x_test,
                        batch_size=bs, device=device, y=given,
                        progress=f"test log-likelihood (k={k})")
        metrics["nll_nats"] = float(-log_p.mean())
        metrics["bits_per_dim"] = float(bits_per_dim(metrics["nll_nats"], dim))
        if has(model, "log_prob"):
            metrics["nll_exact"] = True  # an explicit density model: k is not used
        else:
            metrics["nll_k"] = k
        if has(model, "elbo"):
            elbo = batched(lambda xb, *yb: model.elbo(xb, *yb, generator=gen), x_test,
                           device=device, y=given)
            metrics["elbo_nats"] = float(elbo.mean())
    if has(model, "encode"):
        bs = batch_size or 500
        metrics["recon_nll"] = float(-batched(model.reconstruction_log_likelihood, x_test,
                                              batch_size=bs, device=device, y=given).mean())
        x_hat = batched(model.reconstruct, x_test, batch_size=bs, device=device, y=given)
        x_f = x_test.float() / 255 if x_test.dtype == torch.uint8 else x_test.float()
        metrics["recon_mse"] = float(((x_hat - x_f) ** 2).mean())
        if y_test is not None and x_train is not None and y_train is not None:
            z_tr = batched(model.encode, x_train, batch_size=bs, device=device).numpy()
            x_codes = x_test if x_test_codes is None else x_test_codes
            z_te = batched(model.encode, x_codes, batch_size=bs, device=device).numpy()
            metrics["knn_k"] = knn_k
            metrics["knn_accuracy"] = knn_accuracy(z_tr, y_train, z_te, y_test, k=knn_k)
            if z_tr.shape[1] > 2:
                p_tr, p_te = pca_2d(z_tr, z_te)
                metrics["knn_accuracy_pca2d"] = knn_accuracy(p_tr, y_train, p_te, y_test, k=knn_k)
    if has(model, "classify") and y_test is not None:
        q_y = batched(model.classify, x_test, batch_size=batch_size or 500, device=device)
        metrics["accuracy"] = float((q_y.argmax(1) == torch.as_tensor(y_test)).float().mean())
    return metrics
