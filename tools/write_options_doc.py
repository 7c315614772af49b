"""Write docs/options.md, the option reference, from the option declarations."""

from pathlib import Path

from hourglass.cli.flags import options_markdown

if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "docs" / "options.md"
    out.write_text(options_markdown())
    print(f"wrote {out}")
