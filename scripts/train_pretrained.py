#!/usr/bin/env python
"""Train a curriculum policy once across task families and ship it inside rlkd as `builtin:<name>`.

The config is the default one (tune_configs/digits.yaml) with the task-relative observation keys and the lr_scale
action, listing the families' tasks (`families:`, rlkd/config/families.py): the pipeline makes every task's
teacher and shards, PPO trains across them, and the export lands in rlkd/policies/<name>/ (policy.safetensors +
policy.json) with what made it: this script, its command, the commit, the seeds, the families and tasks.

    python scripts/train_pretrained.py --families digits,signals,tabular --name families-v1
    python scripts/train_pretrained.py --families digits,tabular --name lofo-signals --out runs/lofo/policies

Re-running the same command resumes: finished teachers and shards are reused, PPO continues from its last
checkpoint (as `scripts/launch.py` does after a kill).
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from rlkd.config import load_config
from rlkd.curriculum.policy_net import POLICY_SPEC, POLICY_WEIGHTS
from rlkd.models.imported import import_from_working_dir
from rlkd.stages import run_pipeline
from rlkd.workdir import folder_lock

ROOT = Path(__file__).resolve().parent.parent
FAMILIES = ROOT / "tune_configs" / "families"
SHIPPED = ROOT / "rlkd" / "policies"


def listing_config(families: list[str]) -> dict:
    """The training config: the default with the families' tasks (absolute paths: it is written into the workdir)."""
    missing = [f for f in families if not (FAMILIES / f"{f}.yaml").is_file()]
    if missing:
        sys.exit(f"train_pretrained: no family {missing} in {FAMILIES} (there: "
                 f"{sorted(p.stem for p in FAMILIES.glob('*.yaml') if p.stem != 'all')})")
    return {"extends": str(ROOT / "tune_configs" / "digits.yaml"),
            "families": [str(FAMILIES / f"{f}.yaml") for f in families],
            "env": {"task_features": True, "control_lr_scale": True}}


def commit() -> str:
    """The commit the policy was trained at, '+dirty' when the tree had changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    head = git("rev-parse", "HEAD") or "unknown"
    return head + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", default="digits,signals,tabular", help="comma-separated tune_configs/families/")
    parser.add_argument("--name", default="families-v1", help="the policy's name: builtin:<name>")
    parser.add_argument("--workdir", default=None, help="default: runs/pretrained/<name>")
    parser.add_argument("--out", default=str(SHIPPED), help="the policy goes into OUT/<name>/ (default: rlkd's own)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config overrides, e.g. ppo.iterations=400 or ppo.seed=1")
    args = parser.parse_args(argv)
    families = [f for f in args.families.split(",") if f]
    workdir = Path(args.workdir or ROOT / "runs" / "pretrained" / args.name).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "training_config.yaml"
    config.write_text(yaml.safe_dump(listing_config(families), sort_keys=False))
    import_from_working_dir()
    start, made_at = time.perf_counter(), commit()  # the code that trains, not what the tree holds once it is done
    with folder_lock(workdir, "scripts/train_pretrained.py"):
        results = run_pipeline(workdir, str(config), args.overrides, "teacher,precompute,train")
    cfg = load_config(config, args.overrides)
    checkpoint = (workdir / "train" / "checkpoint").resolve()
    train = json.loads((workdir / "train" / "metrics.json").read_text())
    spec = json.loads((checkpoint / POLICY_SPEC).read_text())
    spec["provenance"] = {
        "script": "scripts/train_pretrained.py",
        "command": shlex.join(["python", "scripts/train_pretrained.py", *(argv if argv is not None else sys.argv[1:])]),
        "commit": made_at,
        "families": families,
        "tasks": [{"name": t.name, "weight": t.weight} for t in cfg.env.tasks],
        "seeds": {"ppo.seed": cfg.ppo.seed, "env.seed": cfg.env.seed, "teacher.seed": cfg.teacher.seed,
                  "data.seed": cfg.data.seed, "seeds.choice": cfg.seeds.choice},
        "ppo": {"iterations": train["iterations"], "episodes_per_batch": cfg.ppo.episodes_per_batch,
                "lr": cfg.ppo.lr, "hidden": cfg.ppo.hidden},
        "rl_cost": train["rl_cost"],
        "wall_s_this_call": round(time.perf_counter() - start, 1),
        "stages_run_this_call": [name for name, r in results.items() if not r.get("skipped")],
    }
    target = Path(args.out) / args.name
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(checkpoint / POLICY_WEIGHTS, target / POLICY_WEIGHTS)
    (target / POLICY_SPEC).write_text(json.dumps(spec, indent=2))
    print(f"train_pretrained: {target} ({train['rl_cost']['episodes']} episodes over {len(cfg.env.tasks)} tasks of "
          f"{', '.join(families)}); use it as `rlkd distill --curriculum policy:builtin:{args.name}`"
          + ("" if target.parent == SHIPPED else f" with RLKD_POLICY_PATH={target.parent}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
