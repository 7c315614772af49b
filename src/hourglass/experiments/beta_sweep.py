"""beta-VAE on sprites over a sweep of beta: reconstruction, KL, beta-VAE/FactorVAE/MIG scores.

The claim to check (Higgins et al. 2017; Burgess et al. 2018): raising beta above 1 trades
reconstruction for disentangled units, so the disentanglement scores rise from beta = 1 to the best
beta. For each beta one VAE is trained on the same sprites with the same seed and budget (an MLP,
the encoder Higgins et al. 2017 used on dSprites, or the strided conv net of Burgess et al. 2018,
``--arch conv --channels 32,32,64,64``; optionally with Burgess et al.'s capacity control). On the
test split we report the reconstruction term E_q[-log p(x|z)] and the KL (nats), the number of
active units (Var_x E_q[z_j] > 0.01, Burda et al. 2016), and the three disentanglement scores over
the full factor product (rendered on demand). The scores are also measured during training, at the
epochs of ``--eval-epochs``, to show how they move with the number of gradient steps. A traversal
figure per beta shows what each active unit does. The trend line gives Spearman's rank correlation
of each column with beta; the verdict line compares the best beta with beta = 1. With several
``--seeds`` (each draws its own sprites, initialization and metric samples) the table, the trend and
the verdict are those of the per-beta means over the seeds, and a gain over beta = 1 must also
exceed two standard errors of its per-seed values.
"""

from __future__ import annotations

import copy
import io
import math
import multiprocessing
import time
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator
from scipy.stats import spearmanr

from hourglass.core.io import atomic_write_bytes
from hourglass.core.objectives import kl_normal_std_normal_per_dim
from hourglass.data.sprites import FACTOR_SIZES, Sprites, load_sprites
from hourglass.evaluate import (batched, beta_vae_score, factor_vae_score, image_representation,
                                mig_score)
from hourglass.models import build
from hourglass.train import TrainConfig, train
from hourglass.train import Batches, evaluate_loss
from hourglass.viz import latent_traversal
from hourglass.experiments import experiment_parser, markdown_table, write_results
from hourglass.experiments._machine import machine, set_threads

NAME = "beta-sweep"
COLUMNS = ["beta", "steps", "recon_nats", "kl_nats", "active_units", "beta_vae", "factor_vae",
           "mig", "train_s", "eval_s"]
SCORES = ("beta_vae", "factor_vae", "mig")
CURVE_COLUMNS = ["beta", "epoch", "steps", "train_kl", "active_units", *SCORES]


def _floats(text):
    return [float(v) for v in text.split(",")]


def _ints(text):
    return tuple(int(v) for v in text.split(","))


def parse(argv=None):
    p = experiment_parser(__name__, __doc__)
    p.add_argument("--betas", type=_floats, default=[1.0, 4.0, 16.0])
    p.add_argument("--size", type=int, default=28, help="image side: 28 or 64 (default: 28)")
    p.add_argument("--n", type=int, default=40000, help="sprites rendered (80%% train, 20%% test)")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-4, help="Adam learning rate (default: 5e-4)")
    p.add_argument("--latent-dim", type=int, default=10)
    p.add_argument("--arch", choices=("mlp", "conv"), default="conv")
    p.add_argument("--hidden", type=_ints, default=(512, 256), help="MLP widths (--arch mlp)")
    p.add_argument("--channels", type=_ints, default=(32, 32, 64, 64),
                   help="conv channels, each layer stride 2 (--arch conv)")
    p.add_argument("--capacity", type=float, default=None,
                   help="capacity control (Burgess et al. 2018): beta*|KL - C|, C rising to this")
    p.add_argument("--capacity-epochs", type=int, default=0,
                   help="epochs over which C rises linearly from 0")
    p.add_argument("--eval-epochs", type=_ints, default=(1, 2, 4),
                   help="epochs after which the scores are also measured (the last always is)")
    p.add_argument("--metric-train", type=int, default=2000,
                   help="beta-VAE / FactorVAE training points (batches of 64 inputs)")
    p.add_argument("--metric-test", type=int, default=1000, help="beta-VAE / FactorVAE test points")
    p.add_argument("--mig-n", type=int, default=10000, help="inputs of the MIG estimate")
    p.add_argument("--jobs", type=int, default=1, help="betas trained at once (processes)")
    p.add_argument("--seeds", type=_ints, default=(0,),
                   help="seeds, comma-separated; each trains every beta (default: 0)")
    p.add_argument("--name", default=NAME,
                   help=f"name of the result files, OUT/NAME.json and .md, and of the figures' "
                        f"folder OUT/NAME/ (default {NAME}); a second name keeps a run with "
                        "another architecture beside the first")
    p.add_argument("--threads", type=int, default=1, help="torch threads per job (default: 1)")
    return p.parse_args(argv)


@torch.no_grad()
def scores(model, args) -> dict:
    """The three disentanglement scores of the posterior mean, over the whole factor product."""
    was_training = model.training
    model.eval()
    represent = image_representation(model.encode, Sprites(args.size).render)
    kw = {"n_train": args.metric_train, "n_test": args.metric_test, "seed": args.seed}
    out = {"beta_vae": beta_vae_score(represent, FACTOR_SIZES, **kw),
           "factor_vae": factor_vae_score(represent, FACTOR_SIZES, **kw),
           "mig": mig_score(represent, FACTOR_SIZES, n=args.mig_n, seed=args.seed)}
    model.train(was_training)
    return out


@torch.no_grad()
def active_units(model, x: torch.Tensor) -> int:
    was_training = model.training
    model.eval()
    mu = batched(model.encode, x)
    model.train(was_training)
    return int((mu.var(0) > 0.01).sum())


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


def _data(args):
    ds = load_sprites(size=args.size, n=args.n, val_fraction=0.0, seed=args.seed)
    return ds, ds.test.x.float() / 255


def run_one(args, beta: float, seed: int) -> dict:
    """Train one VAE at `beta` from `seed`; its final row (test terms and scores) and its score
    curve. The traversal figure is drawn for the first seed."""
    args = copy.copy(args)
    args.seed = seed
    set_threads(args.threads)
    ds, x_test = _data(args)
    torch.manual_seed(args.seed)
    model = build("vae", input_shape=ds.shape, latent_dim=args.latent_dim, arch=args.arch,
                  hidden=args.hidden, channels=args.channels, likelihood="bernoulli", beta=beta,
                  capacity=args.capacity, capacity_epochs=args.capacity_epochs)
    steps_per_epoch = math.ceil(len(ds.train) / args.batch_size)
    at = {e for e in args.eval_epochs if e < args.epochs} | {args.epochs}
    curve, eval_s = [], 0.0

    def on_epoch_end(row, m):
        nonlocal eval_s
        if row["epoch"] not in at:
            return
        t = time.perf_counter()
        point = {"beta": beta, "seed": seed, "epoch": row["epoch"],
                 "steps": row["epoch"] * steps_per_epoch, "train_kl": row["train_kl"],
                 "active_units": active_units(m, x_test), **scores(m, args)}
        curve.append(point)
        eval_s += time.perf_counter() - t
        print(markdown_table([point], CURVE_COLUMNS), flush=True)

    t0 = time.perf_counter()
    history = train(model, ds.train.x, on_epoch_end=on_epoch_end,
                    config=TrainConfig(epochs=args.epochs, batch_size=args.batch_size,
                                       lr=args.lr, seed=args.seed, progress=False))
    train_s = time.perf_counter() - t0 - eval_s
    t1 = time.perf_counter()
    model.eval()
    terms = evaluate_loss(model, Batches(x_test, None, device="cpu"))
    final = curve[-1]
    row = {"beta": beta, "seed": seed, "steps": final["steps"], "recon_nats": terms["recon"],
           "kl_nats": terms["kl"], "active_units": final["active_units"],
           **{k: final[k] for k in SCORES}}
    if seed == args.seeds[0]:
        traversal_figure(model, x_test[:500], Path(args.out) / args.name /
                         f"traversal-beta{beta:g}.png", beta=beta, shape=ds.shape)
    row.update(train_s=train_s, eval_s=eval_s + time.perf_counter() - t1)
    print(markdown_table([row], COLUMNS), flush=True)
    return {"row": row, "curve": curve, "history": history}


def _run_one_star(job):
    return run_one(*job)


def curve_figure(curves: list[dict], path: Path, *, title: str) -> Path:
    """The three scores against gradient steps, one line per beta."""
    fig = Figure(figsize=(12, 3.6))
    for i, name in enumerate(SCORES):
        ax = fig.add_subplot(1, 3, i + 1)
        for beta in sorted({p["beta"] for p in curves}):
            pts = [p for p in curves if p["beta"] == beta]
            ax.plot([p["steps"] for p in pts], [p[name] for p in pts], "o-", label=f"beta {beta:g}")
        ax.set_xscale("log")
        steps = sorted({p["steps"] for p in curves})  # the measured steps, as plain numbers
        ax.set_xticks(steps, [f"{v:,}" for v in steps])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("gradient steps")
        ax.set_title(name)
        ax.grid(alpha=0.3)
    fig.axes[0].legend()
    fig.suptitle(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return atomic_write_bytes(path, buf.getvalue())


def accuracy_margin(n_test: int) -> float:
    """Two standard errors of an accuracy near 0.5 measured on `n_test` points: a difference in
    the beta-VAE / FactorVAE score below this is not told apart from sampling noise."""
    return 2 * math.sqrt(0.25 / n_test)


def mean_over_seeds(rows: list[dict], by: tuple[str, ...]) -> list[dict]:
    """One row per value of the `by` columns: the mean of every other numeric column over the
    seeds, and the standard deviation (ddof 1) of each score as ``<score>_sd``."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(tuple(r[c] for c in by), []).append(r)
    out = []
    for key, rs in groups.items():
        m = dict(zip(by, key), seeds=len(rs))
        for c in rs[0]:
            if c not in by and c != "seed":
                vals = [r[c] for r in rs]  # a column equal over the seeds (steps) stays as it is
                m[c] = vals[0] if len(set(vals)) == 1 else float(np.mean(vals))
        for k in SCORES:
            m[f"{k}_sd"] = float(np.std([r[k] for r in rs], ddof=1)) if len(rs) > 1 else 0.0
        out.append(m)
    return out


def verdict(rows: list[dict], curves: list[dict], trend: dict, margin: float,
            per_seed: list[dict] | None = None) -> dict:
    """Reproduced (every score's rank correlation with beta > 0, and each score's best beta > 1
    beats beta = 1 by more than `margin`, 0.02 for MIG), contradicted (beta = 1 is best on every
    score and every correlation < 0), or not at this budget. With `per_seed` rows of two or more
    seeds (`rows` then holding their per-beta means), a gain must also exceed two standard errors
    of its per-seed values (the same seed's best beta minus its beta = 1). The line gives, per
    score, the best beta and its gain over beta = 1, and per beta each score's change over the
    last interval of the curve (still rising there: more steps would move it)."""
    base = next((r for r in rows if r["beta"] == 1.0), min(rows, key=lambda r: r["beta"]))
    best = {k: max(rows, key=lambda r, k=k: r[k]) for k in SCORES}
    gain = {k: best[k][k] - base[k] for k in SCORES}
    need = {"beta_vae": margin, "factor_vae": margin, "mig": 0.02}
    seeds = sorted({r["seed"] for r in per_seed or []})
    gain_se = {}
    if len(seeds) > 1:
        at = {(r["beta"], r["seed"]): r for r in per_seed}
        for k in SCORES:
            g = [at[best[k]["beta"], s][k] - at[base["beta"], s][k] for s in seeds]
            gain_se[k] = float(np.std(g, ddof=1) / math.sqrt(len(g)))
            need[k] = max(need[k], 2 * gain_se[k])
    rhos = [trend[k] for k in SCORES]
    late = {}
    for beta in sorted({r["beta"] for r in rows}):
        pts = sorted((p for p in curves if p["beta"] == beta), key=lambda p: p["steps"])
        if len(pts) >= 2:
            late[f"{beta:g}"] = {"from_steps": pts[-2]["steps"], "to_steps": pts[-1]["steps"],
                                 **{k: pts[-1][k] - pts[-2][k] for k in SCORES}}
    if (all(r is not None and r > 0 for r in rhos)
            and all(best[k]["beta"] > base["beta"] and gain[k] > need[k] for k in SCORES)):
        word = "reproduced"
    elif (all(best[k]["beta"] == base["beta"] for k in SCORES)
          and all(r is not None and r < 0 for r in rhos)):
        word = "contradicted"
    else:
        word = "not at this budget"

    def fmt(d):
        return ", ".join(f"{k} {d[k]:+.3f}" for k in SCORES)

    reason = ("; ".join(f"{k}: Spearman {'n/a' if r is None else f'{r:+.2f}'}, best at beta "
                        f"{best[k]['beta']:g} ({gain[k]:+.3f} over beta {base['beta']:g}"
                        + (f", se {gain_se[k]:.3f} over {len(seeds)} seeds" if gain_se else "")
                        + ")" for k, r in zip(SCORES, rhos))
              + f" (noise margin of the accuracies {margin:.3f})")
    for beta, d in late.items():
        reason += f"; beta {beta}, steps {d['from_steps']} -> {d['to_steps']}: {fmt(d)}"
    return {"verdict": word, "best_beta": {k: best[k]["beta"] for k in SCORES},
            "gain_over_beta1": gain, "gain_se": gain_se, "late_change": late, "margin": margin,
            "line": f"{word}: {reason}"}


def seed_verdict(per_seed: list[dict], curves: list[dict], seed: int, margin: float) -> str:
    """The verdict of one seed's runs alone."""
    rows = [r for r in per_seed if r["seed"] == seed]
    trend = {k: rank_correlation([r["beta"] for r in rows], [r[k] for r in rows]) for k in SCORES}
    return verdict(rows, [p for p in curves if p["seed"] == seed], trend, margin)["verdict"]


SEED_COLUMNS = ["beta", "steps", "recon_nats", "kl_nats", "active_units", "beta_vae",
                "beta_vae_sd", "factor_vae", "factor_vae_sd", "mig", "mig_sd", "train_s"]


def main(argv=None) -> dict:
    args = parse(argv)
    args.seed = args.seeds[0]
    set_threads(args.threads)
    out = Path(args.out)
    t_start = time.perf_counter()
    ds, _ = _data(args)
    jobs = [(args, beta, seed) for seed in args.seeds for beta in args.betas]
    if args.jobs > 1:
        with multiprocessing.get_context("spawn").Pool(min(args.jobs, len(jobs))) as pool:
            runs = pool.map(_run_one_star, jobs, chunksize=1)
    else:
        runs = [run_one(*job) for job in jobs]
    per_seed = [r["row"] for r in runs]
    per_seed_curves = [p for r in runs for p in r["curve"]]
    several = len(args.seeds) > 1
    rows = mean_over_seeds(per_seed, ("beta",)) if several else per_seed
    curves = mean_over_seeds(per_seed_curves, ("beta", "epoch")) if several else per_seed_curves
    trend = {c: rank_correlation([r["beta"] for r in rows], [r[c] for r in rows])
             for c in ("recon_nats", "kl_nats", *SCORES)}
    steps = rows[0]["steps"]
    model = (f"conv VAE {list(args.channels)} (4x4, stride 2)" if args.arch == "conv"
             else f"MLP VAE {list(args.hidden)}")
    cap = ("" if args.capacity is None else
           f", capacity control C -> {args.capacity:g} nats over {args.capacity_epochs} epochs")
    decision = verdict(rows, curves, trend, accuracy_margin(args.metric_test),
                       per_seed if several else None)
    seeds_said = (f"mean of {len(args.seeds)} seeds {', '.join(map(str, args.seeds))}"
                  if several else f"seed {args.seed}")
    curve_figure(curves, out / args.name / "scores-vs-steps.png",
                 title=f"{model}, latent {args.latent_dim}, sprites {args.size}x{args.size}{cap}"
                       + (f" ({seeds_said})" if several else ""))
    result = {
        "experiment": "beta-sweep", "rows": rows, "curves": curves, "spearman_with_beta": trend,
        "verdict": decision,
        "histories": {f"{r['row']['beta']:g}" + (f"/seed{r['row']['seed']}" if several else ""):
                      r["history"] for r in runs},
        "budget": {"data": f"sprites {args.size}x{args.size}, {len(ds.train)} train / "
                           f"{len(ds.test)} test images of the {len(Sprites(args.size)):,} "
                           "combinations (seeded subset)",
                   "epochs": args.epochs, "steps": steps, "batch_size": args.batch_size,
                   "optimizer": f"adam {args.lr:g}",
                   "model": f"{model}, latent {args.latent_dim}, Bernoulli decoder{cap}",
                   "metric_samples": f"beta-VAE / FactorVAE: {args.metric_train} train + "
                                     f"{args.metric_test} test points of 64 inputs; FactorVAE "
                                     f"std over 5000 inputs; MIG: {args.mig_n} inputs, 20 bins",
                   "seeds": list(args.seeds), "jobs": args.jobs},
        "seeds": list(args.seeds), "machine": machine(args.threads),
        "total_time_s": time.perf_counter() - t_start,
    }
    if several:
        result.update(per_seed=per_seed, per_seed_curves=per_seed_curves, per_seed_verdicts={
            str(s): seed_verdict(per_seed, per_seed_curves, s, accuracy_margin(args.metric_test))
            for s in args.seeds})
    md = (f"beta sweep on sprites {args.size}x{args.size} ({len(ds.train)} train / {len(ds.test)} "
          f"test), {result['budget']['model']}; {args.epochs} epochs = {steps} steps of "
          f"{args.batch_size}, Adam {args.lr:g}, {seeds_said}; metrics: "
          f"{result['budget']['metric_samples']}; total {result['total_time_s'] / 60:.1f} min "
          f"({args.jobs} jobs)\n\n"
          + markdown_table(rows, SEED_COLUMNS if several else COLUMNS)
          + "\nSpearman correlation with beta: "
          + ", ".join(f"{k} {'n/a' if v is None else f'{v:+.2f}'}" for k, v in trend.items())
          + "\n\nScores against gradient steps:\n\n" + markdown_table(curves, CURVE_COLUMNS))
    if several:
        md += ("\nEach seed:\n\n" + markdown_table(per_seed, ["seed", *COLUMNS])
               + "\nVerdict of each seed alone: " + ", ".join(
                   f"seed {s} {v}" for s, v in result["per_seed_verdicts"].items()) + "\n")
    md += f"\nVerdict: {decision['line']}\n"
    write_results(args.name, result, md, out)
    print(md)
    return result


if __name__ == "__main__":
    main()
