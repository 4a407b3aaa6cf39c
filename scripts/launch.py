#!/usr/bin/env python
"""Run the rlkd pipeline: teacher -> precompute -> recipe -> distill -> train (or tune) -> evaluate, each into
WORKDIR/<stage>/.

Without --cluster an embedded Ray starts on 127.0.0.1 only. With --cluster it joins an existing
cluster (--address, else RAY_ADDRESS, else "auto") and stops with a clear message if none answers.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rlkd.cli import add_config_args, error_message
from rlkd.config import load_config
from rlkd.errors import RlkdError
from rlkd.models.imported import import_from_working_dir
from rlkd.ray_runtime import start_ray
from rlkd.stages import run_pipeline, stages
from rlkd.workdir import folder_lock

ARTEFACTS = {"teacher": "teacher.safetensors", "precompute": "shards/manifest.json", "recipe": "recipe.json",
             "distill": "learning_curve.png", "train": "checkpoint", "tune": "checkpoint", "evaluate": "report.md"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_args(parser)
    parser.add_argument("--workdir", default="runs/default", help="one folder per stage goes here")
    parser.add_argument("--stage", default="all", help=f"'all', or one or more (comma-separated) of: "
                        f"{', '.join(stages('tune'))}, train; the others are left as they are")
    parser.add_argument("--tune", action="store_true", help="get the policy from `rlkd tune` (the tune section's "
                        "search) instead of one `rlkd train` run")
    parser.add_argument("--cluster", action="store_true", help="join an existing Ray cluster instead of a local one")
    parser.add_argument("--address", default=None, help="with --cluster: the cluster's address (host:port)")
    args = parser.parse_args(argv)
    import_from_working_dir()
    workdir = Path(args.workdir)
    overrides = list(args.overrides)
    try:
        if args.cluster:
            address = args.address or os.environ.get("RAY_ADDRESS") or "auto"
            # fail here, clearly, rather than inside a stage; ship the user's model modules to every worker
            start_ray(load_config(args.config, overrides), address)
            overrides.append(f"resources.ray_address={address}")
            print(f"launch: connected to the Ray cluster at {address}")
        elif args.address:
            raise RlkdError("--address needs --cluster")
        with folder_lock(workdir, "scripts/launch.py"):  # a second launch here stops at once, naming this one
            run_pipeline(workdir, args.config, overrides, args.stage, "tune" if args.tune else "train")
    except (RlkdError, OSError) as exc:
        print(f"launch: error: {error_message(exc)}", file=sys.stderr)
        return 2
    print("artefacts:")
    for name in stages("tune" if args.tune else "train"):
        if (workdir / name / "metrics.json").is_file():
            print(f"  {name:<10} {workdir / name / ARTEFACTS[name]}  (+ metrics.json, config.yaml)")
    report = workdir / "evaluate" / "report.md"
    if report.is_file():
        print(f"report: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
