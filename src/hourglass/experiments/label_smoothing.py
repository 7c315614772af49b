"""One-sided label smoothing for GAN and DCGAN on digits: sample quality with and without it.

One-sided label smoothing (Salimans et al. 2016) trains the discriminator towards 1 - s instead of
1 on real images (fake images keep the target 0), so that it cannot grow arbitrarily confident
on the data; Salimans et al. report that it makes GANs less prone to adversarial-example-like
gradients. Only the real side is smoothed: smoothing the fake side would move the optimal
discriminator, $D^*(x) = (1 - s)\\,p_{data}(x) / (p_{data}(x) + p_g(x))$ for one-sided
smoothing, towards the generator's own samples where the data are rare.

The MLP GAN (Goodfellow et al. 2014) and DCGAN (Radford et al. 2016) are trained with the networks,
optimizer and budget of the ``adversarial`` experiment's sample-quality study, once per smoothing
``s`` of ``--smoothing`` and seed of ``--seeds`` (s = 0 is that study's run), and scored by the
same functions: the Fréchet distance, precision and recall (Kynkäänniemi et al. 2019) of the
samples against the test images in the features of a classifier trained on the dataset, and
the samples' spread (mean pairwise distance over the test images'; near 0 for a collapsed
generator). The table gives mean ± standard deviation over the seeds; the verdict calls a
difference to s = 0 real only where it exceeds twice its standard error over the seeds (with
three seeds a coarse test: small effects go unseen).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import binom
from scipy.stats import t as student_t

from hourglass.data import load
from hourglass.evaluate.sample_quality import feature_net, sample_quality
from hourglass.experiments import experiment_parser, markdown_table, write_results
from hourglass.experiments._machine import machine, set_threads
from hourglass.experiments.adversarial import (FEATURE_EPOCHS_SMALL, _diversity, _pm, _spread,
                                               _train, quality_specs)

NAME = "label-smoothing"
METRICS = ("recall", "precision", "frechet_distance", "diversity")
# which way is better: recall and precision up, the Fréchet distance down, the spread towards 1
BETTER = {"recall": "higher", "precision": "higher", "frechet_distance": "lower",
          "diversity": "closer to 1"}


def _score(metric: str, values) -> np.ndarray:
    """The values of `metric` turned so that higher is better."""
    v = np.asarray(values, np.float64)
    return {"recall": v, "precision": v, "frechet_distance": -v,
            "diversity": -np.abs(v - 1)}[metric]


def compare(base: list[float], other: list[float], metric: str) -> dict:
    """The change of `metric` from `base` to `other` (per-seed values): the difference of means,
    its standard error over the seeds, and whether `other` is better or worse beyond twice it."""
    a, b = _score(metric, base), _score(metric, other)
    diff = float(b.mean() - a.mean())
    se = float(np.sqrt((a.var(ddof=1) / len(a) if len(a) > 1 else 0.0)
                       + (b.var(ddof=1) / len(b) if len(b) > 1 else 0.0)))
    verdict = ("better" if diff > 2 * se else "worse" if diff < -2 * se else "within noise")
    mean_change = float(np.mean(other) - np.mean(base))
    return {"change": mean_change, "standard_error": se, "verdict": verdict}


def study(ds, args) -> dict:
    """Train every model of ``args.models`` at every smoothing and seed; the rows (mean and
    std over the seeds, per-seed values) and the held-out real images' reference scores."""
    net, info = feature_net(ds, epochs=3 if len(ds.train) >= 10000 else FEATURE_EPOCHS_SMALL)
    x = ds.to_float(ds.train.x[:args.n])
    data_diversity = _diversity(ds.to_float(ds.test.x))
    rows = []
    for name, _, config in quality_specs(ds, args):
        if name not in args.models:
            continue
        for s in args.smoothing:
            per_seed = []
            for seed in args.seeds:
                model, t = _train(name, ds, x, epochs=args.epochs, seed=seed,
                                  batch_size=args.batch_size, label_smoothing=s, **config)
                samples = model.sample(args.n_samples,
                                       generator=torch.Generator().manual_seed(seed))
                q = sample_quality(samples, ds, net=net)
                per_seed.append({"seed": seed, "frechet_distance": q["frechet_distance"],
                                 "precision": q["precision"], "recall": q["recall"],
                                 "diversity": _diversity(samples) / data_diversity,
                                 "train_time_s": t})
                print(name, s, per_seed[-1], flush=True)
            rows.append({"model": name, "label_smoothing": s, "epochs": args.epochs, **{
                k: _spread([r[k] for r in per_seed]) for k in (*METRICS, "train_time_s")},
                "per_seed": per_seed})
    real = sample_quality(ds.val.x[:args.n_samples], ds, net=net)
    reference = {"frechet_distance": real["frechet_distance"], "precision": real["precision"],
                 "recall": real["recall"],
                 "diversity": _diversity(ds.to_float(ds.val.x)) / data_diversity,
                 "feature_net_test_accuracy": info["test_accuracy"]}
    return {"rows": rows, "reference": reference, "comparisons": comparisons(rows)}


def comparisons(rows: list[dict]) -> list[dict]:
    """Each smoothed row against the same model's s = 0 row, metric by metric."""
    out = []
    for r in rows:
        base = next((b for b in rows if b["model"] == r["model"] and b["label_smoothing"] == 0),
                    None)
        if base is None or r is base:
            continue
        out.append({"model": r["model"], "label_smoothing": r["label_smoothing"], **{
            m: compare([p[m] for p in base["per_seed"]], [p[m] for p in r["per_seed"]], m)
            for m in METRICS}})
    return out


def chance_crossings(comps: list[dict], n_seeds: int) -> float:
    """How many of the comparisons would cross twice their standard error (either way) by chance
    alone, with no effect at all: the two-sided tail of Student's t with 2 (n - 1) degrees of
    freedom at 2, times the number of comparisons."""
    if n_seeds < 2:
        return float("nan")
    return 2 * float(student_t.sf(2.0, 2 * (n_seeds - 1))) * len(comps) * len(METRICS)


def overall(comps: list[dict], n_seeds: int, level: float = 0.05) -> str:
    """"helped" where none of the comparisons came out worse beyond twice its standard error and
    more came out better than chance alone would give at `level`: the binomial tail of that
    many one-sided crossings, each with the one-sided t probability (an approximation: the
    comparisons share their s = 0 runs and the metrics are correlated); "no effect" where none
    came out better; "mixed" otherwise."""
    n = len(comps) * len(METRICS)
    n_better = sum(c[m]["verdict"] == "better" for c in comps for m in METRICS)
    n_worse = sum(c[m]["verdict"] == "worse" for c in comps for m in METRICS)
    if n_better == 0:
        return "no effect"
    if n_worse == 0 and n_seeds >= 2:
        one_sided = float(student_t.sf(2.0, 2 * (n_seeds - 1)))
        if float(binom.sf(n_better - 1, n, one_sided)) < level:
            return "helped"
    return "mixed"


def verdict(comps: list[dict], n_seeds: int) -> str:
    """One sentence per smoothed setting, saying what moved beyond the seed spread, then one on
    the whole: whether smoothing helped, set against what chance alone would give."""
    if not comps:
        return "No smoothed setting was compared with s = 0."
    lines = []
    for c in comps:
        better = [m for m in METRICS if c[m]["verdict"] == "better"]
        worse = [m for m in METRICS if c[m]["verdict"] == "worse"]
        head = f"{c['model'].upper()}, s = {c['label_smoothing']:g}:"
        if not better and not worse:
            lines.append(f"{head} no metric moved beyond twice its standard error over the "
                         "seeds.")
            continue
        parts = []
        if better:
            parts.append("better " + ", ".join(_change(c, m) for m in better))
        if worse:
            parts.append("worse " + ", ".join(_change(c, m) for m in worse))
        rest = [m for m in METRICS if m not in better + worse]
        tail = f"; {', '.join(rest)} within noise" if rest else ""
        lines.append(f"{head} {'; '.join(parts)}{tail}.")
    n = len(comps) * len(METRICS)
    n_better = sum(c[m]["verdict"] == "better" for c in comps for m in METRICS)
    n_worse = sum(c[m]["verdict"] == "worse" for c in comps for m in METRICS)
    chance = chance_crossings(comps, n_seeds)
    odds = (f"; with no effect at all about {chance:.1f} of the {n} would cross it by chance"
            if math.isfinite(chance) else "")
    counts = (f"{n_better} of {n} comparisons came out better and {n_worse} worse beyond twice "
              f"the standard error{odds}")
    found = overall(comps, n_seeds)
    if found == "no effect":
        which = "either model" if len({c["model"] for c in comps}) > 1 else "the model"
        whole = (f"Overall, one-sided label smoothing did not help {which} beyond the seed "
                 f"spread at this budget ({counts}).")
    elif found == "helped":
        whole = f"Overall, one-sided label smoothing helped beyond the seed spread ({counts})."
    else:
        whole = ("Overall, no consistent effect of one-sided label smoothing beyond the seed "
                 f"spread ({counts}).")
    return " ".join(lines + [whole])


def _change(c: dict, m: str) -> str:
    return f"{m} {c[m]['change']:+.3g} (± {c[m]['standard_error']:.2g})"


def table(rows: list[dict], reference: dict) -> str:
    shown = [{"model": r["model"], "label_smoothing": f"{r['label_smoothing']:g}",
              **{k: _pm(r[k]) for k in (*METRICS, "train_time_s")}} for r in rows]
    shown.append({"model": "held-out real images (reference)", "label_smoothing": "",
                  **{k: reference[k] for k in METRICS}})
    return markdown_table(shown, ["model", "label_smoothing", *METRICS, "train_time_s"])


def _floats(text):
    values = [float(v) for v in text.split(",")]
    if any(not 0 <= v <= 0.5 for v in values):
        raise argparse.ArgumentTypeError("label smoothing lies in [0, 0.5]")
    return values


def _ints(text):
    return [int(v) for v in text.split(",")]


def main(argv=None) -> dict:
    p = experiment_parser(__name__, __doc__)
    p.add_argument("--data", default="digits")
    p.add_argument("--n", type=int, default=5000, help="training subset size (default 5000)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--hidden", type=lambda s: tuple(int(v) for v in s.split(",")),
                   default=(512, 256), help="MLP widths (the GAN's generator mirrors them)")
    p.add_argument("--smoothing", type=_floats, default=[0.0, 0.1],
                   help="label smoothings s to compare, comma-separated, 0 first "
                        "(default 0,0.1)")
    p.add_argument("--models", type=lambda s: s.split(","), default=["gan", "dcgan"])
    p.add_argument("--n-samples", type=int, default=5000, help="samples per trained model")
    p.add_argument("--seeds", type=_ints, default=[0, 1, 2])
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    unknown = [m for m in args.models if m not in ("gan", "dcgan")]
    if unknown:
        p.error(f"--models: unknown {', '.join(unknown)}; valid: gan, dcgan")
    if 0.0 not in args.smoothing:
        args.smoothing = [0.0, *args.smoothing]  # the baseline every setting is compared with
    set_threads(args.threads)
    t0 = time.perf_counter()
    ds = load(args.data, seed=args.seeds[0])
    found = study(ds, args)
    budget = {"data": args.data, "n_train": min(args.n, len(ds.train)), "epochs": args.epochs,
              "batch_size": args.batch_size, "hidden": list(args.hidden),
              "smoothing": args.smoothing, "models": args.models, "seeds": args.seeds,
              "n_samples": args.n_samples}
    result = {"budget": budget, **found, "verdict": verdict(found["comparisons"], len(args.seeds)),
              "machine": machine(args.threads), "total_time_s": time.perf_counter() - t0}
    command = " ".join(sys.argv[1:] if argv is None else argv)
    m = result["machine"]
    md = (f"# {NAME}\n\nOne-sided label smoothing (Salimans et al. 2016): the discriminator's "
          f"target for real images is 1 - s. Budget: {budget['n_train']} {args.data} training "
          f"images, {args.epochs} epochs, batch {args.batch_size}, MLP {tuple(args.hidden)} "
          f"(GAN), {args.n_samples} samples per model, seeds {args.seeds} (mean ± standard "
          "deviation over the seeds). Fréchet distance, precision and recall (k = 3) against "
          "the test images in the features of a classifier trained on the dataset; diversity: "
          "the samples' mean pairwise distance over the test images' (the spread; near 0 for a "
          "collapsed generator). Better: "
          + ", ".join(f"{k} {v}" for k, v in BETTER.items()) + ". Command: `hourglass "
          f"experiment label-smoothing {command}`.\n\n" + table(found["rows"], found["reference"])
          + f"\n**Verdict** (a change counts where it exceeds twice its standard error over the "
          f"{len(args.seeds)} seeds): {result['verdict']}\n\nTotal time: "
          f"{result['total_time_s'] / 60:.1f} min on {m['cpu']} ({m['cpu_count']} cores, "
          f"{args.threads} torch threads, load average {m['load_average_1min_at_start']} at the "
          "start).\n")
    write_results(NAME, result, md, Path(args.out))
    print(md)
    return result


if __name__ == "__main__":
    main()
