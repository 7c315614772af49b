"""Open a page in headless Chromium and report what loaded (used by test_report and test_docs)."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

# appended to a copy of the page: after load, write what the browser saw into the DOM
_CHECK = """<script>
window.addEventListener("load", () => {
  const imgs = [...document.images];
  const out = document.createElement("pre");
  out.id = "hg-check";
  out.textContent = JSON.stringify({
    images: imgs.length,
    broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt || i.src.slice(0, 80)),
    tables: [...document.querySelectorAll("table")].map(t => t.rows.length),
    text: document.body.innerText,
  });
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return exe


def load_page(page: Path) -> dict:
    """What headless Chromium saw after loading `page`: image count, broken images, table sizes,
    the visible text."""
    probe = page.with_name(page.stem + ".hg-check.html")
    probe.write_text(page.read_text().replace("</body>", _CHECK + "</body>"))
    try:
        done = subprocess.run(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             f"--user-data-dir={page.parent / '.chromium'}", "--virtual-time-budget=10000",
             "--dump-dom", probe.as_uri()],
            capture_output=True, text=True, timeout=120)
    finally:
        probe.unlink()
    m = re.search(r'<pre id="hg-check">(.*?)</pre>', done.stdout, re.S)
    assert m, f"Chromium did not load {page}: {done.stderr[-2000:]}"
    import html
    return json.loads(html.unescape(m.group(1)))
