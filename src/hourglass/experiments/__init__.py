"""Experiments: scripts that train and measure, writing a JSON file and a Markdown table.

Each module here is one experiment with a ``main(argv=None) -> dict`` and a docstring whose first
line describes it. Run one with ``hourglass experiment NAME [options]`` or
``python -m hourglass.experiments.NAME``, giving the results folder with ``--out`` (the
repository's own results are in ``experiments/results``): they go to ``OUT/NAME.{json,md}``. Experiments are not tests: they are run by hand and their tables
are quoted in the README with the command that regenerates them.
"""

from __future__ import annotations

import importlib
import os
import platform
import pkgutil
import sys
from pathlib import Path

import torch

from hourglass.core.io import atomic_write_json, atomic_write_text
from hourglass.core.errors import ConfigError
from hourglass.core.parsing import Parser

RESULTS_HELP = ("results folder, created if needed (the repository's own results live in "
                "experiments/results)")


def list_experiments() -> list[tuple[str, str]]:
    """(name, first docstring line) of every experiment module; names use dashes."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        found.append((info.name.replace("_", "-"), (mod.__doc__ or "").strip().splitlines()[0]))
    return sorted(found)


def get_experiment(name: str):
    names = [n for n, _ in list_experiments()]
    if name not in names:
        raise ConfigError(f"Unknown experiment {name!r}. Valid experiments: "
                          f"{', '.join(names) or '(none yet)'}.")
    return importlib.import_module(f"{__name__}.{name.replace('-', '_')}")


def markdown_table(rows: list[dict], columns: list[str] | None = None, *, digits: int = 4) -> str:
    """A Markdown table of `rows` (dicts); floats to `digits` significant digits."""
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))
    fmt = lambda v: f"{v:.{digits}g}" if isinstance(v, float) else ("" if v is None else str(v))  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_results(name: str, result: dict, markdown: str, out: str | Path) -> Path:
    """Write ``NAME.json`` and ``NAME.md`` atomically into the folder `out`."""
    out = Path(out)
    atomic_write_json(out / f"{name}.json", result)
    atomic_write_text(out / f"{name}.md", markdown)
    return out


def machine_info(load_before: tuple | None = None) -> dict:
    """Where and how an experiment ran, for its JSON: platform, CPUs, torch threads, load."""
    return {"platform": platform.platform(), "cpus": os.cpu_count(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "load_average_before": load_before, "load_average_after": os.getloadavg()}


def experiment_parser(module_name: str, doc: str | None):
    """An argparse parser for an experiment, with one-line errors and the required ``--out``."""
    if module_name == "__main__":  # `python -m hourglass.experiments.NAME`
        module_name = getattr(sys.modules["__main__"].__spec__, "name", module_name)
    name = module_name.rsplit(".", 1)[-1].replace("_", "-")
    p = Parser(prog=f"hourglass experiment {name}", description=(doc or "").strip())
    p.add_argument("--out", required=True, help=RESULTS_HELP)
    return p
