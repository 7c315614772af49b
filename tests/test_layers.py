"""The import layers of CONTRIBUTING.md ("The layers"), checked by import-linter's contracts in
pyproject.toml: every module imports only from its own package or a lower layer, and no package
has an import cycle between its modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def test_imports_keep_the_layers_and_have_no_cycles():
    assert LINT_IMPORTS.exists(), "import-linter is missing: pip install -e '.[test]'"
    proc = subprocess.run([str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"),
                           "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, f"lint-imports failed:\n{proc.stdout}\n{proc.stderr}"
    assert "2 kept, 0 broken" in proc.stdout
