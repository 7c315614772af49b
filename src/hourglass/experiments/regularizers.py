"""What each regularizer does to the manifold: AE, DAE, SCAE and CAE with the same architecture on Fashion-MNIST — encoder Jacobian, clean and corrupted reconstruction, stability and k-NN accuracy of the codes.

All four share the encoder 784-256-d (ReLU hidden layer, sigmoid code of d = ``--latent-dim``
units), its mirror as decoder, a Bernoulli (cross-entropy) reconstruction of the grey levels, the
training images, epochs, optimizer and seed; only the regularizer differs:

| model | objective |
|---|---|
| AE   | $-\\log p(x \\mid g(h(x)))$ (a DAE with corruption level 0) |
| DAE  | $-\\log p(x \\mid g(h(\\tilde x)))$, masking noise at ``--masking`` |
| SCAE | AE + $(\\lambda / \\sigma^2)\\,\\lVert h(x) - h(x + \\sigma\\epsilon) \\rVert^2$, $\\sigma$ = ``--sigma`` |
| CAE  | AE + $\\lambda\\,\\lVert J_h(x) \\rVert_F^2$ (exact, by autograd), $\\lambda$ = ``--contraction`` |

The SCAE's weight is $\\lambda/\\sigma^2$ so that, to first order, it is the CAE's penalty. Measured
on the 10,000 test images: the mean Frobenius norm of the encoder Jacobian $\\lVert J_h(x)
\\rVert_F$; the reconstruction error (cross-entropy to the clean image, nats) from clean, masked
(25 %) and Gaussian-noised ($\\sigma = 0.1$) inputs; the code shift under the same noises,
$\\mathbb E\\lVert h(x) - h(\\tilde x)\\rVert^2 / \\mathbb E\\lVert h(x) - h(x')\\rVert^2$ ($x'$ another
test image; scale-free, 0 = the code ignores the noise); and the 5-NN accuracy of the test codes,
clean and noisy, against the clean codes of 10,000 training images. The claim to check: DAE and
CAE codes move less under input noise than the plain AE's.
"""

from __future__ import annotations


import torch

from hourglass.core import objectives as O
from hourglass.core.corruption import gaussian_noise, masking_noise
from hourglass.evaluate import batched
from hourglass.evaluate.metrics import knn_accuracy
from hourglass.models import build
from hourglass.experiments import experiment_parser
from hourglass.experiments._classic import add_training_options, begin, log, report, timed_train, \
    train_config

NAME = "regularizers"
COLUMNS = ["model", "regularizer", "mean Frobenius norm of J_h", "recon nll, clean",
           "recon nll, masked 25%", "recon nll, Gaussian 0.1", "code shift, masked 25%",
           "code shift, Gaussian 0.1", "5-NN acc, clean", "5-NN acc, masked 25%",
           "5-NN acc, Gaussian 0.1", "train time (s)"]
EVAL_NOISE = {"masked 25%": lambda x, g: masking_noise(x, 0.25, generator=g),
              "Gaussian 0.1": lambda x, g: gaussian_noise(x, 0.1, generator=g)}


def parse(argv):
    p = experiment_parser(__name__, __doc__)
    add_training_options(p, n=None, epochs=10)
    p.add_argument("--latent-dim", type=int, default=16, help="code units d (default: 16)")
    p.add_argument("--hidden", type=int, default=256, help="hidden layer width (default: 256)")
    p.add_argument("--masking", type=float, default=0.25, help="DAE masking level (default: 0.25)")
    p.add_argument("--sigma", type=float, default=0.1, help="SCAE noise std (default: 0.1)")
    p.add_argument("--contraction", type=float, default=1.0,
                   help="lambda of the CAE, and lambda * sigma^2 of the SCAE (default: 1.0)")
    return p.parse_args(argv)


def models(args) -> dict[str, tuple[str, dict, str]]:
    """name -> (registered model, its own parameters, the regularizer in words)."""
    return {
        "AE": ("dae", dict(corruption_level=0.0), "none"),
        "DAE": ("dae", dict(corruption="masking", corruption_level=args.masking),
                f"masking {args.masking:.0%}"),
        "SCAE": ("scae", dict(corruption="gaussian", corruption_level=args.sigma,
                              contraction=args.contraction / args.sigma ** 2),
                 f"lambda {args.contraction / args.sigma ** 2:g}, sigma {args.sigma:g}"),
        "CAE": ("cae", dict(contraction=args.contraction, jacobian="exact"),
                f"lambda {args.contraction:g}, exact Jacobian"),
    }


def jacobian_norms(model, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """$\\lVert J_h(x) \\rVert_F$ of the encoder for every row of x (exact, by autograd)."""
    model.eval()
    out = []
    with torch.enable_grad():
        for start in range(0, x.shape[0], batch_size):
            xb = x[start:start + batch_size].detach().requires_grad_(True)
            out.append(O.jacobian_frobenius_sq(model.encode(xb), xb, create_graph=False).sqrt())
    return torch.cat(out)


def measure(model, x_test, y_test, x_ref, y_ref) -> dict:
    """The table's numbers for one trained model (x as floats in [0, 1])."""
    model.eval()
    g = torch.Generator().manual_seed(0)
    noisy = {name: noise(x_test, g) for name, noise in EVAL_NOISE.items()}
    with torch.no_grad():
        h = batched(model.encode, x_test)
        recon = {"clean": x_test, **noisy}
        row = {"mean Frobenius norm of J_h": float(jacobian_norms(model, x_test).mean())}
        for name, x_in in recon.items():
            nll = -model.likelihood.log_prob(x_test, batched(model.decoder, batched(model.encode, x_in)))
            row[f"recon nll, {name}"] = float(nll.mean())
        other = h[torch.randperm(len(h), generator=g)]
        spread = float(((h - other) ** 2).sum(1).mean())
        h_ref = batched(model.encode, x_ref)
        row["5-NN acc, clean"] = knn_accuracy(h_ref, y_ref, h, y_test)
        for name, x_in in noisy.items():
            h_noisy = batched(model.encode, x_in)
            row[f"code shift, {name}"] = float(((h - h_noisy) ** 2).sum(1).mean()) / spread
            row[f"5-NN acc, {name}"] = knn_accuracy(h_ref, y_ref, h_noisy, y_test)
    return row


def main(argv=None) -> dict:
    argv, args, start, ds = begin(parse, argv)
    x_test = ds.test.x.float() / 255
    x_ref, y_ref = ds.train.x[:10000].float() / 255, ds.train.y[:10000]
    rows = []
    for name, (registered, params, regularizer) in models(args).items():
        torch.manual_seed(args.seed)
        model = build(registered, input_shape=ds.shape, hidden=(args.hidden,),
                      latent_dim=args.latent_dim, code_activation="sigmoid",
                      likelihood="bernoulli", **params)
        history, seconds = timed_train(model, ds.train.x, config=train_config(args))
        row = {"model": name, "regularizer": regularizer,
               **measure(model, x_test, ds.test.y, x_ref, y_ref),
               "train recon (nats)": history[-1]["train_recon"], "train time (s)": round(seconds, 1)}
        log(f"{name}: {row}")
        rows.append(row)
    budget = {
        "data": f"Fashion-MNIST, {len(ds.train)} training images, grey levels in [0, 1]; "
                f"test: {len(ds.test)} images; k-NN reference: codes of {len(x_ref)} training "
                "images",
        "network": f"{ds.dim}-{args.hidden}-{args.latent_dim} (ReLU, sigmoid code), mirrored decoder",
        "training": f"{args.epochs} epochs, Adam lr {args.lr or 1e-3}, batch {args.batch_size}, "
                    f"seed {args.seed}",
        "noise at test": "masking 25 % and Gaussian sigma 0.1, one fixed draw (seed 0)",
    }
    return report(NAME, argv, args, start, rows=rows, budget=budget, columns=COLUMNS,
                  title=f"What each regularizer does to the codes (Fashion-MNIST, "
                        f"d = {args.latent_dim})")


if __name__ == "__main__":
    main()
