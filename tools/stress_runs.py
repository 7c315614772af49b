"""Runs under load: many runs in sequence and several at once in one parent folder leave no stray
files and no broken run, and a run killed during its evaluation can be evaluated again.

    python tools/stress_runs.py [--sequential 50] [--concurrent 4] [--out /tmp/hourglass-stress]

Prints one JSON line with the counts. Not a test (it takes minutes); run it by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from hourglass.cli.main import main as hourglass
from hourglass.runs import store

TRAIN = ["train", "ae", "--data", "digits", "--hidden", "16", "--latent-dim", "2",
         "--epochs", "1", "--n-examples", "64", "--quiet"]
RUN_FILES = {"config.json", "model.safetensors", "checkpoint.safetensors", "checkpoint.json",
             "history.csv", "metrics.json", "report.html", "figures", "pretrain.json"}


def stray_files(parent: Path) -> list[str]:
    """Temporary files, locks and anything a run does not write, under `parent`."""
    found = []
    for p in parent.rglob("*"):
        name = p.name
        if name.endswith(".tmp") or name == ".lock" or (p.parent.parent == parent
                                                           and name not in RUN_FILES):
            found.append(str(p.relative_to(parent)))
    return found


def broken(run: Path) -> str | None:
    """Why `run` is not a whole run (None if its config and weights load)."""
    try:
        store.load_model(run)
    except Exception as e:  # noqa: BLE001  (any failure counts as a broken run)
        return f"{type(e).__name__}: {e}"
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sequential", type=int, default=50)
    p.add_argument("--concurrent", type=int, default=4)
    p.add_argument("--out", default="/tmp/hourglass-stress")
    args = p.parse_args()
    parent = Path(args.out)
    shutil.rmtree(parent, ignore_errors=True)
    parent.mkdir(parents=True)
    t0 = time.perf_counter()
    codes = [hourglass([*TRAIN, "--no-eval", "--seed", str(i), "--out", str(parent / f"seq{i}")])
             for i in range(args.sequential)]
    cmd = [sys.executable, "-m", "hourglass"]
    procs = [subprocess.Popen([*cmd, *TRAIN, "--seed", str(i), "--out", str(parent / f"par{i}")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for i in range(args.concurrent)]
    # the same --out from two processes at once: one must be refused, the other must finish
    twins = [subprocess.Popen([*cmd, *TRAIN, "--no-eval", "--out", str(parent / "twin")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for _ in range(2)]
    par_codes = [q.wait() for q in procs]
    twin_codes = sorted(q.wait() for q in twins)
    # killed during evaluation: SIGKILL once the weights are written, then evaluate again
    victim = parent / "killed"
    q = subprocess.Popen([*cmd, *TRAIN, "--out", str(victim)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    while not (victim / "model.safetensors").exists() and q.poll() is None:
        time.sleep(0.01)
    killed_during_eval = q.poll() is None
    if killed_during_eval:
        os.kill(q.pid, signal.SIGKILL)
    q.wait()
    evaluated_again = hourglass(["evaluate", str(victim), "--k", "10"])
    runs = sorted(d for d in parent.iterdir() if d.is_dir())
    result = {
        "sequential_exit_codes_nonzero": sum(c != 0 for c in codes),
        "concurrent_exit_codes": par_codes,
        "same_out_twice_exit_codes": twin_codes,
        "killed_during_evaluation": killed_during_eval,
        "evaluate_after_kill_exit_code": evaluated_again,
        "runs": len(runs),
        "broken_runs": {d.name: why for d in runs if (why := broken(d))},
        "stray_files": stray_files(parent),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
