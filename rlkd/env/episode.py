"""Drive one full run with any curriculum policy, step by step, exactly as the env does."""

from __future__ import annotations

from dataclasses import asdict

from rlkd.config import Config
from rlkd.data import DatasetSplits
from rlkd.data.shards import TeacherShards
from rlkd.distill.run import DistillationRun
from rlkd.env.curriculum_env import EpochStepper, encode_observation


def run_policy(cfg: Config, policy, seed: int, data: DatasetSplits, shards: TeacherShards) -> dict:
    """Trajectory (action, subset stats, val accuracy, reward per epoch) and the final **test** accuracy; the run
    ends at distill.epochs epochs or when env.budget is spent, like an env episode."""
    run = DistillationRun(cfg, shards, seed, data)
    stepper = EpochStepper(cfg, run)
    obs = encode_observation(run.observe())
    rows = []
    while not run.finished:
        action = policy.act(obs, run.epoch_index, run.epochs)
        reward, diverged, info = stepper.step(action)
        rows.append({**info, "action": asdict(action)})
        if diverged:
            break
        obs = encode_observation(run.observe())
    return {"seed": seed, "trajectory": rows, "test_acc_last_epoch": run.evaluate("test")[0],
            "val_acc_last_epoch": run.evaluate("val")[0], "samples_seen": run.samples_seen,
            "budget": run.budget, "budget_samples": run.budget_samples, "return": sum(r["reward"] for r in rows)}
