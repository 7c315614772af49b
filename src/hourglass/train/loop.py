"""The one training loop. Nothing in it is specific to any model (after minGPT's trainer).

A model is an ``nn.Module`` whose ``forward(x, y=None)`` returns a dict of scalar loss terms with
the key ``"loss"``; the loop minimizes ``"loss"`` and logs every term. A model trained in several
phases per batch (an adversarial autoencoder: reconstruction, discriminator, generator) declares
them with ``phases() -> list[Phase]``: each phase names the parameters it updates, its loss and its
optimizer settings, and the loop steps them in order on every batch, with one optimizer per phase.
The one-phase case is the plain model. A model that schedules something over training (a KL
warm-up, say) defines ``on_epoch_start(epoch)`` (0-based); the loop calls it before each epoch,
also after a resume, and passes nothing else into the model.

The loop itself is shuffle, batch, phases, step, log; the rest is in the components it calls:
:mod:`~hourglass.train.batches` (the data on the device, the epoch order),
:mod:`~hourglass.train.distributed` (the ranks of a data-parallel run),
:mod:`~hourglass.train.checkpoint` (the run state, saved and resumed),
:mod:`~hourglass.train.nonfinite`, :mod:`~hourglass.train.early_stopping`,
:mod:`~hourglass.train.signals` and :mod:`~hourglass.train.progress`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch

from hourglass.core.errors import ConfigError
from hourglass.models.protocol import check_data, epoch_start, init_from_data, model_phases
from hourglass.train import distributed
from hourglass.train.averaging import WeightAverage
from hourglass.train.batches import Batches, EpochOrder
from hourglass.train.checkpoint import Checkpoints
from hourglass.train.config import TrainConfig, resolve_device
from hourglass.train.early_stopping import EarlyStopping
from hourglass.train.nonfinite import NonFiniteGuard
from hourglass.train.optim import phase_optimizer
from hourglass.train.progress import Progress
from hourglass.train.schedule import LRSchedule
from hourglass.train.signals import Interrupted, StopSignals
from hourglass.train.speed import Precision, compile_forwards


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
    ranks = distributed.ranks(resolve_device(config.device), progress=config.progress)
    device = ranks.device
    torch.manual_seed(config.seed + ranks.rank)  # rank 0 draws what a single process draws
    check_data(model, x, y)  # once per fit, on all of it
    init_from_data(model, x, config.seed)  # once per model: data-dependent initial values
    model.to(device).train()
    phases = model_phases(model)
    optimizers = {p.name: phase_optimizer(p, config) for p in phases}
    prefix = {p.name: "" if len(phases) == 1 else f"{p.name}_" for p in phases}
    data = Batches(x, y, device=device, binarize=config.binarize, seed=config.seed,
                   augment=config.augment, augment_shift=config.augment_shift,
                   input_noise=config.input_noise)
    # base rates recorded before a resume loads the optimizers' saved groups
    schedule = LRSchedule(config, optimizers, -(-len(data) // config.batch_size))
    val = Batches.validation(val_x, val_y, device=device, binarize=config.binarize, seed=config.seed)
    order = EpochOrder(len(data), seed=config.seed, device=device, sample_weights=sample_weights,
                       from_rank0=ranks.from_rank0)
    average = WeightAverage(model, config.ema_decay)
    checkpoints = Checkpoints(run_dir, model=model, optimizers=optimizers, generator=order.generator,
                              every=config.checkpoint_every, keep=config.keep_checkpoints,
                              writes=ranks.main, rank_rng=ranks.rank_rng, average=average)
    run = checkpoints.start(resume=resume, device=device, main=ranks.main)
    if resume:
        ranks.resume(run.rank_rng, seed=config.seed, step=run.step)
    forward = ranks.forwards(model, phases)  # after the resume: DDP starts from rank 0's weights
    if config.compile:
        forward = compile_forwards(forward)
    precision = Precision(config.precision, device)
    updates = [(p, forward[p.name], optimizers[p.name], prefix[p.name]) for p in phases]
    guard = NonFiniteGuard(config.on_nonfinite, run, prefix)
    stopping = EarlyStopping(config.patience, run)
    n, bs = len(data), config.batch_size
    n_steps = -(-n // bs)  # batches per epoch
    progress = Progress(enabled=config.progress and ranks.main, epochs=config.epochs,
                        steps_per_epoch=n_steps, first_epoch=run.epoch, main=ranks.main)
    with StopSignals(enabled=run_dir is not None) as signals:
        first_epoch = run.epoch
        for epoch in range(first_epoch, config.epochs):
            t0 = time.perf_counter()
            epoch_start(model, epoch)  # schedules (e.g. a KL warm-up) live in the model
            perm, epoch_shuffle = order.draw(epoch)
            first = run.begin_epoch(epoch)  # > 0: resumed within this epoch
            guard.begin_epoch(first)
            starts = progress.steps(epoch, range(first * bs, n, bs))
            for step, start in enumerate(starts, start=first):
                idx = perm[start:start + bs]
                m = idx.shape[0]
                idx, m_rank = ranks.share(idx)  # this rank's rows of the global batch
                xb, yb = data.get(idx)
                schedule.apply(epoch * n_steps + step)
                for phase, loss_of, opt, head in updates:
                    with precision.autocast():
                        terms = loss_of(xb, yb)
                    opt.zero_grad(set_to_none=True)
                    ranks.backward(precision.scale(terms["loss"]))
                    precision.unscale(opt)
                    if guard.skip and guard.skipped(phase, opt, m, epoch=epoch, step=step):
                        continue
                    if config.grad_clip is not None:
                        torch.nn.utils.clip_grad_norm_(phase.parameters, config.grad_clip)
                    precision.step(opt)
                    run.add(head, terms, m_rank)
                average.update(epoch * n_steps + step)
                done = step + 1
                at_checkpoint = checkpoints.due(epoch * n_steps + done)
                # the totals to look at (summed over the ranks), to keep, and a signal received
                shown, run.totals, stop = ranks.tally(run.totals, signals.received, done=done,
                                                      force=at_checkpoint)
                if shown is not None:  # a host sync: every SYNC_EVERY steps at most
                    guard.check(shown, epoch=epoch, upto=done)
                    progress.running(shown, seen=min(n, start + m), rows=guard.rows)
                if (at_checkpoint or stop) and start + m < n:  # within the epoch
                    guard.check(run.totals, epoch=epoch, upto=done)  # never save a non-finite run
                    checkpoints.save(run, epoch=epoch, step=done, shuffle_state=epoch_shuffle)
                    if stop:
                        raise Interrupted(signals.message(run_dir, epoch + 1, done, stop))
            progress.close()
            run.totals, stop = ranks.end_epoch(run.totals, signals.received, model)
            guard.check(run.totals, epoch=epoch, upto=n_steps)
            row = {"epoch": epoch + 1,
                   **{f"train_{k}": float(v) / guard.rows(k, n) for k, v in run.totals.items()}}
            if (lr := schedule.current()) is not None:
                row["lr"] = lr
            if guard.skip:
                row["skipped_steps"] = run.skipped_steps
            with average.swapped():  # validation and early stopping see the averaged weights
                if val is not None:
                    row.update({f"val_{k}": v for k, v in evaluate_loss(model, val).items()})
                stop_early = stopping.stop(row.get("val_loss"), model)
            if config.compile and epoch == first_epoch:  # the first step compiled
                row["compile_s"] = sum(f.seconds or 0.0 for f in forward.values())
            row["time_s"] = time.perf_counter() - t0
            run.history.append(row)
            if on_epoch_end is not None and ranks.main:
                on_epoch_end(row, model)
            progress.epoch_line(row)
            checkpoints.save(run, epoch=epoch + 1)
            if stop and epoch + 1 < config.epochs and not stop_early:
                raise Interrupted(signals.message(run_dir, epoch + 1, n_steps, stop))
            if stop_early:
                progress.stopped_early(epoch=epoch + 1, patience=config.patience,
                                       history=run.history)
                break
    progress.finish()
    average.apply()
    stopping.restore_best(model)
    return run.history


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
