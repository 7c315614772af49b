"""Training checkpoints in safetensors + JSON: model, optimizer, RNG states, history.

Nothing here unpickles. Tensors go to ``checkpoint.safetensors``; everything else (epoch, step in
the epoch, history, optimizer hyper-parameters) to its metadata, so the one file, replaced
atomically, is always a consistent checkpoint; ``checkpoint.json`` repeats the state for people to
read. :class:`RunState` is what the training loop carries from step to step and a checkpoint
restores; :class:`Checkpoints` is the run directory as training writes it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from hourglass.core.errors import ConfigError, RunError
from hourglass.core.io import (atomic_save_safetensors, atomic_write_json, atomic_write_text,
                               checked_file)

TENSORS, STATE = "checkpoint.safetensors", "checkpoint.json"


def _split_optimizer(sd: dict, name: str) -> tuple[dict, dict]:
    """Optimizer state_dict -> (flat tensors ``optim.<name>.<param id>.<key>``, JSON-able rest)."""
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim.{name}.{pid}.{k}"] = v
            else:
                scalars[f"{pid}.{k}"] = v
    return tensors, {"scalars": scalars, "param_groups": sd["param_groups"]}


def _join_optimizer(tensors: dict, meta: dict, name: str) -> dict:
    state: dict[int, dict] = {}
    head = f"optim.{name}."
    for key, v in tensors.items():
        if key.startswith(head):
            pid, k = key[len(head):].split(".", 1)
            state.setdefault(int(pid), {})[k] = v
    for key, v in meta["scalars"].items():
        pid, k = key.split(".", 1)
        state.setdefault(int(pid), {})[k] = v
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()}
              for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


def save_checkpoint(run_dir: Path, *, model, optimizers: dict, shuffle_state: torch.Tensor,
                    epoch: int, state: dict, best_model_state: dict | None = None,
                    extra_tensors: dict | None = None, keep: int = 1) -> None:
    """Save the model, every phase's optimizer (``{phase name: optimizer}``), the RNGs and `state`.

    ``shuffle_state`` is the data-order generator's state at the start of the epoch the checkpoint
    is in (with ``state["step"]`` batches of it done), so a resume redraws the same permutation.
    The JSON state also rides in the safetensors metadata: that one file, replaced atomically, is
    a consistent checkpoint whatever moment the process dies. With ``keep > 1`` the previous
    checkpoints stay (hard-linked, no copy) in ``checkpoints/``, the ``keep - 1`` newest of them.
    """
    run_dir = Path(run_dir)
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    if best_model_state is not None:
        tensors.update({f"best.{k}": v for k, v in best_model_state.items()})
    tensors.update({f"extra.{k}": v for k, v in (extra_tensors or {}).items()})
    opt_meta = {}
    for name, optimizer in optimizers.items():
        opt_tensors, opt_meta[name] = _split_optimizer(optimizer.state_dict(), name)
        tensors.update(opt_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.shuffle"] = shuffle_state
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    # unsorted: the history rows keep their column order across a resume
    state = {"epoch": epoch, "optimizers": opt_meta, **state}
    if keep > 1:
        _keep_previous(run_dir, keep - 1)
    atomic_save_safetensors(run_dir / TENSORS, tensors,
                            metadata={"epoch": str(epoch), "state": json.dumps(state)})
    atomic_write_json(run_dir / STATE, state, sort_keys=False)


def _keep_previous(run_dir: Path, n: int) -> None:
    """Hard-link the current checkpoint into checkpoints/ and drop all but the `n` newest there."""
    if not (run_dir / TENSORS).exists():
        return
    old = json.loads(safe_open(str(run_dir / TENSORS), "pt").metadata()["state"])
    folder = run_dir / "checkpoints"
    folder.mkdir(exist_ok=True)
    dest = folder / f"epoch{old['epoch']:05d}-step{old.get('step', 0):07d}.safetensors"
    if not dest.exists():
        os.link(run_dir / TENSORS, dest)
    for stale in sorted(folder.glob("*.safetensors"))[:-n]:
        stale.unlink()


def _checkpoint_cap(model) -> int:
    """Most bytes a checkpoint of `model` takes: weights, at most two optimizer slots each and the
    best weights (4 times the weights), plus room for the JSON state."""
    weights = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    return 5 * weights + 64_000_000


def check_checkpoint(run_dir: Path, model) -> None:
    """Refuse, before anything is written, a checkpoint of `run_dir` that cannot be resumed: one
    that is missing, not a regular file of a sensible size, or whose header or state cannot be
    read (the tensors themselves are read by :func:`load_checkpoint`)."""
    run_dir = Path(run_dir)
    if not (run_dir / TENSORS).exists() and not (run_dir / TENSORS).is_symlink():
        raise RunError(f"No checkpoint to resume in {run_dir}: expected {TENSORS}. "
                       "Start the run without --resume.")
    checked_file(run_dir / TENSORS, max_bytes=_checkpoint_cap(model), what="checkpoint")
    try:
        with safe_open(str(run_dir / TENSORS), "pt") as f:
            meta = f.metadata() or {}
        if "state" in meta and not isinstance(json.loads(meta["state"]), dict):
            raise ValueError("the state is not a JSON object")
    except (json.JSONDecodeError, SafetensorError, OSError, ValueError, RecursionError) as e:
        raise RunError(f"The checkpoint in {run_dir} cannot be read ({e}). "
                       "Delete it and start again without --resume.") from None


def load_checkpoint(run_dir: Path, *, model, optimizers: dict, generator: torch.Generator) -> dict:
    """Restore model, optimizer and RNGs in place; return the JSON state (epoch, step, history,
    ...) with ``best_model_state`` and ``extra`` (tensors) added."""
    run_dir = Path(run_dir)
    # the state rides in TENSORS' metadata: a disk that filled up between writing TENSORS and
    # STATE leaves a checkpoint that resumes
    if not (run_dir / TENSORS).exists():
        raise RunError(f"No checkpoint to resume in {run_dir}: expected {TENSORS}. "
                       "Start the run without --resume.")
    # a FIFO would block the read forever, a device or a sparse file fill the memory
    checked_file(run_dir / TENSORS, max_bytes=_checkpoint_cap(model), what="checkpoint")
    try:
        tensors = load_file(str(run_dir / TENSORS))
        meta = safe_open(str(run_dir / TENSORS), "pt").metadata() or {}
        state = json.loads(meta["state"] if "state" in meta else (run_dir / STATE).read_text())
        if not isinstance(state, dict):
            raise ValueError("the state is not a JSON object")
    except (json.JSONDecodeError, SafetensorError, OSError, ValueError, RecursionError) as e:
        raise RunError(f"The checkpoint in {run_dir} cannot be read ({e}). "
                       "Delete it and start again without --resume.") from None
    model_sd = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(model_sd)
        for name, optimizer in optimizers.items():
            optimizer.load_state_dict(_join_optimizer(tensors, state["optimizers"][name], name))
        torch.set_rng_state(tensors["rng.torch"])
        generator.set_state(tensors["rng.shuffle"])
        missing = [k for k in ("epoch", "history", "best_loss", "bad_epochs") if k not in state]
        if missing:
            raise KeyError(f"no {missing} in the state")
    except (RuntimeError, KeyError, ValueError, TypeError, AttributeError) as e:
        raise RunError(f"The checkpoint in {run_dir} does not match this model/optimizer or is "
                       f"incomplete ({type(e).__name__}: {e}). Resume with the run's own config, "
                       "or delete the checkpoint and start again.") from None
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
    state["best_model_state"] = best or None
    state["extra"] = {k[6:]: v for k, v in tensors.items() if k.startswith("extra.")}
    return state


@dataclass
class RunState:
    """Where a run stands: everything besides weights, optimizers and RNGs that a checkpoint keeps.

    ``epoch``/``step``: the next batch to take is batch ``step`` of epoch ``epoch`` (0-based).
    ``totals``: the running sums of the epoch's loss terms (each batch's mean times its rows),
    detached tensors on the device; ``skipped``/``skipped_steps``: the rows per phase and the
    steps that ``on_nonfinite="skip"`` left out of the epoch. ``best_loss``, ``best_state``,
    ``bad_epochs``: early stopping. ``rank_rng``: the RNG states of a distributed run's ranks.
    """

    history: list[dict] = field(default_factory=list)
    best_loss: float = math.inf
    best_state: dict | None = None
    bad_epochs: int = 0
    epoch: int = 0
    step: int = 0
    totals: dict[str, torch.Tensor] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_steps: int = 0
    rank_rng: dict[str, torch.Tensor] = field(default_factory=dict)

    def begin_epoch(self, epoch: int) -> int:
        """Batches of `epoch` already taken: those of a run resumed within it, else 0 (and the
        epoch's totals start from zero)."""
        first = self.step if epoch == self.epoch else 0
        self.epoch, self.step = epoch, first
        if first == 0:
            self.totals, self.skipped, self.skipped_steps = {}, {}, 0
        return first

    def add(self, head: str, terms: dict[str, torch.Tensor], rows: int) -> None:
        """Add a batch's loss terms (means over its `rows` rows) to the totals, as ``head + name``."""
        totals = self.totals
        for k, v in terms.items():
            k = head + k
            totals[k] = totals[k] + v.detach() * rows if k in totals else v.detach() * rows


def history_csv(history: list[dict]) -> str:
    """history.csv: epoch, train_*, val_*, anything else, time_s; terms in the order logged."""
    names = list(dict.fromkeys(c for row in history for c in row))
    rank = lambda c: (c != "epoch", not c.startswith("train_"), not c.startswith("val_"),
                      c == "time_s")
    cols = sorted(names, key=rank)  # stable: keeps the logged order within each group
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    w.writeheader()
    w.writerows(history)
    return buf.getvalue()


class Checkpoints:
    """The run directory as training writes it: ``checkpoint.safetensors``/``.json`` at every
    epoch end (with ``history.csv``), every ``every`` steps, and when a signal stops the run.

    Without a run directory nothing is saved or resumed. In a distributed run every rank calls
    :meth:`save` at the same step (``rank_rng()`` gathers the ranks' RNG states, a collective)
    and only the one with ``writes`` (rank 0) writes.
    """

    def __init__(self, run_dir: str | Path | None, *, model, optimizers: dict,
                 generator: torch.Generator, every: int | None, keep: int, writes: bool,
                 rank_rng: Callable[[], dict], average=None):
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.model, self.optimizers, self.generator = model, optimizers, generator
        self.every = every if self.run_dir is not None else None
        self.keep, self.rank_rng, self.average = keep, rank_rng, average
        self.writes = writes and self.run_dir is not None

    def start(self, *, resume: bool, device: torch.device, main: bool) -> RunState:
        """A fresh :class:`RunState`, or (``resume=True``) the checkpoint's, with the model,
        optimizers and RNGs restored in place. The checkpoint holds the totals of all ranks: rank
        0 (`main`) takes them, the others start from zero."""
        if not resume:
            return RunState()
        if self.run_dir is None:
            raise ConfigError("resume=True needs the run_dir of the interrupted run.")
        state = load_checkpoint(self.run_dir, model=self.model, optimizers=self.optimizers,
                                generator=self.generator)
        extra = state["extra"]
        if self.average is not None:
            self.average.load(extra)
        totals = {k[7:]: v.to(device) if main else torch.zeros_like(v, device=device)
                  for k, v in extra.items() if k.startswith("totals.")}
        return RunState(history=state["history"], best_loss=state["best_loss"],
                        best_state=state["best_model_state"], bad_epochs=state["bad_epochs"],
                        epoch=state["epoch"], step=state.get("step", 0), totals=totals,
                        skipped=dict(state.get("skipped", {})),
                        skipped_steps=state.get("skipped_steps", 0), rank_rng=extra)

    def due(self, step: int) -> bool:
        """Whether a step checkpoint falls after global step `step` (1-based, over all epochs)."""
        return self.every is not None and step % self.every == 0

    def save(self, run: RunState, *, epoch: int, step: int = 0,
             shuffle_state: torch.Tensor | None = None) -> None:
        """Save `run` at batch `step` of `epoch`: ``step=0`` is an epoch end (``epoch`` epochs
        done; history.csv too), otherwise `step` batches of `epoch` are done and the epoch's
        totals are kept, with `shuffle_state` (the generator's state before the epoch's draw)."""
        if self.run_dir is None:
            return
        extra = {f"totals.{k}": v for k, v in run.totals.items()} if step else {}
        extra.update(self.rank_rng())
        if self.average is not None and self.average.enabled:
            extra.update(self.average.tensors())
        if not self.writes:
            return
        skipped = ({"skipped": run.skipped, "skipped_steps": run.skipped_steps}
                   if step and run.skipped else {})
        if shuffle_state is None:  # an epoch end: the next epoch draws from the current state
            shuffle_state = self.generator.get_state()
        save_checkpoint(self.run_dir, model=self.model, optimizers=self.optimizers, keep=self.keep,
                        shuffle_state=shuffle_state,
                        epoch=epoch, best_model_state=run.best_state, extra_tensors=extra or None,
                        state={"step": step, "history": run.history, "best_loss": run.best_loss,
                               "bad_epochs": run.bad_epochs, **skipped})
        if not step:
            atomic_write_text(self.run_dir / "history.csv", history_csv(run.history))
