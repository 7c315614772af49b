"""Run directories: everything one training run leaves behind, readable without unpickling.

::

    runs/fm-vae/
      config.json          what to rebuild: model name + config, data spec, training config
      model.safetensors    the trained weights
      checkpoint.*         the last epoch's model, optimizer and RNG state (for --resume)
      history.csv          one row per epoch
      metrics.json         test metrics written by `evaluate`
      figures/*.png        reconstructions, samples, codes, training curves
      report.html          all of the above on one self-contained page
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from hourglass.core.version import __version__
from hourglass.core.io import atomic_save_safetensors, atomic_write_json
from hourglass.core.errors import ConfigError, RunError
from hourglass.models import get_model_class

CONFIG, WEIGHTS = "config.json", "model.safetensors"


def write_config(run_dir: str | Path, *, model_name: str, model_config: dict, **extra) -> dict:
    """Write config.json: enough to rebuild the model (name + its config) plus anything in `extra`."""
    config = {"hourglass_version": __version__, "model": model_name,
              "model_config": model_config, **extra}
    atomic_write_json(Path(run_dir) / CONFIG, config)
    return config


def save_weights(run_dir: str | Path, model: torch.nn.Module, extra_tensors: dict | None = None):
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update({f"extra.{k}": v for k, v in (extra_tensors or {}).items()})
    atomic_save_safetensors(Path(run_dir) / WEIGHTS, tensors)


def read_config(run_dir: str | Path) -> dict:
    path = Path(run_dir) / CONFIG
    if not Path(run_dir).is_dir():
        raise RunError(f"{run_dir} is not a run directory (it does not exist). "
                       "Train one first: hourglass train vae --out RUN_DIR.")
    if not path.exists():
        raise RunError(f"{run_dir} has no {CONFIG}: not a Hourglass run directory.")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunError(f"{path} is not valid JSON ({e}).") from None
    except RecursionError:
        raise RunError(f"{path} is not a run config (JSON nested too deeply to read).") from None
    if not isinstance(config, dict) or not isinstance(config.get("model"), str) \
            or not isinstance(config.get("model_config"), dict):
        raise RunError(f"{path} lacks the 'model' (a name) and 'model_config' (an object) "
                       "entries of a run config.")
    return config


def state_bytes(model: torch.nn.Module) -> int:
    """Bytes of a model's weights: its parameters and buffers."""
    return sum(t.numel() * t.element_size() for t in model.state_dict().values())


def format_bytes(n: float) -> str:
    """1234567 -> '1.2 MB' (decimal units)."""
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000:
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def memory_bytes() -> int:
    """This machine's physical memory (a name to monkeypatch in tests)."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def build_model(name: str, model_config: dict, *, source: str = "the config") -> torch.nn.Module:
    """Build model `name` from its config dict, refusing one whose weights alone would not fit in
    memory: the model is first built on PyTorch's "meta" device, which allocates nothing, so a
    config asking for ``latent_dim: 1e9`` (a typo, or a hostile file) is an error, not an OOM kill."""
    cls = get_model_class(name)
    config = cls.config_class.from_dict(model_config, owner=cls.__name__)
    with torch.device("meta"):
        probe = cls(config)
    need, have = state_bytes(probe), memory_bytes()
    if need > have // 2:
        raise ConfigError(f"{source} asks for a '{name}' model whose weights alone take "
                          f"{format_bytes(need)}, more than half of this machine's "
                          f"{format_bytes(have)} of memory. Use smaller sizes.")
    return cls(config)


def load_model(run_dir: str | Path, *, device: str | torch.device = "cpu",
               weights: str = WEIGHTS) -> tuple[torch.nn.Module, dict, dict]:
    """Rebuild the model of a run and load its weights: returns (model, config, extra tensors).

    Only JSON and safetensors are read; a weights file in any other format (a pickle, say) is
    refused, never executed.
    """
    config = read_config(run_dir)
    try:
        model = build_model(config["model"], config["model_config"],
                            source=f"{Path(run_dir) / CONFIG}")
    except ConfigError as e:
        raise RunError(f"The config of {run_dir} cannot be used: {e}") from None
    path = Path(run_dir) / weights
    if not path.exists():
        raise RunError(f"{run_dir} has no {weights}: the run did not finish training. "
                       "Continue it with --resume.")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise RunError(f"{path} is not a safetensors file ({e}); Hourglass loads weights only "
                       "from safetensors and never unpickles.") from None
    state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        detail = "; ".join(s for s in (
            missing and f"missing {missing[:3]}", unexpected and f"unexpected {unexpected[:3]}",
            wrong and "wrong shape for " + ", ".join(
                f"{k} {tuple(state[k].shape)} != {tuple(expected[k].shape)}" for k in wrong[:3]))
            if s)
        raise RunError(f"The weights in {path} do not fit the model of its config.json ({detail}).")
    model.load_state_dict(state)
    model.to(device).eval()
    extra = {k[6:]: v for k, v in tensors.items() if k.startswith("extra.")}
    return model, config, extra


def read_metrics(run_dir: str | Path) -> dict:
    """metrics.json of a run, or {} when it has none yet."""
    path = Path(run_dir) / "metrics.json"
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise RunError(f"{path} is not valid JSON ({e}).") from None
