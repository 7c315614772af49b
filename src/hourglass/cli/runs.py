"""``hourglass runs [DIR]``: the runs in a folder as a table; ``hourglass runs compare RUN RUN ...
--out DIR``: their metrics side by side and their training curves over each other."""

from __future__ import annotations

import argparse

from hourglass.core.errors import ConfigError
from hourglass.runs import listing


def add_arguments(p: argparse.ArgumentParser, command: str) -> None:
    p.add_argument("words", nargs="*", metavar="DIR | compare RUN RUN ...",
                   help="the folder whose runs to list (default: runs), or `compare` and the "
                   "run directories to compare")
    p.add_argument("--out", default=None,
                   help="with compare: the folder to write compare.png (the training curves) "
                   "and compare.html (table and curves) into; existing files are never "
                   "overwritten (default: none, required with compare)")


def run(args: argparse.Namespace) -> int:
    words = args.words
    if words and words[0] == "compare":
        if len(words) < 2:
            raise ConfigError("hourglass runs compare needs the run directories to compare: "
                              "hourglass runs compare RUN RUN ... --out DIR.")
        if args.out is None:
            raise ConfigError("hourglass runs compare needs --out DIR, the folder for "
                              "compare.png and compare.html.")
        text, written = listing.compare_runs(words[1:], args.out)
        print(text)
        print("written: " + ", ".join(map(str, written)))
        return 0
    if len(words) > 1:
        raise ConfigError(f"hourglass runs lists one folder; got {len(words)}: "
                          f"{' '.join(words)}. To compare runs: hourglass runs compare RUN RUN "
                          "... --out DIR.")
    if args.out is not None:
        raise ConfigError("--out is for hourglass runs compare; listing runs writes nothing.")
    folder = words[0] if words else "runs"
    summaries = [listing.summarize(d) for d in listing.find_runs(folder)]
    if not summaries:
        print(f"no runs in {folder}")
        return 0
    print(listing.text_table(*listing.table(summaries)))
    return 0
