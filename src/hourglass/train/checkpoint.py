"""Training checkpoints in safetensors + JSON: model, optimizer, RNG states, history.

Nothing here unpickles. Tensors go to ``checkpoint.safetensors``; everything else (epoch, history,
optimizer hyper-parameters) to ``checkpoint.json``, which is written last and names the epoch, so a
crash between the two writes leaves the previous pair recognisably inconsistent rather than mixed.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from .._io import atomic_save_safetensors, atomic_write_json
from ..errors import RunError

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


def save_checkpoint(run_dir: Path, *, model, optimizers: dict, generator: torch.Generator,
                    epoch: int, state: dict, best_model_state: dict | None = None) -> None:
    """Save the model, every phase's optimizer (``{phase name: optimizer}``), the RNGs and `state`."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    if best_model_state is not None:
        tensors.update({f"best.{k}": v for k, v in best_model_state.items()})
    opt_meta = {}
    for name, optimizer in optimizers.items():
        opt_tensors, opt_meta[name] = _split_optimizer(optimizer.state_dict(), name)
        tensors.update(opt_tensors)
    tensors["rng.torch"] = torch.get_rng_state()
    tensors["rng.shuffle"] = generator.get_state()
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    atomic_save_safetensors(run_dir / TENSORS, tensors, metadata={"epoch": str(epoch)})
    # unsorted: the history rows keep their column order across a resume
    atomic_write_json(run_dir / STATE, {"epoch": epoch, "optimizers": opt_meta, **state},
                      sort_keys=False)


def load_checkpoint(run_dir: Path, *, model, optimizers: dict, generator: torch.Generator) -> dict:
    """Restore model, optimizer and RNGs in place; return the JSON state (epoch, history, ...)."""
    run_dir = Path(run_dir)
    if not (run_dir / STATE).exists() or not (run_dir / TENSORS).exists():
        raise RunError(f"No checkpoint to resume in {run_dir}: expected {TENSORS} and {STATE}. "
                       "Start the run without --resume.")
    try:
        state = json.loads((run_dir / STATE).read_text())
        tensors = load_file(str(run_dir / TENSORS))
    except (json.JSONDecodeError, SafetensorError, OSError) as e:
        raise RunError(f"The checkpoint in {run_dir} cannot be read ({e}). "
                       "Delete it and start again without --resume.") from None
    model_sd = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(model_sd)
        for name, optimizer in optimizers.items():
            optimizer.load_state_dict(_join_optimizer(tensors, state["optimizers"][name], name))
    except (RuntimeError, KeyError, ValueError) as e:
        raise RunError(f"The checkpoint in {run_dir} does not match this model/optimizer ({e}). "
                       "Resume with the run's own config.") from None
    torch.set_rng_state(tensors["rng.torch"])
    generator.set_state(tensors["rng.shuffle"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    best = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
    state["best_model_state"] = best or None
    return state
