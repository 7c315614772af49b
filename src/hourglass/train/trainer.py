"""The one training loop. Nothing in it is specific to any model (after minGPT's trainer).

A model is an ``nn.Module`` whose ``forward(x, y=None)`` returns a dict of scalar loss terms with
the key ``"loss"``; the loop minimizes ``"loss"`` and logs every term. A model trained in several
phases per batch (an adversarial autoencoder: reconstruction, discriminator, generator) declares
them with ``phases() -> list[Phase]``: each phase names the parameters it updates, its loss and its
optimizer settings, and the loop steps them in order on every batch, with one optimizer per phase.
The one-phase case is the plain model. A model that schedules
something over training (a KL warm-up, say) defines ``on_epoch_start(epoch)`` (0-based); the loop
calls it before each epoch, also after a resume, and passes nothing else into the model. The data stay in memory as
one tensor (uint8 or float) on the training device; each batch is an index slice of a shuffled
permutation, converted to float and (optionally) binarized on the fly: no per-example Python.
"""

from __future__ import annotations

import copy
import csv
import io
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import torch
from tqdm.auto import tqdm

from hourglass.core.io import atomic_write_text
from hourglass.core.errors import ConfigError, RunError
from hourglass.train import distributed
from hourglass.train.checkpoint import load_checkpoint, save_checkpoint
from hourglass.train.signals import Interrupted, StopSignals
from hourglass.train.optim import make_optimizer
from hourglass.train.config import TrainConfig, resolve_device
from hourglass.models.protocol import Phase, model_phases

def _phase_optimizer(phase: Phase, config: TrainConfig) -> torch.optim.Optimizer:
    """The phase's optimizer: the run's settings, then the phase's. A phase's "lr" is a default
    (DCGAN's 2e-4, say) that an explicit run lr (--lr) overrides."""
    settings = dict(phase.optimizer)
    name = settings.pop("name", config.optimizer)
    lr = settings.pop("lr", None) if config.lr is None else config.lr
    settings.pop("lr", None)
    return make_optimizer(name, phase.parameters, lr=lr, weight_decay=config.weight_decay,
                          momentum=config.momentum, **settings)


class Batches:
    """In-memory data as one tensor on the device, served as float batches.

    ``scale`` turns stored values into model inputs (1/255 for uint8 images); ``binarize`` decides
    whether a batch is resampled as Bernoulli(x) each time ("dynamic") or was sampled once
    ("static", done here at construction) or thresholded at 0.5.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor | None, *, device, binarize="none",
                 seed: int = 0):
        self.scale = 1 / 255 if x.dtype == torch.uint8 else 1.0
        self.mode = binarize
        if binarize in ("static", "threshold"):  # fixed once: store the 0/1 result as uint8
            g = torch.Generator().manual_seed(seed)
            p = x.float() * self.scale
            x = (torch.bernoulli(p, generator=g) if binarize == "static" else p > 0.5).to(torch.uint8)
            self.scale, self.mode = 1.0, "none"
        self.x = x.to(device)
        self.y = None if y is None else y.to(device)

    def __len__(self):
        return self.x.shape[0]

    def get(self, idx):
        xb = self.x[idx].float()
        if self.scale != 1.0:
            xb.mul_(self.scale)
        if self.mode == "dynamic":
            xb = torch.bernoulli(xb)
        return xb, (None if self.y is None else self.y[idx])


def _history_csv(history: list[dict]) -> str:
    """history.csv: epoch, train_*, val_*, anything else, time_s; terms in the order logged."""
    names = list(dict.fromkeys(c for row in history for c in row))
    rank = lambda c: (c != "epoch", not c.startswith("train_"), not c.startswith("val_"),  # noqa: E731
                      c == "time_s")
    cols = sorted(names, key=rank)  # stable: keeps the logged order within each group
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    w.writerows(history)
    return buf.getvalue()


@torch.no_grad()
def evaluate_loss(model, batches: Batches, batch_size: int = 1000) -> dict[str, float]:
    """Mean of every loss term over a split, in eval mode.

    In a distributed run each rank takes every ``world``-th row of each chunk (as in training,
    :func:`distributed.shard`) and the sums are all-reduced, so every rank gets the same numbers
    (and the same early-stopping decision).
    """
    was_training = model.training
    model.eval()
    w = distributed.world()
    totals: dict[str, torch.Tensor] = {}
    n = len(batches)
    for start in range(0, n, batch_size):
        idx = slice(start, min(n, start + batch_size))
        weight = idx.stop - start
        if w.active:  # this rank's rows of the chunk, as in training; sums all-reduced below
            idx, weight, _ = distributed.shard(torch.arange(idx.start, idx.stop), w)
        xb, yb = batches.get(idx)
        for k, v in model(xb, yb).items():
            totals[k] = totals.get(k, 0.0) + v.detach() * weight
    model.train(was_training)
    if w.active:
        totals = distributed.all_reduce_totals(totals, None, w)[0]
    return {k: float(v) / n for k, v in totals.items()}


NONFINITE_LR_FACTOR = 0.5  # on_nonfinite="skip": the phase's learning rate is multiplied by this
NONFINITE_MAX_SKIPS = 10  # ... and the run stops after this many skipped steps in a row


def _finite_gradient(parameters) -> bool:
    """Whether the global gradient norm is finite (one sync; only with on_nonfinite="skip").
    In a distributed run the gradients are already averaged, so every rank agrees."""
    grads = [p.grad for p in parameters if p.grad is not None]
    return not grads or bool(torch.isfinite(torch.nn.utils.get_total_norm(grads)))


def _phase_of(term: str, prefix: dict) -> str:
    """The phase that logged `term` (its prefix), for the rows a skipped step left out."""
    for name, head in prefix.items():
        if head and term.startswith(head):
            return name
    return next(iter(prefix))


def _check_finite(totals: dict, epoch: int, after: int, upto: int) -> None:
    """Raise RunError naming the terms whose running total went non-finite in batches after..upto
    (one sync, done only where the loop syncs anyway or is about to checkpoint)."""
    bad = [k for k, v in totals.items() if not math.isfinite(float(v))]
    if bad:
        where = f"batch {upto}" if upto - after <= 1 else f"batches {after + 1}-{upto}"
        raise RunError(f"The training loss became non-finite in epoch {epoch + 1} "
                       f"({', '.join('train_' + k for k in bad)}), {where}. Lower the learning rate (--lr) or set "
                       "--grad-clip; the last checkpoint (if any) is intact.")


def train(model: torch.nn.Module, x: torch.Tensor, *, y: torch.Tensor | None = None,
          val_x: torch.Tensor | None = None, val_y: torch.Tensor | None = None,
          config: TrainConfig | None = None, run_dir: str | Path | None = None,
          resume: bool = False, sample_weights=None,
          on_epoch_end: Callable[[dict, torch.nn.Module], None] | None = None) -> list[dict]:
    """Train `model` on `x` (and labels `y` for models that use them); return the history.

    Each epoch is a shuffled pass over `x`; with ``sample_weights`` (a callable ``epoch -> (n,)``
    non-negative tensor, e.g. :class:`hourglass.uses.debias.DebiasSampler`) it is instead ``n`` draws
    with replacement in proportion to the weights.

    Each epoch appends one row: ``epoch``, ``train_<term>`` for every loss term, ``val_<term>``
    when a validation split is given, ``time_s``. With ``patience``, training stops after that many
    epochs without a lower validation loss and the best weights are restored. With ``run_dir``, a
    checkpoint and ``history.csv`` are written atomically at every epoch end; ``resume=True``
    continues from them. ``on_epoch_end(row, model)`` is called after each epoch's row is logged
    (a TensorBoard writer, say); it must not change the model.
    """
    config = (config or TrainConfig()).validate()
    if config.patience is not None and val_x is None:
        raise ConfigError("patience (early stopping) needs a validation split: pass val_x "
                          "or set patience=None.")
    w = distributed.world()  # one process, or one rank of a torchrun launch
    device = distributed.rank_device(resolve_device(config.device), w)
    torch.manual_seed(config.seed + w.rank)  # rank 0 draws what a single process draws
    model.to(device).train()
    phases = model_phases(model)
    optimizers = {p.name: _phase_optimizer(p, config) for p in phases}
    prefix = {p.name: "" if len(phases) == 1 else f"{p.name}_" for p in phases}
    data = Batches(x, y, device=device, binarize=config.binarize, seed=config.seed)
    # validation sees one fixed binarization, so its numbers are comparable across epochs
    val_mode = "static" if config.binarize == "dynamic" else config.binarize
    val = None if val_x is None else Batches(val_x, val_y, device=device, binarize=val_mode,
                                             seed=config.seed + 1)
    shuffle = torch.Generator().manual_seed(config.seed)  # the same data order on every rank
    history: list[dict] = []
    best_loss, best_state, bad_epochs, start_epoch, start_step = math.inf, None, 0, 0, 0
    totals: dict[str, torch.Tensor] = {}
    skipped: dict[str, int] = {}  # rows whose step a phase skipped this epoch (on_nonfinite="skip")
    skipped_steps = 0
    run_dir = None if run_dir is None else Path(run_dir)
    writes = run_dir is not None and w.main  # only rank 0 writes the run directory
    if resume:
        if run_dir is None:
            raise ConfigError("resume=True needs the run_dir of the interrupted run.")
        state = load_checkpoint(run_dir, model=model, optimizers=optimizers, generator=shuffle)
        history, start_epoch = state["history"], state["epoch"]
        best_loss, bad_epochs = state["best_loss"], state["bad_epochs"]
        best_state = state["best_model_state"]
        start_step = state.get("step", 0)  # batches of epoch `start_epoch` already taken
        skipped = dict(state.get("skipped", {}))
        skipped_steps = state.get("skipped_steps", 0)
        if w.main:  # the checkpoint holds the totals of all ranks
            totals = {k[7:]: v.to(device) for k, v in state["extra"].items() if k.startswith("totals.")}
        else:
            totals = {k[7:]: torch.zeros_like(v, device=device) for k, v in state["extra"].items()
                      if k.startswith("totals.")}
        if w.active:
            distributed.restore_rng(state["extra"], w, device, config.seed, start_step)
    forward = {p.name: p.loss for p in phases}
    if w.active:  # gradients averaged over the ranks by DistributedDataParallel
        forward = distributed.replicate(model, phases, device)

    def checkpoint(epoch: int, step: int = 0, epoch_shuffle: torch.Tensor | None = None):
        """Epoch ends: step 0 of the next epoch; mid-epoch: `step` batches done, the epoch's totals.
        Called on every rank at the same step (distributed: the RNG states are gathered)."""
        extra = {f"totals.{k}": v for k, v in totals.items()} if step else {}
        if w.active:
            extra.update(distributed.gather_rng(w, device))
        if not writes:
            return
        save_checkpoint(run_dir, model=model, optimizers=optimizers, keep=config.keep_checkpoints,
                        shuffle_state=shuffle.get_state() if epoch_shuffle is None else epoch_shuffle,
                        epoch=epoch, best_model_state=best_state, extra_tensors=extra or None,
                        state={"step": step, "history": history, "best_loss": best_loss,
                               "bad_epochs": bad_epochs,
                               **({"skipped": skipped, "skipped_steps": skipped_steps}
                                  if step and skipped else {})})

    n, bs = len(data), config.batch_size
    n_steps = -(-n // bs)  # batches per epoch
    every = config.checkpoint_every if run_dir is not None else None
    skip_bad = config.on_nonfinite == "skip"
    bad_run = 0  # consecutive skipped steps
    on_epoch_start = getattr(model, "on_epoch_start", None)  # schedules (e.g. KL warm-up) live in the model
    with StopSignals(enabled=run_dir is not None) as signals:
        for epoch in range(start_epoch, config.epochs):
            t0 = time.perf_counter()
            if on_epoch_start is not None:
                on_epoch_start(epoch)
            epoch_shuffle = shuffle.get_state()  # the permutation below is redrawn from it on resume
            if sample_weights is None:
                perm = torch.randperm(n, generator=shuffle).to(device)
            else:
                wts = torch.as_tensor(sample_weights(epoch), dtype=torch.float64).cpu()
                perm = torch.multinomial(wts, n, replacement=True, generator=shuffle).to(device)
                if w.active:  # weights come from the model: take rank 0's draw
                    torch.distributed.broadcast(perm, src=0)
            first = start_step if epoch == start_epoch else 0
            if first == 0:
                totals, skipped, skipped_steps = {}, {}, 0
            checked = first  # totals were finite after this many batches
            steps = range(first * bs, n, bs)
            bar = tqdm(steps, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False,
                       disable=not (config.progress and w.main), mininterval=0.5)
            for step, start in enumerate(bar, start=first):
                idx = perm[start:start + bs]
                m = m_local = idx.shape[0]
                if w.active:  # this rank's share of the global batch
                    idx, m_local, scale = distributed.shard(idx, w)
                xb, yb = data.get(idx)
                for phase in phases:
                    terms = forward[phase.name](xb, yb)
                    opt = optimizers[phase.name]
                    opt.zero_grad(set_to_none=True)
                    (terms["loss"] if not w.active else terms["loss"] * scale).backward()
                    if skip_bad and not _finite_gradient(phase.parameters):
                        opt.zero_grad(set_to_none=True)  # skip this step, lower the phase's lr
                        for group in opt.param_groups:
                            group["lr"] *= NONFINITE_LR_FACTOR
                        skipped[phase.name] = skipped.get(phase.name, 0) + m
                        skipped_steps += 1
                        bad_run += 1
                        if bad_run > NONFINITE_MAX_SKIPS:
                            raise RunError(f"The training loss stayed non-finite for {bad_run} steps "
                                           f"in a row (epoch {epoch + 1}, batch {step + 1}, phase "
                                           f"{phase.name!r}) although the learning rate was lowered "
                                           f"{bad_run} times. Check the data and the model settings.")
                        continue
                    bad_run = 0
                    if config.grad_clip is not None:
                        torch.nn.utils.clip_grad_norm_(phase.parameters, config.grad_clip)
                    opt.step()
                    for k, v in terms.items():
                        k = prefix[phase.name] + k
                        totals[k] = totals[k] + v.detach() * m_local if k in totals else v.detach() * m_local
                done = step + 1
                at_checkpoint = every and (epoch * n_steps + done) % every == 0
                if w.active:  # sum the totals and agree on stopping, every rank at the same step
                    sync = done % distributed.SYNC_EVERY == 0 or at_checkpoint
                    stop = None
                    if sync:
                        shown, totals, stop = distributed.all_reduce_totals(totals, signals.received, w)
                else:
                    sync, stop, shown = config.progress and step % 20 == 0, signals.received, totals
                if sync:
                    _check_finite(shown, epoch, checked, done)
                    checked = done
                    if config.progress and w.main:
                        seen = min(n, start + m)  # rows so far, less those a phase skipped
                        bar.set_postfix({k: f"{float(v) / max(1, seen - skipped.get(_phase_of(k, prefix), 0)):.4g}"
                                         for k, v in shown.items()}, refresh=False)
                if (at_checkpoint or stop) and start + m < n:
                    if not w.active:
                        _check_finite(totals, epoch, checked, done)
                        checked = done
                    checkpoint(epoch, done, epoch_shuffle)
                    if stop:
                        raise Interrupted(signals.message(run_dir, epoch + 1, done, stop))
            bar.close()
            stop = signals.received
            if w.active:
                totals, _, stop = distributed.all_reduce_totals(totals, stop, w)
                distributed.broadcast_buffers(model)  # e.g. batch-norm statistics: rank 0's
            _check_finite(totals, epoch, checked, len(steps) + first)
            row = {"epoch": epoch + 1,
                   **{f"train_{k}": float(v) / max(1, n - skipped.get(_phase_of(k, prefix), 0))
                      for k, v in totals.items()}}
            if skip_bad:
                row["skipped_steps"] = skipped_steps
            if val is not None:
                row.update({f"val_{k}": v for k, v in evaluate_loss(model, val).items()})
            row["time_s"] = time.perf_counter() - t0
            history.append(row)
            stop_early = False
            if config.patience is not None:
                if row["val_loss"] < best_loss:
                    best_loss, bad_epochs = row["val_loss"], 0
                    best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
                else:
                    bad_epochs += 1
                    stop_early = bad_epochs >= config.patience
            if on_epoch_end is not None and w.main:
                on_epoch_end(row, model)
            if config.progress and w.main:
                tqdm.write("  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                     for k, v in row.items()))
            if run_dir is not None:
                checkpoint(epoch + 1)
                if writes:
                    atomic_write_text(run_dir / "history.csv", _history_csv(history))
                if stop and epoch + 1 < config.epochs and not stop_early:
                    raise Interrupted(signals.message(run_dir, epoch + 1, len(steps) + first, stop))
            if stop_early:
                break
    if best_state is not None:  # early stopping: keep the weights of the best validation epoch
        model.load_state_dict(best_state)
    return history
