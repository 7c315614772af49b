"""Assemble README.md: the hand-written parts plus the per-area guides in docs/ and the result
tables in benchmarks/results and experiments/results (so the README quotes exactly what the
scripts wrote). Run: python tools/assemble_readme.py

The documentation site (mkdocs.yml, docs/site_hooks.py) reuses `fill` and `demote` so that its
pages quote the same tables.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCORECARD = ROOT / "experiments" / "results" / "scorecard.md"
# the placeholder line of docs/README.in.md that the results scorecard replaces
SCORECARD_MARK = "<!-- scorecard -->"


def _table(path: Path, missing: str = "(not run yet)") -> str:
    return path.read_text() if path.exists() else missing


RESULT_INCLUDE = re.compile(r"^<!-- include \.\./experiments/results/(?P<name>[\w.-]+\.md)"
                            r"(?: level=(?P<level>\d))? -->$", re.M)


def own_figures(text: str, folder: str) -> str:
    """A result file's links to its own figures (``![...](x.png)``) made paths from the
    repository root, `folder` being the file's folder from there."""
    return re.sub(r"(?P<text>!\[[^\]]*\])\((?P<target>[^)\s/:#]+)\)",
                  lambda m: f"{m['text']}({folder}/{m['target']})", text)


def fill(text: str) -> str:
    """`text` with its placeholders replaced by the result tables the scripts wrote, and each
    ``<!-- include ../experiments/results/NAME.md level=N -->`` line by that file."""
    text = RESULT_INCLUDE.sub(
        lambda m: own_figures(demote(_table(ROOT / "experiments" / "results" / m["name"]),
                                     int(m["level"] or 4)).strip(), "experiments/results")
        + "\n", text)
    results = ROOT / "benchmarks" / "results"
    text = text.replace("BENCH_TABLE", _table(results / "throughput.md"))
    text = text.replace("PEER_TABLE", _table(results / "peer.md"))
    text = text.replace("PEER_AVX512_TABLE", _table(results / "peer-avx512.md"))
    text = text.replace("MODELS_TABLE", demote(_table(results / "models.md"), 4))
    text = text.replace("PROFILE_TABLE", _table(results / "profile-step.md"))
    text = text.replace("EVALUATE_TABLE", _table(results / "evaluate.md"))
    ddp = results / "distributed.md"
    text = text.replace("DDP_TABLE", "\n\n" + ddp.read_text().strip() if ddp.exists()
                        else "(not run yet)")
    # the scorecard, when the experiments have written one; else the line goes
    scorecard = SCORECARD.read_text().strip() + "\n" if SCORECARD.exists() else ""
    return re.sub(rf"^{re.escape(SCORECARD_MARK)}[ \t]*\n?", lambda _: scorecard, text,
                  flags=re.M)


def demote(text: str, top: int) -> str:
    """`text` with its headings shifted so that the highest becomes level `top` (code blocks
    are left alone)."""
    lines, fenced, levels = text.splitlines(), False, []
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (m := re.match(r"^(#+) ", line)):
            levels.append(len(m.group(1)))
    shift = top - min(levels) if levels else 0
    out, fenced = [], False
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
        m = None if fenced else re.match(r"^(#+) ", line)
        if m:
            depth = len(m.group(1))
            line = "#" * min(6, max(1, depth + shift)) + line[depth:]
        out.append(line)
    return "\n".join(out)


def guides() -> list[Path]:
    return sorted((ROOT / "docs").glob("guide-*.md"),
                  key=lambda p: int(re.findall(r"\d+", p.name)[0]))


def assemble() -> str:
    readme = (ROOT / "docs" / "README.in.md").read_text()
    # every guide starts one level below "## Guides": its top heading becomes ###
    body = "\n\n".join(demote(doc.read_text().strip(), 3) for doc in guides())
    return fill(readme.replace("GUIDES", body))


if __name__ == "__main__":
    readme = assemble()
    (ROOT / "README.md").write_text(readme)
    print("README.md:", len(readme.splitlines()), "lines")
