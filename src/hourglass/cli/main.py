"""``hourglass`` — the command line, a thin layer over :mod:`hourglass.runs.workflow`.

Model flags are generated from the model's config dataclass (``hourglass train vae --help`` lists
them with the comment that documents each field), so a new model gets its flags for free.
``hourglass train --config FILE`` takes the flags from a TOML/JSON file or a run's config.json
(:mod:`hourglass.runs.config_file`): the file's settings become the parser's defaults, so a flag on
the command line overrides them, and each is checked against its flag's type and choices.
Every user mistake prints one line, ``hourglass: error: ...``, and exits with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import os
import re
import sys

from hourglass import __version__
from hourglass.runs.config_file import Settings, read_settings
from hourglass.core.errors import ConfigError, HourglassError
from hourglass.models import describe_models, get_model_class, list_models
from hourglass.train import TrainConfig, distributed, list_optimizers
from hourglass.train.signals import Interrupted
from hourglass.train import BINARIZE

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, also for SIGTERM: stopped cleanly, resumable


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (usage goes to --help)."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"hourglass: error: {message} (see {self.prog} --help)\n")


def field_comments(cls) -> dict[str, str]:
    """The trailing comment of each dataclass field, across the class hierarchy: its help text."""
    notes: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        try:
            src = inspect.getsource(klass)
        except (OSError, TypeError):
            continue
        for m in re.finditer(r"^\s+(\w+)\s*:[^=\n]*=[^#\n]*#\s*(.+)$", src, re.M):
            notes[m.group(1)] = m.group(2).strip()
    return notes


def _sizes(text: str) -> tuple[int, ...]:
    if text.strip().lower() == "none":  # no hidden layer (models that allow it)
        return ()
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from None
    if not sizes:
        raise argparse.ArgumentTypeError("expected at least one size")
    return sizes


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {value}")
    return value


def _optional_float(text: str):
    return None if text.lower() == "none" else float(text)


def _optional_int(text: str):
    return None if text.lower() == "none" else int(text)


THREADS_HELP = ("CPU threads of torch (default: torch's own, one per core). On a shared or busy "
                "machine 1 thread can be far faster: with more threads every step waits for the "
                "slowest core. Not recorded in the run: results agree up to float rounding (the "
                "last bits can differ between thread counts)")


def add_threads_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=_positive_int, default=None, metavar="N", help=THREADS_HELP)


def add_model_flags(p: argparse.ArgumentParser, model_name: str) -> list[str]:
    """One flag per config field of the model (input_shape comes from the data)."""
    config_cls = get_model_class(model_name).config_class
    notes = field_comments(config_cls)
    g = p.add_argument_group(f"{model_name} model options")
    names = []
    for f in dataclasses.fields(config_cls):
        if f.name == "input_shape":
            continue
        flag = "--" + f.name.replace("_", "-")
        help_ = notes.get(f.name, "") + f" (default: {f.default})"
        if f.name == "likelihood":
            valid = getattr(config_cls.constraints.get("likelihood"), "values",
                            ("bernoulli", "gaussian"))
            g.add_argument(flag, default="auto", choices=["auto", *valid],
                           help=notes.get(f.name, "") + "; auto: Bernoulli for data in [0, 1]")
        elif isinstance(f.default, bool):
            g.add_argument(flag, default=f.default, action=argparse.BooleanOptionalAction,
                           help=notes.get(f.name, ""))
        elif isinstance(f.default, tuple):
            g.add_argument(flag, type=_sizes, default=f.default, metavar="N,N", help=help_)
        elif isinstance(f.default, int):
            g.add_argument(flag, type=int, default=f.default, help=help_)
        elif f.default is None and str(f.type).startswith("int"):  # e.g. "int | None"
            g.add_argument(flag, type=_optional_int, default=None, help=help_)
        elif isinstance(f.default, float) or f.default is None:
            g.add_argument(flag, type=_optional_float, default=f.default, help=help_)
        else:
            g.add_argument(flag, default=f.default, help=help_)
        names.append(f.name)
    return names


def add_train_flags(p: argparse.ArgumentParser) -> None:
    notes = field_comments(TrainConfig)
    g = p.add_argument_group("training options")
    d = TrainConfig()
    g.add_argument("--epochs", type=int, default=d.epochs, help=notes.get("epochs", ""))
    g.add_argument("--batch-size", type=int, default=d.batch_size, help=notes.get("batch_size", ""))
    g.add_argument("--optimizer", default=d.optimizer, choices=list_optimizers(),
                   help="optimizer from the course notes")
    g.add_argument("--lr", type=float, default=None, help="learning rate (default: the optimizer's)")
    g.add_argument("--momentum", type=float, default=None, help=notes.get("momentum", ""))
    g.add_argument("--weight-decay", type=float, default=0.0, help=notes.get("weight_decay", ""))
    g.add_argument("--grad-clip", type=float, default=None, help=notes.get("grad_clip", ""))
    g.add_argument("--patience", type=int, default=None, help=notes.get("patience", ""))
    g.add_argument("--binarize", default="auto", choices=["auto", *BINARIZE],
                   help="binarize inputs for a Bernoulli decoder; auto: dynamic for grey levels")
    g.add_argument("--seed", type=int, default=0, help=notes.get("seed", ""))
    g.add_argument("--device", default="auto", help=notes.get("device", ""))
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument("--checkpoint-every", type=int, default=None, metavar="N",
                   help=notes.get("checkpoint_every", ""))
    g.add_argument("--keep-checkpoints", type=int, default=d.keep_checkpoints, metavar="K",
                   help=notes.get("keep_checkpoints", ""))
    g.add_argument("--on-nonfinite", default=d.on_nonfinite, choices=["stop", "skip"],
                   help="when the loss or gradient is inf/NaN: stop (default), or skip that step "
                   "and halve the learning rate of its phase (stops after 10 in a row)")


_INT_TYPES = (int, _positive_int, _optional_int)
_FLOAT_TYPES = (float, _optional_float)
_NOT_SETTINGS = ("help", "config", "model_fields")


def setting_value(action: argparse.Action, value):
    """A file's value for the option of `action`, checked and converted as the flag's text would
    be (TOML/JSON already give numbers, booleans and lists). Raises ValueError with the reason."""
    if action.nargs == 0:  # --quiet, --no-eval, --batch-norm/--no-batch-norm
        if not isinstance(value, bool):
            raise ValueError("expected true or false")
        return value
    if value is None:  # JSON null (a run's config.json): only where the flag's default is None
        if action.default is not None:
            raise ValueError(f"expected a value (default: {action.default})")
        return None
    if isinstance(value, bool):
        raise ValueError("expected a value, not true/false")
    if action.type is _sizes:  # a list [256, 128], one int, or the flag's text "256,128"
        if isinstance(value, str):
            return _sizes(value)
        sizes = value if isinstance(value, list) else [value]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in sizes):
            raise ValueError("expected a list of ints, e.g. [256, 128]")
        return tuple(sizes)
    if isinstance(value, str):
        value = action.type(value) if action.type is not None else value
    elif action.type in _FLOAT_TYPES and isinstance(value, (int, float)):
        value = float(value)
    elif action.type in _INT_TYPES and isinstance(value, int):
        value = action.type(str(value))  # _positive_int checks the sign
    else:
        kind = ("an int" if action.type in _INT_TYPES else
                "a number" if action.type in _FLOAT_TYPES else "a string")
        raise ValueError(f"expected {kind}")
    if action.choices is not None and value not in action.choices:
        raise ValueError("expected one of " + ", ".join(map(str, action.choices)))
    return value


def _train_fields_without_flag(actions: dict) -> set[str]:
    """TrainConfig fields that have no flag (yet): a --config file may still set them."""
    return {f.name for f in dataclasses.fields(TrainConfig)} - set(actions) - {"progress"}


def apply_settings(t: argparse.ArgumentParser, settings: Settings, model_name: str | None) -> None:
    """Make a --config file's settings the defaults of the train parser `t` (flags override them).

    Every key must be an option of `t` (its dest, with _ for -) or a TrainConfig field without a
    flag (kept in ``train_extra``, checked by TrainConfig): a typo is refused, never ignored.
    """
    actions = {a.dest: a for a in t._actions if a.dest not in _NOT_SETTINGS}
    extra_fields = _train_fields_without_flag(actions)
    path, defaults, train_extra = settings.path, {}, {}
    for key, value in settings.values.items():
        if key in extra_fields:
            train_extra[key] = value
            continue
        if key not in actions:
            if settings.replay:
                raise ConfigError(f"{path}: the {model_name!r} model of this version has no "
                                  f"option {key!r}; replay the run with the Hourglass version "
                                  "that wrote it.")
            valid = ", ".join(sorted(k.replace("_", "-") for k in {*actions, *extra_fields}))
            scope = (f"of hourglass train {model_name}" if model_name else
                     "without a model (name one, model = \"vae\", for its own options)")
            raise ConfigError(f"{path}: unknown setting {key.replace('_', '-')!r}. Valid "
                              f"settings {scope}: {valid}.")
        try:
            defaults[key] = setting_value(actions[key], value)
        except (ValueError, TypeError, argparse.ArgumentTypeError) as e:
            raise ConfigError(f"{path}: {key.replace('_', '-')} = {value!r} is not valid "
                              f"({e}).") from None
        if key == "out":  # given by the file, so no longer required on the command line
            actions[key].required = False
    t.set_defaults(**defaults, train_extra=train_extra)


def train_config_from(args: argparse.Namespace) -> TrainConfig:
    """The TrainConfig of `hourglass train`'s flags (and --config's fields that have no flag);
    ``binarize`` may be "auto", resolved against the data by the workflow."""
    values = dict(args.train_extra)
    for f in dataclasses.fields(TrainConfig):
        if f.name in vars(args):
            values[f.name] = getattr(args, f.name)
    values.update(progress=not args.quiet, binarize="none")
    config = TrainConfig(**values).validate("train")
    config.binarize = args.binarize  # "auto" is resolved against the data
    return config


def build_parser(model_name: str | None = None,
                 settings: Settings | None = None) -> argparse.ArgumentParser:
    """The parser; with ``settings`` (from ``train --config``), they are the train defaults."""
    p = _Parser(prog="hourglass", description="Autoencoders and deep generative models: "
                "train, evaluate, sample, embed.")
    p.add_argument("--version", action="version", version=f"hourglass {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a model into a run directory, then evaluate it",
                       description="Train MODEL on --data into the run directory --out, evaluate "
                       "it on the test split and write report.html. `hourglass train MODEL "
                       "--help` lists the model's own options. `hourglass train --config "
                       "run.toml` takes every option from a file; `hourglass train --config "
                       "runs/x/config.json --out runs/y` trains the run runs/x again, exactly.")
    t.add_argument("model", nargs="?", default=None,
                   help="model name: " + ", ".join(list_models()) + " (optional when --config "
                   "names it)")
    t.add_argument("--config", default=None, metavar="FILE",
                   help="take the options from FILE: a .toml or .json file with one key per "
                   "option (latent-dim = 2, hidden = [256, 128], model = \"vae\", out = ...), or "
                   "a run's config.json to train that run again exactly (with a new --out); "
                   "options on the command line override the file")
    t.add_argument("--data", default="digits", help="dataset: digits (default), fashion-mnist, "
                   "mnist:/idx/folder, file.npy|npz|csv, swiss-roll, s-curve")
    t.add_argument("--out", required=True, help="run directory to create")
    t.add_argument("--resume", action="store_true",
                   help="continue the interrupted run in --out from its last checkpoint")
    t.add_argument("--val-fraction", type=float, default=0.1,
                   help="share of the training data held out for validation (default: 0.1)")
    t.add_argument("--n", "--n-examples", dest="n", type=int, default=None,
                   help="use only N training examples (spell it --n-examples after torchrun, "
                   "whose own parser takes --n for its --nnodes/--nproc-per-node)")
    t.add_argument("--download", action="store_true",
                   help="allow downloading the dataset into the cache if it is not on disk")
    t.add_argument("--k", type=_positive_int, default=1000,
                   help="importance samples for the test log-likelihood (default: 1000)")
    t.add_argument("--no-eval", action="store_true", help="skip evaluation after training")
    t.add_argument("--labels", type=_positive_int, default=None, metavar="N",
                   help="semi-supervised (m2): keep N training labels, balanced over the classes "
                   "(seeded by --seed); the others become -1")
    t.add_argument("--labelled-share", type=float, default=0.1,
                   help="with --labels: repeat the labelled rows until they make up this share "
                   "of the training rows (default: 0.1; 0: no repetition)")
    t.add_argument("--tensorboard", action="store_true",
                   help="also write TensorBoard event files into OUT/tensorboard: the loss terms "
                   "of every epoch, the test metrics and the figures (needs the tensorboard "
                   "package: pip install \"hourglass[tensorboard]\")")
    add_threads_flag(t)
    add_train_flags(t)
    t.set_defaults(train_extra={})  # TrainConfig fields without a flag, from --config
    if model_name is not None:
        t.set_defaults(model_fields=add_model_flags(t, model_name))
    if settings is not None:
        apply_settings(t, settings, model_name)

    e = sub.add_parser("evaluate", help="test metrics, figures and report of a run",
                       description="Compute the test NLL (nats, bits/dim), reconstruction error "
                       "and k-NN accuracy of the codes; rewrite metrics.json, figures/ and "
                       "report.html.")
    e.add_argument("run", help="run directory")
    e.add_argument("--k", type=_positive_int, default=1000, help="importance samples (default: 1000)")
    e.add_argument("--sample-quality", default=None, action=argparse.BooleanOptionalAction,
                   help="Fréchet distance, precision and recall of 10,000 samples in the features "
                   "of a classifier trained once on the dataset (default: on for GANs only)")
    e.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    add_threads_flag(e)

    s = sub.add_parser("sample", help="draw samples from a trained generative model")
    s.add_argument("run", help="run directory")
    s.add_argument("-n", type=_positive_int, default=64, help="number of samples (default: 64)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    s.add_argument("--out", default=None, help="PNG to write (default: RUN/figures/samples.png)")
    s.add_argument("--npy", default=None, help="also save the samples as this .npy file")
    s.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    add_threads_flag(s)

    m = sub.add_parser("embed", help="save the codes of a dataset as .npy")
    m.add_argument("run", help="run directory")
    m.add_argument("--data", required=True, help="dataset (same forms as for train)")
    m.add_argument("--split", default="test", help="train | val | test | all (default: test)")
    m.add_argument("--out", required=True, help=".npy file to write")
    m.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    add_threads_flag(m)

    x = sub.add_parser("experiment", help="run an experiment (writes JSON + a Markdown table)",
                       description="Run the experiment NAME; options after NAME go to the "
                       "experiment (`hourglass experiment NAME --help`).", add_help=True)
    x.add_argument("name", help="experiment name (see `hourglass list`)")
    x.add_argument("args", nargs=argparse.REMAINDER, help="options of the experiment")

    from hourglass.cli import uses as cli_uses
    cli_uses.add_commands(sub)  # compare, detect, debias

    sub.add_parser("list", help="list models, datasets, optimizers and experiments")
    return p


def _model_name_in(argv: list[str]) -> str | None:
    """The MODEL positional of `train`, if present (to add its flags before parsing)."""
    if len(argv) >= 2 and argv[0] == "train" and not argv[1].startswith("-"):
        return argv[1]
    return None


def _config_in(argv: list[str]) -> str | None:
    """The FILE of `train --config FILE` (read before parsing: its settings are the defaults)."""
    if not argv or argv[0] != "train":
        return None
    for i, arg in enumerate(argv[1:], start=1):
        if arg == "--":
            break
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
    return None


def _check_replayed_model(settings: Settings | None, model_name: str | None) -> None:
    """A run's config.json trains its own model: MODEL, if given, must be that one."""
    if settings is None or not settings.replay or model_name is None:
        return
    if model_name != settings.values["model"]:
        raise ConfigError(f"{settings.path} is the config of a {settings.values['model']!r} run, "
                          f"not {model_name!r}. Leave MODEL out to train it again: hourglass "
                          f"train --config {settings.path} --out NEW_DIR.")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse `argv`; for `train`, first read --config and add the flags of the model it names."""
    path = _config_in(argv)
    settings = read_settings(path) if path is not None else None
    named = _model_name_in(argv)
    _check_replayed_model(settings, named)
    model_name = named or (settings.values.get("model") if settings is not None else None)
    if model_name is not None:
        if not isinstance(model_name, str):
            raise ConfigError(f"{settings.path}: model = {model_name!r} is not valid (expected a "
                              f"model name: {', '.join(list_models())}).")
        get_model_class(model_name)  # unknown model: one clear line listing the valid ones
    args = build_parser(model_name, settings).parse_args(argv)
    if args.command != "train":
        return args
    if args.config != path:  # e.g. an abbreviated --conf: its settings were not read
        raise ConfigError("Write the option --config in full (--config FILE).")
    if args.model is None:
        raise ConfigError("hourglass train needs a MODEL: `hourglass train vae --out RUN`, or "
                          "model = \"vae\" in the --config file. Models: "
                          + ", ".join(list_models()) + ".")
    if args.model != model_name:  # MODEL came after other options: parse again with its flags
        _check_replayed_model(settings, args.model)
        get_model_class(args.model)
        args = build_parser(args.model, settings).parse_args(argv)
    return args


def cmd_list() -> None:
    from hourglass.data import list_datasets
    print("models:")
    for name, doc in describe_models():
        print(f"  {name:<16} {doc}")
    print("datasets:")
    for d in list_datasets():
        print(f"  {d['name']:<16} {d.get('description', '')}")
    print("optimizers:")
    print("  " + ", ".join(list_optimizers()))
    from hourglass.experiments import list_experiments
    print("experiments (hourglass experiment NAME):")
    for name, doc in list_experiments() or [("(none yet)", "")]:
        print(f"  {name:<24} {doc}")


def _print_metrics(metrics: dict) -> None:
    for k, v in metrics.items():
        print(f"  {k:<22} {v:.6g}" if isinstance(v, float) else f"  {k:<22} {v}")


def run(argv: list[str]) -> int:
    from hourglass.runs import workflow
    args = parse_args(argv)
    if getattr(args, "threads", None) is not None:
        import torch
        torch.set_num_threads(args.threads)
    if args.command == "list":
        cmd_list()
    elif args.command == "train":
        params = {f: getattr(args, f) for f in args.model_fields}
        config = train_config_from(args)
        with distributed.launch(config.device) as w:  # torchrun: one process per rank
            workflow.train_run(args.model, args.data, out=args.out, model_params=params,
                               train_config=config, val_fraction=args.val_fraction, n=args.n,
                               download=args.download, resume=args.resume,
                               evaluate=not args.no_eval, k=args.k, labels=args.labels,
                               labelled_share=args.labelled_share, tensorboard=args.tensorboard)
        if not w.main:  # the other ranks of a torchrun launch: rank 0 reports
            return 0
        if not args.no_eval:
            from hourglass.runs.store import read_metrics
            print(f"test metrics of {args.out}:")
            _print_metrics(read_metrics(args.out))
            print(f"report: {args.out}/report.html")
        else:
            print(f"trained: {args.out}")
    elif args.command == "evaluate":
        metrics = workflow.evaluate_run(args.run, k=args.k, device=args.device,
                                        sample_quality=args.sample_quality)
        _print_metrics(metrics)
        print(f"report: {args.run}/report.html")
    elif args.command == "sample":
        for kind, path in workflow.sample_run(args.run, n=args.n, seed=args.seed, out=args.out,
                                              npy=args.npy, device=args.device).items():
            print(f"{kind}: {path}")
    elif args.command == "experiment":
        from hourglass.experiments import get_experiment
        get_experiment(args.name).main(args.args)
    elif args.command == "embed":
        path = workflow.embed_run(args.run, args.data, out=args.out, split=args.split,
                                  device=args.device)
        print(f"codes: {path}")
    elif args.command in ("compare", "detect", "debias"):
        from hourglass.cli import uses as cli_uses
        cli_uses.run(args)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return run(argv)
    except Interrupted as e:  # SIGINT/SIGTERM during training: a checkpoint was written
        if os.environ.get("RANK", "0") == "0":  # every rank stops; rank 0 says so
            print(f"hourglass: interrupted: {e}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except distributed.FailedOnRank0:  # rank 0 printed the error
        return EXIT_USAGE
    except distributed.LostRank as e:  # a broken process group: leave without tearing it down
        print(f"hourglass: error: {e}", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_USAGE)
    except HourglassError as e:
        print(f"hourglass: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("hourglass: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `hourglass list | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
