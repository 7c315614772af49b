"""Write src/hourglass/cli/catalog.json, what `hourglass list` prints, from the registries."""

from hourglass.cli.catalog import CATALOG, dumps, live
from hourglass.core.io import atomic_write_text

if __name__ == "__main__":
    atomic_write_text(CATALOG, dumps(live()))
    print(f"wrote {CATALOG}")
