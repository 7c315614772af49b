"""MkDocs hooks of the documentation site (mkdocs.yml): the pages quote the README's sections and
the guides instead of copying them, and the figures they show come from the repository.

A page includes text with a line

    <!-- include FILE -->                      the whole file (a path relative to docs/)
    <!-- include FILE#NAME -->                 what lies between <!-- NAME:start --> and <!-- NAME:end -->
    <!-- include FILE#heading=TEXT -->         the section under the heading TEXT, down to the next
                                               heading of the same or a higher level

optionally followed by ``level=N`` (the included text's highest heading becomes level N, default
2). Links into the repository (``docs/x.md``, ``experiments/results/...png``) are made relative to
the site (an included result file's own figures, ``![...](x.png)``, are found in its folder),
and the placeholders of the README (``BENCH_TABLE``, ...) are filled as
``tools/assemble_readme.py`` fills them.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from mkdocs.structure.files import File

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
_spec = importlib.util.spec_from_file_location("assemble_readme", ROOT / "tools" / "assemble_readme.py")
_assemble = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_assemble)

INCLUDE = re.compile(r"^<!-- include (?P<file>[^#\s]+)(?:#(?P<part>.+?))?(?: level=(?P<level>\d))? -->$",
                     re.M)
# the repository's figures that the guides show, served from the site under the same paths
ASSETS = ("experiments/results", "benchmarks/results")


def _section(text: str, part: str | None, where: str) -> str:
    if part is None:
        return text
    if part.startswith("heading="):
        title = part[len("heading="):].strip()
        lines, out, level, fenced = text.splitlines(), None, 0, False
        for line in lines:
            if line.startswith("```"):
                fenced = not fenced
            m = None if fenced else re.match(r"^(#+) (.*)$", line)
            if out is None:
                if m and m.group(2).strip() == title:
                    out, level = [line], len(m.group(1))
            elif m and len(m.group(1)) <= level:
                break
            else:
                out.append(line)
        if out is None:
            raise ValueError(f"{where}: no heading {title!r}")
        return "\n".join(out)
    start, end = f"<!-- {part}:start -->", f"<!-- {part}:end -->"
    if start not in text or end not in text:
        raise ValueError(f"{where}: no section {part!r} (markers {start} ... {end})")
    return text.split(start, 1)[1].split(end, 1)[0].strip("\n")


def _include(match: re.Match, page_src: str) -> str:
    source = DOCS / match["file"]
    text = _section(source.read_text(), match["part"], f"{page_src}: include {match['file']}")
    text = INCLUDE.sub(lambda m: _include(m, page_src), text)  # nested includes
    if DOCS not in source.resolve().parents:  # a result file: its links are to its own folder
        folder = source.resolve().parent.relative_to(ROOT).as_posix()
        text = _assemble.own_figures(text, folder)
    return _relink(_assemble.demote(text.strip(), int(match["level"] or 2)), page_src)


def _relink(markdown: str, page_src: str) -> str:
    """Links written from the repository root (as the README has them) made relative to the page."""
    up = "../" * page_src.count("/")

    def fix(m: re.Match) -> str:
        target = m["target"]
        if re.match(r"^[a-z]+:|^#|^/", target):
            return m[0]
        if target.startswith("docs/"):
            target = target[len("docs/"):]
        elif target.rstrip("/") == "examples":
            return f"{m['text']}"  # a folder of scripts: named in the text, not a page
        return f"{m['text']}({up}{target})"

    return re.sub(r"(?P<text>!?\[[^\]]*\])\((?P<target>[^)\s]+)\)", fix, markdown)


def on_files(files, config):
    for folder in ASSETS:
        for path in sorted((ROOT / folder).rglob("*.png")):
            rel = path.relative_to(ROOT).as_posix()
            if files.get_file_from_path(rel) is None:
                files.append(File(rel, src_dir=str(ROOT), dest_dir=config["site_dir"],
                                  use_directory_urls=config["use_directory_urls"]))
    return files


def on_page_markdown(markdown, page, config, files):
    src = page.file.src_uri
    return _assemble.fill(INCLUDE.sub(lambda m: _include(m, src), markdown))
