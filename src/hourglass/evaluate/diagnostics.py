"""Failures a user should hear about: posterior collapse of a latent-variable model and mode
collapse of a generator, measured, each with what to try.

- **Posterior collapse** (Bowman et al. 2016): the decoder models the data without the code, so
  $q(z|x) \\approx p(z)$ for every $x$: the KL term falls near zero and no unit of the code is
  *active* (Burda et al. 2016: unit $u$ is active when
  $\\mathrm{Cov}_x\\big(\\mathbb E_{q(z|x)}[z_u]\\big) > 0.01$).
- **Mode collapse** (Goodfellow 2016; Salimans et al. 2016): the generator maps every noise draw
  to a few images, so samples lie much closer to one another than the data's images do.
"""

from __future__ import annotations

import torch

from hourglass.core import objectives as O
from hourglass.core.tensors import batched
from hourglass.models.protocol import has, has_log_prob

ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. 2016
KL_COLLAPSED_NATS = 0.5       # total KL per example below this: the code carries < 1 bit
SPREAD_COLLAPSED = 0.5        # samples' mean pairwise distance below this share of the data's


def active_units(mu: torch.Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD) -> int:
    """Units of the code whose posterior mean varies over the data: $\\mathrm{Var}_x(\\mu_u(x))
    > $ `threshold`. `mu`: (N, d) posterior means."""
    return int((mu.double().var(0) > threshold).sum())


def mean_pairwise_distance(x: torch.Tensor) -> float:
    """Mean Euclidean distance between the rows of `x` (flattened), over all ordered pairs
    (the zero diagonal included)."""
    f = x.flatten(1).double()
    return float(torch.cdist(f, f).mean())


def sample_spread(samples: torch.Tensor, data: torch.Tensor) -> float:
    """Mean pairwise distance of `samples`, as a share of that of `data`: near 1 for a generator
    that covers the data, near 0 for one that collapsed onto a single image."""
    return mean_pairwise_distance(samples) / max(mean_pairwise_distance(data), 1e-12)


@torch.inference_mode()
def collapse_warnings(model, x_test: torch.Tensor, *, model_name: str = "the model",
                      n: int = 1000, seed: int = 0) -> tuple[dict, list[str]]:
    r"""Measure both collapses where they apply, on the first `n` test inputs; return (numbers,
    warnings in words). Numbers: ``active_units``, ``latent_dim`` and ``kl_nats``
    ($\mathrm{KL}(q(z|x) \Vert \mathcal N(0, I))$, mean over the inputs) for a model with a
    Gaussian posterior; ``sample_spread`` for a generator without a likelihood."""
    numbers: dict = {}
    warnings: list[str] = []
    model.eval()
    device = next(model.parameters()).device
    x = x_test[:n]
    if has(model, "posterior") and not has(model, "conditional"):  # q(z|x), not q(z|x, y)
        post = batched(lambda xb: torch.cat(model.posterior(xb), 1), x, batch_size=500,
                       device=device)
        mu, logvar = post.chunk(2, dim=1)
        kl_nats = float(O.kl_normal_std_normal(mu, logvar).mean())
        numbers.update(active_units=active_units(mu), latent_dim=int(mu.shape[1]), kl_nats=kl_nats)
        if kl_nats < KL_COLLAPSED_NATS or numbers["active_units"] == 0:
            warnings.append(
                f"Posterior collapse: the KL term is {kl_nats:.2f} nats and "
                f"{numbers['active_units']} of {mu.shape[1]} code units are active, so the "
                "decoder hardly uses the code. Try a KL warm-up (--warmup-epochs 20), a smaller "
                "batch (--batch-size 32) or more epochs; the vae recipe (--config vae) does all "
                "three.")
    if has(model, "sample") and not has_log_prob(model):
        gen = torch.Generator(device=device).manual_seed(seed)
        s = model.sample(min(n, 500), generator=gen).float().cpu()
        numbers["sample_spread"] = sample_spread(s, x[:500].float())
        if numbers["sample_spread"] < SPREAD_COLLAPSED:
            warnings.append(
                f"Mode collapse: samples of {model_name} are {numbers['sample_spread']:.2f} times "
                "as spread out as the data (1 covers it). Train longer, lower the learning rate, "
                "or use the recipe for this model (hourglass list shows the recipes).")
    return numbers, warnings
