"""The HTML report of a real (tiny) training run, as a browser shows it."""

import json
import subprocess
import sys

import pytest

from hourglass.viz.report import reproduce_command, write_report
from browser import load_page


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "tiny-vae"
    done = subprocess.run([sys.executable, "-m", "hourglass", "train", "vae", "--data", "digits",
                           "--latent-dim", "2", "--hidden", "16", "--epochs", "2", "--seed", "0",
                           "--quiet", "--out", str(out)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.mark.slow
def test_the_report_of_a_run_loads_every_figure_and_the_metrics(run):
    seen = load_page(run / "report.html")
    assert seen["images"] >= 4 and seen["broken"] == []
    assert seen["tables"][0] >= 8                       # the grouped metrics, with group rows
    text = seen["text"]
    for group in ("Likelihood", "Reconstruction", "Codes"):
        assert group in text
    assert "Test negative log-likelihood" in text and "lower is better" in text
    assert "k-NN accuracy of the test codes" in text and "higher is better" in text
    assert "How it was measured" in text and "training time (s)" in text
    # a 2-epoch VAE of 2 codes has collapsed: the report leads with the warning
    import json
    warnings = json.loads((run / "metrics.json").read_text()).get("warnings", [])
    assert ("Warnings" in text) == bool(warnings)
    assert all(w.split(":")[0] in text for w in warnings)
    assert f"hourglass train --config {run.as_posix()}/config.json" in text
    command = next(line for line in text.splitlines() if line.startswith("hourglass train vae"))
    assert command.split() == ["hourglass", "train", "vae", "--data", "digits", "--hidden", "16",
                               "--latent-dim", "2", "--binarize", "dynamic", "--epochs", "2",
                               "--quiet", "--out", run.as_posix()]
    html = (run / "report.html").read_text()
    assert "<details><summary>Full configuration" in html
    assert "Input, binarized, reconstruction: test inputs (grey), the binarized sample the " \
           "model was scored on, and their reconstructions" in html


def test_the_reproducing_command_parses_as_a_training_run(run):
    from hourglass.cli.main import build_parser
    config = json.loads((run / "config.json").read_text())
    command = reproduce_command(config, "runs/x")[1].split()
    args = build_parser("vae").parse_args(command[1:])
    assert (args.latent_dim, args.hidden, args.epochs, args.out) == (2, (16,), 2, "runs/x")


@pytest.mark.slow
def test_warnings_are_shown_first(tmp_path):
    metrics = {"nll_nats": 90.0, "n_test": 10,
               "warnings": ["posterior collapse: 14 of 16 latent dimensions are inactive"]}
    page = write_report(tmp_path, title="t", config={}, metrics=metrics, figures=[])
    html = page.read_text()
    assert html.index('class="warnings"') < html.index("<h2>Metrics</h2>")
    seen = load_page(page)
    assert "posterior collapse: 14 of 16 latent dimensions are inactive" in seen["text"]
    assert seen["text"].index("Warnings") < seen["text"].index("Metrics")
