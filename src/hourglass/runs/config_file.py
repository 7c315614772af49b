"""Settings files for ``hourglass train --config FILE``: every flag from a file, or a run replayed.

Two kinds of file are read:

- a **settings file**, ``.toml`` or ``.json``: flat, one key per flag of ``hourglass train``
  (``latent-dim`` or ``latent_dim``) plus ``model``; no tables::

      model = "vae"
      data = "digits"
      out = "runs/x"
      epochs = 5
      latent-dim = 2
      hidden = [256, 128]

- a **run's** ``config.json`` (:func:`hourglass.runs.store.write_config`; a run directory stands for
  it): its model config, training config and data spec become the same flat settings, so the run
  is trained again exactly as it was.

- a **recipe**, a settings file shipped with Hourglass (``src/hourglass/recipes/NAME.toml``):
  ``--config vae`` names it. A recipe may hold one table, ``[recipe]``, that says what it is for
  (``paper``, ``summary``, ``data``, ``budget``, ``reaches``); :func:`list_recipes` reads it.

This module only reads and normalizes (keys with ``_``, as argparse dests); checking each key
and value against the flags is the CLI's job, since it knows the flags.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import NamedTuple

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11: the same parser, as a package
    import tomli as tomllib

from hourglass.core.errors import ConfigError
from hourglass.core.io import read_checked_text
from hourglass.runs.store import CONFIG
from hourglass.train import TrainConfig

RUN_KEYS = ("hourglass_version", "model", "model_config", "train", "data", "distributed")
# "distributed" (world size, backend of a torchrun launch) describes how a run was launched; a
# replay takes its world size from its own launcher, like any run.
# data settings of a run that change what is trained on (the other keys of "data" describe it)
RUN_DATA_KEYS = {"spec": "data", "val_fraction": "val_fraction", "n": "n", "labels": "labels",
                 "labelled_share": "labelled_share"}


RECIPES = Path(__file__).resolve().parent.parent / "recipes"
RECIPE_KEYS = ("paper", "summary", "data", "budget", "reaches")


def recipe_path(name: str) -> Path | None:
    """The shipped recipe `name` (``vae`` or ``vae.toml``), or None."""
    stem = name[:-5] if name.endswith(".toml") else name
    if not stem or "/" in stem or "\\" in stem or stem.startswith("."):
        return None
    path = RECIPES / f"{stem}.toml"
    return path if path.is_file() else None


def list_recipes() -> list[dict]:
    """Every shipped recipe: ``name``, ``model`` and its ``[recipe]`` table's entries."""
    out = []
    for path in sorted(RECIPES.glob("*.toml")):
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        out.append({"name": path.stem, "model": raw.get("model", ""), **raw.get("recipe", {})})
    return out


class Settings(NamedTuple):
    values: dict      # argparse dest -> value, e.g. {"model": "vae", "latent_dim": 2}
    path: Path        # the file read
    replay: bool      # True for a run's config.json


def read_settings(path: str | Path) -> Settings:
    """Read a .toml/.json settings file, or a run's config.json (or its run directory)."""
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG
    if not path.exists() and not path.is_symlink():
        shipped = recipe_path(str(path)) if path.parent == Path(".") else None
        if shipped is None:
            names = ", ".join(r.stem for r in sorted(RECIPES.glob("*.toml")))
            raise ConfigError(f"The --config file {path} does not exist. Check the path, or name "
                              f"a recipe: {names}.")
        path = shipped
    if path.suffix.lower() not in (".toml", ".json"):
        raise ConfigError(f"The --config file {path} must be a .toml or .json file (or a run's "
                          f"{CONFIG}).")
    text = read_checked_text(path, what="--config file", error=ConfigError)
    if path.suffix.lower() == ".toml":
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:  # the message ends "(at line L, column C)"
            raise ConfigError(f"{path} is not valid TOML: {e}. Fix that line.") from None
    else:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path} is not valid JSON: {e.msg} at line {e.lineno}, column "
                              f"{e.colno}. Fix that line.") from None
        except RecursionError:
            raise ConfigError(f"{path} is not a settings file (JSON nested too deeply).") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path} must hold a JSON object of settings, "
                              f'e.g. {{"model": "vae", "epochs": 5}}.')
        if "model_config" in raw:
            return Settings(run_settings(raw, path), path, True)
    return Settings(flat_settings(raw, path), path, False)


def flat_settings(raw: dict, path: Path) -> dict:
    """Keys as argparse dests (``latent-dim`` -> ``latent_dim``); tables and duplicates refused."""
    values: dict = {}
    for key, value in raw.items():
        if key == "recipe" and isinstance(value, dict):  # what the recipe is for, not a flag
            unknown = sorted(set(value) - set(RECIPE_KEYS))
            if unknown:
                raise ConfigError(f"{path}: [recipe] has unknown entries {', '.join(unknown)}; "
                                  f"it holds {', '.join(RECIPE_KEYS)}.")
            continue
        if isinstance(value, dict):
            raise ConfigError(f"{path}: {key!r} is a table; write every setting at the top level, "
                              "one per flag (e.g. latent-dim = 2).")
        dest = key.replace("-", "_")
        if dest in values:
            raise ConfigError(f"{path} sets {dest.replace('_', '-')!r} twice (as - and _). "
                              "Keep one.")
        values[dest] = value
    return values


def run_settings(config: dict, path: Path) -> dict:
    """The flat settings that train a run's config.json again: model, model config (without the
    input shape, which comes from the data), training config, data spec."""
    unknown = sorted(set(config) - set(RUN_KEYS))
    if unknown:
        raise ConfigError(f"{path} has entries a run config does not: {', '.join(unknown)}. "
                          f"A run's {CONFIG} holds {', '.join(RUN_KEYS)}.")
    model, model_config = config.get("model"), config.get("model_config")
    train, data = config.get("train"), config.get("data")
    if not isinstance(model, str) or not isinstance(model_config, dict) \
            or not isinstance(train, dict) or not isinstance(data, dict) \
            or not isinstance(data.get("spec"), str):
        raise ConfigError(f"{path} is not the config of a training run: it needs 'model' (a "
                          "name), 'model_config', 'train' and 'data' (with 'spec').")
    values = {"model": model, **{k: v for k, v in model_config.items() if k != "input_shape"}}
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for key, value in train.items():
        if key == "progress":  # the one training setting whose flag is its negation
            values["quiet"] = not value
        elif key in fields:
            values[key] = value
        else:
            raise ConfigError(f"{path} has a training setting this version does not know: "
                              f"{key!r}. Replay it with the Hourglass version that wrote it "
                              f"({config.get('hourglass_version', 'unknown')}).")
    for key, dest in RUN_DATA_KEYS.items():
        if key in data:
            values[dest] = data[key]
    return values
