"""Explicit densities against the clock at a tiny budget on digits: every row is an NLL within
the bounds of a binary image, the claims are read off the rows, saved rows are reused, and the
VAE's row is the one vae-budget measures (shared, not measured twice)."""

from __future__ import annotations

import json
import math

import pytest

from hourglass.experiments import likelihood_budget as lb
from hourglass.experiments import vae_budget as vb

TINY = ["--data", "digits", "--minutes", "0.01", "--models", "nade,pixelcnn,vae",
        "--threads", "1"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("likelihood-budget")
    return out, lb.main(["--out", str(out), *TINY])


def test_rows_are_nlls_of_binary_images_and_the_claims_follow_from_them(tiny_run):
    out, result = tiny_run
    by = {r["model"]: r for r in result["rows"]}
    assert list(by) == ["nade", "pixelcnn", "vae"]
    for r in by.values():
        # a model's NLL of an 8x8 binary image lies in (0, 64 ln 2]; after a few steps from a
        # uniform start it is at most a little above the uniform 44.4 nats
        assert 0 < r["nll_nats"] < 64 * math.log(2) + 5, r
        assert r["epochs"] >= 1 and r["n_test"] == 359
    assert result["observed_order"] == sorted(by, key=lambda m: by[m]["nll_nats"])
    assert result["missing"] == ["gated-pixelcnn", "row-lstm"]
    (vae_nade,) = result["claims"]  # the only pair with both members measured
    assert vae_nade["better"] == "vae" and vae_nade["worse"] == "nade"
    assert vae_nade["margin_nats"] == pytest.approx(by["nade"]["nll_nats"] - by["vae"]["nll_nats"])
    assert vae_nade["holds"] == (by["vae"]["nll_nats"] < by["nade"]["nll_nats"])
    assert by["nade"]["paper_mnist_nats"] == 88.33
    saved = json.loads((out / "likelihood-budget.json").read_text())
    assert saved["rows"] == json.loads(json.dumps(result["rows"]))


def test_saved_rows_are_reused_and_the_vae_row_is_shared_with_vae_budget(tiny_run, capsys):
    out, first = tiny_run
    capsys.readouterr()
    again = lb.main(["--out", str(out), *TINY, "--reuse-rows"])
    assert capsys.readouterr().out.count("reused") == 3
    assert [r["nll_nats"] for r in again["rows"]] == [r["nll_nats"] for r in first["rows"]]
    assert len(json.loads((out / "likelihood-budget.rows.json").read_text())) == 2
    # vae-budget at the same budget on the same machine finds the VAE's row and measures nothing
    budget = vb.main(["--out", str(out), "--data", "digits", "--minutes", "0.01",
                      "--threads", "1", "--reuse-rows"])
    assert capsys.readouterr().out.count("reused") == 1
    assert budget["rows"][0]["nll_iwae_k1000"] == first["rows"][2]["nll_nats"]


def test_an_unknown_model_is_refused(tmp_path):
    with pytest.raises(SystemExit) as e:
        lb.main(["--out", str(tmp_path), "--models", "nade,glow"])
    assert e.value.code == 2

