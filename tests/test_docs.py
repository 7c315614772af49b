"""The README and the documentation site: snippets marked runnable run as written, README.md is
what tools/assemble_readme.py makes, and the site builds with its reference pages."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from browser import load_page

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MARK = "<!-- runnable -->"


def _assembler():
    spec = importlib.util.spec_from_file_location("assemble_readme", ROOT / "tools" / "assemble_readme.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def runnable_snippets(text: str) -> list[str]:
    """The ```python blocks that directly follow a ``<!-- runnable -->`` line."""
    return re.findall(rf"^{re.escape(MARK)}\n```python\n(.*?)^```", text, re.M | re.S)


def test_readme_is_assembled_from_docs():
    assert README.read_text() == _assembler().assemble(), \
        "README.md is out of date: run python tools/assemble_readme.py"


def test_the_scorecard_placeholder_takes_the_scorecard_or_nothing(tmp_path, monkeypatch):
    assemble = _assembler()
    text = "before\n<!-- scorecard -->\nafter\n"
    monkeypatch.setattr(assemble, "SCORECARD", tmp_path / "scorecard.md")
    assert assemble.fill(text) == "before\nafter\n"
    (tmp_path / "scorecard.md").write_text("| model | NLL |\n|---|---|\n| vae | 90 |\n")
    assert assemble.fill(text) == "before\n| model | NLL |\n|---|---|\n| vae | 90 |\nafter\n"
    assert "<!-- scorecard -->" in (ROOT / "docs" / "README.in.md").read_text()


def test_the_readme_opens_with_install_quickstart_and_models():
    text = README.read_text()
    heads = re.findall(r"^## (.+)$", text, re.M)
    assert heads[:4] == ["Install", "Quickstart", "Models", "Documentation"]
    assert "pip install ." in text and "make install" in text
    assert 'pip install "hourglass[' not in text and "pip install 'hourglass[" not in text
    assert len(runnable_snippets(text)) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(runnable_snippets(README.read_text()))))
def test_a_runnable_readme_snippet_runs_as_written(index, tmp_path):
    code = runnable_snippets(README.read_text())[index]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"snippet {index} failed:\n{code}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    mkdocs = Path(sys.executable).with_name("mkdocs")
    assert mkdocs.exists(), "mkdocs is missing: make install installs the docs extra"
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([str(mkdocs), "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-5000:]
    return out


@pytest.mark.slow
def test_the_docs_site_builds_with_its_pages(site):
    for page in ("index", "getting-started", "models", "uses", "training", "distributed", "data",
                 "options", "reference/estimators", "reference/uses", "reference/library"):
        assert (site / f"{page}.html").is_file(), page
    index = (site / "index.html").read_text()
    assert "Quickstart" in index and "hourglass-ae" in index
    estimators = (site / "reference" / "estimators.html").read_text()
    for name in ("VAE", "latent_dim", "n_importance", "SDAEClassifier", "Attributes"):
        assert name in estimators, name
    uses = (site / "reference" / "uses.html").read_text()
    assert "OutlierDetector" in uses and "contamination" in uses


@pytest.mark.slow
def test_the_docs_index_renders_in_a_browser(site):
    seen = load_page(site / "index.html")
    assert seen["broken"] == []
    assert max(seen["tables"]) >= 17                  # the models table: a header + 16 rows
    assert "Quickstart" in seen["text"] and "Kingma & Welling 2014" in seen["text"]
