"""Speed of every registered model at one standard configuration on Fashion-MNIST 28x28.

For each model (``hourglass.models.registry.list_models()``), on the CPU at a fixed thread count:

- training samples/s: the library's update (every phase: forward, backward, optimizer step; Adam at
  the run defaults), batch ``--batch-size``, on a fixed pool of training images (binarized once
  for the Bernoulli models, so the draw is not timed);
- log-likelihood samples/s for the models that score log p(x): exact ``log_prob``, or the
  importance-weighted bound with k = 100 for the VAE family (``log_prob_bound``);
- images/s of sampling for the sequential samplers (the autoregressive models): NADE and RNADE
  run their own D-step sampler; the image models' sampler reruns the network once per pixel on
  the rows that pixel sees, timed in one ``sample`` call, next to the rate of rerunning it on the
  whole image (one logits pass, timed singly, times D);
- where one training step's time goes (``torch.profiler``): matrix products and convolutions,
  the optimizer, other torch ops, and the time outside any op;
- FLOPs per training example, counted by ``torch.utils.flop_counter.FlopCounterMode`` (matrix
  products and convolutions only), and how close the step comes to a lower bound on its time: the
  larger of FLOPs / measured fp32 matmul peak and the bytes a step must move (parameters, their
  gradients and Adam's two moments, read and written; the batch) / measured copy bandwidth.

A second table compares NADE's ways to the logits (the blockwise running-sum pass in the fused C
kernel and in PyTorch ops, against the direct (B, D, H) cumulative sum) in training steps at batch
64, alternating, as ratios; a third sweeps the block length of the PyTorch-ops pass over batch
sizes, next to the fused kernel, against the floor set by two sigmoids of every (b, i, h); a
fourth times the two PixelRNN layers as the paper writes them and as the library runs them.

    python benchmarks/models.py [--threads 2] [--batch-size 128] [--seconds 3] [--models nade vae]

Writes benchmarks/results/models.json and models.md. The numbers mean most on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode

from hourglass.core.io import atomic_write_json, atomic_write_text
from hourglass.data import load
from hourglass.experiments.likelihood_table import BINARY_MODELS
from hourglass.models import build
from hourglass.models.autoregressive import AutoregressiveModel
from hourglass.models.nade import default_block, kernel, running_sum_logits
from hourglass.models.protocol import has, model_phases
from hourglass.models.registry import get_model_class, list_models
from hourglass.train import TrainConfig
from hourglass.train.optim import phase_optimizer

RESULTS = Path(__file__).parent / "results"
IWAE_K = 100

# one standard configuration per model: the likelihood table's for the density models, the
# registry defaults for the others
STANDARD = {reg: cfg for reg, cfg in BINARY_MODELS.values()}
STANDARD["sae"] = dict(pretrain_epochs=0)  # the fine-tuning step is timed; pretraining is not


# ---- the machine ----------------------------------------------------------------------------

def _best_time(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
    """FLOP/s of an n x n fp32 matrix product (the best of `repeats`)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n ** 3 / _best_time(lambda: torch.mm(a, b), repeats)


def copy_bandwidth(mib: int = 256, repeats: int = 5) -> float:
    """Bytes/s read plus written by a copy of a `mib` MiB float tensor (the best of `repeats`)."""
    src = torch.randn(mib * 2 ** 20 // 4)
    dst = torch.empty_like(src)
    return 2 * src.numel() * 4 / _best_time(lambda: dst.copy_(src), repeats)


def machine(threads: int) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": threads, "python": platform.python_version(),
            "load_average_1min_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


# ---- where a step's time goes ----------------------------------------------------------------

MATMUL_OPS = {"aten::addmm", "aten::mm", "aten::bmm", "aten::baddbmm", "aten::matmul",
              "aten::linear", "aten::_addmm_activation"}
KINDS = ("matrix products", "optimizer", "other torch ops", "outside ops")
PROFILE_COL = "time: products / optimizer / other ops / outside"


def _kind(name: str) -> str | None:
    """The kind of a profiled op: matrix products (convolutions included: they are products of
    unfolded patches), the optimizer, other torch ops, or None for a profiler range."""
    if name in MATMUL_OPS or (name.startswith("aten::") and "conv" in name):
        return "matrix products"
    if "adam" in name.lower() or name.startswith("aten::_foreach") or name.startswith("Optimizer."):
        return "optimizer"
    if name.startswith("aten::"):
        return "other torch ops"
    return None  # profiler ranges (autograd nodes, record_function): their self time is overhead


def profiled(fn, rounds: int = 3) -> dict:
    """Seconds by kind (self time of the ops; the wall time not in any op) of one call of `fn`:
    the profiled call of least wall time out of `rounds` (the profiler's first session pays its
    own start-up inside the first ops it records)."""
    calls = []
    for _ in range(rounds):
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            fn()
            wall = time.perf_counter() - t0
        calls.append((wall, prof))
    wall, prof = min(calls, key=lambda c: c[0])
    by = dict.fromkeys(KINDS, 0.0)
    for e in prof.key_averages():
        kind = _kind(e.key)
        if kind is not None:
            by[kind] += e.self_cpu_time_total / 1e6
    by["outside ops"] = max(0.0, wall - sum(by[k] for k in KINDS[:-1]))
    return {"wall_s": wall, **by}


# ---- measurements ---------------------------------------------------------------------------

def rate(fn, items: int, seconds: float) -> tuple[float, int]:
    """(items/s, calls) of `fn` (one warm-up call, then calls until `seconds` have passed)."""
    fn()
    calls, t0 = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return items * calls / elapsed, calls


def alternating(steps: dict, rounds: int) -> dict:
    """Seconds of each call of every step in `steps`, over `rounds` rounds that visit the steps
    in turn, forwards and backwards alternately, so that a drift of the machine falls on all."""
    times = {k: [] for k in steps}
    for r in range(rounds):
        for k in (list(steps) if r % 2 == 0 else list(steps)[::-1]):
            t0 = time.perf_counter()
            steps[k]()
            times[k].append(time.perf_counter() - t0)
    return times


def _median(values: list) -> float:
    return sorted(values)[len(values) // 2]


def make_model(name: str, shape: tuple, seed: int = 0, n_classes: int = 10):
    torch.manual_seed(seed)
    config = dict(STANDARD.get(name, {}))
    fields = get_model_class(name).config_class.__dataclass_fields__
    if "n_classes" in fields and fields["n_classes"].default is None:
        config["n_classes"] = n_classes  # as `hourglass train` takes it from the data
    return build(name, input_shape=shape, **config).train()


class BytesTouched(TorchDispatchMode):
    """Bytes of the tensors every aten op reads and writes (its tensor inputs and outputs; views
    move nothing and are left out). For tensors larger than the caches, memory traffic."""

    def __init__(self):
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if not func.is_view:
            self.bytes += sum(t.numel() * t.element_size() for t in tree_leaves((args, kwargs, out))
                              if isinstance(t, torch.Tensor))
        return out


def training_step(model, pool_x, pool_y, batch_size: int):
    """The library's update on the next batch of the pool, every phase in order."""
    phases = model_phases(model)
    config = TrainConfig(batch_size=batch_size, progress=False)
    updates = [(p, phase_optimizer(p, config)) for p in phases]
    wants_y = has(model, "labels")
    state = {"start": 0}

    def step():
        s = state["start"]
        state["start"] = (s + batch_size) % (pool_x.shape[0] - batch_size + 1)
        xb, yb = pool_x[s:s + batch_size], pool_y[s:s + batch_size] if wants_y else None
        for phase, opt in updates:
            terms = phase.loss(xb, yb)
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            opt.step()
    return step


def parameter_bytes(model) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def step_flops(step) -> int:
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def log_prob_fn(model, x, y):
    gen = torch.Generator().manual_seed(0)
    kw = {"k": IWAE_K, "generator": gen} if has(model, "log_prob_bound") else {}
    args = (x, y) if has(model, "conditional") else (x,)

    @torch.no_grad()
    def score():
        return model.log_prob(*args, **kw)
    return score


WHOLE = "sample images/s, whole image per step"


def has_rows(model) -> bool:
    """An image model in raster order (the PixelCNNs, PixelRNNs), whose whole-image sampler is
    timed too."""
    return isinstance(model, AutoregressiveModel) and model.context_rows() is not None


def sampling_rate(model, seconds: float, n: int = 16) -> dict:
    """Images/s of sequential sampling: calls of ``sample(n)`` for `seconds` after a warm-up
    call, or the one call where it takes longer. For the image models also the rate of a sampler
    that reran the network on the whole image at each of the D steps (one logits pass, timed
    singly, times D): what their samplers' cached maps and carried states save."""
    model.eval()
    gen = torch.Generator().manual_seed(0)

    def draw():
        model.sample(n, generator=gen, progress=False)
    t0 = time.perf_counter()
    draw()
    first = time.perf_counter() - t0
    r, calls = rate(draw, n, seconds) if first < seconds else (n / first, 1)
    row = {"sample images/s": r, "sampling": f"{calls} x sample({n})"}
    if has_rows(model):
        x = torch.zeros(n, *model.config.input_shape)
        with torch.no_grad():
            steps_s, _ = rate(lambda: model.logits(x), 1, seconds)  # logits passes per second
        row[WHOLE] = n * steps_s / model.dim
    return row


def bench_model(name, ds, pool, args, peak, bandwidth) -> dict:
    x_float, x_bin, y = pool
    model = make_model(name, ds.shape)
    bernoulli = getattr(model.config, "likelihood", None) == "bernoulli"
    x = x_bin if bernoulli else x_float
    if name == "rnade":  # real values: the grey levels dequantized, (level + u) / 256
        x = (x_float * 255 + torch.rand(x_float.shape, generator=torch.Generator().manual_seed(0))) / 256
    row = {"model": name, "config": STANDARD.get(name, {}), "data": "binarized" if bernoulli else
           ("dequantized" if name == "rnade" else "[0, 1]"),
           "parameters": sum(p.numel() for p in model.parameters())}
    bs = args.batch_size
    step = training_step(model, x, y, bs)
    flops = step_flops(step) / bs
    train_rate, calls = rate(step, bs, args.seconds)
    t_step = bs / train_rate
    moved = 10 * parameter_bytes(model) + bs * x[0].numel() * 4  # p, g, m, v: read/written
    t_flops, t_bytes = flops * bs / peak, moved / bandwidth
    row.update({"train samples/s": train_rate, "train steps timed": calls,
                "train FLOPs/example": flops, "train GFLOP/s": flops * train_rate / 1e9,
                "share of matmul peak": t_flops / t_step,
                "share of bandwidth bound": t_bytes / t_step,
                "bound by": "FLOPs" if t_flops >= t_bytes else "bytes"})
    prof = profiled(step)
    row["step profile"] = {k: prof[k] / prof["wall_s"] for k in KINDS}  # shares of the step
    if {"log_prob", "log_prob_bound"} & set(model.capabilities.names):
        model.eval()
        score = log_prob_fn(model, x[:bs], y[:bs])
        with FlopCounterMode(display=False) as counter:
            score()
        row["log p(x)"] = f"IWAE k={IWAE_K}" if has(model, "log_prob_bound") else "exact"
        row["log-lik samples/s"], _ = rate(score, bs, args.seconds)
        row["log-lik FLOPs/example"] = counter.get_total_flops() / bs
    if isinstance(model, AutoregressiveModel) or name == "rnade":
        row.update(sampling_rate(model, args.seconds, n=64 if has_rows(model) else 16))
    return row


NADE_PATHS = ("direct", "running sum, PyTorch ops", "running sum, fused kernel")


def _running_sum_in_ops(model):
    """`model.logits` through the running-sum pass in PyTorch operations (not the C kernel)."""
    def logits(x):
        u = model.net_input(x.flatten(1))
        out = running_sum_logits(u, model.W, model.c, model.V, model.b, fused=False)
        return out.view(-1, *model.config.input_shape)
    return logits


def nade_paths(rounds: int, bandwidth: float, batch: int = 64, hidden: int = 500,
               D: int = 784) -> dict:
    """Training steps of NADE (D, H, batch) along each of ``NADE_PATHS``, alternating `rounds`
    times; the ratios of the median step times to the direct one, and the bytes each step's
    PyTorch ops read and write, as time at the copy bandwidth."""
    torch.manual_seed(0)
    x = torch.bernoulli(torch.full((4 * batch, D), 0.3))
    paths = NADE_PATHS if kernel() is not None else NADE_PATHS[:2]
    models = {}
    for path in paths:
        models[path] = make_model("nade", (D,))
        models[path].load_state_dict(models["direct"].state_dict())
        if path == "direct":
            models[path].logits = models[path].logits_cumsum  # the (B, D, H) computation
        elif path == "running sum, PyTorch ops":
            models[path].logits = _running_sum_in_ops(models[path])
    steps = {k: training_step(m, x, x, batch) for k, m in models.items()}
    touched = {}
    for k in steps:
        steps[k]()
        with BytesTouched() as counter:
            steps[k]()
        touched[k] = counter.bytes
    times = alternating(steps, rounds)
    print("nade: " + ", ".join(f"{k} {v}" for k, v in times.items()) + " s", flush=True)
    med = {k: _median(v) for k, v in times.items()}
    P = sum(p.numel() for p in models["direct"].parameters())
    act = batch * D * hidden * 4  # one (B, D, H) float tensor
    return {"batch": batch, "D": D, "H": hidden, "rounds": rounds, "seconds": times,
            "median step s": med, "speed-up over direct": {k: med["direct"] / v for k, v in med.items()},
            "bytes of one (B, D, H) tensor": act, "parameter bytes": 4 * P,
            "bytes touched per step": touched,
            "bytes touched / bandwidth, s": {k: v / bandwidth for k, v in touched.items()},
            "must-move bytes per step": 10 * 4 * P + batch * D * 4,
            "must-move bytes / bandwidth, s": (10 * 4 * P + batch * D * 4) / bandwidth}


def nade_blocks(batches=(32, 64, 128, 256), blocks=(4, 8, 16, 32, 64), hidden: int = 500,
                D: int = 784, rounds: int = 5) -> dict:
    """NADE's running-sum pass in PyTorch ops (forward and backward of the logits) at every block
    length and batch, and the fused C kernel at its default block: the median time of `rounds`
    calls, alternating over them, as samples/s, next to the block
    :func:`~hourglass.models.nade.default_block` picks; and the elementwise floor of the pass, the
    two sigmoids of every (b, i, h) (the forward's and the backward's recomputation) at the rate
    ``sigmoid_`` reaches on one (B, block, H) buffer in the cache."""
    g = torch.Generator().manual_seed(0)
    W = (torch.randn(hidden, D, generator=g) / D ** 0.5).requires_grad_()
    c = torch.zeros(hidden, requires_grad=True)
    V = (torch.randn(D, hidden, generator=g) / hidden ** 0.5).requires_grad_()
    b = torch.zeros(D, requires_grad=True)
    rows = []
    for batch in batches:
        u = torch.bernoulli(torch.full((batch, D), 0.3), generator=g)
        pick = default_block(batch, hidden)
        buf = torch.rand(batch, pick, hidden, generator=g)
        sig = _best_time(lambda: [buf.sigmoid_() for _ in range(-(-D // pick))], 3)
        row = {"batch": batch, "default block": pick, "sigmoid floor s": 2 * sig}
        steps = {m: (lambda m=m: running_sum_logits(u, W, c, V, b, block=m, fused=False)
                     .sum().backward()) for m in blocks}
        if kernel() is not None:
            steps["fused"] = lambda: running_sum_logits(u, W, c, V, b, fused=True).sum().backward()
        for step in steps.values():  # warm-up
            step()
        times = alternating(steps, rounds)
        for m in blocks:
            row[f"block {m} samples/s"] = batch / _median(times[m])
        row["share of the sigmoid floor"] = 2 * sig * row[f"block {pick} samples/s"] / batch
        if "fused" in times:
            row["fused kernel samples/s"] = batch / _median(times["fused"])
            row["fused kernel share of the sigmoid floor"] = (
                2 * sig * row["fused kernel samples/s"] / batch)
        rows.append(row)
        print(f"nade blocks, batch {batch}: " + ", ".join(
            f"{m}: {batch / _median(t):.0f}/s" for m, t in times.items()), flush=True)
    return {"H": hidden, "D": D, "rounds": rounds, "blocks": list(blocks), "rows": rows}


def pixelrnn_layers(rounds: int, batch: int = 128, channels: int = 32, size: int = 28) -> dict:
    """Forward and backward of one PixelRNN layer (a (batch, channels, size, size) map), as the
    paper writes it (the Diagonal BiLSTM's skewed columns, the Row LSTM's two convolutions) and as
    the library runs it, `rounds` alternating calls each: the medians and their ratio."""
    from hourglass.models.diagonal_bilstm import DiagonalBiLSTMLayer
    from hourglass.models.rowlstm import RowLSTMLayer
    torch.manual_seed(0)
    x = torch.randn(batch, channels, size, size)
    x_hwbc = x.permute(2, 3, 0, 1).contiguous()
    diag, row = DiagonalBiLSTMLayer(channels), RowLSTMLayer(channels, 3)
    calls = {("diagonal-bilstm", "paper"): lambda: diag.forward_skewed(x),
             ("diagonal-bilstm", "library"): lambda: diag(x_hwbc),
             ("row-lstm", "paper"): lambda: row.forward_convolutions(x),
             ("row-lstm", "library"): lambda: row(x_hwbc)}
    times = {k: [] for k in calls}
    for r in range(rounds + 1):                       # round 0 warms up
        for k, f in calls.items():
            t0 = time.perf_counter()
            f().sum().backward()
            if r:
                times[k].append(time.perf_counter() - t0)
    rows = []
    for model in ("diagonal-bilstm", "row-lstm"):
        paper, ours = _median(times[(model, "paper")]), _median(times[(model, "library")])
        rows.append({"model": model, "paper form s": paper, "library s": ours,
                     "speed-up": paper / ours})
        print(f"{model} layer: paper form {paper:.3f} s, library {ours:.3f} s", flush=True)
    return {"batch": batch, "channels": channels, "size": size, "rounds": rounds, "rows": rows}


def markdown(rows: list[dict], cols: list[str]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
        return "" if v is None else str(v)
    return ("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
            + "".join("| " + " | ".join(fmt(r.get(c)) for c in cols) + " |\n" for r in rows))


def render(result: dict) -> str:
    """The Markdown tables of a ``models.json`` result."""
    rows, info, nade, blocks = (result["rows"], result["machine"], result["nade paths"],
                                result["nade blocks"])
    layers = result.get("pixelrnn layers")
    cols = ["model", "parameters", "train samples/s", "train FLOPs/example", "train GFLOP/s",
            "share of matmul peak", "share of bandwidth bound", "share of elementwise floor",
            "bound by",
            PROFILE_COL, "log p(x)",
            "log-lik samples/s", "sample images/s", WHOLE, "error"]
    shown = [{**r, PROFILE_COL: " / ".join(f"{r['step profile'][k]:.2f}" for k in KINDS)}
             if "step profile" in r else r for r in rows]
    # NADE's pass runs in a C kernel, unseen by the FLOP counter: its bound is the elementwise
    # floor of the block table (two sigmoids of every (b, i, h)) at this batch size
    floor = {r["batch"]: r["sigmoid floor s"] for r in (blocks or {}).get("rows", [])}
    for r in shown:
        if r["model"] == "nade" and result["batch size"] in floor and "train samples/s" in r:
            r["share of elementwise floor"] = (floor[result["batch size"]]
                                               * r["train samples/s"] / result["batch size"])
            r["bound by"] = "sigmoids"
    cols = [c for c in cols if any(c in r for r in shown)]
    md = (f"# Model speed ({result['data']} {tuple(result['image shape'])}, CPU, "
          f"{info['torch_threads']} threads, batch {result['batch size']})\n\n{info['cpu']}, "
          f"torch {info['torch']}, load average {info['load_average_1min_at_start']} at the "
          f"start; fp32 matmul peak {result['matmul peak GFLOP/s']:.1f} GFLOP/s, copy bandwidth "
          f"{result['copy bandwidth GB/s']:.1f} GB/s.\n\n"
          + markdown(shown, cols)
          + "\nFLOPs: matrix products and convolutions of one training step (all phases), per "
            "example. Share of matmul peak: FLOPs / peak over the step time; share of bandwidth "
            "bound: the bytes a step must move (10 x parameter bytes + the batch) / bandwidth over "
            "the step time. Time: the shares of one profiled step (``torch.profiler``, self time "
            "of its ops) in matrix products and convolutions, the optimizer, other torch ops "
            "(elementwise, reductions, copies) and outside any op (Python, the autograd engine). "
            f"Log-likelihood: exact, or the IWAE bound with k = {result['iwae k']}. Sampling: "
            "sample(64) (NADE, RNADE: sample(16)), calls for the measurement's seconds after a "
            "warm-up call, or one call where it takes longer; the PixelCNNs' sampler caches "
            "every layer's maps and computes each layer at the drawn pixel alone (the gated "
            "model's vertical "
            "stack a row at a time), the PixelRNNs' carry their LSTM states "
            "and run one pixel's step per layer and draw; the last column is a sampler that reran "
            "the network on the whole image at every step (one logits pass, times D). NADE's and "
            "RNADE's "
            "running sums run in C kernels (``nade.c``, ``rnade.c``), which the FLOP counter and "
            "the profiler do not see (their time is \"outside\"); NADE's bound is the "
            "elementwise floor of its pass, two sigmoids of every (b, i, h), from the last "
            "table.\n")
    if nade is not None:
        med, up = nade["median step s"], nade["speed-up over direct"]
        md += (f"\n## NADE: the running-sum pass, fused and in PyTorch ops, vs the direct cumulative "
               f"sum\n\nTraining step (forward, backward, Adam), batch {nade['batch']}, "
               f"D = {nade['D']}, H = {nade['H']}, {nade['rounds']} alternating rounds. One "
               f"(B, D, H) float tensor is {nade['bytes of one (B, D, H) tensor'] / 1e6:.0f} MB; "
               f"the parameters {nade['parameter bytes'] / 1e6:.1f} MB.\n\n"
               "| path | median step (s) | speed-up over direct | bytes read + written by its "
               "PyTorch ops | that / bandwidth (s) |\n|---|---|---|---|---|\n"
               + "".join(f"| {k} | {med[k]:.3f} | **{up[k]:.2f}x** | "
                         f"{nade['bytes touched per step'][k] / 1e9:.2f} GB | "
                         f"{nade['bytes touched / bandwidth, s'][k]:.3f} |\n" for k in med)
               + f"\nBytes every step must move (parameters, gradients and Adam's moments read "
                 f"and written, and the batch): {nade['must-move bytes per step'] / 1e6:.0f} MB, "
                 f"{nade['must-move bytes / bandwidth, s'] * 1e3:.1f} ms at the copy bandwidth. "
                 "The running-sum pass touches its (B, block, H) buffers in the cache; what it "
                 "still costs is the elementwise work, two sigmoids of every (b, i, h). The fused "
                 "kernel's work is invisible to the byte count (one C call).\n")
    if blocks is not None:
        ms = blocks["blocks"]
        fused = all("fused kernel samples/s" in r for r in blocks["rows"])
        md += (f"\n## NADE: block length of the running-sum pass\n\nForward and backward of the "
               f"logits (D = {blocks['D']}, H = {blocks['H']}), samples/s, median of "
               f"{blocks['rounds']} alternating calls: the pass in PyTorch ops at each block "
               "(**bold**: the block it picks) and the fused C kernel. Sigmoid floor: two "
               "`sigmoid_` passes over every (b, i, h), timed on one cached (B, block, H) buffer; "
               "a share is that floor over the time of the pass.\n\n"
               "| batch | " + " | ".join(f"block {m}" for m in ms)
               + (" | fused kernel" if fused else "")
               + " | sigmoid floor (s) | share: PyTorch ops" + (" | share: fused" if fused else "")
               + " |\n|" + "---|" * (len(ms) + 3 + 2 * fused) + "\n"
               + "".join(f"| {r['batch']} | " + " | ".join(
                   (f"**{r[f'block {m} samples/s']:,.0f}**" if m == r["default block"]
                    else f"{r[f'block {m} samples/s']:,.0f}") for m in ms)
                   + (f" | {r['fused kernel samples/s']:,.0f}" if fused else "")
                   + f" | {r['sigmoid floor s']:.3f} | {r['share of the sigmoid floor']:.2f}"
                   + (f" | {r['fused kernel share of the sigmoid floor']:.2f}" if fused else "")
                   + " |\n" for r in blocks["rows"]))
    if layers is not None:
        md += (f"\n## PixelRNN layers: the paper's form and the library's\n\nForward and backward "
               f"of one layer on a ({layers['batch']}, {layers['channels']}, {layers['size']}, "
               f"{layers['size']}) map, median of {layers['rounds']} alternating calls. Paper: "
               "the Diagonal BiLSTM skews the map and steps through its columns (a column is a "
               "strided slice, and nearly half of its entries are the skew's zeros); the Row LSTM "
               "runs its 1 x k input-to-state convolution over the map, then a 1 x k "
               "state-to-state convolution per row. Library: maps laid out (H, W, B, C), the "
               "Diagonal BiLSTM stepping through the diagonals, one matrix product per step "
               "over the input and state taps side by side (same result; tested to 1e-12 in "
               "float64).\n\n| layer | paper form (s) | library (s) | speed-up |\n|---|---|---|---|\n"
               + "".join(f"| {r['model']} | {r['paper form s']:.3f} | {r['library s']:.3f} | "
                         f"**{r['speed-up']:.2f}x** |\n" for r in layers["rows"]))
    return md


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default: 2)")
    p.add_argument("--batch-size", type=int, default=128, help="batch size (default: 128)")
    p.add_argument("--seconds", type=float, default=3.0, help="seconds per measurement (default: 3)")
    p.add_argument("--models", nargs="+", default=list_models(), choices=list_models())
    p.add_argument("--nade-rounds", type=int, default=5,
                   help="alternating rounds of the NADE comparison (0: leave it out; default: 5)")
    p.add_argument("--pixelrnn-rounds", type=int, default=5,
                   help="alternating rounds of the PixelRNN layer comparison (0: leave it out; "
                        "default: 5)")
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument("--render", action="store_true",
                   help="only rewrite models.md from the models.json in --out (no measuring)")
    args = p.parse_args(argv)
    if args.render:
        result = json.loads((Path(args.out) / "models.json").read_text())
        atomic_write_text(Path(args.out) / "models.md", render(result))
        return result
    torch.set_num_threads(args.threads)
    info = machine(args.threads)
    peak, bandwidth = matmul_peak(), copy_bandwidth()
    print(f"matmul peak {peak / 1e9:.1f} GFLOP/s, copy bandwidth {bandwidth / 1e9:.1f} GB/s", flush=True)
    ds = load(args.data)
    n_pool = max(4 * args.batch_size, 1024)
    x_float = ds.to_float(ds.train.x[:n_pool])
    x_bin = torch.bernoulli(x_float, generator=torch.Generator().manual_seed(0))
    y = ds.train.y[:n_pool].long()
    rows = []
    for name in args.models:
        t0 = time.perf_counter()
        try:
            rows.append(bench_model(name, ds, (x_float, x_bin, y), args, peak, bandwidth))
        except Exception as e:  # a benchmark reports what it could not measure
            rows.append({"model": name, "error": f"{type(e).__name__}: {e}"})
        print(f"{name}: {time.perf_counter() - t0:.0f}s {markdown(rows[-1:], list(rows[-1]))}",
              flush=True)
    with_nade = args.nade_rounds > 0 and "nade" in args.models
    nade = nade_paths(args.nade_rounds, bandwidth) if with_nade else None
    blocks = nade_blocks() if with_nade else None
    with_layers = args.pixelrnn_rounds > 0 and {"diagonal-bilstm", "row-lstm"} & set(args.models)
    layers = pixelrnn_layers(args.pixelrnn_rounds) if with_layers else None
    result = {"benchmark": __doc__.splitlines()[0], "data": args.data, "image shape": list(ds.shape),
              "batch size": args.batch_size, "seconds per measurement": args.seconds,
              "iwae k": IWAE_K, "machine": info,
              "matmul peak GFLOP/s": peak / 1e9, "copy bandwidth GB/s": bandwidth / 1e9,
              "rows": rows, "nade paths": nade, "nade blocks": blocks,
              "pixelrnn layers": layers}
    out = Path(args.out)
    atomic_write_json(out / "models.json", result)
    atomic_write_text(out / "models.md", md := render(result))
    print(md)
    return result


if __name__ == "__main__":
    main()
