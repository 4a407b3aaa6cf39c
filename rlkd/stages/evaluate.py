"""`rlkd evaluate`: the policy (one or several PPO runs) and every baseline on the same evaluation seeds, as student
populations (rlkd.tune.grid); the report (rlkd.reports.evaluate) and summary.json.
"""

from __future__ import annotations

import json
import shlex
import statistics
import sys
from pathlib import Path

from rlkd.config import Config, with_overrides
from rlkd.curriculum.policies import (
    ReplayActions,
    ReplayFractions,
    ReplaySchedule,
    baseline_policies,
    load_policy,
    mean_actions,
    policy_checkpoint,
    pretrained_row,
)
from rlkd.distill.inputs import teacher_files
from rlkd.env.curriculum_env import shared_inputs
from rlkd.env.episode import PolicyRun
from rlkd.errors import ConfigError
from rlkd.reports.evaluate import (
    evaluation_seeds,
    load_pbt_schedule,
    reference_rows,
    teacher_labels,
    tuned_baseline,
    tuning_budgets,
    write_report,
)
from rlkd.reports.stats import (
    mean_std,
)
from rlkd.reports.summary import SUMMARY_FILE, evaluation_summary
from rlkd.stages.base import Stage
from rlkd.tune.budget_search import ROW as BUDGET_ROW
from rlkd.tune.budget_search import chosen_control
from rlkd.tune.grid import run_grid
from rlkd.workdir import write_json


def run_evaluate(cfg: Config, out: Path) -> dict:
    pbt_schedule = load_pbt_schedule(cfg.tune.pbt.schedule) if cfg.tune.pbt.schedule else None
    n = cfg.env.eval_seeds
    checkpoints = [policy_checkpoint(cfg), *cfg.ppo.checkpoints]
    resolved = [str(Path(c).resolve()) for c in checkpoints]
    if len(set(resolved)) != len(resolved):
        raise ConfigError(f"ppo.checkpoints: {checkpoints} names one PPO run more than once (with ppo.checkpoint); "
                          f"each checkpoint must be a separate PPO run, or the pooled interval counts it twice")
    seed_key, seed_bounds, seed_list = evaluation_seeds(cfg, checkpoints)
    policies = [load_policy(checkpoint) for checkpoint in checkpoints]
    shared_inputs(cfg)  # a bad data set or shard is one clear error here, before any run
    # every method x seed run trains in populations of resources.population_size (rlkd.tune.grid)
    policy_runs, populations = run_grid(cfg, [PolicyRun(cfg, p, s) for p in policies for s in seed_list],
                                        "evaluate: policy")
    results: dict[str, list[dict]] = {"policy": policy_runs[:n]}  # the first PPO run: its rows and controls
    ppo_runs = [policy_runs[i * n:(i + 1) * n] for i in range(len(policies))]
    for i, runs in enumerate(ppo_runs):
        _print_method("policy" if len(ppo_runs) == 1 else f"policy, PPO run {i + 1}", runs)
    policy_actions = mean_actions([[row["action"] for row in r["trajectory"]] for r in results["policy"]])
    sizes = [[row.get("fraction", 1.0) for row in r["trajectory"]] for r in results["policy"]]
    # (name, config overrides, one policy per seed): the same-size control replays each seed's own sizes
    controls = [("random (policy's sizes)", [], [ReplayFractions("random (policy's sizes)", f) for f in sizes])]
    baselines = baseline_policies(cfg.env.budget, cfg.distill.mode, teacher_labels(teacher_files(cfg.teacher) or []))
    shared = [*baselines[:1], *reference_rows(cfg), *baselines[1:]]  # the reference, its A/A twin, the own recipe
    tuned, tuned_line = tuned_baseline(cfg, out, policy_actions)
    if tuned is not None:
        overrides, control = chosen_control(cfg, tuned["chosen"], tuned["replay"])
        shared.insert(1, (BUDGET_ROW, overrides, control))
    shared.append(("open-loop replay (policy's mean action)", [],
                   ReplayActions("open-loop replay (policy's mean action)", policy_actions)))
    if pbt_schedule is not None:  # the PBT-tuned schedule from `rlkd pbt`
        shared.append(("pbt schedule", [], ReplaySchedule("pbt schedule", pbt_schedule)))
    if cfg.ppo.pretrained is not None:  # a policy trained on other tasks, applied as it is
        pretrained = load_policy(cfg.ppo.pretrained)
        shared.append((pretrained_row(pretrained, cfg), [], pretrained))
    controls += [(name, overrides, [control] * n) for name, overrides, control in shared]
    grid = [PolicyRun(with_overrides(cfg, overrides), p, s)
            for _, overrides, per_seed in controls for p, s in zip(per_seed, seed_list)]
    done, more = run_grid(cfg, grid, "evaluate: controls")
    for i, (name, _, _) in enumerate(controls):
        results[name] = done[i * n:(i + 1) * n]
        _print_method(name, results[name])
    budgets = tuning_budgets(cfg, list(results), tuned, len(shared_inputs(cfg)[0].train.labels))
    report = write_report(out, results, policy_actions, cfg, (seed_key, seed_bounds), budgets, tuned_line,
                          dict(zip(checkpoints, ppo_runs)))
    metrics = {"kd_tuned_at_rl_budget": tuned, "report": str(out / "report.md"), "seeds": seed_list,
               "seed_range": {seed_key: seed_bounds}, "checkpoints": checkpoints, "populations": populations + more,
               **report}
    command = shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])
    write_json(out / SUMMARY_FILE, evaluation_summary(cfg, metrics, metrics["seed_range"], checkpoints, command))
    return metrics


def _print_method(name: str, runs: list[dict]) -> None:
    print(f"evaluate: {name:<40} test_acc (last epoch) {mean_std([r['test_acc_last_epoch'] for r in runs])}   "
          f"samples seen {statistics.mean(r['samples_seen'] for r in runs):.0f}", flush=True)


STAGE = Stage(
    "evaluate", run_evaluate,
    "the policy and every baseline on the same seeds; report.md with test accuracy and PNGs",
    outputs=("report.md",),
    depends=(*Stage.depends, "tune", "seeds"),
    options=(("checkpoint", "policy checkpoint from `rlkd train` (sets ppo.checkpoint)",
              lambda v: [f"ppo.checkpoint={v}"]),
             ("checkpoints", "more PPO runs' checkpoints, comma-separated: each reported, all pooled (sets "
              "ppo.checkpoints)", lambda v: [f"ppo.checkpoints={json.dumps([c for c in v.split(',') if c])}"]),
             ("seeds", "number of seeds per method (sets env.eval_seeds)", lambda v: [f"env.eval_seeds={v}"]),
             ("pbt", "a schedule.json from `rlkd pbt` to show beside the policy (sets tune.pbt.schedule)",
              lambda v: [f"tune.pbt.schedule={v}"]),
             ("pretrained", "a policy trained on other tasks (checkpoint or builtin:NAME) to show beside the policy, "
              "zero-shot when it never saw the target's family (sets ppo.pretrained)",
              lambda v: [f"ppo.pretrained={v}"])),
)
