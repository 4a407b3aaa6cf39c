"""`rlkd apply`: one full distillation run where a trained policy picks every epoch's action."""

from __future__ import annotations

import json
from pathlib import Path

from rlkd.config import Config
from rlkd.curriculum.policies import load_policy, outside_training, policy_checkpoint
from rlkd.distill.inputs import load_run_inputs
from rlkd.distill.run import fixed_observation
from rlkd.env.episode import run_policy
from rlkd.reports.plots import line_plot
from rlkd.reports.tensorboard import TENSORBOARD_DIR, epoch_scalars, open_writer, write_scalars
from rlkd.stages.base import Stage


def run_apply(cfg: Config, out: Path) -> dict:
    return apply_policy(cfg, out, policy_checkpoint(cfg))


def apply_policy(cfg: Config, out: Path, checkpoint: str) -> dict:
    """One run of `cfg` with the policy at `checkpoint` picking every epoch's action (`rlkd apply`, and
    `rlkd distill --curriculum policy:REF`)."""
    policy = load_policy(checkpoint)
    data, shards = load_run_inputs(cfg)
    outside = outside_training(policy.network.spec.training_ranges, fixed_observation(shards, data))
    if outside:
        print(f"apply: this run lies outside what the policy saw in training: {'; '.join(outside)}; its actions "
              f"here are an extrapolation", flush=True)
    result = run_policy(cfg, policy, cfg.distill.seed, data, shards)
    for row in result["trajectory"]:
        print(f"epoch {row.get('epoch', '?'):>3}  difficulty {row['action']['difficulty']:.3f}  "
              f"fraction {row.get('fraction', float('nan')):.2f}  subset {row.get('subset_size', 0):>6}  "
              f"val_acc {row.get('val_acc', float('nan')):6.2f}  reward {row['reward']:7.3f}")
    (out / "trajectory.json").write_text(json.dumps(result["trajectory"], indent=2))
    traj = result["trajectory"]
    line_plot(out / "trajectory.png", {"difficulty (action)": [r["action"]["difficulty"] for r in traj],
                                       "fraction": [r.get("fraction", float("nan")) for r in traj],
                                       "val acc / 100": [r.get("val_acc", float("nan")) / 100 for r in traj]},
              "policy trajectory", "epoch", "value")
    scalars = [{**epoch_scalars(val_acc=r.get("val_acc"), train_loss=r.get("train_loss"),
                                subset_size=r.get("subset_size"), difficulty=r.get("difficulty"),
                                fraction=r.get("fraction"), subset_difficulty_mean=r.get("subset_difficulty_mean")),
                "env/reward": r["reward"]} for r in traj]
    scalars[-1]["test/acc_last_epoch"] = result["test_acc_last_epoch"]
    with open_writer(out / TENSORBOARD_DIR) as writer:
        write_scalars(writer, scalars)
    print(f"apply: test_acc (last epoch) {result['test_acc_last_epoch']:.2f} | val_acc (last epoch) "
          f"{result['val_acc_last_epoch']:.2f} | return {result['return']:.2f} | samples seen {result['samples_seen']}")
    return {"test_acc_last_epoch": result["test_acc_last_epoch"], "val_acc_last_epoch": result["val_acc_last_epoch"],
            "return": result["return"], "samples_seen": result["samples_seen"], "budget": result["budget"],
            "budget_samples": result["budget_samples"], "checkpoint": checkpoint,
            "val_acc_per_epoch": [r.get("val_acc") for r in traj]}


STAGE = Stage(
    "apply", run_apply,
    "one full run where a trained policy picks every epoch's action; trajectory + test accuracy",
    outputs=("trajectory.png",),
    options=(("checkpoint", "policy checkpoint from `rlkd train` (sets ppo.checkpoint)",
              lambda v: [f"ppo.checkpoint={v}"]),),
)
