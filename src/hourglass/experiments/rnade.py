"""RNADE against a Gaussian mixture and a Gaussian VAE: test log-likelihood of continuous data.

RNADE (Uria, Murray & Larochelle 2013) is an exact density, so its test log-likelihood (nats per
example, higher is better) is measured directly. Beside it, with the same splits:

- scikit-learn's ``GaussianMixture`` (full covariances), its number of components chosen by the
  validation log-likelihood among ``--gmm-components``;
- a VAE with a Gaussian decoder (learned variance per feature), whose importance-weighted bound
  with ``--k`` samples (Burda et al. 2016) and ELBO are lower bounds on its log-likelihood;
- one full-covariance Gaussian (the 1-component mixture) as the trivial baseline.

Data: ``swiss-roll`` and ``s-curve`` (10,000 points of scikit-learn's generators in 3-D with 1%
noise, standardized, as ``hourglass.data.load`` gives them), and ``digits-dequantized``: the 8x8
digits' levels 0..16 plus uniform noise, scaled to [0, 1], $x = (l + u) / 17$, $u \\sim U(0, 1)$
(one fixed draw per split). On the digits every model is trained on the standardized pixels and
its log-likelihood is reported in the [0, 1] space (minus the log-Jacobian
$\\sum_j \\log s_j$ of the standardization); ``bits_per_level`` turns that into the bound
$-\\log_2 P(l) \\le -(\\log p(x) - 64 \\log 17) / \\ln 2$ on the discrete levels, per pixel (a uniform
model gives $\\log_2 17 = 4.09$). RNADE and the VAE stop early on the validation loss (patience
``--patience``) and keep their best weights; budgets, seeds, train times and the machine are
recorded in the JSON.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.mixture import GaussianMixture

from hourglass.core.errors import ConfigError
from hourglass.core.parsing import comma_sizes
from hourglass.data import load
from hourglass.models import build
from hourglass.train import TrainConfig, train
from hourglass.experiments import experiment_parser, markdown_table, write_results
from hourglass.experiments._machine import machine, set_threads

NAME = "rnade"
DATASETS = ("swiss-roll", "s-curve", "digits-dequantized")
DEQUANTIZE_SEED = 0


@dataclass
class Data:
    """Float splits as the models see them, and the log-Jacobian that maps their densities back
    to the reported space: $\\log p_{reported}(x) = \\log p_{model}(x') - \\text{log\\_jac}$."""

    name: str
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    log_jac: float = 0.0
    levels: int | None = None  # the number of discrete levels per feature, for dequantized data


def load_data(name: str) -> Data:
    if name in ("swiss-roll", "s-curve"):
        ds = load(name, seed=0)
        return Data(name, *(s.x.numpy().astype(np.float64) for s in (ds.train, ds.val, ds.test)))
    if name != "digits-dequantized":
        raise ConfigError(f"Unknown dataset {name!r} for the rnade experiment; choose from "
                          f"{', '.join(DATASETS)}.")
    ds = load("digits", seed=0)
    rng = np.random.default_rng(DEQUANTIZE_SEED)
    # the stored pixels are level / 16; x = (level + u) / 17 lies in [0, 1)
    splits = [(np.rint(s.x.numpy().reshape(len(s.x), -1) * 16)
               + rng.random((len(s.x), 64))) / 17 for s in (ds.train, ds.val, ds.test)]
    mean, std = splits[0].mean(0), splits[0].std(0)
    return Data(name, *((s - mean) / std for s in splits), log_jac=float(np.log(std).sum()),
                levels=17)


def report(data: Data, ll_model_space: float) -> dict:
    """Test log-likelihood in the reported space (nats per example) and per dimension."""
    ll = ll_model_space - data.log_jac
    D = data.train.shape[1]
    row = {"test_ll_nats": ll, "test_ll_nats_per_dim": ll / D}
    if data.levels is not None:
        row["bits_per_level"] = -(ll - D * math.log(data.levels)) / (D * math.log(2))
    return row


def fit_gmm(data: Data, components, seed: int) -> dict:
    t0 = time.perf_counter()
    val_ll = {}
    for k in components:
        if k > len(data.train) // 10:
            continue
        gmm = GaussianMixture(k, covariance_type="full", random_state=seed, max_iter=500)
        gmm.fit(data.train)
        val_ll[k] = float(gmm.score(data.val))
    best = max(val_ll, key=val_ll.get)
    gmm = GaussianMixture(best, covariance_type="full", random_state=seed, max_iter=500)
    gmm.fit(data.train)
    single = GaussianMixture(1, covariance_type="full").fit(data.train)
    return {"gmm": {"model": f"GaussianMixture (K={best}, by validation)",
                    **report(data, float(gmm.score(data.test))),
                    "val_ll_by_K": {str(k): v - data.log_jac for k, v in val_ll.items()},
                    "train_time_s": time.perf_counter() - t0},
            "gaussian": {"model": "one full-covariance Gaussian",
                         **report(data, float(single.score(data.test)))}}


def train_torch(model, data: Data, args, seed: int) -> tuple[float, int]:
    t = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    t0 = time.perf_counter()
    history = train(model, t(data.train), val_x=t(data.val),
                    config=TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                       patience=args.patience, seed=seed, progress=False))
    model.eval()
    return time.perf_counter() - t0, len(history)


def fit_rnade(data: Data, args, seed: int) -> dict:
    torch.manual_seed(seed)
    model = build("rnade", input_shape=(data.train.shape[1],), hidden=args.hidden,
                  components=args.components)
    train_time, epochs = train_torch(model, data, args, seed)
    with torch.no_grad():
        ll = float(model.log_prob(torch.tensor(data.test, dtype=torch.float32)).mean())
    return {"model": f"RNADE (H={args.hidden[0]}, K={args.components})", **report(data, ll),
            "epochs_run": epochs, "train_time_s": train_time}


def fit_vae(data: Data, args, seed: int) -> dict:
    torch.manual_seed(seed)
    D = data.train.shape[1]
    latent = 2 if D <= 3 else args.vae_latent
    model = build("vae", input_shape=(D,), likelihood="gaussian", latent_dim=latent,
                  hidden=args.vae_hidden)
    train_time, epochs = train_torch(model, data, args, seed)
    x = torch.tensor(data.test, dtype=torch.float32)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        iwae = float(torch.cat([model.log_prob(xb, k=args.k, generator=g)
                                for xb in x.split(100)]).mean())
        elbo = float(model.elbo(x, generator=g).mean())
    return {"model": f"VAE, Gaussian decoder (z={latent}, hidden {args.vae_hidden}), "
                     f"IWAE k={args.k}", **report(data, iwae),
            "elbo_nats": elbo - data.log_jac, "bound": True,
            "epochs_run": epochs, "train_time_s": train_time}


def main(argv=None) -> dict:
    p = experiment_parser(__name__, __doc__)
    p.add_argument("--data", type=lambda s: s.split(","), default=list(DATASETS),
                   help=f"datasets, comma-separated (default {','.join(DATASETS)})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=200, help="at most this many epochs (RNADE, VAE)")
    p.add_argument("--patience", type=int, default=20, help="early-stopping patience (epochs)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=comma_sizes, default=(100,), help="RNADE hidden width")
    p.add_argument("--components", type=int, default=10, help="RNADE mixture components K")
    p.add_argument("--vae-hidden", type=comma_sizes, default=(128, 64))
    p.add_argument("--vae-latent", type=int, default=8, help="VAE code size on the digits "
                                                            "(2 on the 3-D data)")
    p.add_argument("--k", type=int, default=1000, help="importance samples of the VAE bound")
    p.add_argument("--gmm-components", type=comma_sizes, default=(1, 2, 5, 10, 20, 50, 100, 200))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    set_threads(args.threads)
    mach = machine(args.threads)
    rows = []
    for name in args.data:
        data = load_data(name)
        sizes = {"n_train": len(data.train), "n_val": len(data.val), "n_test": len(data.test),
                 "dim": data.train.shape[1]}
        base = fit_gmm(data, args.gmm_components, args.seed)
        for row in (fit_rnade(data, args, args.seed), base["gmm"], fit_vae(data, args, args.seed),
                    base["gaussian"]):
            rows.append({"data": name, **sizes, **row})
            print({k: v for k, v in rows[-1].items() if k != "val_ll_by_K"}, flush=True)
    budget = {"data": args.data, "seed": args.seed, "max_epochs": args.epochs,
              "patience": args.patience, "batch_size": args.batch_size, "lr": args.lr,
              "rnade": {"hidden": args.hidden, "components": args.components,
                        "activation": "relu"},
              "vae": {"hidden": args.vae_hidden, "latent_dim_digits": args.vae_latent,
                      "latent_dim_3d": 2, "sigma": "learned per feature", "k": args.k},
              "gmm_components_tried": args.gmm_components,
              "dequantize_seed": DEQUANTIZE_SEED}
    result = {"budget": budget, "machine": mach, "rows": rows,
              "units": "test log-likelihood, nats per example (higher is better); the VAE's is a "
                       "lower bound"}
    argv_s = " ".join(sys.argv[1:] if argv is None else argv)
    cols = ["data", "model", "test_ll_nats", "test_ll_nats_per_dim", "bits_per_level",
            "elbo_nats", "epochs_run", "train_time_s"]
    md = (f"# {NAME}\n\nTest log-likelihood (nats per example, higher is better) of RNADE, a "
          "Gaussian mixture (components chosen on the validation split) and a Gaussian VAE "
          "(its IWAE bound and ELBO: lower bounds), with one full-covariance Gaussian as the "
          "trivial baseline. swiss-roll and s-curve are 3-D and standardized; "
          "digits-dequantized are (level + U(0,1)) / 17 in [0, 1]^64 (bits_per_level: the bound "
          "on the discrete 0..16 levels, per pixel; uniform = 4.09). "
          f"Budget: at most {args.epochs} epochs with early stopping (patience {args.patience}), "
          f"batch {args.batch_size}, Adam lr {args.lr}, seed {args.seed}, {args.threads} thread "
          f"on {mach['cpu']}. Command: `hourglass experiment rnade {argv_s}`.\n\n"
          + markdown_table(rows, cols))
    write_results(NAME, result, md, args.out)
    print(md)
    return result


if __name__ == "__main__":
    main()
