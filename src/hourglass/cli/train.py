"""``hourglass train``: its flags, the --config file, the checks of --resume, and the run.

Model and training flags are generated from the option declarations of the model's config and of
:class:`~hourglass.train.TrainConfig` (:mod:`hourglass.cli.flags`), so a new model or a new
training option gets its flag, type, choices and help from its one declaration.
``hourglass train --config FILE`` takes the flags from a TOML/JSON file or a run's config.json
(:mod:`hourglass.runs.config_file`): the file's settings become the parser's defaults, so a flag on
the command line overrides them, and each is checked against its flag's type and choices.
"""

from __future__ import annotations

import argparse
import dataclasses

from hourglass.cli.common import (add_importance_samples_flag, add_threads_flag, apply_threads,
                                  print_metrics)
from hourglass.cli.flags import add_option_flags, negated_flags
from hourglass.core.errors import ConfigError
from hourglass.core.parsing import (Parser, comma_sizes, optional_float, optional_int,
                                    positive_int)
from hourglass.models import get_model_class, list_models
from hourglass.runs import workflow
from hourglass.runs.config_file import Settings, read_settings
from hourglass.runs.store import read_metrics, read_training_run
from hourglass.train import TrainConfig, distributed
from hourglass.train.progress import log_to_stderr


def add_model_flags(p: argparse.ArgumentParser, model_name: str) -> list[str]:
    """One flag per option of the model's config (input_shape comes from the data)."""
    g = p.add_argument_group(f"{model_name} model options")
    return add_option_flags(g, get_model_class(model_name).config_class)


def add_train_flags(p: argparse.ArgumentParser) -> None:
    """One flag per training option (TrainConfig)."""
    add_option_flags(p.add_argument_group("training options"), TrainConfig)


_INT_TYPES = (int, positive_int, optional_int)
_FLOAT_TYPES = (float, optional_float)
_NOT_SETTINGS = ("help", "config", "model_fields")
SETTING_ALIASES = {"k": "importance_samples"}  # the former name of a setting


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
    if action.type is comma_sizes:  # a list [256, 128], one int, or the flag's text "256,128"
        if isinstance(value, str):
            return comma_sizes(value)
        sizes = value if isinstance(value, list) else [value]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in sizes):
            raise ValueError("expected a list of ints, e.g. [256, 128]")
        return tuple(sizes)
    if isinstance(value, str):
        value = action.type(value) if action.type is not None else value
    elif action.type in _FLOAT_TYPES and isinstance(value, (int, float)):
        value = float(value)
    elif action.type in _INT_TYPES and isinstance(value, int):
        value = action.type(str(value))  # positive_int checks the sign
    else:
        kind = ("an int" if action.type in _INT_TYPES else
                "a number" if action.type in _FLOAT_TYPES else "a string")
        raise ValueError(f"expected {kind}")
    if action.choices is not None and value not in action.choices:
        raise ValueError("expected one of " + ", ".join(map(str, action.choices)))
    return value


def _train_fields_without_flag(actions: dict) -> set[str]:
    """TrainConfig fields that have no flag (yet): a --config file may still set them."""
    return ({f.name for f in dataclasses.fields(TrainConfig)} - set(actions)
            - set(negated_flags(TrainConfig)))


def _default_without_flag(model_name: str | None, key: str, value) -> bool:
    """Whether `key` is an option of the model's config that has no flag and `value` its default."""
    import dataclasses

    from hourglass.models import get_model_class

    if model_name is None:
        return False
    fields = {f.name: f for f in dataclasses.fields(get_model_class(model_name).config_class)}
    f = fields.get(key)
    return f is not None and f.default is not dataclasses.MISSING and f.default == value


def apply_settings(t: argparse.ArgumentParser, settings: Settings, model_name: str | None) -> None:
    """Make a --config file's settings the defaults of the train parser `t` (flags override them).

    Every key must be an option of `t` (its dest, with _ for -) or a TrainConfig field without a
    flag (kept in ``train_extra``, checked by TrainConfig): a typo is refused, never ignored.
    """
    actions = {a.dest: a for a in t._actions if a.dest not in _NOT_SETTINGS}
    extra_fields = _train_fields_without_flag(actions)
    path, defaults, train_extra = settings.path, {}, {}
    for key, value in settings.values.items():
        key = SETTING_ALIASES.get(key, key)
        if key in extra_fields:
            train_extra[key] = value
            continue
        if key not in actions:
            if settings.replay and _default_without_flag(model_name, key, value):
                continue  # a fixed option the run's config records (a model's train_k = 1)
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
    for name, dest in negated_flags(TrainConfig).items():  # --quiet: progress=False
        values[name] = not getattr(args, dest)
    values["binarize"] = "none"
    config = TrainConfig(**values).validate("train")
    config.binarize = args.binarize  # "auto" is resolved against the data
    return config


def add_arguments(t: argparse.ArgumentParser, model_name: str | None = None,
                  settings: Settings | None = None) -> None:
    """The flags of ``hourglass train`` (with those of `model_name`), defaults from `settings`."""
    t.add_argument("model", nargs="?", default=None,
                   help="model name: " + ", ".join(list_models()) + " (optional when --config "
                   "names it)")
    t.add_argument("--config", default=None, metavar="FILE",
                   help="take the options from FILE: a .toml or .json file with one key per "
                   "option (latent-dim = 2, hidden = [256, 128], model = \"vae\", out = ...), or "
                   "a run's config.json to train that run again exactly (with a new --out); "
                   "options on the command line override the file (default: none)")
    t.add_argument("--data", default="digits", help="dataset: digits, fashion-mnist, "
                   "mnist:/idx/folder, file.npy|npz|csv, swiss-roll, s-curve (default: digits)")
    t.add_argument("--out", required=True, help="run directory to create")
    t.add_argument("--resume", action="store_true",
                   help="continue the interrupted run in --out from its last checkpoint")
    t.add_argument("--val-fraction", type=float, default=0.1,
                   help="share of the training data held out for validation")
    t.add_argument("--n", "--n-examples", dest="n", type=int, default=None,
                   help="use only N training examples (spell it --n-examples after torchrun, "
                   "whose own parser takes --n for its --nnodes/--nproc-per-node; default: all)")
    t.add_argument("--download", action="store_true",
                   help="allow downloading the dataset into the cache if it is not on disk")
    add_importance_samples_flag(t)
    t.add_argument("--no-eval", action="store_true", help="skip evaluation after training")
    t.add_argument("--labels", type=positive_int, default=None, metavar="N",
                   help="semi-supervised (m2, aae --mode semi-supervised): keep N training "
                   "labels, balanced over the classes "
                   "(seeded by --seed); the others become -1 (default: all labels)")
    t.add_argument("--labelled-share", type=float, default=0.1,
                   help="with --labels: repeat the labelled rows until they make up this share "
                   "of the training rows (0: no repetition)")
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


def parse(argv: list[str], build_parser) -> argparse.Namespace:
    """Parse ``train ...`` in `argv` with ``build_parser(model_name, settings, commands=...)``:
    first read --config and add the flags of the model it (or MODEL) names."""
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
    args = build_parser(model_name, settings, commands=("train",)).parse_args(argv)
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
        args = build_parser(args.model, settings, commands=("train",)).parse_args(argv)
    if args.resume:
        check_resume_flags(args, given_dests(argv, args.model, settings))
    return args


# flags that say how to continue a run, not what it is: --resume may give them
RESUME_MAY_CHANGE = {"epochs", "device", "quiet", "threads", "resume", "out", "no_eval",
                     "importance_samples",
                     "tensorboard", "download", "config", "model", "model_fields", "train_extra",
                     "help"}
RUN_DATA_DESTS = {"data": "spec", "val_fraction": "val_fraction", "n": "n", "labels": "labels",
                  "labelled_share": "labelled_share"}


def given_dests(argv: list[str], model_name: str, settings: Settings | None) -> set[str]:
    """The dests of `hourglass train` that `argv` (or its --config file) sets explicitly: the
    parser is built again with no defaults, so only what was given is parsed."""
    t = Parser(prog="hourglass train")
    add_arguments(t, model_name)
    t._defaults.clear()
    for a in t._actions:
        a.default, a.required = argparse.SUPPRESS, False
    given = set(vars(t.parse_args(argv[1:])))
    return given | {SETTING_ALIASES.get(k, k)
                    for k in (settings.values if settings is not None else ())}


def _same(a, b) -> bool:
    def norm(v):
        return tuple(v) if isinstance(v, list) else v
    return norm(a) == norm(b)


def check_resume_flags(args: argparse.Namespace, given: set[str]) -> None:
    """--resume continues a run as it was configured: every option given (on the command line or
    by --config) must agree with the run's config.json, and --epochs may only extend it."""
    old = read_training_run(args.out)
    model_config, train, data = old["model_config"], old["train"], old["data"]
    differ = []
    for dest in sorted(given - RESUME_MAY_CHANGE):
        value = getattr(args, dest) if hasattr(args, dest) else args.train_extra.get(dest)
        if dest in RUN_DATA_DESTS:
            recorded = data.get(RUN_DATA_DESTS[dest], 0.1 if dest == "labelled_share" else None)
        elif dest in model_config:
            recorded = model_config[dest]
        elif dest in train:
            recorded = train[dest]
        else:
            recorded = None
        if value == "auto" and dest in ("likelihood", "binarize"):
            continue  # resolved against the data when the run started
        if not _same(value, recorded):
            differ.append(f"--{dest.replace('_', '-')} {_shown(value)} (the run has "
                          f"{_shown(recorded)})")
    if differ:
        raise ConfigError(f"--resume continues {args.out} as it was configured, but "
                          f"{'; '.join(differ)}. Leave these options out to resume, or train a "
                          "new run with another --out.")


def _shown(value) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or "none"
    return str(value)


def run(args: argparse.Namespace) -> int:
    apply_threads(args)
    log_to_stderr()  # early stopping and downloads: one line each on stderr
    params = {f: getattr(args, f) for f in args.model_fields}
    config = train_config_from(args)
    with distributed.launch(config.device) as w:  # torchrun: one process per rank
        workflow.train_run(args.model, args.data, out=args.out, model_params=params,
                           train_config=config, val_fraction=args.val_fraction, n=args.n,
                           download=args.download, resume=args.resume,
                           evaluate=not args.no_eval, k=args.importance_samples,
                           labels=args.labels, labelled_share=args.labelled_share,
                           tensorboard=args.tensorboard)
    if not w.main:  # the other ranks of a torchrun launch: rank 0 reports
        return 0
    if not args.no_eval:
        print(f"test metrics of {args.out}:")
        print_metrics(read_metrics(args.out))
        print(f"report: {args.out}/report.html")
    else:
        print(f"trained: {args.out}")
    return 0
