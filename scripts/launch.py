#!/usr/bin/env python
"""Run the rlkd pipeline (teacher -> ...) on one config, each stage into WORKDIR/<stage>/."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rlkd.cli import add_config_args
from rlkd.errors import RlkdError
from rlkd.pipeline import PIPELINE, run_pipeline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_config_args(parser)
    parser.add_argument("--workdir", default="runs/default", help="one folder per stage goes here")
    parser.add_argument("--stage", default="all", help=f"'all' or one of: {', '.join(PIPELINE)}")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    try:
        run_pipeline(workdir, args.config, args.overrides, args.stage)
    except RlkdError as exc:
        print(f"launch: error: {exc}", file=sys.stderr)
        return 2
    print("artefacts:")
    for name in PIPELINE:
        if (workdir / name / "metrics.json").is_file():
            print(f"  {name:<10} {workdir / name}/  (metrics.json, config.yaml)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
