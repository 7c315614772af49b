"""Training checkpoints in safetensors + JSON: model, optimizer, RNG states, history.

Nothing here unpickles. Tensors go to ``checkpoint.safetensors``; everything else (epoch, step in
the epoch, history, optimizer hyper-parameters) to its metadata, so the one file, replaced
atomically, is always a consistent checkpoint; ``checkpoint.json`` repeats the state for people to
read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from hourglass.core.io import atomic_save_safetensors, atomic_write_json
from hourglass.core.errors import RunError

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


def load_checkpoint(run_dir: Path, *, model, optimizers: dict, generator: torch.Generator) -> dict:
    """Restore model, optimizer and RNGs in place; return the JSON state (epoch, step, history,
    ...) with ``best_model_state`` and ``extra`` (tensors) added."""
    run_dir = Path(run_dir)
    # the state rides in TENSORS' metadata: a disk that filled up between writing TENSORS and
    # STATE leaves a checkpoint that resumes
    if not (run_dir / TENSORS).exists():
        raise RunError(f"No checkpoint to resume in {run_dir}: expected {TENSORS}. "
                       "Start the run without --resume.")
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
