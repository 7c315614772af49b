"""The scripts in examples/ run as a user runs them and print numbers above a quality floor."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"

# each script's printed numbers, and the floor (or ceiling) each must clear
FLOORS = {
    "vae_digits.py": lambda v: v["test_nll_nats"] < 30,                 # 25.3 nats measured
    "denoising_digits.py": lambda v: v["improvement"] > 2.0 and v["mse_denoised"] < 0.06,
    "outlier_detection.py": lambda v: v["auroc"] > 0.8 and v["flagged_outliers"] > 0.3,
    "semi_supervised_m2.py": lambda v: v["m2_accuracy"] > 0.7,          # 10 classes, 50 labels
    "reduce_dimensions.py": lambda v: (v["ae knn_accuracy"] > v["pca knn_accuracy"]
                                       and min(v["pca trustworthiness"], v["ae trustworthiness"],
                                               v["vae trustworthiness"]) > 0.75),
}


def _numbers(stdout: str) -> dict[str, float]:
    """``name value`` pairs of the output; ``method name value ...`` lines as ``method name``."""
    values = {}
    for line in stdout.splitlines():
        words = line.split()
        if len(words) == 2:
            values[words[0]] = float(words[1])
        elif len(words) > 2 and len(words) % 2 == 1:
            for name, value in zip(words[1::2], words[2::2]):
                values[f"{words[0]} {name}"] = float(value)
    return values


def test_every_example_has_a_floor():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(FLOORS)


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(FLOORS))
def test_example_runs_and_clears_its_floor(script, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(EXAMPLES / script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    values = _numbers(done.stdout)
    assert values, done.stdout
    assert FLOORS[script](values), done.stdout
    assert not re.search(r"nan|inf", done.stdout), done.stdout
    if script == "vae_digits.py":
        assert (tmp_path / "samples.png").stat().st_size > 0
