"""The label-smoothing experiment at a tiny budget: its JSON and Markdown, that s = 0 is the
adversarial experiment's sample-quality run, and the verdict's comparison rule."""

from __future__ import annotations

import argparse
import json
import math

import pytest

from hourglass.data import load
from hourglass.experiments import adversarial, get_experiment
from hourglass.experiments import label_smoothing as ls

TINY = ["--epochs", "1", "--n", "256", "--n-samples", "200", "--seeds", "0,1", "--hidden",
        "32,16", "--models", "gan", "--smoothing", "0,0.1"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("label-smoothing")
    result = ls.main(["--out", str(out), *TINY])
    return out, result


def test_the_results_hold_both_settings_with_finite_metrics(tiny_run):
    out, _ = tiny_run
    saved = json.loads((out / "label-smoothing.json").read_text())
    assert [r["label_smoothing"] for r in saved["rows"]] == [0.0, 0.1]
    for row in saved["rows"]:
        assert len(row["per_seed"]) == 2
        for metric in ("recall", "precision", "frechet_distance", "diversity"):
            for seed_row in row["per_seed"]:
                assert math.isfinite(seed_row[metric])
            assert math.isfinite(row[metric]["mean"]) and row[metric]["std"] >= 0
        for seed_row in row["per_seed"]:
            assert 0 <= seed_row["recall"] <= 1 and 0 <= seed_row["precision"] <= 1
            assert seed_row["frechet_distance"] >= 0 and seed_row["diversity"] > 0
    # the smoothing reached the discriminator: the same seeds give other generators
    assert [r["frechet_distance"] for r in saved["rows"][0]["per_seed"]] != \
        [r["frechet_distance"] for r in saved["rows"][1]["per_seed"]]
    assert saved["budget"]["epochs"] == 1 and saved["budget"]["smoothing"] == [0.0, 0.1]
    assert saved["verdict"].startswith("GAN, s = 0.1:")
    md = (out / "label-smoothing.md").read_text()
    assert "Salimans et al. 2016" in md and "| gan | 0.1 |" in md and "Verdict" in md
    assert get_experiment("label-smoothing") is ls


def test_no_smoothing_is_the_adversarial_sample_quality_run(tiny_run, tmp_path):
    """s = 0 trains the same networks with the same seeds and scores them with the same
    functions as the adversarial experiment's quality study: the numbers are identical."""
    _, result = tiny_run
    ds = load("digits", seed=0)
    args = argparse.Namespace(hidden=(32, 16), models=["gan"], seeds=[0, 1], n_samples=200,
                              batch_size=64)
    rows = adversarial.quality_study(ds, ds.train.x[:256], args, tmp_path, epochs=1)
    for ours, theirs in zip(result["rows"][0]["per_seed"], rows[0]["per_seed"]):
        for metric in ("recall", "precision", "frechet_distance", "diversity"):
            assert ours[metric] == pytest.approx(theirs[metric], rel=1e-6, abs=1e-9), metric
    assert result["reference"]["recall"] == pytest.approx(rows[-1]["recall"])


def test_a_change_counts_only_beyond_twice_its_standard_error():
    # recall up by 0.4 with a spread of 0.01: better; the Fréchet distance is better lower
    assert ls.compare([0.1, 0.11, 0.12], [0.5, 0.51, 0.52], "recall")["verdict"] == "better"
    assert ls.compare([5.0, 5.1, 5.2], [9.0, 9.1, 9.2], "frechet_distance")["verdict"] == "worse"
    # a spread that moves from 0.5 to 0.9 comes closer to the data's 1
    assert ls.compare([0.5, 0.5, 0.5], [0.9, 0.9, 0.9], "diversity")["verdict"] == "better"
    # means 0.2 apart with seeds spread by about 0.3: within noise
    c = ls.compare([0.1, 0.4, 0.7], [0.3, 0.6, 0.9], "recall")
    assert c["verdict"] == "within noise" and c["change"] == pytest.approx(0.2)
    assert c["standard_error"] == pytest.approx(math.sqrt(2 * 0.09 / 3))


def test_the_verdict_sets_the_crossings_against_chance():
    same = {m: {"change": 0.0, "standard_error": 0.1, "verdict": "within noise"}
            for m in ls.METRICS}
    comps = [{"model": "gan", "label_smoothing": 0.1, **same}]
    # Student's t with 4 degrees of freedom: P(|t| > 2) = 0.1161; four metrics
    assert ls.chance_crossings(comps, 3) == pytest.approx(4 * 0.1161, abs=1e-3)
    text = ls.verdict(comps, 3)
    assert text.startswith("GAN, s = 0.1: no metric moved")
    assert "did not help the model beyond the seed spread" in text
    better = {**same, "recall": {"change": 0.3, "standard_error": 0.01, "verdict": "better"}}
    text = ls.verdict([{"model": "dcgan", "label_smoothing": 0.2, **better}], 3)
    assert "better recall +0.3 (± 0.01)" in text and "1 of 4 comparisons came out better" in text


def test_overall_needs_crossings_beyond_chance_and_none_worse():
    def comp(**verdicts):
        return {"model": "gan", "label_smoothing": 0.1, **{
            m: {"change": 0.0, "standard_error": 0.1, "verdict": verdicts.get(m, "within noise")}
            for m in ls.METRICS}}
    assert ls.overall([comp()], 3) == "no effect"
    # one crossing among 4 with 3 seeds: chance alone gives 0.46, so 1 is not more than twice it
    assert ls.overall([comp(recall="better")], 3) == "mixed"
    assert ls.overall([comp(recall="better", precision="better")], 3) == "helped"
    assert ls.overall([comp(recall="better", precision="better", diversity="worse")], 3) == "mixed"
