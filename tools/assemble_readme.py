"""Assemble README.md: the hand-written parts plus the per-area guides in docs/ and the result
tables in benchmarks/results and experiments/results (so the README quotes exactly what the
scripts wrote). Run: python tools/assemble_readme.py"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
readme = (ROOT / "docs" / "README.in.md").read_text()
bench = (ROOT / "benchmarks" / "results" / "throughput.md")
readme = readme.replace("BENCH_TABLE", bench.read_text() if bench.exists() else "(not run yet)")
peer = ROOT / "benchmarks" / "results" / "peer.md"
readme = readme.replace("PEER_TABLE", peer.read_text() if peer.exists() else "(not run yet)")
guides = []
for doc in sorted((ROOT / "docs").glob("guide-*.md"), key=lambda p: int(re.findall(r"\d+", p.name)[0])):
    text = doc.read_text().strip()
    # every guide starts one level below "## Guides": demote its headings to ### and deeper
    lines, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        m = None if fenced else re.match(r"^(#+) ", line)
        if m:
            depth = len(m.group(1))
            line = "#" * min(6, max(3, depth + (2 if text.startswith("# ") else 1))) + line[depth:]
        lines.append(line)
    guides.append("\n".join(lines))
readme = readme.replace("GUIDES", "\n\n".join(guides))
ddp = ROOT / "benchmarks" / "results" / "distributed.md"
readme = readme.replace("DDP_TABLE", "\n\n" + ddp.read_text().strip() if ddp.exists() else "(not run yet)")
(ROOT / "README.md").write_text(readme)
print("README.md:", len(readme.splitlines()), "lines")
