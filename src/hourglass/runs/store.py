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

import dataclasses
import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from hourglass.core.version import __version__
from hourglass.core.io import (atomic_save_safetensors, atomic_write_json, checked_file,
                               read_checked_text)
from hourglass.core.errors import ConfigError, HourglassError, RunError
from hourglass.core.validation import AnyOf, Interval, Text
from hourglass.models import get_model_class
from hourglass.train import TrainConfig

CONFIG, WEIGHTS = "config.json", "model.safetensors"
# the "data" entry of a training run's config.json: what reloads its data
RUN_DATA = {"spec": Text(),
            "val_fraction": Interval(float, 0, 1, closed="left"),
            "seed": Interval(int, 0, 2 ** 63 - 1),
            "n": AnyOf((None, Interval(int, 1, None)))}


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
    """config.json of a run directory, checked: the file's kind and size, the JSON, and the
    entries a run config holds (:func:`check_run_config`)."""
    path = Path(run_dir) / CONFIG
    if Path(run_dir).exists() and not Path(run_dir).is_dir():
        raise RunError(f"{run_dir} is a file, not a run directory: give the folder that "
                       f"`hourglass train --out` or an estimator's save(path) wrote.")
    if not Path(run_dir).is_dir():
        raise RunError(f"{run_dir} is not a run directory (it does not exist). "
                       "Train one first: hourglass train vae --out RUN_DIR.")
    if not path.exists() and not path.is_symlink():
        raise RunError(f"{run_dir} has no {CONFIG}: not a Hourglass run directory.")
    text = read_checked_text(path, what="run config")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise RunError(f"{path} is not valid JSON ({e}).") from None
    except RecursionError:
        raise RunError(f"{path} is not a run config (JSON nested too deeply to read).") from None
    check_run_config(config, path)
    return config


def is_run_config(config) -> bool:
    """Whether `config` (parsed JSON) has the entries of a config.json Hourglass writes."""
    try:
        check_run_config(config, Path(CONFIG))
    except RunError:
        return False
    return True


def _bad_entry(path: Path, entry: str, value, expected: str) -> RunError:
    return RunError(f"{path} is not a valid run config: {entry} = {value!r} is not {expected}. "
                    "Restore the file the run wrote, or train the run again.")


def read_training_run(run_dir: str | Path) -> dict:
    """config.json of a training run (:func:`read_config`) that has its ``train`` and ``data``
    entries, which evaluating, embedding with or resuming the run need."""
    config = read_config(run_dir)
    missing = [k for k in ("train", "data") if k not in config]
    if missing:
        what = "a saved estimator" if "estimator" in config else "a model without its training"
        raise RunError(f"{Path(run_dir) / CONFIG} is the config of {what}, not of a training run "
                       f"(it has no {' or '.join(map(repr, missing))} entry). Train a run with "
                       "hourglass train MODEL --out RUN_DIR.")
    return config


def check_run_config(config, path: Path) -> None:
    """Refuse a run config whose entries do not have the kinds Hourglass writes: ``model`` (a
    name), ``model_config`` (an object), and, where present, ``estimator`` (an object: a saved
    estimator), ``train`` (valid training options) and ``data`` (spec, val_fraction, seed, n)."""
    if not isinstance(config, dict) or not isinstance(config.get("model"), str) \
            or not isinstance(config.get("model_config"), dict):
        raise RunError(f"{path} lacks the 'model' (a name) and 'model_config' (an object) "
                       "entries of a run config.")
    if "estimator" in config:
        est = config["estimator"]
        if not isinstance(est, dict) or not isinstance(est.get("class"), str) \
                or not isinstance(est.get("params"), dict):
            raise _bad_entry(path, "estimator", est, "an object with 'class' and 'params'")
    if "train" in config:
        _check_train_entry(config, path)
    if "data" in config:
        _check_data_entry(config["data"], path)


def _check_train_entry(config: dict, path: Path) -> None:
    train = config["train"]
    if not isinstance(train, dict):
        raise _bad_entry(path, "train", train, "an object of training options")
    unknown = sorted(set(train) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown:
        raise RunError(f"{path} has training options this version does not know: "
                       f"{', '.join(unknown)}. Use the Hourglass version that wrote the run "
                       f"({config.get('hourglass_version', 'unknown')}).")
    try:
        TrainConfig(**train).validate("the run's training config")
    except ConfigError as e:
        raise RunError(f"{path} is not a valid run config: {e}") from None


def _check_data_entry(data, path: Path) -> None:
    if not isinstance(data, dict):
        raise _bad_entry(path, "data", data, "an object (spec, val_fraction, seed, n)")
    for key, constraint in RUN_DATA.items():
        if key not in data:
            raise RunError(f"{path} is not a valid run config: data lacks {key!r}. Restore the "
                           "file the run wrote, or train the run again.")
        if not constraint.accepts(data[key]):
            raise _bad_entry(path, f"data.{key}", data[key], str(constraint))


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


def check_model_size(name: str, model_config: dict, *, source: str = "the config") -> None:
    """Refuse a model whose weights alone would not fit in memory: it is first built on PyTorch's
    "meta" device, which allocates nothing, so a config asking for ``latent_dim: 1e9`` (a typo, or
    a hostile file) is an error, not an OOM kill. The config is validated on the way."""
    cls = get_model_class(name)
    config = cls.config_class.from_dict(model_config, owner=cls.__name__)
    try:
        with torch.device("meta"):
            probe = cls(config)
    except HourglassError:
        raise
    except (RuntimeError, OverflowError, TypeError, ValueError):  # beyond what torch indexes
        raise ConfigError(f"{source} asks for a '{name}' model with sizes too large for PyTorch "
                          "to build (a tensor dimension beyond 2**63). Use smaller sizes.") from None
    need, have = state_bytes(probe), memory_bytes()
    if need > have // 2:
        raise ConfigError(f"{source} asks for a '{name}' model whose weights alone take "
                          f"{format_bytes(need)}, more than half of this machine's "
                          f"{format_bytes(have)} of memory. Use smaller sizes.")


def build_model(name: str, model_config: dict, *, source: str = "the config") -> torch.nn.Module:
    """Build model `name` from its config dict, refusing one whose weights alone would not fit in
    memory (:func:`check_model_size`)."""
    check_model_size(name, model_config, source=source)
    cls = get_model_class(name)
    return cls(cls.config_class.from_dict(model_config, owner=cls.__name__))


def _missing_weights(run_dir, weights: str, config: dict) -> RunError:
    if "estimator" in config:
        return RunError(f"{run_dir} has no {weights}: the estimator was not saved completely. "
                        "Fit it and save it again (est.save(path)).")
    return RunError(f"{run_dir} has no {weights}: the run did not finish training. Continue it "
                    f"with `hourglass train {config['model']} --resume --out {run_dir}`.")


def load_model(run_dir: str | Path, *, device: str | torch.device = "cpu",
               weights: str = WEIGHTS, extra_names: tuple = ()) -> tuple[torch.nn.Module, dict, dict]:
    """Rebuild the model of a run and load its weights: returns (model, config, extra tensors).

    Only JSON and safetensors are read; a weights file in any other format (a pickle, say) is
    refused, never executed. The file must hold exactly the model's tensors (``model.*``) and the
    ``extra.*`` tensors named in `extra_names`, all finite.
    """
    config = read_config(run_dir)
    try:
        model = build_model(config["model"], config["model_config"],
                            source=f"{Path(run_dir) / CONFIG}")
    except ConfigError as e:
        raise RunError(f"The config of {run_dir} cannot be used: {e}") from None
    path = Path(run_dir) / weights
    if not path.exists() and not path.is_symlink():
        raise _missing_weights(run_dir, weights, config)
    # the model's bytes, the extra tensors (an AE's code covariance, ...) and the header
    checked_file(path, max_bytes=2 * state_bytes(model) + 64_000_000, what="weights file")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise RunError(f"{path} is not a safetensors file ({e}); Hourglass loads weights only "
                       "from safetensors and never unpickles.") from None
    state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    unexpected += sorted(k for k in tensors if not k.startswith("model.")
                         and (not k.startswith("extra.") or k[6:] not in extra_names))
    missing += sorted(f"extra.{k}" for k in extra_names if f"extra.{k}" not in tensors)
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        detail = "; ".join(s for s in (
            missing and f"missing {missing[:3]}", unexpected and f"unexpected {unexpected[:3]}",
            wrong and "wrong shape for " + ", ".join(
                f"{k} {tuple(state[k].shape)} != {tuple(expected[k].shape)}" for k in wrong[:3]))
            if s)
        raise RunError(f"The weights in {path} do not fit the model of its config.json ({detail}).")
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not bool(v.isfinite().all())]
    if bad:
        raise RunError(f"The weights in {path} hold NaN or infinite values ({', '.join(bad[:3])}): "
                       "the training diverged or the file is damaged. Train the run again "
                       "(a lower --lr or --grad-clip helps a diverging run).")
    model.load_state_dict(state)
    model.to(device).eval()
    extra = {k[6:]: v for k, v in tensors.items() if k.startswith("extra.")}
    return model, config, extra


def read_metrics(run_dir: str | Path) -> dict:
    """metrics.json of a run, or {} when it has none yet."""
    path = Path(run_dir) / "metrics.json"
    if not path.exists() and not path.is_symlink():
        return {}
    try:
        metrics = json.loads(read_checked_text(path, what="metrics file"))
    except json.JSONDecodeError as e:
        raise RunError(f"{path} is not valid JSON ({e}).") from None
    except RecursionError:
        raise RunError(f"{path} is not a metrics file (JSON nested too deeply).") from None
    if not isinstance(metrics, dict):
        raise RunError(f"{path} is not a metrics file (a JSON object). Run `hourglass evaluate "
                       f"{run_dir}` to write it again.")
    return metrics
