"""The VAE-against-the-clock experiment at a tiny budget on digits: the recipe's options reach
the model, the ELBO twin only where asked, saved rows are reused, and the bounds are ordered."""

from __future__ import annotations

import json

import pytest

from hourglass.experiments import vae_budget as vb
from hourglass.experiments._machine import machine

TINY = ["--data", "digits", "--minutes", "0.01,0.02", "--objectives", "iwae,elbo",
        "--elbo-minutes", "0.02", "--k-eval", "20", "--threads", "1"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("vae-budget")
    return out, vb.main(["--out", str(out), *TINY, "--reference", "40",
                         "--reference-minutes", "0.02"])


def test_the_recipe_is_read_whole_and_the_elbo_twin_runs_only_where_asked(tiny_run):
    out, result = tiny_run
    model, train = vb.recipe()
    assert model["prior"] == "vamp" and model["iwae_gradient"] == "dreg" and model["train_k"] == 5
    assert train["lr_schedule"] == "cosine"
    assert [(r["budget_min"], r["objective"]) for r in result["rows"]] == \
        [(0.01, "iwae"), (0.02, "iwae"), (0.02, "elbo")]
    for r in result["rows"]:
        # the importance-weighted bound with k = 20 is at least as tight as the one-sample ELBO
        # up to the noise of one draw; both are far below the 64 bits of an 8x8 binary image
        assert r["nll_iwae_k20"] < r["neg_elbo_nats"] + 0.5
        assert 0 < r["nll_iwae_k20"] < 64 * 0.6931
    iwae = [r for r in result["rows"] if r["objective"] == "iwae" and r["budget_min"] == 0.02][0]
    assert result["reference"]["margin_nats"] == pytest.approx(40 - iwae["nll_iwae_k20"])
    saved = json.loads((out / "vae-budget.json").read_text())
    assert saved["rows"] == json.loads(json.dumps(result["rows"]))


def test_saved_rows_are_reused_and_a_changed_key_is_measured_again(tiny_run, capsys):
    out, first = tiny_run
    again = vb.main(["--out", str(out), *TINY, "--reuse-rows"])
    assert again["rows"] == json.loads(json.dumps(first["rows"]))
    assert capsys.readouterr().out.count("reused") == 3
    saved = json.loads((out / "vae-budget.rows.json").read_text())
    assert len(saved) == 3  # nothing measured twice
    vb.main(["--out", str(out), *TINY[:3], "0.01", *TINY[4:6], *TINY[8:], "--seed", "1",
             "--reuse-rows"])
    assert len(json.loads((out / "vae-budget.rows.json").read_text())) == 5  # another seed


def test_the_reference_budget_must_be_one_of_the_budgets(tmp_path):
    with pytest.raises(SystemExit) as e:
        vb.main(["--out", str(tmp_path), *TINY, "--reference", "40"])  # default 20 min
    assert e.value.code == 2


def test_rows_are_keyed_by_the_machine_and_a_name_keeps_a_second_run_apart(tiny_run, capsys):
    out, first = tiny_run
    saved = json.loads((out / "vae-budget.rows.json").read_text())
    m = machine(1)
    # the model name alone ("AMD EPYC") does not tell an AVX2 machine from an AVX-512 one
    assert {(e["key"]["cpu"], tuple(e["key"]["cpu_flags"]), e["key"]["torch"]) for e in saved} \
        == {(m["cpu"], tuple(m["cpu_flags"]), m["torch"])}
    (out / "other.rows.json").write_text(json.dumps(saved))
    before = (out / "vae-budget.json").read_text()
    again = vb.main(["--out", str(out), *TINY, "--reuse-rows", "--name", "other"])
    assert capsys.readouterr().out.count("reused") == 3
    assert json.loads((out / "other.json").read_text())["rows"] == again["rows"]
    assert (out / "other.md").read_text().startswith("# other")
    assert (out / "vae-budget.json").read_text() == before  # the first run's files are kept
