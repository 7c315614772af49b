"""beta-VAE on sprites, beta in {1, 2, 4, 8, 16}: reconstruction, KL, beta-VAE/FactorVAE/MIG scores.

The claim to check (Higgins et al. 2017): raising beta trades reconstruction
for disentangled units. For each beta one VAE is trained on the same sprites with the same seed and
budget; on the test split we report the reconstruction term E_q[-log p(x|z)] and the KL (nats),
the number of active units (Var_x E_q[z_j] > 0.01, Burda et al. 2016), and the three
disentanglement scores over the full factor product (rendered on demand). A traversal figure per
beta shows what each active unit does. The trend line gives Spearman's rank correlation of each
column with beta over the sweep.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from scipy.stats import spearmanr

from hourglass.core.objectives import kl_normal_std_normal_per_dim
from hourglass.data.sprites import FACTOR_SIZES, Sprites, load_sprites
from hourglass.evaluate import batched, disentanglement_scores, image_representation
from hourglass.models import build
from hourglass.train import TrainConfig, train
from hourglass.train import Batches, evaluate_loss
from hourglass.viz import latent_traversal
from hourglass.experiments import experiment_parser, markdown_table, write_results
from hourglass.experiments._machine import machine, set_threads

COLUMNS = ["beta", "recon_nats", "kl_nats", "active_units", "beta_vae", "factor_vae", "mig",
           "train_s", "eval_s"]


def _floats(text):
    return [float(v) for v in text.split(",")]


def _ints(text):
    return tuple(int(v) for v in text.split(","))


def parse(argv=None):
    p = experiment_parser(__name__, __doc__)
    p.add_argument("--betas", type=_floats, default=[1.0, 2.0, 4.0, 8.0, 16.0])
    p.add_argument("--size", type=int, default=28, help="image side: 28 or 64 (default: 28)")
    p.add_argument("--n", type=int, default=20000, help="sprites rendered (80%% train, 20%% test)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--latent-dim", type=int, default=10)
    p.add_argument("--hidden", type=_ints, default=(512, 256))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    return p.parse_args(argv)


@torch.no_grad()
def measure(model, x_test: torch.Tensor, size: int, seed: int) -> dict:
    """Test reconstruction and KL, active units, and the disentanglement scores."""
    model.eval()
    terms = evaluate_loss(model, Batches(x_test, None, device="cpu"))
    mu = batched(model.encode, x_test)
    represent = image_representation(model.encode, Sprites(size).render)
    return {"recon_nats": terms["recon"], "kl_nats": terms["kl"],
            "active_units": int((mu.var(0) > 0.01).sum()),
            **disentanglement_scores(represent, FACTOR_SIZES, seed=seed)}


def traversal_figure(model, x0: torch.Tensor, path: Path, *, beta: float, shape) -> Path:
    """Traverse the units of one test image's code, the most informative (by test KL) first."""
    mu, logvar = model.posterior(x0)
    order = kl_normal_std_normal_per_dim(mu, logvar).mean(0).argsort(descending=True).tolist()
    with torch.no_grad():
        return latent_traversal(lambda z: model.decode(torch.as_tensor(z)), mu[0], path,
                                shape=shape, dims=order,
                                title=f"beta = {beta:g}: units by KL, values -3..3")


def rank_correlation(a, b) -> float | None:
    """Spearman's rho, or None where it is undefined (fewer than 3 points, a constant column)."""
    if len(a) < 3 or len(set(b)) < 2:
        return None
    return float(spearmanr(a, b)[0])


def main(argv=None) -> dict:
    args = parse(argv)
    set_threads(args.threads)
    out = Path(args.out)
    t_start = time.perf_counter()
    ds = load_sprites(size=args.size, n=args.n, val_fraction=0.0, seed=args.seed)
    x_test = ds.test.x.float() / 255
    rows = []
    for beta in args.betas:
        torch.manual_seed(args.seed)
        model = build("vae", input_shape=ds.shape, latent_dim=args.latent_dim, hidden=args.hidden,
                      likelihood="bernoulli", beta=beta)
        t0 = time.perf_counter()
        train(model, ds.train.x, config=TrainConfig(epochs=args.epochs, batch_size=args.batch_size,
                                                     seed=args.seed, progress=False))
        t1 = time.perf_counter()
        row = {"beta": beta, **measure(model, x_test, args.size, args.seed)}
        with torch.no_grad():
            traversal_figure(model.eval(), x_test[:500],
                             out / "beta-sweep" / f"traversal-beta{beta:g}.png", beta=beta,
                             shape=ds.shape)
        row.update(train_s=t1 - t0, eval_s=time.perf_counter() - t1)
        rows.append(row)
        print(markdown_table([row], COLUMNS), flush=True)
    trend = {c: rank_correlation([r["beta"] for r in rows], [r[c] for r in rows])
             for c in ("recon_nats", "kl_nats", "beta_vae", "factor_vae", "mig")}
    result = {
        "experiment": "beta-sweep", "rows": rows, "spearman_with_beta": trend,
        "budget": {"data": f"sprites {args.size}x{args.size}, {len(ds.train)} train / "
                           f"{len(ds.test)} test images of the {len(Sprites(args.size)):,} "
                           "combinations (seeded subset)",
                   "epochs": args.epochs, "batch_size": args.batch_size, "optimizer": "adam 1e-3",
                   "model": f"MLP VAE {args.hidden}, latent {args.latent_dim}, Bernoulli decoder",
                   "metric_samples": "beta-VAE / FactorVAE: 2000 train + 1000 test points of 64; "
                                     "MIG: 10000 inputs, 20 bins"},
        "seed": args.seed, "machine": machine(args.threads),
        "total_time_s": time.perf_counter() - t_start,
    }
    md = (f"beta sweep on sprites {args.size}x{args.size} ({len(ds.train)} train / {len(ds.test)} "
          f"test, {args.epochs} epochs, latent {args.latent_dim}, seed {args.seed}; total "
          f"{result['total_time_s'] / 60:.1f} min)\n\n" + markdown_table(rows, COLUMNS)
          + "\nSpearman correlation with beta: "
          + ", ".join(f"{k} {'n/a' if v is None else f'{v:+.2f}'}" for k, v in trend.items())
          + "\n")
    write_results("beta-sweep", result, md, out)
    print(md)
    return result


if __name__ == "__main__":
    main()
