"""Data-parallel training with PyTorch's own engine: ``torchrun`` + DistributedDataParallel.

``torchrun --nproc-per-node N -m hourglass train ...`` starts N copies of the same command; each
reads ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``MASTER_ADDR``/``MASTER_PORT`` from its environment,
and :func:`launch` joins them into one process group (gloo on CPU, NCCL on CUDA). From there the
training loop stays the one loop of :mod:`hourglass.train.loop`, which talks to the ranks through
one object (:func:`ranks`: :class:`DataParallel`, or :class:`SingleProcess` where it all does
nothing):

* every rank draws the **same** shuffled permutation (same seed), takes the same global batch of
  ``batch_size`` rows and keeps every ``world``-th of them (:func:`shard`);
* each phase's loss goes through a ``DistributedDataParallel`` replica, which averages the
  gradients over the ranks; a rank's loss is scaled by ``m_rank * world / m`` so that the average
  is the gradient of the global batch mean even when the last batch does not split evenly —
  the step equals the single-process step on the same global batch (up to float rounding);
* the running loss totals are summed over the ranks (:func:`all_reduce_totals`) every
  ``SYNC_EVERY`` steps, at checkpoints and at epoch ends, together with a "stop" flag, so every
  rank makes the same decision (non-finite loss, SIGTERM, early stopping) at the same step;
* only rank 0 writes the run directory.

A rank that dies or hangs makes the others fail within the process group's timeout
(``HOURGLASS_DIST_TIMEOUT`` seconds, default 600) with a :class:`~hourglass.core.errors.RunError`
instead of waiting forever; :func:`launch` turns torch's backend errors into that message.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from hourglass.core.errors import ConfigError, RunError
from hourglass.train.signals import Interrupted

ENV_TIMEOUT = "HOURGLASS_DIST_TIMEOUT"
DEFAULT_TIMEOUT_S = 600.0
SYNC_EVERY = 20  # steps between looks at the running totals (all-reduced with the stop flag)


@dataclass(frozen=True)
class World:
    """This process's place in the run: ``rank`` of ``size`` (1 without a process group)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.size > 1

    @property
    def main(self) -> bool:
        """Rank 0: the only process that writes files and prints progress."""
        return self.rank == 0


def world() -> World:
    """The current process group's view, or the single-process world."""
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))
    return World()


def requested() -> bool:
    """Whether this process was started by torchrun (or by hand) as one of several ranks."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


def timeout_s() -> float:
    text = os.environ.get(ENV_TIMEOUT, "")
    try:
        value = float(text) if text else DEFAULT_TIMEOUT_S
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ConfigError(f"{ENV_TIMEOUT} must be a positive number of seconds; got {text!r}.")
    return value


@contextlib.contextmanager
def launch(device: str = "auto"):
    """Join the process group described by torchrun's environment for the duration of the block
    (nothing happens when ``WORLD_SIZE`` is 1 or unset); yield the :class:`World`.

    Backend errors inside the block (a peer that died, a collective that timed out) become one
    :class:`RunError` naming the rank and the way out.
    """
    if not requested() or (dist.is_available() and dist.is_initialized()):
        yield world()
        return
    if not dist.is_available():
        raise RunError("This PyTorch build has no torch.distributed; run without torchrun.")
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise ConfigError(f"WORLD_SIZE={os.environ['WORLD_SIZE']} but {', '.join(missing)} "
                          "unset: launch with `torchrun --nproc-per-node N -m hourglass train ...`.")
    use_cuda = device != "cpu" and torch.cuda.is_available()
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    seconds = timeout_s()
    rank = os.environ["RANK"]
    try:
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=seconds))
    except (RuntimeError, ValueError) as e:  # DistNetworkError/DistStoreError are RuntimeErrors
        raise RunError(f"Rank {rank} could not join the distributed run at "
                       f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']} within {seconds:g} s "
                       f"({_first_line(e)}). Check --master-addr/--master-port and that every node "
                       "was started.") from None
    together = False  # did every rank reach the end of the block, or stop at one agreed point?
    broken = False  # a peer died or hung: the group cannot be torn down
    try:
        yield world()
        together = True
    except (Interrupted, FailedOnRank0):  # every rank stopped at the same step
        together = True
        raise
    except BaseException as e:
        together = getattr(e, "_hourglass_agreed", False)  # rank 0's error sent by on_main
        if not isinstance(e, RuntimeError) or not _is_backend_error(e):
            raise
        broken = True
        raise LostRank(f"Rank {rank} lost the other processes of the distributed run "
                       f"({_first_line(e)}): a rank died or stopped answering for {seconds:g} s "
                       f"({ENV_TIMEOUT}). Any checkpoint already written is intact; relaunch the "
                       "same command with --resume.") from None
    finally:
        if not broken:
            with contextlib.suppress(Exception):
                if together:
                    _final_barrier()
                dist.destroy_process_group()


def _final_barrier() -> None:
    """Leave together: the other ranks wait while rank 0 writes the checkpoint, the weights and
    the evaluation. (A rank that tore its group down and exited while rank 0 was still working
    was seen to abort at exit, "terminate called without an active exception", in about 1 run in
    10-20; never once all waited.) gloo's monitored barrier takes a long timeout of its own;
    NCCL's barrier uses the group's."""
    if dist.get_backend() == "gloo":
        dist.monitored_barrier(timeout=datetime.timedelta(hours=24))
    else:
        dist.barrier()


_BACKEND_WORDS = ("gloo", "nccl", "connection reset", "connection closed", "timed out",
                  "broken pipe", "socket")


def _is_backend_error(e: RuntimeError) -> bool:
    text = str(e).lower()
    return isinstance(e, dist.DistError) or any(word in text for word in _BACKEND_WORDS)


def _first_line(e: BaseException) -> str:
    """The useful part of a backend error: no source path, no advice meant for torch's authors."""
    lines = str(e).strip().splitlines()
    text = re.sub(r"^\[[^\]]*\]\s*", "", lines[0] if lines else "")
    return text.split(". This is typically")[0][:300]


def rank_device(device: torch.device, w: World) -> torch.device:
    """On CUDA each rank of a node takes its own GPU (``cuda:LOCAL_RANK``)."""
    if w.active and device.type == "cuda" and device.index is None:
        return torch.device("cuda", w.local_rank)
    return device


def shard(idx: torch.Tensor, w: World) -> tuple[torch.Tensor, int, float]:
    """This rank's rows of a global batch: every ``w.size``-th row from ``w.rank``.

    Returns ``(rows, m_rank, loss_scale)`` with ``loss_scale = m_rank * size / m``: DDP averages
    the ranks' gradients, so scaling each rank's mean loss this way makes the average the
    gradient of the mean over all ``m`` rows. A rank left without rows (``m < size``) computes
    its loss on one row with scale 0, so that it still takes part in the gradient all-reduce.
    """
    m = idx.shape[0]
    rows = idx[w.rank::w.size]
    m_rank = rows.shape[0]
    if m_rank == 0:
        return idx[:1], 0, 0.0
    return rows, m_rank, m_rank * w.size / m


class _PhaseModule(nn.Module):
    """A phase as a module that owns exactly the parameters the phase updates, so its DDP replica
    averages those gradients only. The loss callable is kept out of the module tree."""

    def __init__(self, phase):
        super().__init__()
        self.params = nn.ParameterList(phase.parameters)
        self._loss = (phase.loss,)

    def forward(self, x, y):
        return self._loss[0](x, y)


def replicate(model: nn.Module, phases: list, device: torch.device) -> dict:
    """``{phase name: forward}`` where each forward runs through a DDP replica.

    A one-phase model is wrapped whole (its buffers, e.g. batch-norm statistics, are broadcast
    from rank 0 at every step, as DDP does); each phase of a multi-phase model gets a replica of
    the parameters it updates. Batch norm normalizes with each rank's own batch statistics (as in
    plain DDP), and the trainer broadcasts rank 0's buffers at every epoch end
    (:func:`broadcast_buffers`), so all ranks validate and save the same model. DDP also broadcasts rank 0's parameters when it is built, so every
    rank starts from the same weights.
    """
    ids = [device.index] if device.type == "cuda" else None
    if len(phases) == 1 and phases[0].loss is model:
        return {phases[0].name: nn.parallel.DistributedDataParallel(model, device_ids=ids)}
    return {p.name: nn.parallel.DistributedDataParallel(_PhaseModule(p), device_ids=ids)
            for p in phases}


def broadcast_buffers(model: nn.Module) -> None:
    for b in model.buffers():
        dist.broadcast(b.data, src=0)


def all_reduce_totals(totals: dict, stop: str | None, w: World) -> tuple[dict, dict, str | None]:
    """Sum the running totals and the stop flag over the ranks, in one all-reduce.

    Returns ``(global totals, totals to keep, stop)``: rank 0 keeps the global sums and the other
    ranks restart from zero, so the next reduction again yields the exact global sums. ``stop``
    is the name of a signal any rank received (``"SIGTERM"`` if more than one kind).
    """
    keys = list(totals)
    device = next(iter(totals.values())).device if totals else torch.device("cpu")
    flags = [float(stop == "SIGINT"), float(stop is not None and stop != "SIGINT")]
    flat = torch.tensor(flags, dtype=torch.float64, device=device)
    if keys:
        flat = torch.cat([torch.stack([totals[k].detach().to(torch.float64).reshape(())
                                       for k in keys]), flat])
    dist.all_reduce(flat)
    summed = {k: flat[i].to(totals[k].dtype) for i, k in enumerate(keys)}
    agreed = "SIGTERM" if flat[-1] > 0 else "SIGINT" if flat[-2] > 0 else None
    keep = summed if w.main else {k: torch.zeros_like(v) for k, v in summed.items()}
    return summed, keep, agreed


def gather_rng(w: World, device: torch.device) -> dict[str, torch.Tensor]:
    """Every rank's torch RNG state (and CUDA's on CUDA), for rank 0 to checkpoint."""
    out = {}
    states = [("rng_rank", torch.get_rng_state())]
    if device.type == "cuda":
        states.append(("rng_cuda_rank", torch.cuda.get_rng_state(device)))
    comm = device if device.type == "cuda" else torch.device("cpu")
    for name, state in states:
        parts = [torch.empty_like(state, device=comm) for _ in range(w.size)]
        dist.all_gather(parts, state.to(comm))
        out.update({f"{name}.{r}": p.cpu() for r, p in enumerate(parts)})
    return out


def restore_rng(extra: dict, w: World, device: torch.device, seed: int, step: int) -> None:
    """Set this rank's RNG from a checkpoint of the same world size, or reseed it (rank, step)."""
    own = extra.get(f"rng_rank.{w.rank}")
    if own is not None and f"rng_rank.{w.size - 1}" in extra and f"rng_rank.{w.size}" not in extra:
        torch.set_rng_state(own)
        cuda = extra.get(f"rng_cuda_rank.{w.rank}")
        if cuda is not None and device.type == "cuda":
            torch.cuda.set_rng_state(cuda, device)
    else:  # another world size (or a single-process checkpoint): fresh, rank-distinct streams
        torch.manual_seed(seed + 1_000_003 * (step + 1) + w.rank)


class SingleProcess:
    """The training loop's view of a run on one process: no collectives, every batch all local.

    The running totals are looked at (one host sync) every ``SYNC_EVERY`` steps, and only when
    the progress bar shows them (``look``); a signal is seen at the step it arrives.
    """

    rank, main = 0, True

    def __init__(self, device: torch.device, *, look: bool):
        self.device, self.look = device, look

    def forwards(self, model: nn.Module, phases: list) -> dict:
        """``{phase name: its loss}``."""
        return {p.name: p.loss for p in phases}

    def resume(self, rank_rng: dict, *, seed: int, step: int) -> None:
        """Nothing to do: the checkpoint restored this process's RNG."""

    def rank_rng(self) -> dict:
        """Nothing to add to a checkpoint."""
        return {}

    def from_rank0(self, t: torch.Tensor) -> torch.Tensor:
        """`t` itself: this process is rank 0."""
        return t

    def share(self, idx: torch.Tensor) -> tuple[torch.Tensor, int]:
        """The rows of the batch this process takes, and their count: all of them."""
        return idx, idx.shape[0]

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def tally(self, totals: dict, received: str | None, *, done: int, force: bool):
        """After `done` steps of the epoch: ``(totals to look at or None, totals to keep, stop)``."""
        return (totals if self.look and (done - 1) % SYNC_EVERY == 0 else None), totals, received

    def end_epoch(self, totals: dict, received: str | None, model: nn.Module):
        """``(the epoch's totals, stop)``."""
        return totals, received


class DataParallel:
    """The training loop's view of one rank of a data-parallel run (see the module docstring).

    Every rank takes its share of each global batch (:func:`shard`) and scales its loss so that
    the averaged gradient is the global batch's; every ``SYNC_EVERY`` steps and at each step
    checkpoint the totals and the stop flag are all-reduced (:func:`all_reduce_totals`), so all
    ranks see the same numbers and stop at the same step.
    """

    def __init__(self, w: World, device: torch.device):
        self.world, self.device = w, rank_device(device, w)
        self.rank, self.main = w.rank, w.main
        self.scale = 1.0  # of the current batch's loss: m_rank * size / m

    def forwards(self, model: nn.Module, phases: list) -> dict:
        """``{phase name: forward through its DDP replica}`` (:func:`replicate`)."""
        return replicate(model, phases, self.device)

    def resume(self, rank_rng: dict, *, seed: int, step: int) -> None:
        """Set this rank's RNG from the checkpoint (:func:`restore_rng`)."""
        restore_rng(rank_rng, self.world, self.device, seed, step)

    def rank_rng(self) -> dict:
        """Every rank's RNG states, for rank 0 to checkpoint (a collective)."""
        return gather_rng(self.world, self.device)

    def from_rank0(self, t: torch.Tensor) -> torch.Tensor:
        """Rank 0's `t` on every rank."""
        dist.broadcast(t, src=0)
        return t

    def share(self, idx: torch.Tensor) -> tuple[torch.Tensor, int]:
        """This rank's rows of the global batch `idx` and their count; sets the loss scale."""
        idx, m_rank, self.scale = shard(idx, self.world)
        return idx, m_rank

    def backward(self, loss: torch.Tensor) -> None:
        (loss * self.scale).backward()

    def tally(self, totals: dict, received: str | None, *, done: int, force: bool):
        """After `done` steps of the epoch: every ``SYNC_EVERY`` steps, or when `force`d (a step
        checkpoint), the global totals to look at, the totals to keep and the agreed stop signal;
        otherwise ``(None, totals, None)``."""
        if done % SYNC_EVERY == 0 or force:
            return all_reduce_totals(totals, received, self.world)
        return None, totals, None

    def end_epoch(self, totals: dict, received: str | None, model: nn.Module):
        """``(the epoch's global totals, agreed stop)``; rank 0's buffers (e.g. batch-norm
        statistics) go to every rank, so all validate and save the same model."""
        totals, _, stop = all_reduce_totals(totals, received, self.world)
        broadcast_buffers(model)
        return totals, stop


def ranks(device: torch.device, *, progress: bool) -> SingleProcess | DataParallel:
    """The training loop's one object for the ranks: :class:`DataParallel` inside a process group
    of several ranks, else :class:`SingleProcess` (which looks at the totals only for the
    `progress` bar)."""
    w = world()
    return DataParallel(w, device) if w.active else SingleProcess(device, look=progress)


class LostRank(RunError):
    """Another rank died or stopped answering. The process group is broken and is left as it is:
    tearing it down, or the C++ destructors at interpreter exit, can abort the process, so the
    CLI reports this error and leaves with ``os._exit``."""


class FailedOnRank0(RunError):
    """Raised on the other ranks when a step that only rank 0 takes (checking and locking the
    run directory) failed there; rank 0 reports the error itself, so the CLI stays quiet here."""


def on_main(fn, w: World | None = None):
    """Run ``fn()`` on rank 0 only, then let every rank learn whether it failed: rank 0 re-raises
    its error, the others raise :class:`FailedOnRank0` with the same text. Single process: ``fn()``."""
    w = w or world()
    if not w.active:
        return fn()
    error, result = None, None
    if w.main:
        try:
            result = fn()
        except Exception as e:  # noqa: BLE001 - passed on, then re-raised below
            error = e
    text = _broadcast_text("" if error is None else f"{error}" or type(error).__name__)
    if error is not None:
        error._hourglass_agreed = True  # every rank knows: they can leave together
        raise error
    if text:
        raise FailedOnRank0(text)
    return result


def _broadcast_text(text: str) -> str:
    """Rank 0's `text` on every rank (two broadcasts of tensors: the length, then the bytes)."""
    data = torch.tensor(list(text.encode()), dtype=torch.uint8)
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
    size = torch.tensor([len(data)], dtype=torch.int64, device=device)
    dist.broadcast(size, src=0)
    buf = data.to(device) if dist.get_rank() == 0 else torch.empty(int(size), dtype=torch.uint8,
                                                                    device=device)
    if int(size):
        dist.broadcast(buf, src=0)
    return bytes(buf.cpu().tolist()).decode()
