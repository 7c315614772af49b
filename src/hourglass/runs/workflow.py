"""The library calls behind the CLI: train a run, evaluate it, sample from it, embed data with it.

A run directory is the unit (see :mod:`hourglass.runs.store`). These functions are what
``hourglass train|evaluate|sample|embed`` call; the CLI only parses flags and prints.
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import re
import shutil
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import torch

from hourglass import viz
from hourglass.runs import store
from hourglass.core.io import (DISK_FULL, MAX_JSON_BYTES, WriteError, atomic_write_bytes,
                               atomic_write_json, checked_file, read_checked_text)
from hourglass.core.options import constraints
from hourglass.core.validation import Interval, check_count, check_params
from hourglass.data import Dataset, load
from hourglass.data.semisupervised import keep_labels, repeat_labelled
from hourglass.core.errors import ConfigError, RunError
from hourglass.evaluate import batched, evaluate_model
from hourglass.evaluate.sample_quality import sample_quality as measure_sample_quality
from hourglass.models import get_model_class
from hourglass.evaluate.diagnostics import collapse_warnings
from hourglass.models.protocol import has, has_log_prob, uses_labels
from hourglass.train import Batches, TrainConfig, distributed, model_phases, resolve_device, train
from hourglass.train.checkpoint import TENSORS as CHECKPOINT, check_checkpoint
from hourglass.train.config import MAX_SEED, check_train_limits
from hourglass.train.lock import LOCK, run_lock
from hourglass.train.nonfinite import NonFiniteLoss
from hourglass.train.pretrain import pretrain
from hourglass.train.tensorboard import TensorBoardWriter, summary_writer_class
from hourglass.viz.latent import latent_figures

log = logging.getLogger(__name__)
EVAL_SEED = 0  # seed of the fixed test binarization and the IWAE samples, stated in metrics.json


def resolve_likelihood(likelihood: str, ds: Dataset, choices: tuple = ()) -> str:
    """'auto': Bernoulli for data in [0, 1] (images), Gaussian otherwise; for 8-bit colour images,
    the 256-way categorical of each channel when the model offers it (among `choices`)."""
    if likelihood != "auto":
        return likelihood
    if "categorical" in choices and ds.dtype == torch.uint8 and ds.is_image and ds.shape[0] > 1:
        return "categorical"
    lo, hi = ds.value_range
    in_unit = ds.dtype == torch.uint8 or (lo >= 0 and hi <= 1)
    return "bernoulli" if in_unit else "gaussian"


def resolve_binarize(binarize: str, likelihood: str | None, ds: Dataset) -> str:
    """'auto': dynamic binarization for a Bernoulli decoder on grey-level data, else none."""
    if binarize != "auto":
        return binarize
    if likelihood != "bernoulli":
        return "none"
    x = ds.train.x[:1000]
    already_binary = bool(((x == 0) | (x == (255 if x.dtype == torch.uint8 else 1))).all())
    return "none" if already_binary else "dynamic"


def _check_writable(out: Path) -> None:
    probe = out / f".write-test-{os.getpid()}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        try:
            probe.write_bytes(b"x")  # one byte: a full disk refuses it, an empty file it may not
        finally:
            probe.unlink(missing_ok=True)
    except OSError as e:
        fix = "Free some space or choose" if e.errno in DISK_FULL else "Choose"
        raise RunError(f"Cannot write the run directory {out} ({e.strerror}). "
                       f"{fix} another --out.") from None


MARGIN_BYTES = 4_000_000  # history, JSON, figures/*.png and report.html, with room to spare
# optimizer state per parameter, in parameters' worth: Adam keeps m and v, momentum v, SGD nothing
OPTIMIZER_SLOTS = {"sgd": 0, "momentum": 1, "nesterov": 1, "adagrad": 1, "adadelta": 2,
                   "rmsprop": 1, "adam": 2, "adamw": 2}


def free_bytes(path: Path) -> int:
    """Free bytes on the file system of `path` (a name to monkeypatch in tests)."""
    return shutil.disk_usage(path).free


def estimate_run_bytes(model: torch.nn.Module, config: TrainConfig) -> int:
    r"""Bytes a training run holds on disk at its peak, from the model's tensors.

    One checkpoint is $C = W + O + B$: the weights $W$ (parameters and buffers), the optimizer
    state $O$ (`OPTIMIZER_SLOTS` times the bytes of the parameters it steps) and, with patience,
    the best weights $B = W$. A checkpoint is replaced by writing the new one beside it, and the
    kept ones are hard links of former ones, so at most $\max(2, K)$ distinct checkpoints exist
    at once ($K$ = keep_checkpoints):

    $$\text{peak} = \max(2, K)\, C + W_{\text{model.safetensors}} + \text{margin}$$
    """
    weights = store.state_bytes(model)
    optim = sum(OPTIMIZER_SLOTS.get(p.optimizer.get("name", config.optimizer), 2)
                * sum(q.numel() * q.element_size() for q in p.parameters)
                for p in model_phases(model))
    checkpoint = weights + optim + (weights if config.patience is not None else 0)
    return max(2, config.keep_checkpoints) * checkpoint + weights + MARGIN_BYTES


def _check_free_space(out: Path, model: torch.nn.Module, config: TrainConfig, *,
                      resume: bool) -> None:
    """Refuse to start a run that cannot fit: its estimated peak size, less the weights and
    checkpoints already in `out` (a resume replaces them), against the free space."""
    seen, present = set(), 0
    for f in out.rglob("*.safetensors") if resume else ():
        st = f.stat()
        if (st.st_dev, st.st_ino) not in seen:  # kept checkpoints are hard links
            seen.add((st.st_dev, st.st_ino))
            present += st.st_size
    needed, free = estimate_run_bytes(model, config) - present, free_bytes(out)
    if needed > free:
        fix = "and resume again" if resume else "or choose another --out"
        raise RunError(f"Not enough free space in {out}: the run needs about "
                       f"{store.format_bytes(needed)} (weights, checkpoints, report) but only "
                       f"{store.format_bytes(free)} are free. "
                       f"Free some space {fix}.")


@contextmanager
def _resumable_writes(out: Path):
    """A write that fails during training says what to do next: resume from the checkpoint if
    there is one (checkpoints are written atomically, so one that exists is whole)."""
    try:
        yield
    except WriteError as e:
        if (out / CHECKPOINT).exists():
            raise WriteError(e.path, e.err, then="continue with --resume; the last checkpoint "
                             "is intact") from None
        raise WriteError(e.path, e.err, then="run the command again; nothing was "
                         "half-written") from None


# what a run directory may hold (hourglass.runs.store, hourglass.train.checkpoint, the lock)
RUN_FILES = {store.CONFIG, store.WEIGHTS, CHECKPOINT, "checkpoint.json", "checkpoints",
             "history.csv", "metrics.json", "pretrain.json", "figures", "report.html",
             "tensorboard", LOCK}
# a temporary file of hourglass.core.io.atomic_open: ".NAME.<random>.tmp" beside NAME
TEMP_FILE = re.compile(r"^\.(?P<name>.+)\.[A-Za-z0-9_]+\.tmp$")
UNIT_SCALE = 10.0  # data beyond +-UNIT_SCALE are far from the scale the models are set for


def check_new_run_dir(out: Path) -> None:
    """Refuse to start a new run in `out` unless it is absent, empty, or a run of ours (our
    config.json, and only the files a run writes) that never got to its first checkpoint. A
    finished or interrupted run is resumed, never overwritten; a folder that is not a run is
    never written into."""
    if not out.exists():
        return
    if not out.is_dir():
        raise RunError(f"--out {out} is a file, not a folder. Choose another --out.")
    entries = sorted(p.name for p in out.iterdir() if not TEMP_FILE.match(p.name))
    if set(entries) <= {LOCK}:  # empty, or the lock of a run killed before it wrote anything
        return
    foreign = [e for e in entries if e not in RUN_FILES]
    if store.CONFIG not in entries:
        foreign.insert(0, f"no {store.CONFIG} of a run")
    elif not _is_our_config(out / store.CONFIG):
        foreign.insert(0, f"a {store.CONFIG} that is not a Hourglass run config")
    if foreign:
        raise RunError(f"--out {out} is a folder that holds files which are not a Hourglass run "
                       f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}); nothing "
                       "was written. Choose a new or empty folder for --out.")
    if any(e in entries for e in (store.WEIGHTS, CHECKPOINT, "checkpoint.json")):
        raise RunError(f"{out} already holds a run. Continue it with --resume, or choose "
                       "another --out.")


def _is_our_config(path: Path) -> bool:
    try:
        store.read_config(path.parent)
    except RunError:
        return False
    return True


def remove_stray_temp_files(out: Path) -> list[Path]:
    """Delete the temporary files of writes that were killed mid-way (``.NAME.xxxx.tmp`` beside a
    run file NAME, in `out`, or any in `out/checkpoints` and `out/figures`). Call it holding the
    run's lock: no other writer can be using them then."""
    removed = []
    for folder in (out, out / "checkpoints", out / "figures"):
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            m = TEMP_FILE.match(p.name)
            if m and p.is_file() and (folder != out or m["name"] in RUN_FILES):
                p.unlink(missing_ok=True)
                removed.append(p)
    return removed


def check_resume_epochs(out: Path, epochs: int) -> None:
    """Refuse to resume to fewer epochs than the run has already trained."""
    done = checkpoint_epoch(out)
    if done is not None and epochs < done:
        raise ConfigError(f"{out} has already trained {done} epochs (by its checkpoint); "
                          f"--epochs {epochs} would end before that. Give --epochs {done} or "
                          "more to continue it.")


def checkpoint_epoch(out: Path) -> int | None:
    """Epochs finished by the run in `out` by its checkpoint (None: no readable checkpoint)."""
    path = out / "checkpoint.json"
    if not path.exists():
        return None
    try:
        state = json.loads(read_checked_text(path, what="checkpoint state"))
    except (RunError, json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(state, dict):
        return None
    epoch, step = state.get("epoch"), state.get("step", 0)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (epoch, step)):
        return None
    return epoch + (1 if step > 0 else 0)  # a checkpoint within an epoch: that epoch is begun


def scale_hint(ds: Dataset) -> str:
    """A hint for a loss that went non-finite on data far from unit scale."""
    lo, hi = ds.value_range
    if max(abs(lo), abs(hi)) <= UNIT_SCALE:
        return ""
    return (f" The data ({ds.name}) have values in [{lo:.4g}, {hi:.4g}], far from unit scale: "
            "scale them first (to [0, 1], or to zero mean and unit variance).")


def load_run_data(config: dict) -> Dataset:
    d = config["data"]
    return load(d["spec"], val_fraction=d["val_fraction"], seed=d["seed"], n=d.get("n"),
                download=False)


def train_run(model_name: str, data: str, *, out: str | Path, model_params: dict | None = None,
              train_config: TrainConfig | None = None, val_fraction: float = 0.1,
              n: int | None = None, download: bool = False, resume: bool = False,
              evaluate: bool = True, k: int = 1000, labels: int | None = None,
              labelled_share: float = 0.1, tensorboard: bool = False) -> dict:
    """Train `model_name` on dataset `data` into run directory `out`; return the config written.

    ``model_params`` may say ``likelihood="auto"``; ``train_config.binarize`` may be ``"auto"``.
    ``labels=N`` (semi-supervised models) keeps N training labels, balanced over the classes,
    hides the others (-1) and repeats the kept rows to make up ``labelled_share`` of the rows.
    ``tensorboard=True`` also writes TensorBoard event files into ``out/tensorboard``
    (:mod:`hourglass.train.tensorboard`).
    """
    if not isinstance(out, (str, os.PathLike)) or str(out).strip() == "":
        raise ConfigError("--out must name the run directory to create, e.g. --out runs/vae; "
                          f"got {out!r}.")
    out = Path(out)
    if tensorboard:
        summary_writer_class()  # a missing package fails here, before any data is loaded
    cls = get_model_class(model_name)
    train_config = train_config or TrainConfig()
    check_train_limits(train_config.to_dict(), "train")
    if resume:
        old = store.read_training_run(out)
        if old["model"] != model_name:
            raise RunError(f"{out} is a {old['model']!r} run; resume it with "
                           f"`hourglass train {old['model']} --resume --out {out}`.")
        train_cfg = TrainConfig(**{**old["train"], "epochs": train_config.epochs,
                                   "progress": train_config.progress,
                                   "device": train_config.device}).validate()
        check_resume_epochs(out, train_cfg.epochs)
        ds = load_run_data(old)
        model_config, data_info = old["model_config"], old["data"]
    else:
        check_new_run_dir(out)
        ds = load(data, val_fraction=val_fraction, seed=train_config.seed, n=n, download=download)
        params = dict(model_params or {})
        check_labels(cls, ds, labels, params)
        if params.get("n_classes", 0) is None:  # label-conditioned models: K from the data
            params["n_classes"] = ds.n_classes
        if "likelihood" in params:  # models with a decoder likelihood; others have none
            choices = getattr(constraints(cls.config_class).get("likelihood"), "values", ())
            params["likelihood"] = resolve_likelihood(params["likelihood"], ds, tuple(choices))
        model_config = cls.config_class.from_dict(
            {**params, "input_shape": ds.shape}, owner=cls.__name__).to_dict()
        binarize = resolve_binarize(train_config.binarize, model_config.get("likelihood"), ds)
        train_cfg = TrainConfig(**{**train_config.to_dict(), "binarize": binarize}).validate()
        data_info = {"spec": data, "val_fraction": val_fraction, "seed": train_cfg.seed, "n": n,
                     **ds.info()}
        if labels is not None:
            data_info.update(labels=labels, labelled_share=labelled_share)
    lo, hi = ds.value_range
    if model_config.get("likelihood") == "bernoulli" and ds.dtype != torch.uint8 \
            and not (lo >= 0 and hi <= 1):
        raise ConfigError(f"A Bernoulli decoder needs data in [0, 1] but {ds.name} has values in "
                          f"[{lo:.4g}, {hi:.4g}]. Scale the data to [0, 1], or use --likelihood "
                          "gaussian.")
    if train_cfg.patience is not None and len(ds.val) == 0:
        raise ConfigError("--patience (early stopping) needs a validation split: "
                          "set --val-fraction > 0.")
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"k (importance samples) must be a positive int. Got {k!r} instead.")
    w = distributed.world()  # under torchrun: rank 0 writes, every rank trains
    with ExitStack() as claimed:
        def claim():  # one writer per run directory
            store.check_model_size(model_name, model_config, source="This run")
            _check_writable(out)
            claimed.enter_context(run_lock(out))
            remove_stray_temp_files(out)  # of a write killed mid-way (SIGKILL, power loss)
        distributed.on_main(claim, w)
        claimed.enter_context(_resumable_writes(out))
        board = TensorBoardWriter(out) if tensorboard and w.main else None
        try:
            return _train_locked(cls, model_name, out, model_config, train_cfg, data_info, ds,
                                 resume=resume, evaluate=evaluate, k=k, board=board)
        finally:
            if board is not None:
                board.close()


def _train_locked(cls, model_name, out, model_config, train_cfg, data_info, ds, *, resume,
                  evaluate, k, board: TensorBoardWriter | None = None) -> dict:
    """The part of `train_run` that writes the run directory (under its lock). Under torchrun
    every rank trains and rank 0 alone writes; the other ranks return None after training."""
    w = distributed.world()
    torch.manual_seed(train_cfg.seed)
    model = store.build_model(model_name, model_config, source="This run")
    extra = {"distributed": {"world_size": w.size, "backend": torch.distributed.get_backend()}
             } if w.active else {}

    def start():
        config = store.write_config(out, model_name=model_name, model_config=model_config,
                                   train=train_cfg.to_dict(), data=data_info, **extra)
        _check_free_space(out, model, train_cfg, resume=resume)
        return config
    if resume:  # a checkpoint that cannot be read is refused before config.json is rewritten
        check_checkpoint(out, model)
    config = distributed.on_main(start, w)
    t0 = time.perf_counter()
    if has(model, "pretraining") and not resume:  # e.g. greedy layer-wise pretraining
        record = pretrain(model, ds.train.x, y=ds.train.y, config=train_cfg)
        if w.main:
            atomic_write_json(out / "pretrain.json",
                              {"time_s": time.perf_counter() - t0, "stages": record})
    x_train, y_train = ds.train.x, ds.train.y
    if data_info.get("labels") is not None:  # semi-supervised: a few labels, repeated
        y_train = keep_labels(y_train, data_info["labels"], seed=train_cfg.seed)
        x_train, y_train = repeat_labelled(x_train, y_train, data_info["labelled_share"])
    try:
        history = train(model, x_train, y=y_train, val_x=ds.val.x if len(ds.val) else None,
                        val_y=ds.val.y, config=train_cfg, run_dir=out, resume=resume,
                        on_epoch_end=None if board is None else board.log_epoch)
    except NonFiniteLoss as e:
        raise NonFiniteLoss(f"{e}{scale_hint(ds)}") from None
    train_time = time.perf_counter() - t0
    if not w.main:
        return None
    store.save_weights(out, model)
    if evaluate:
        metrics = evaluate_run(out, k=k, device=train_cfg.device, model=model, ds=ds,
                               train_time_s=train_time)
        if board is not None:
            board.log_evaluation(metrics, out / "figures",
                                 step=history[-1]["epoch"] if history else 0)
    return config


def check_labels(cls, ds: Dataset, labels: int | None, params: dict | None = None) -> None:
    """Label-conditioned models need labelled data; ``labels`` is for models that use labels.
    Whether the model uses labels may depend on its config values `params` (the AAE's mode)."""
    needs = uses_labels(cls, params or {})
    if needs and ds.train.y is None:
        raise ConfigError(f"The {cls.model_name!r} model is trained with class labels and "
                          f"{ds.name!r} has none. Use labelled data: digits, fashion-mnist, "
                          "sprites, or an .npz file with y.")
    if labels is not None and not needs:
        if uses_labels(cls, {**(params or {}), "mode": "semi-supervised"}):  # the AAE
            raise ConfigError(f"--labels keeps a few labels for a semi-supervised model; the "
                              f"{cls.model_name!r} model uses them with --mode semi-supervised "
                              f"(got mode {(params or {}).get('mode')!r}).")
        raise ConfigError(f"--labels keeps a few labels for models trained with them (cvae, m2, "
                          f"aae --mode semi-supervised); the {cls.model_name!r} model does not "
                          "use labels.")


def eval_inputs(x: torch.Tensor, binarize: str) -> torch.Tensor:
    """Test inputs as the model was trained on them, fixed once: a seeded Bernoulli sample for
    dynamic/static binarization, a threshold for 'threshold', the float values otherwise."""
    mode = {"dynamic": "static"}.get(binarize, binarize)
    b = Batches(x, None, device="cpu", binarize=mode, seed=EVAL_SEED)
    return b.x.float() * b.scale


def evaluate_run(run_dir: str | Path, *, k: int = 1000, device: str = "auto", model=None,
                 ds: Dataset | None = None, train_time_s: float | None = None,
                 figures: bool = True, sample_quality: bool | None = None) -> dict:
    """Compute test metrics, write metrics.json, the figures and report.html; return the metrics.

    ``sample_quality`` adds the Fréchet distance, precision and recall of 10,000 samples in the
    feature space of a classifier trained (once, cached) on the dataset; ``None`` turns it on for
    models that can sample but have no likelihood (GANs), where it is the only measure.
    """
    run_dir = Path(run_dir)
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"k (importance samples) must be a positive int. Got {k!r} instead.")
    dev = resolve_device(device)
    if model is None:
        model, config, _ = store.load_model(run_dir, device=dev)
    config = store.read_training_run(run_dir)
    history = run_dir / "history.csv"  # read for the figures: check it before writing anything
    if history.exists() or history.is_symlink():
        checked_file(history, max_bytes=MAX_JSON_BYTES, what="training history")
    ds = ds if ds is not None else load_run_data(config)
    if tuple(ds.shape) != tuple(model.config.input_shape):
        raise RunError(f"The data of {run_dir} has shape {ds.shape} but the model expects "
                       f"{tuple(model.config.input_shape)}.")
    binarize = config["train"]["binarize"]
    x_test = eval_inputs(ds.test.x, binarize)
    # the codes compared by the k-NN are those of the grey images (the mean of the binarization)
    grey_train, grey_test = eval_inputs(ds.train.x, "none"), eval_inputs(ds.test.x, "none")
    model.to(dev).eval()
    t0 = time.perf_counter()
    metrics = evaluate_model(model, x_test, y_test=ds.test.y, x_train=grey_train,
                             y_train=ds.train.y, k=k, seed=EVAL_SEED, x_test_codes=grey_test)
    metrics["eval_time_s"] = time.perf_counter() - t0
    metrics["test_binarization"] = ("none" if binarize == "none" else
                                    f"{binarize} (test: fixed Bernoulli sample, seed {EVAL_SEED})"
                                    if binarize != "threshold" else "threshold 0.5")
    metrics["n_parameters"] = sum(p.numel() for p in model.parameters())
    diagnosis, warnings = collapse_warnings(model, x_test, model_name=config["model"], seed=EVAL_SEED)
    metrics.update(diagnosis)
    if warnings:
        metrics["warnings"] = warnings
        for w in warnings:
            log.warning(w)
    if sample_quality is None:
        sample_quality = has(model, "sample") and not has_log_prob(model)
    if sample_quality and has(model, "sample") and ds.is_image and ds.train.y is not None:
        gen = torch.Generator(device=dev).manual_seed(EVAL_SEED)
        samples = torch.cat([model.sample(1000, generator=gen).cpu() for _ in range(10)])
        metrics.update({f"sample_{k}": v for k, v in measure_sample_quality(samples, ds).items()})
    if train_time_s is not None:
        metrics["train_time_s"] = train_time_s
    old = store.read_metrics(run_dir)
    if train_time_s is None and "train_time_s" in old:
        metrics["train_time_s"] = old["train_time_s"]
    atomic_write_json(run_dir / "metrics.json", metrics)
    if figures:
        write_figures(run_dir, model, ds, x_test, config, metrics)
    return metrics


def write_figures(run_dir: Path, model, ds: Dataset, x_test: torch.Tensor, config: dict,
                  metrics: dict) -> list:
    fig_dir = run_dir / "figures"
    dev = next(model.parameters()).device
    shown: list[tuple[str, Path]] = []
    n_show = min(32, x_test.shape[0])
    if has(model, "reconstruct") and ds.is_image:
        x_hat = batched(model.reconstruct, x_test[:n_show], device=dev)
        grey = eval_inputs(ds.test.x[:n_show], "none")
        rows = [("input", grey)]
        if config["train"]["binarize"] != "none":  # the model saw (and reconstructs) the sample
            rows.append(("binarized", x_test[:n_show]))
        rows.append(("reconstruction", x_hat))
        per_row = min(8, n_show)
        chunks = [x.reshape(-1, *ds.shape)[i:i + per_row]
                  for i in range(0, n_show, per_row) for _, x in rows]
        labels = {len(rows) * j + k: name
                  for j in range(math.ceil(n_show / per_row)) for k, (name, _) in enumerate(rows)}
        title = ", ".join(name for name, _ in rows)
        caption = (f"{title[0].upper()}{title[1:]}: test inputs (grey), "
                   + ("the binarized sample the model was scored on, " if len(rows) == 3 else "")
                   + "and their reconstructions")
        shown.append((caption, viz.images.labelled_grid(torch.cat(chunks).numpy(), per_row,
                                                 fig_dir / "reconstructions.png", shape=ds.shape,
                                                 title=title, row_labels=labels)))
    elif has(model, "reconstruct"):
        x_all = x_test[:2000]
        shown.append(("Test points and their reconstructions",
                      viz.point_cloud(x_all, fig_dir / "reconstructions.png",
                                      x_hat=batched(model.reconstruct, x_all, device=dev),
                                      color=None if ds.test.t is None else ds.test.t[:2000, 0])))
    if has(model, "sample"):
        gen = torch.Generator(device=dev).manual_seed(EVAL_SEED)
        samples = model.sample(64, generator=gen).cpu()
        if ds.is_image:
            shown.append(("Samples drawn pixel by pixel from p(x)"
                          if has(model, "log_prob") else "Samples from the prior (mean of p(x|z))",
                          viz.image_grid(samples, fig_dir / "samples.png", shape=ds.shape)))
        else:
            shown.append(("Samples from the prior", viz.point_cloud(
                model.sample(2000, generator=gen).cpu(), fig_dir / "samples.png")))
    history = run_dir / "history.csv"
    if history.exists():
        shown.append(("Training curves (loss terms per epoch)",
                      viz.training_curves(history, fig_dir / "training_curves.png")))
    if has(model, "encode"):
        z = batched(model.encode, x_test, device=dev)
        y = ds.test.y
        shown.append(("Codes of the test set" + (" coloured by label" if y is not None else ""),
                      viz.latent_scatter(z, fig_dir / "codes.png", y=y, classes=ds.classes)))
        if model.config.latent_dim == 2 and ds.is_image:
            def decode(zz):
                return batched(model.decode, torch.as_tensor(zz, dtype=torch.float32),
                               device=dev).numpy()
            shown.append(("Decoded grid over the 2-D latent plane (normal quantiles 0.05-0.95)",
                          viz.latent_grid(decode, fig_dir / "latent_grid.png", shape=ds.shape)))
    if ds.is_image:  # VAE family: traversal, interpolation; with labels, class grid and analogies
        shown += latent_figures(model, x_test, ds.test.y, fig_dir, shape=ds.shape,
                                classes=ds.classes)
    title = f"{config['model']} on {config['data']['spec']} — {run_dir.name}"
    viz.write_report(run_dir, title=title, config=config, metrics=metrics, figures=shown)
    return shown


def sample_run(run_dir: str | Path, *, n: int = 64, seed: int = 0, out: str | Path | None = None,
               npy: str | Path | None = None, device: str = "auto",
               label: int | None = None) -> dict:
    """Draw `n` samples; write a PNG grid (images) and optionally the array as .npy. With
    `label`, a class-conditional model draws them all from p(x | y = label)."""
    run_dir = Path(run_dir)
    n = check_count(n, name="n", owner="hourglass sample")
    check_params("hourglass sample", {"seed": seed}, {"seed": Interval(int, 0, MAX_SEED)})
    model, config, _ = store.load_model(run_dir, device=resolve_device(device))
    if not has(model, "sample"):
        raise ConfigError(f"The {config['model']!r} model has no generative prior to sample from. "
                          "Train a vae (or another generative model).")
    if label is not None:
        check_sample_label(model, config, label)
    dev = next(model.parameters()).device
    gen = torch.Generator(device=dev).manual_seed(seed)
    x = (model.sample(n, generator=gen) if label is None else model.sample(
        n, y=torch.full((n,), label, dtype=torch.long, device=dev), generator=gen)).cpu()
    written = {}
    shape = tuple(model.config.input_shape)
    if len(shape) == 3:
        written["png"] = viz.image_grid(x, Path(out or run_dir / "figures" / "samples.png"),
                                    shape=shape, nrow=int(math.ceil(math.sqrt(n))))
    if npy is not None:
        written["npy"] = save_npy(npy, x.numpy())
    return written


def check_sample_label(model, config: dict, label) -> None:
    """A class to sample from: the model must be class-conditional, the class one of its own."""
    if not has(model, "conditional"):
        raise ConfigError(f"The {config['model']!r} model is not class-conditional: it samples "
                          "p(x), not p(x | y). Leave --class out, or train a cvae or m2.")
    k = model.config.n_classes
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < k:
        raise ConfigError(f"--class must be a class of the model, an int in [0, {k - 1}]. Got "
                          f"{label!r} instead.")


def embed_run(run_dir: str | Path, data: str, *, out: str | Path, split: str = "test",
              device: str = "auto") -> Path:
    """Codes of a dataset's split (or 'all'), saved as an (N, latent_dim) .npy file."""
    model, config, _ = store.load_model(run_dir, device=resolve_device(device))
    config = store.read_training_run(run_dir)
    if not has(model, "encode"):
        raise ConfigError(f"The {config['model']!r} model has no encoder, so it has no codes to "
                          "embed. Train an autoencoder (ae, vae, ...) for codes.")
    cfg = config["data"]
    ds = load(data, val_fraction=cfg["val_fraction"], seed=cfg["seed"])
    if tuple(ds.shape) != tuple(model.config.input_shape):
        raise ConfigError(f"{data!r} has examples of shape {ds.shape} but the model of {run_dir} "
                          f"expects {tuple(model.config.input_shape)}.")
    splits = {"train": [ds.train], "val": [ds.val], "test": [ds.test],
              "all": [ds.train, ds.val, ds.test]}
    if split not in splits:
        raise ConfigError(f"--split must be one of {', '.join(splits)}. Got {split!r} instead.")
    binarize = config["train"]["binarize"]
    x = torch.cat([eval_inputs(s.x, binarize) for s in splits[split]])
    z = batched(model.encode, x, device=next(model.parameters()).device).numpy()
    return save_npy(out, z)


def save_npy(path: str | Path, array: np.ndarray) -> Path:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return atomic_write_bytes(path, buf.getvalue())
