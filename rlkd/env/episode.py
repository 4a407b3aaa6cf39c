"""Drive full runs with any curriculum policies, step by step, exactly as the env does: many runs at once as
one `StudentPopulation` (evaluate's method x seed grid), or one (apply)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

from rlkd.config import Config
from rlkd.curriculum.actions import CONFIGURED
from rlkd.curriculum.observation import encode_observation
from rlkd.curriculum.policies import acting_in, policy_observation_keys
from rlkd.data import DatasetSplits
from rlkd.data.shards import TeacherShards
from rlkd.distill.population import StudentPopulation
from rlkd.distill.run import eval_scores
from rlkd.env.curriculum_env import EpochStepper


@dataclass
class PolicyRun:
    """One run to drive: its config, its curriculum policy (anything with `act`) and its seed."""

    cfg: Config
    policy: Any
    seed: int


def run_policies(runs: Sequence[PolicyRun], data: DatasetSplits, shards: TeacherShards) -> list[dict]:
    """Each run's trajectory (action, subset stats, val accuracy, reward per epoch) and final **test** accuracy,
    with which test examples it got right ("test_correct": one 0/1 character per example, in the split's order).

    The runs train as one population (they must share the student and device; their configs may differ
    otherwise); each ends at distill.epochs epochs or when env.budget is spent, like an env episode, or
    when its loss diverges.
    """
    population = StudentPopulation([r.cfg for r in runs], shards, [r.seed for r in runs], data)
    steppers = [EpochStepper(r.cfg, lane) for r, lane in zip(runs, population.runs)]
    policies = [acting_in(r.policy, r.cfg) for r in runs]  # a learned policy decodes around the run's recipe
    keys = [policy_observation_keys(r.policy, r.cfg) for r in runs]
    observations = [encode_observation(obs, keys[k]) for k, obs in enumerate(population.observe())]
    trajectories: list[list[dict]] = [[] for _ in runs]
    while True:
        lanes = [k for k, done in enumerate(population.finished) if not done]
        if not lanes:
            break
        actions = [CONFIGURED] * len(runs)
        for k in lanes:
            lane = population.runs[k]
            actions[k] = policies[k].act(observations[k], lane.epoch_index, lane.epochs)
        results = population.epoch(actions, lanes=lanes)
        for k in lanes:
            _, _, info = steppers[k].score(results[k])
            trajectories[k].append({**info, "action": asdict(actions[k])})
            observations[k] = encode_observation(population.runs[k].observe(), keys[k])
    test_logits, test_labels = population.split_logits("test")
    test, val = [eval_scores(logits, test_labels) for logits in test_logits], population.evaluate("val")
    correct = ["".join("1" if c else "0" for c in (logits.argmax(1) == test_labels).tolist()) for logits in test_logits]
    return [{"seed": r.seed, "trajectory": rows, "test_acc_last_epoch": test[k][0], "val_acc_last_epoch": val[k][0],
             "test_correct": correct[k],
             "samples_seen": lane.samples_seen, "budget": lane.budget, "budget_samples": lane.budget_samples,
             "return": sum(row["reward"] for row in rows)}
            for k, (r, rows, lane) in enumerate(zip(runs, trajectories, population.runs))]


def run_policy(cfg: Config, policy, seed: int, data: DatasetSplits, shards: TeacherShards) -> dict:
    """One run (`run_policies` of one)."""
    return run_policies([PolicyRun(cfg, policy, seed)], data, shards)[0]
