"""Filters: first-layer weights of a one-layer denoising AE on Fashion-MNIST at masking 0 %, 10 %, 25 %, 50 % (the filters picture of Vincent et al. 2010).

One sigmoid layer $h = \\sigma(Wx + b)$ with a mirrored decoder is trained at each masking level
from the same initialization (same seed), so column $j$ of the figure follows the same hidden unit
across levels; 0 % is the plain autoencoder. Each filter (a row of $W$, shown as a 28x28 image)
is scaled to [0, 1] on its own. The table gives, per level, the test reconstruction error
(cross-entropy to the clean image, nats) from clean and from 25 %-masked inputs, and two numbers
that describe the filters: roughness $\\lVert \\nabla W_j \\rVert^2 / \\lVert W_j \\rVert^2$ (finite
differences between neighbouring pixels; about 4 for white noise, small for smooth strokes and
blobs) and the share of a filter's energy $\\sum_i W_{ji}^2$ in its 10 % largest pixels (1 for a
filter that looks at few pixels, 0.1 for a uniform one), both averaged over the units.
"""

from __future__ import annotations

from pathlib import Path

import torch

from hourglass.core.corruption import masking_noise
from hourglass.evaluate import batched
from hourglass.models import build
from hourglass.viz import image_grid
from hourglass.experiments import experiment_parser
from hourglass.experiments._classic import add_training_options, begin, log, report, timed_train, \
    train_config

NAME = "filters"


def parse(argv):
    p = experiment_parser(__name__, __doc__)
    add_training_options(p, n=None, epochs=10)
    p.add_argument("--units", type=int, default=100, help="hidden units (default: 100)")
    p.add_argument("--levels", type=lambda s: [float(v) for v in s.split(",")],
                   default=[0.0, 0.1, 0.25, 0.5], help="masking levels (default: 0,0.1,0.25,0.5)")
    p.add_argument("--show", type=int, default=12, help="units shown per level (default: 12)")
    return p.parse_args(argv)


def roughness(W: torch.Tensor) -> torch.Tensor:
    """$\\lVert \\nabla W_j \\rVert^2 / \\lVert W_j \\rVert^2$ per filter; W is (units, H, W)."""
    dx, dy = W[:, :, 1:] - W[:, :, :-1], W[:, 1:, :] - W[:, :-1, :]
    return (dx.pow(2).sum((1, 2)) + dy.pow(2).sum((1, 2))) / W.pow(2).sum((1, 2))


def top_energy_share(W: torch.Tensor, share: float = 0.1) -> torch.Tensor:
    """Share of each filter's energy in its `share` largest pixels (by |W_ji|)."""
    e = W.flatten(1).pow(2).sort(1, descending=True).values
    k = max(1, int(share * e.shape[1]))
    return e[:, :k].sum(1) / e.sum(1)


def unit_scaled(W: torch.Tensor) -> torch.Tensor:
    """Each filter min-max scaled to [0, 1] for display."""
    lo = W.flatten(1).min(1).values[:, None, None]
    hi = W.flatten(1).max(1).values[:, None, None]
    return (W - lo) / (hi - lo).clamp(min=1e-12)


def main(argv=None) -> dict:
    argv, args, start, ds = begin(parse, argv)
    x_test = ds.test.x.float() / 255
    x_masked = masking_noise(x_test, 0.25, generator=torch.Generator().manual_seed(0))
    rows, shown = [], []
    for level in args.levels:
        torch.manual_seed(args.seed)  # the same initial filters at every level
        dae = build("dae", input_shape=ds.shape, hidden=(), latent_dim=args.units,
                    code_activation="sigmoid", likelihood="bernoulli", corruption="masking",
                    corruption_level=level)
        history, seconds = timed_train(dae, ds.train.x, config=train_config(args))
        dae.eval()
        W = dae.encoder.net[0].weight.detach().view(args.units, *ds.shape[1:])  # (units, H, W)
        shown.append(unit_scaled(W[:args.show]))
        with torch.no_grad():
            nll = {name: float(-dae.likelihood.log_prob(
                x_test, batched(dae.decoder, batched(dae.encode, x_in))).mean())
                for name, x_in in (("clean", x_test), ("masked 25%", x_masked))}
        row = {"masking": f"{level:.0%}", "recon nll, clean": nll["clean"],
               "recon nll, masked 25%": nll["masked 25%"],
               "filter roughness": float(roughness(W).mean()),
               "energy in top 10% pixels": float(top_energy_share(W).mean()),
               "train recon (nats)": history[-1]["train_recon"], "train time (s)": round(seconds, 1)}
        log(f"masking {level:.0%}: {row}")
        rows.append(row)
    out = Path(args.out)
    levels = ", ".join(f"{level:.0%}" for level in args.levels)
    figure = image_grid(torch.cat(shown).unsqueeze(1), out / f"{NAME}.png", shape=(1, *ds.shape[1:]),
                        nrow=args.show, title=f"DAE filters, rows: masking {levels}")
    budget = {"data": f"Fashion-MNIST, {len(ds.train)} training images, grey levels in [0, 1]; "
                      f"test: {len(ds.test)} images",
              "network": f"{ds.dim}-{args.units}-{ds.dim}, sigmoid code, Bernoulli decoder",
              "training": f"{args.epochs} epochs, Adam lr {args.lr or 1e-3}, batch "
                          f"{args.batch_size}, seed {args.seed} (the same initialization per level)"}
    preface = (f"![DAE filters]({figure.name})\n\nRows of the figure: masking {levels}; columns: "
               f"the same {args.show} hidden units (same initialization).\n\n")
    return report(NAME, argv, args, start, rows=rows, budget=budget, preface=preface,
                  extra={"figure": figure.name},
                  title="First-layer filters of a one-layer DAE vs. masking level (Fashion-MNIST)")


if __name__ == "__main__":
    main()
