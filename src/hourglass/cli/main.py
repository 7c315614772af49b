"""``hourglass`` — the command line, a thin layer over :mod:`hourglass.runs` and the experiments.

The command table (:data:`COMMANDS`) names each subcommand's module, one-line help and
description; a command's module, and with it PyTorch, is imported only when that command runs
(or its ``--help`` is asked for), so ``hourglass --help`` starts in a fraction of a second, and
so does ``hourglass list``, which prints the catalog shipped with the package
(:mod:`hourglass.cli.catalog`). The help of a command depends only on the installed code: it is
kept in a small cache (``$HOURGLASS_CACHE/cli``, else ``~/.cache/hourglass/cli``) keyed by the
code's files, so that asking again does not import PyTorch either.

Model and training flags are generated from the option declarations of the model's config and of
:class:`~hourglass.train.TrainConfig` (:mod:`hourglass.cli.flags`). Every user mistake prints one
line, ``hourglass: error: ...``, and exits with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import io
import os
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

from hourglass.core.errors import HourglassError
from hourglass.core.parsing import EXIT_USAGE, Parser
from hourglass.core.version import __version__

EXIT_INTERRUPTED = 130  # 128 + SIGINT, also for SIGTERM: stopped cleanly, resumable


class Command(NamedTuple):
    module: str       # what adds the command's arguments (add_arguments) and runs it (run)
    help: str         # one line in `hourglass --help`
    description: str  # the head of `hourglass COMMAND --help`


COMMANDS = {
    "train": Command("hourglass.cli.train", "train a model into a run directory, then evaluate it",
                     "Train MODEL on --data into the run directory --out, evaluate it on the "
                     "test split and write report.html. `hourglass train MODEL --help` lists the "
                     "model's own options. `hourglass train --config run.toml` takes every option "
                     "from a file; `hourglass train --config runs/x/config.json --out runs/y` "
                     "trains the run runs/x again, exactly."),
    "evaluate": Command("hourglass.cli.run_commands", "test metrics, figures and report of a run",
                        "Compute the test NLL (nats, bits/dim), reconstruction error and k-NN "
                        "accuracy of the codes; rewrite metrics.json, figures/ and report.html."),
    "sample": Command("hourglass.cli.run_commands",
                      "draw samples from a trained generative model",
                      "Draw -n samples from the prior of a trained generative model (with "
                      "--class C, from p(x | y = C) of a class-conditional one) and write them "
                      "as a PNG grid and, with --npy, as an array. Existing files are never "
                      "overwritten, except the run's own figures/samples.png."),
    "embed": Command("hourglass.cli.run_commands", "save the codes of a dataset as .npy",
                     "Encode one split of a dataset with a trained autoencoder and save the "
                     "codes, one row per example, as an (N, latent_dim) .npy file. The dataset "
                     "is split as the run's data was (same validation share and seed)."),
    "runs": Command("hourglass.cli.runs", "list the runs in a folder, or compare some",
                    "List the run folders under DIR (default: runs) as a table: model, data, "
                    "key test metrics, epochs done/planned, training time and status (finished, "
                    "interrupted, running, failed). `hourglass runs compare RUN RUN ... --out "
                    "DIR` prints their metrics side by side and draws their training curves "
                    "over each other."),
    "experiment": Command("hourglass.cli.experiment",
                          "run an experiment (writes JSON + a Markdown table)",
                          "Run the experiment NAME; options after NAME go to the experiment "
                          "(`hourglass experiment NAME --help`)."),
    "compare": Command("hourglass.cli.uses", "dimensionality reduction side by side: PCA, LDA, "
                       "Isomap, LLE, t-SNE, UMAP, autoencoders", ""),
    "detect": Command("hourglass.cli.uses", "outlier detection benchmark: one-class AUROC per "
                      "class, cross-dataset AUROC", ""),
    "debias": Command("hourglass.cli.uses", "latent-density re-sampling: a classifier trained on "
                      "imbalanced data with and without it", ""),
    "list": Command("hourglass.cli.catalog", "list models, datasets, optimizers and experiments",
                    "List the registered models with their capabilities (enc: encode, dec: "
                    "decode, rec: reconstruct, sample, log_prob exact or a bound, ...), the "
                    "datasets, the optimizers and the experiments."),
}


class DefaultsFormatter(argparse.HelpFormatter):
    """Every option's help line ends with its default, unless the help already states it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (text is argparse.SUPPRESS or "default" in text or action.default is argparse.SUPPRESS
                or action.required or not action.option_strings
                or isinstance(action, (argparse._HelpAction, argparse._VersionAction))):
            return text
        if action.nargs == 0 and action.const is True and action.default is False:
            return f"{text} (default: off)"  # store_true
        shown = ("none" if action.default is None else
                 ",".join(map(str, action.default)) if isinstance(action.default, (tuple, list))
                 else "%(default)s")
        return f"{text} (default: {shown})"


def command_of(argv: list[str]) -> str | None:
    """The subcommand named in `argv`: its first word, if it is one."""
    return argv[0] if argv and argv[0] in COMMANDS else None


def command_module(name: str):
    """Import the module of command `name` (it adds the arguments and runs the command)."""
    return importlib.import_module(COMMANDS[name].module)


def build_parser(model_name: str | None = None, settings=None, *,
                 commands=None) -> argparse.ArgumentParser:
    """The parser. The subcommands named in `commands` (default: all) get their arguments, which
    imports their modules; the others only their help line. With `model_name`, ``train`` has that
    model's flags; with ``settings`` (from ``train --config``), they are the train defaults."""
    p = Parser(prog="hourglass", formatter_class=DefaultsFormatter,
               description="Autoencoders and deep generative models: train, evaluate, sample, "
               "embed, compare.")
    p.add_argument("--version", action="version", version=f"hourglass {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")
    for name, command in COMMANDS.items():
        if commands is not None and name not in commands:
            sub.add_parser(name, help=command.help, description=command.description)
            continue
        module = command_module(name)
        s = sub.add_parser(name, help=command.help,
                           description=module.description(name) if hasattr(module, "description")
                           else command.description, formatter_class=DefaultsFormatter)
        if name == "train":
            module.add_arguments(s, model_name, settings)
        else:
            module.add_arguments(s, name)
    return p


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse `argv`, building only the parser of the command it names; ``train`` first reads
    --config and adds the flags of the model it names."""
    name = command_of(argv)
    if name == "train":
        return command_module("train").parse(argv, build_parser)
    return build_parser(commands=() if name is None else (name,)).parse_args(argv)


def run(argv: list[str]) -> int:
    args = parse_args(argv)
    return command_module(args.command).run(args) or 0


# --- the cache of help texts

def _code_stamp() -> str:
    """A digest of the installed code: every .py (and recipe .toml) file of the package, its size
    and mtime."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(f"{__version__} {sys.version} {root}".encode())
    for folder, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for f in sorted(files):
            if f.endswith((".py", ".toml")):  # the code and the shipped recipes
                st = os.stat(os.path.join(folder, f))
                h.update(f"{folder}/{f} {st.st_size} {st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def cacheable(argv: list[str]) -> bool:
    """Whether the output of `argv` depends only on the code and is slow to make: ``COMMAND
    --help`` and ``train MODEL --help`` (not ``experiment``, whose help is the experiment's own;
    not ``list``, fast without a cache)."""
    if len(argv) not in (2, 3) or argv[-1] not in ("-h", "--help"):
        return False
    if argv[0] not in COMMANDS or argv[0] == "experiment":
        return False
    return len(argv) == 2 or (argv[0] == "train" and not argv[1].startswith("-"))


def cache_dir() -> Path:
    """``$HOURGLASS_CACHE/cli``, else ``$XDG_CACHE_HOME/hourglass/cli`` (``~/.cache``)."""
    if os.environ.get("HOURGLASS_CACHE"):
        base = Path(os.environ["HOURGLASS_CACHE"]).expanduser()
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hourglass"
    return base / "cli"


def _cache_path(argv: list[str]) -> Path:
    columns = os.environ.get("COLUMNS") or str(os.get_terminal_size(sys.stdout.fileno()).columns
                                               if sys.stdout.isatty() else 80)
    key = hashlib.sha256(f"{_code_stamp()} {columns} {argv!r}".encode()).hexdigest()[:32]
    return cache_dir() / f"{key}.txt"


def cached_run(argv: list[str]) -> int:
    """Run `argv` (a :func:`cacheable` one), printing the cached output when there is one."""
    path = _cache_path(argv)
    try:
        sys.stdout.write(path.read_text(encoding="utf-8"))
        return 0
    except (OSError, UnicodeDecodeError):
        pass
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            rc = run(argv)
        except SystemExit as e:  # --help exits 0
            rc = e.code
    sys.stdout.write(buf.getvalue())
    if rc in (0, None):
        with contextlib.suppress(OSError):  # a cache that cannot be written is no error
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(buf.getvalue())
            os.replace(tmp, path)
    return rc or 0


def main(argv: list[str] | None = None) -> int:
    """The ``hourglass`` command. Given `argv` (tests, scripts), nothing is cached."""
    from_command_line = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        if from_command_line and cacheable(argv):
            return cached_run(argv)
        return run(argv)
    except HourglassError as e:
        stopped = _stopped(e)
        if stopped is not None:
            return stopped
        print(f"hourglass: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("hourglass: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `hourglass list | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _stopped(e: HourglassError) -> int | None:
    """The exit status of a training run stopped by a signal or a distributed failure (None for
    other errors); the modules that raise these were imported by the command that ran."""
    signals, distributed = sys.modules.get("hourglass.train.signals"), \
        sys.modules.get("hourglass.train.distributed")
    if signals is not None and isinstance(e, signals.Interrupted):
        if os.environ.get("RANK", "0") == "0":  # every rank stops; rank 0 says so
            print(f"hourglass: interrupted: {e}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if distributed is not None and isinstance(e, distributed.FailedOnRank0):
        return EXIT_USAGE  # rank 0 printed the error
    if distributed is not None and isinstance(e, distributed.LostRank):
        print(f"hourglass: error: {e}", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_USAGE)  # a broken process group: leave without tearing it down
    return None


_FROM_TRAIN = ("train_config_from", "setting_value", "apply_settings", "given_dests",
               "check_resume_flags", "RESUME_MAY_CHANGE", "RUN_DATA_DESTS")


def __getattr__(name: str):
    """The helpers of ``hourglass train`` (:mod:`hourglass.cli.train`), imported when asked for."""
    if name in _FROM_TRAIN:
        return getattr(importlib.import_module("hourglass.cli.train"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    sys.exit(main())
