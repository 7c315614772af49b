"""``hourglass list``: the models with their capabilities, the datasets, the recipes, the
optimizers and the experiments.

What it prints is read from ``catalog.json``, shipped beside this module and written from the
registries by ``python tools/write_catalog.py`` (a test keeps the two equal), so that the listing
needs neither PyTorch nor scikit-learn and prints in a fraction of a second. Where the file is
missing, unreadable or from another version, the registries are read instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hourglass.core.version import __version__

CATALOG = Path(__file__).with_name("catalog.json")


def add_arguments(p: argparse.ArgumentParser, command: str) -> None:
    """``list`` has no options."""


def live() -> dict:
    """The catalog from the registries (this imports every model, dataset and experiment)."""
    from hourglass.data import list_datasets
    from hourglass.experiments import list_experiments
    from hourglass.models import describe_models
    from hourglass.runs.config_file import list_recipes
    from hourglass.train import list_optimizers

    return {"version": __version__,
            "models": [list(m) for m in describe_models()],  # name, capabilities, summary
            "datasets": [[d["name"], d.get("description", "")] for d in list_datasets()],
            "recipes": [[r["name"], r.get("summary", ""), r.get("paper", "")]
                        for r in list_recipes()],
            "optimizers": list(list_optimizers()),
            "experiments": [list(e) for e in list_experiments()]}


def load() -> dict:
    """The shipped catalog, or the live one where the file does not fit this version."""
    try:
        catalog = json.loads(CATALOG.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return live()
    return catalog if isinstance(catalog, dict) and catalog.get("version") == __version__ \
        else live()


def text(catalog: dict) -> str:
    """The listing as ``hourglass list`` prints it."""
    width = max((len(can) for _, can, _ in catalog["models"]), default=0)
    lines = ["models:"]  # name, capabilities (word(field): depends on that option), summary
    lines += [f"  {name:<16} {can:<{width}}  {doc}" for name, can, doc in catalog["models"]]
    lines.append("datasets:")
    lines += [f"  {name:<16} {doc}" for name, doc in catalog["datasets"]]
    lines.append("recipes (hourglass train --config NAME --data ... --out ...):")
    lines += [f"  {name:<16} {summary} [{paper}]" for name, summary, paper in catalog["recipes"]]
    lines += ["optimizers:", "  " + ", ".join(catalog["optimizers"])]
    lines.append("experiments (hourglass experiment NAME):")
    lines += [f"  {name:<24} {doc}" for name, doc in catalog["experiments"] or [("(none yet)", "")]]
    return "\n".join(lines) + "\n"


def dumps(catalog: dict) -> str:
    """The JSON of ``catalog.json``: one entry per line, so that a change reads as a diff."""
    parts = []
    for key, value in catalog.items():
        if isinstance(value, list):
            rows = ",\n".join("    " + json.dumps(v, ensure_ascii=False) for v in value)
            parts.append(f"  {json.dumps(key)}: [\n{rows}\n  ]")
        else:
            parts.append(f"  {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(text(load()))
    return 0
