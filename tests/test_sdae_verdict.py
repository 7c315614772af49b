"""The verdict of the sdae-corruption experiment on constructed test errors (paired over seeds)."""

from __future__ import annotations

import pytest

from hourglass.experiments.sdae_corruption import paired, verdict

SEEDS = [0, 1, 2]


def rows(random, plain, **denoising):
    out = [{"pretraining": "none (random start)", "errors": random},
           {"pretraining": "SAE 0%", "errors": plain}]
    return out + [{"pretraining": name, "errors": e} for name, e in denoising.items()]


def test_paired_differences_in_points():
    d = paired([0.20, 0.22, 0.24], [0.21, 0.22, 0.26])   # differences -1, 0, -2 points
    assert d["mean"] == pytest.approx(-1.0)
    assert d["se"] == pytest.approx(1 / 3 ** 0.5)          # sd 1, 3 seeds
    assert d["resolved"] is False                           # 1.0 < 2 * 0.577
    assert paired([0.10, 0.11, 0.12], [0.12, 0.13, 0.14])["resolved"] is True  # -2 +- 0


def test_verdicts():
    random, plain = [0.25, 0.22, 0.23], [0.19, 0.18, 0.19]
    word, reason, comp = verdict(rows(random, plain, **{"SDAE 20%": [0.18, 0.17, 0.18]}), SEEDS)
    assert word == "reproduced"
    assert comp["SDAE 20% - SAE 0%"]["mean"] == pytest.approx(-1.0)
    assert "SDAE 20% - SAE 0%: -1.00 ± 0.00 points (resolved)" in reason
    word, _, _ = verdict(rows(random, plain, **{"SDAE 20%": [0.20, 0.17, 0.19]}), SEEDS)
    assert word == "not at this budget"                    # -1, 1, 0 points: not resolved
    word, _, _ = verdict(rows(random, plain, **{"SDAE 20%": [0.20, 0.19, 0.20]}), SEEDS)
    assert word == "contradicted"                          # denoising worse by 1 point each seed
    word, _, _ = verdict(rows(plain, random, **{"SDAE 20%": [0.18, 0.17, 0.18]}), SEEDS)
    assert word == "contradicted"                          # plain pretraining worse than none
