r"""Pictures of a latent space drawn by the decoder: the decoded grid over a 2-D prior (the
"manifold"), traversals, interpolations, class-conditional grids and analogies.

Latent perturbation (Higgins et al. 2017): change one latent unit at a time, keep the others, and
look at what the decoder draws; with a disentangled code each row changes one thing. The pure
helpers (:func:`latent_plane`, :func:`traversal_codes`, :func:`interpolate`) hold the arithmetic and
are tested directly; the figure functions take a ``decode`` callable and tile its images with
:func:`hourglass.viz.images.labelled_grid`.

Spherical interpolation (slerp, Shoemake 1985; White 2016 for generative models) follows the great
circle between two codes, $\mathrm{slerp}(a, b; t) = \frac{\sin((1-t)\omega)}{\sin\omega} a
+ \frac{\sin(t\omega)}{\sin\omega} b$ with $\cos\omega = \frac{a \cdot b}{|a||b|}$: under a
Gaussian prior the points in between keep a typical norm, where the straight line passes through
the improbable region near the origin.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from statistics import NormalDist

import numpy as np
import torch

from hourglass.core.errors import ConfigError, DataError
from hourglass.core.objectives import kl_normal_std_normal_per_dim
from hourglass.models.protocol import has
from hourglass.viz.canvas import _as_images, _check_positive_int, _check_shape, _to_numpy
from hourglass.viz.images import labelled_grid

__all__ = ["latent_plane", "latent_grid", "traversal_codes", "interpolate", "latent_traversal",
           "interpolation_grid", "class_grid", "analogy_grid", "latent_figures"]


def latent_plane(n: int = 15, prior: str = "gaussian") -> np.ndarray:
    """The n x n grid of 2-D latent points behind the "manifold" picture.

    Each axis runs over the standard normal's quantiles at ``linspace(0.05, 0.95, n)``:
    $z = \\Phi^{-1}(p)$, so equal steps in the picture are equal steps in prior probability.
    Point ``i * n + j`` is row ``i`` (top to bottom, z[1] decreasing, as on a plot) and column
    ``j`` (left to right, z[0] increasing).

    Parameters
    ----------
    n : int, default=15
        Points per axis.
    prior : {"gaussian"}, default="gaussian"
        The latent prior whose quantiles are used.

    Returns
    -------
    ndarray of shape (n * n, 2), float32

    Examples
    --------
    >>> latent_plane(3)[4]  # the middle point
    array([0., 0.], dtype=float32)
    """
    n = _check_positive_int(n, name="n", func="latent_plane")
    if prior != "gaussian":
        raise ConfigError(
            f"The 'prior' parameter of latent_plane must be 'gaussian' (the standard normal "
            f"prior of a VAE). Got {prior!r} instead."
        )
    p = np.linspace(0.05, 0.95, n) if n > 1 else np.array([0.5])
    q = np.array([NormalDist().inv_cdf(pk) for pk in p])  # Phi^{-1}(p)
    q = (q - q[::-1]) / 2  # exact symmetry q[k] = -q[n-1-k]: cancels linspace's rounding
    z0, z1 = np.meshgrid(q, q[::-1])  # (n, n) each; rows run from high z[1] to low
    return np.column_stack([z0.ravel(), z1.ravel()]).astype(np.float32)


def latent_grid(decode: Callable[[np.ndarray], np.ndarray], path, *, shape, n: int = 15,
                prior: str = "gaussian") -> Path:
    """Save the decoder's "manifold": images decoded from an n x n grid over a 2-D latent prior.

    Parameters
    ----------
    decode : callable
        Maps a float32 array of shape (M, 2) to images of shape (M, C, H, W) or (M, C*H*W) with
        values in [0, 1] (numpy array or torch tensor).
    path : str or PathLike
        Where to write the PNG.
    shape : tuple of int
        ``(C, H, W)`` of one image.
    n : int, default=15
        Images per axis.
    prior : {"gaussian"}, default="gaussian"
        Grid over the standard normal's quantiles (see `latent_plane`).

    Returns
    -------
    Path
        The PNG written.
    """
    func = "latent_grid"
    shape = _check_shape(shape, func=func)
    z = latent_plane(n, prior)  # (n*n, 2)
    images = _decoded(decode, z, shape, func=func)
    # ticks at the centres of the first, middle and last images, labelled with their latent value
    q = z[:n, 0]  # z[0] along the top row
    idx = sorted({0, n // 2, n - 1})
    return labelled_grid(images, n, path, shape=shape,
                         title="decoded latent grid (normal quantiles 5%..95%)",
                         col_labels={j: f"{q[j]:.2f}" for j in idx},
                         row_labels={i: f"{q[n - 1 - i]:.2f}" for i in idx},
                         xlabel="z[0]", ylabel="z[1]", fontsize=None, tick_length=None)


def traversal_codes(z0, dims: Sequence[int], values: Sequence[float]) -> np.ndarray:
    """Codes for a traversal: row ``i`` sets unit ``dims[i]`` to each of `values` in turn and keeps
    the other units at `z0`. Returns float32 (len(dims) * len(values), d), row-major.

    >>> traversal_codes([0.5, 0.5], [1], [-1, 1])
    array([[ 0.5, -1. ],
           [ 0.5,  1. ]], dtype=float32)
    """
    z0 = np.asarray(_to_numpy(z0, name="z0", func="traversal_codes"), dtype=np.float32).ravel()
    dims, values = list(dims), np.asarray(values, dtype=np.float32)
    if not dims or any(not 0 <= int(j) < len(z0) for j in dims):
        raise ConfigError(f"dims must name units in 0..{len(z0) - 1}; got {dims}.")
    z = np.tile(z0, (len(dims), len(values), 1))                        # (n_dims, n_values, d)
    for i, j in enumerate(dims):
        z[i, :, int(j)] = values
    return z.reshape(-1, len(z0))


def interpolate(z_a, z_b, n: int = 10, method: str = "linear") -> np.ndarray:
    """`n` codes from `z_a` to `z_b` (both ends included), float32 (n, d).

    ``"linear"``: $(1-t) a + t b$; ``"slerp"``: along the great circle, with the norm interpolated
    linearly too when the two norms differ (it reduces to linear for (anti)parallel codes).
    """
    a = np.asarray(_to_numpy(z_a, name="z_a", func="interpolate"), dtype=np.float64).ravel()
    b = np.asarray(_to_numpy(z_b, name="z_b", func="interpolate"), dtype=np.float64).ravel()
    n = _check_positive_int(n, name="n", func="interpolate")
    if a.shape != b.shape:
        raise DataError(f"z_a and z_b must have the same size; got {a.shape} and {b.shape}.")
    t = np.linspace(0.0, 1.0, n)[:, None] if n > 1 else np.zeros((1, 1))
    if method == "linear":
        return ((1 - t) * a + t * b).astype(np.float32)
    if method != "slerp":
        raise ConfigError(f"The 'method' parameter of interpolate must be 'linear' or 'slerp'. "
                          f"Got {method!r} instead.")
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return ((1 - t) * a + t * b).astype(np.float32)
    omega = np.arccos(np.clip(a @ b / (na * nb), -1.0, 1.0))
    if np.sin(omega) < 1e-6:
        return ((1 - t) * a + t * b).astype(np.float32)
    # directions on the unit sphere, then the norm moved linearly from |a| to |b|
    u = (np.sin((1 - t) * omega) * a / na + np.sin(t * omega) * b / nb) / np.sin(omega)
    return (u * ((1 - t) * na + t * nb)).astype(np.float32)


def _decoded(decode, z, shape, *, func: str) -> np.ndarray:
    """``decode(z)`` as images, one per row of the codes `z` (M, d)."""
    images = _as_images(decode(z), shape, name="decode(z)", func=func)
    if len(images) != len(z):
        raise DataError(f"decode returned {len(images)} images for {len(z)} codes; it must return "
                        f"one image per row of its ({len(z)}, {z.shape[1]}) input.")
    return images


def latent_traversal(decode: Callable, z0, path, *, shape, dims: Sequence[int] | None = None,
                     values: Sequence[float] = tuple(np.linspace(-3, 3, 9)),
                     title: str | None = None) -> Path:
    """Save a traversal: one row per latent unit in `dims` (default: all), one column per value
    of that unit, every other unit held at `z0` (e.g. the code of a test image).

    `decode` maps float32 codes (M, d) to images (M, C, H, W) or (M, C*H*W) in [0, 1].
    """
    func = "latent_traversal"
    shape = _check_shape(shape, func=func)
    z0 = np.asarray(_to_numpy(z0, name="z0", func=func), dtype=np.float32).ravel()
    dims = list(range(len(z0))) if dims is None else list(dims)
    z = traversal_codes(z0, dims, values)
    images = _decoded(decode, z, shape, func=func)
    return labelled_grid(images, len(values), path, shape=shape,
                          title=title or "latent traversal: one unit per row, others fixed",
                          row_labels=[f"z[{j}]" for j in dims],
                          col_labels=[f"{v:+.1f}" for v in values])


def interpolation_grid(decode: Callable, z_a, z_b, path, *, shape, n: int = 10,
                       title: str | None = None) -> Path:
    """Save interpolations between code pairs (rows of `z_a` and `z_b`, (P, d)): for each pair a
    linear row, then a spherical (slerp) row, `n` steps from a to b."""
    func = "interpolation_grid"
    shape = _check_shape(shape, func=func)
    z_a = np.atleast_2d(_to_numpy(z_a, name="z_a", func=func))
    z_b = np.atleast_2d(_to_numpy(z_b, name="z_b", func=func))
    if z_a.shape != z_b.shape:
        raise DataError(f"z_a and z_b must hold the same number of codes of the same size; got "
                        f"{z_a.shape} and {z_b.shape}.")
    z = np.concatenate([interpolate(a, b, n, m) for a, b in zip(z_a, z_b)
                        for m in ("linear", "slerp")])
    images = _decoded(decode, z, shape, func=func)
    return labelled_grid(images, n, path, shape=shape,
                          title=title or "interpolation between codes: linear, then slerp",
                          row_labels=["linear", "slerp"] * len(z_a),
                          col_labels=[f"{t:.2g}" for t in np.linspace(0, 1, n)])


def class_grid(decode: Callable, z, n_classes: int, path, *, shape,
               classes: Sequence[str] | None = None, title: str | None = None) -> Path:
    """Save a class-conditional grid: row ``c`` decodes every code of `z` (M, d) with label ``c``
    (``decode(z, y)``); a column keeps its code, so it shows one style across the classes."""
    func = "class_grid"
    shape = _check_shape(shape, func=func)
    n_classes = _check_positive_int(n_classes, name="n_classes", func=func)
    z = np.asarray(_to_numpy(z, name="z", func=func), dtype=np.float32)
    zz = np.tile(z, (n_classes, 1))                                     # (K*M, d), class-major
    y = np.repeat(np.arange(n_classes), len(z))
    images = _as_images(decode(zz, y), shape, name="decode(z, y)", func=func)
    names = list(classes) if classes is not None else [str(c) for c in range(n_classes)]
    return labelled_grid(images, len(z), path, shape=shape, row_labels=names,
                          title=title or "samples by class: one row per class, one code per column")


def analogy_grid(decode: Callable, x, z, n_classes: int, path, *, shape,
                 classes: Sequence[str] | None = None, title: str | None = None) -> Path:
    """Save analogies: each row shows a test image `x`, then its code `z` decoded with every label
    (``decode(z, y)``): the same style in every class."""
    func = "analogy_grid"
    shape = _check_shape(shape, func=func)
    n_classes = _check_positive_int(n_classes, name="n_classes", func=func)
    x = _as_images(x, shape, name="x", func=func)
    z = np.asarray(_to_numpy(z, name="z", func=func), dtype=np.float32)
    if len(x) != len(z):
        raise DataError(f"analogy_grid needs one code per image; got {len(x)} images and "
                        f"{len(z)} codes.")
    zz = np.repeat(z, n_classes, axis=0)                                # (M*K, d), image-major
    y = np.tile(np.arange(n_classes), len(z))
    decoded = _as_images(decode(zz, y), shape, name="decode(z, y)", func=func)
    images = np.concatenate([x[:, None], decoded.reshape(len(z), n_classes, *shape)], axis=1)
    names = list(classes) if classes is not None else [str(c) for c in range(n_classes)]
    return labelled_grid(images.reshape(-1, *shape), n_classes + 1, path, shape=shape,
                          col_labels=["input", *names],
                          title=title or "analogies: a test image's code decoded with every label")


@torch.no_grad()
def latent_figures(model, x: torch.Tensor, y: torch.Tensor | None, fig_dir, *, shape,
                   classes: Sequence[str] | None = None,
                   max_dims: int = 10) -> list[tuple[str, Path]]:
    """The latent figures a model supports, as (caption, path) pairs for a run's report.

    Models with a Gaussian ``posterior`` get a traversal of their most active units (largest
    average KL on `x`, at most `max_dims`) and interpolations between test images; conditional
    models (``decode(z, y)``: CVAE, M2) decode with each image's label and add the class grid and
    the analogies.
    """
    if not (has(model, "posterior") and has(model, "decode")) or len(x) < 2:
        return []
    fig_dir, dev = Path(fig_dir), next(model.parameters()).device
    x = x[:500].to(dev)
    labelled = y is not None and has(model, "conditional")  # CVAE, M2: decode(z, y)
    y = torch.as_tensor(y[:500]).to(dev) if labelled else None
    mu, logvar = model.posterior(x, model.onehot(y)) if labelled else model.posterior(x)
    kl = kl_normal_std_normal_per_dim(mu, logvar).mean(0)                # (d,)
    dims = kl.argsort(descending=True)[:max_dims].tolist()

    def decode_as(y0):
        def decode(z):
            z = torch.as_tensor(z, device=dev)
            return model.decode(z, y0.expand(len(z))).cpu() if labelled else model.decode(z).cpu()
        return decode

    shown = [(f"Latent traversal of the {len(dims)} most active units (by KL), from the code of a "
              "test image, values -3..3",
              latent_traversal(decode_as(y[:1] if labelled else None), mu[0].cpu(),
                               fig_dir / "traversal.png", shape=shape, dims=dims))]
    pairs = min(4, len(x) // 2)
    if labelled:  # interpolate between two images of the first image's class: only style moves
        same = torch.nonzero(y == y[0]).flatten()
        other = same[1] if len(same) > 1 else 1
        shown.append(("Interpolation between two test images of one class (linear, slerp)",
                      interpolation_grid(decode_as(y[:1]), mu[:1].cpu(), mu[other].cpu()[None],
                                         fig_dir / "interpolation.png", shape=shape)))
        K = model.n_classes
        gen = torch.Generator(device=dev).manual_seed(0)
        z = model.prior_sample(8, gen)

        def decode_y(zz, yy):
            return model.decode(torch.as_tensor(zz, device=dev),
                                torch.as_tensor(yy, device=dev)).cpu()
        shown.append(("Samples by class: each column keeps one z ~ N(0, I)",
                      class_grid(decode_y, z.cpu(), K, fig_dir / "class_grid.png", shape=shape,
                                 classes=classes)))
        shown.append(("Analogies: a test image's z decoded with every label",
                      analogy_grid(decode_y, x[:8].cpu(), mu[:8].cpu(), K,
                                   fig_dir / "analogies.png", shape=shape, classes=classes)))
    else:
        shown.append(("Interpolation between pairs of test images (linear, slerp)",
                      interpolation_grid(decode_as(None), mu[:pairs].cpu(),
                                         mu[pairs:2 * pairs].cpu(), fig_dir / "interpolation.png",
                                         shape=shape)))
    return shown
