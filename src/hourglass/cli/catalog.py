"""``hourglass list``: the models with their capabilities, the datasets, the optimizers and the
experiments."""

from __future__ import annotations

import argparse

from hourglass.data import list_datasets
from hourglass.experiments import list_experiments
from hourglass.models import describe_models
from hourglass.runs.config_file import list_recipes
from hourglass.train import list_optimizers


def add_arguments(p: argparse.ArgumentParser, command: str) -> None:
    """``list`` has no options."""


def run(args: argparse.Namespace) -> int:
    models = describe_models()
    width = max(len(can) for _, can, _ in models)
    print("models:")  # name, capabilities (word(field): depends on that option), summary
    for name, can, doc in models:
        print(f"  {name:<16} {can:<{width}}  {doc}")
    print("datasets:")
    for d in list_datasets():
        print(f"  {d['name']:<16} {d.get('description', '')}")
    print("recipes (hourglass train --config NAME --data ... --out ...):")
    for r in list_recipes():
        print(f"  {r['name']:<16} {r.get('summary', '')} [{r.get('paper', '')}]")
    print("optimizers:")
    print("  " + ", ".join(list_optimizers()))
    print("experiments (hourglass experiment NAME):")
    for name, doc in list_experiments() or [("(none yet)", "")]:
        print(f"  {name:<24} {doc}")
    return 0
