"""The adversarial experiment's sample-quality study at a tiny budget: a model's own epochs
(``--model-epochs``) reach its training, its row and the command in the Markdown; bad specs are
refused with the fix."""

from __future__ import annotations

import json

import pytest

from hourglass.experiments import adversarial


@pytest.fixture(scope="module")
def tiny_quality(tmp_path_factory):
    out = tmp_path_factory.mktemp("adversarial")
    adversarial.main(["--study", "quality", "--data", "digits", "--epochs", "1", "--n", "256",
                      "--n-samples", "200", "--seeds", "0", "--hidden", "32,16", "--models",
                      "vae,aae,gan", "--model-epochs", "gan=3;aae=2", "--threads", "1",
                      "--out", str(out)])
    return out


def test_a_models_own_epochs_reach_its_row_and_the_command(tiny_quality):
    saved = json.loads((tiny_quality / "adversarial-quality.json").read_text())
    rows = {r["model"]: r for r in saved["studies"]["quality"]["rows"]}
    assert rows["vae"]["epochs"] == 1 and rows["aae"]["epochs"] == 2 and rows["gan"]["epochs"] == 3
    assert saved["budget"]["model_epochs"] == {"gan": {"digits": 3}, "aae": {"digits": 2}}
    md = (tiny_quality / "adversarial-quality.md").read_text()
    # the command in the Markdown reruns the study: one flag, the models apart by ';'
    assert "--model-epochs gan=3;aae=2`" in md and "| digits | gan | 3 |" in md


def test_three_epochs_train_further_than_one(tiny_quality, tmp_path):
    """The GAN row of 3 epochs is not the 1-epoch GAN: the option changed the training."""
    adversarial.main(["--study", "quality", "--data", "digits", "--epochs", "1", "--n", "256",
                      "--n-samples", "200", "--seeds", "0", "--hidden", "32,16", "--models",
                      "gan", "--threads", "1", "--out", str(tmp_path)])
    one = json.loads((tmp_path / "adversarial-quality.json").read_text())
    three = json.loads((tiny_quality / "adversarial-quality.json").read_text())
    fd = [next(r for r in s["studies"]["quality"]["rows"] if r["model"] == "gan")
          ["frechet_distance"]["mean"] for s in (one, three)]
    assert fd[0] != fd[1]


def test_the_spec_parses_per_model_and_per_dataset():
    assert adversarial._model_epochs("gan=120,100;aae=20") == {"gan": [120, 100], "aae": [20]}
    with pytest.raises(Exception, match="MODEL=EPOCHS"):
        adversarial._model_epochs("gan")
    with pytest.raises(Exception, match="whole numbers"):
        adversarial._model_epochs("gan=lots")


@pytest.mark.parametrize("spec, message", [("gn=3", "unknown model 'gn'"),
                                           ("gan=3,4,5", "one value or one per dataset")])
def test_bad_model_epochs_are_refused_with_the_fix(spec, message, tmp_path, capsys):
    with pytest.raises(SystemExit, match=message):
        adversarial.main(["--study", "quality", "--data", "digits", "--model-epochs", spec,
                          "--out", str(tmp_path)])
