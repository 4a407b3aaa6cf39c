"""Write docs/results.md's evidence tables and README's headline from docs/evidence/*.json.

    python scripts/write_results.py           # rewrite both files' generated blocks
    python scripts/write_results.py --check   # exit 1, naming the file, if a generated block is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rlkd.reports.results_docs import render

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on a difference")
    args = parser.parse_args(argv)
    stale = []
    for path, text in render(ROOT).items():
        if (ROOT / path).read_text() != text:
            stale.append(path)
            if not args.check:
                (ROOT / path).write_text(text)
    if args.check and stale:
        print(f"out of date: {', '.join(stale)}; run `python scripts/write_results.py`", file=sys.stderr)
        return 1
    print("written: " + (", ".join(stale) or "nothing changed"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
