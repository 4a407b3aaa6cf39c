"""`rlkd evaluate`'s equal-budget controls and paired statistics (issue 10, items 3 and 4)."""

import json
import math
from dataclasses import asdict

import pytest
import torch

from rlkd.cli import main
from rlkd.config import CurriculumConfig, load_config, with_overrides
from rlkd.curriculum.actions import EpochAction
from rlkd.curriculum.policies import FixedSchedule, ReplayActions, ReplayFractions, baseline_policies, mean_actions
from rlkd.distill.inputs import load_run_inputs
from rlkd.distill.run import DistillationRun, order_stream_seed
from rlkd.distill.samplers import SamplerAction, sample_indices
from rlkd.env.episode import PolicyRun, run_policies, run_policy
from rlkd.reports.evaluate import AA_ROW, BUDGET_ROW, pooled_between_ppo_runs
from rlkd.reports.stats import format_paired, paired_summary
from tests.conftest import POPULATION_OF_TWO, args_for, run_overrides


# ------------------------------------------------------------------ statistics
def test_paired_summary_matches_a_hand_computed_t_interval():
    # diffs 1, 2, 3, 4: mean 2.5, sd sqrt(5/3) = 1.290994, t(0.975, df 3) = 3.182446, half width 2.054261
    s = paired_summary([11.0, 12.0, 13.0, 14.0], [10.0, 10.0, 10.0, 10.0])
    assert s["n"] == 4 and s["wins"] == 4
    assert s["mean"] == pytest.approx(2.5)
    assert s["std"] == pytest.approx(1.290994, abs=1e-6)
    assert s["ci_low"] == pytest.approx(2.5 - 2.054261, abs=1e-5)
    assert s["ci_high"] == pytest.approx(2.5 + 2.054261, abs=1e-5)
    assert format_paired(s) == "+2.50 ± 1.29 [+0.45, +4.55] 4/4"


def test_paired_summary_counts_wins_and_keeps_the_order_of_the_difference():
    s = paired_summary([1.0, 5.0, 2.0], [2.0, 3.0, 2.0])  # diffs -1, +2, 0: one win, a tie is no win
    assert s["wins"] == 1 and s["mean"] == pytest.approx(1 / 3)
    assert paired_summary([2.0, 3.0, 2.0], [1.0, 5.0, 2.0])["mean"] == pytest.approx(-1 / 3)


def test_one_seed_has_no_std_or_interval_and_unpaired_lengths_fail():
    s = paired_summary([3.0], [1.0])
    assert s["mean"] == 2.0 and math.isnan(s["std"]) and math.isnan(s["ci_low"]) and math.isnan(s["ci_high"])
    assert "no std or CI" in format_paired(s)
    with pytest.raises(ValueError, match="same seeds"):
        paired_summary([1.0, 2.0], [1.0])


# ------------------------------------------------------------------ growing random set
CLASS_SIZES = (20, 40, 60, 80)


def class_labels():
    return torch.cat([torch.full((n,), c) for c, n in enumerate(CLASS_SIZES)])


def pick(name, progress, seed, difficulty=None):
    labels = class_labels()
    d = torch.linspace(0, 1, len(labels), dtype=torch.float64) if difficulty is None else difficulty
    return sample_indices(name, d, labels, SamplerAction(0.5, 0.7, progress), CurriculumConfig(),
                          torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("progress", [0.0, 0.25, 0.5, 0.9])
def test_pacing_random_takes_pacings_size_in_every_class(progress):
    labels = class_labels()
    ours, pacing = pick("pacing_random", progress, 0), pick("pacing", progress, 0)
    counts = torch.bincount(labels[ours], minlength=len(CLASS_SIZES))
    assert torch.equal(counts, torch.bincount(labels[pacing], minlength=len(CLASS_SIZES)))
    share = 0.3 + 0.7 * progress  # linear pacing from pacing_start 0.3
    assert counts.tolist() == [round(share * n) for n in CLASS_SIZES]  # every class present, in proportion
    assert len(torch.unique(ours)) == len(ours)


def test_pacing_random_ignores_difficulty_within_a_class():
    """Each sample's inclusion rate is the pacing share, easy or hard; pacing itself takes only the easiest."""
    labels, draws, progress = class_labels(), 400, 0.0
    d = torch.rand(len(labels), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    rate = torch.zeros(len(labels))
    for seed in range(draws):
        rate[pick("pacing_random", progress, seed, d)] += 1.0 / draws
    assert (rate - 0.3).abs().max() < 0.1  # binomial sd 0.023 per sample
    easiest = pick("pacing", progress, 0, d)
    assert set(pick("pacing", progress, 1, d).tolist()) == set(easiest.tolist())  # deterministic, not uniform


# ------------------------------------------------------------------ mean action and open-loop replay
def test_mean_actions_averages_every_setting_over_the_runs_that_reached_the_epoch():
    a = [EpochAction(0.2, 0.4, 2.0, (0.5, 0.5), "adaptive"), EpochAction(0.6, 1.0, 4.0, (1.0, 0.0), "adaptive")]
    b = [EpochAction(0.4, 0.6, 4.0, (0.0, 1.0), "adaptive")]  # diverged after one epoch
    got = mean_actions([[asdict(x) for x in a], [asdict(x) for x in b]])
    assert got[0] == EpochAction(pytest.approx(0.3), pytest.approx(0.5), pytest.approx(3.0),
                                 (pytest.approx(0.25), pytest.approx(0.75)), "adaptive")
    assert got[1] == a[1]
    unset = mean_actions([[asdict(EpochAction(0.1, sampler="hard_mining"))], [asdict(EpochAction(0.3))]])
    assert unset[0].fraction is None and unset[0].temperature is None and unset[0].teacher_weights is None
    assert unset[0].difficulty == pytest.approx(0.2)


@pytest.fixture(scope="module")
def inputs(teacher_dir, shards_dir):
    cfg = load_config(None, run_overrides(teacher_dir, shards_dir) + ["distill.epochs=3"])
    data, shards = load_run_inputs(cfg)
    return cfg, data, shards


def actions_of(result):
    return [EpochAction(**row["action"]) for row in result["trajectory"]]


def test_open_loop_replay_reproduces_the_given_schedule(inputs):
    cfg, data, shards = inputs
    schedules = [[EpochAction(0.1, 0.4, 2.0, None, "adaptive"), EpochAction(0.9, 0.8, 6.0, None, "hard_mining"),
                  EpochAction(0.5, 0.3, 3.0, None, "adaptive")],
                 [EpochAction(0.3, 0.6, 4.0, None, "adaptive"), EpochAction(0.5, 1.0, 2.0, None, "hard_mining"),
                  EpochAction(0.7, 0.5, 1.0, None, "adaptive")]]
    runs = [run_policy(cfg, ReplayActions("given", s), seed, data, shards) for seed, s in enumerate(schedules)]
    assert [actions_of(r) for r in runs] == schedules
    mean = mean_actions([[row["action"] for row in r["trajectory"]] for r in runs])
    assert [a.difficulty for a in mean] == pytest.approx([0.2, 0.7, 0.6])
    replay = run_policy(cfg, ReplayActions("replay", mean), 7, data, shards)
    assert actions_of(replay) == mean
    assert [row["fraction"] for row in replay["trajectory"]] == pytest.approx([0.5, 0.9, 0.4])


def stand_in_policy():
    """A fixed schedule in the learned policy's place: the controls need only its trajectories, not PPO."""
    return FixedSchedule("stand-in", "adaptive", 0.3, fraction=0.5)


def test_replayed_sizes_and_open_loop_replay_see_the_policys_samples(inputs):
    cfg, data, shards = inputs
    policy = [run_policy(cfg, stand_in_policy(), seed, data, shards) for seed in (0, 1)]
    sizes = [[row["fraction"] for row in r["trajectory"]] for r in policy]
    mean = mean_actions([[row["action"] for row in r["trajectory"]] for r in policy])
    for seed, r, f in zip((0, 1), policy, sizes):
        assert run_policy(cfg, ReplayFractions("random", f), seed, data, shards)["samples_seen"] == r["samples_seen"]
        assert run_policy(cfg, ReplayActions("open loop", mean), seed, data, shards)["samples_seen"] == \
            r["samples_seen"]


def test_every_control_at_the_policys_budget_sees_the_policys_samples(inputs):
    cfg, data, shards = inputs
    cfg = with_overrides(cfg, ["env.budget=0.4"])  # 1.2 epochs' worth: the stand-in (fraction 0.5) spends it all
    policy = run_policy(cfg, stand_in_policy(), 0, data, shards)
    assert policy["samples_seen"] == policy["budget_samples"]
    controls = baseline_policies(0.4)
    names = [name for name, _, _ in controls]
    assert {"kd (all data)", "kd (all data, policy's budget)", "growing random (pacing sizes)",
            "window d=0.1 (fraction=budget)", "window d=0.5 (fraction=budget)", "window d=0.9 (fraction=budget)",
            "hard mining (fraction=budget)"} <= set(names)
    for name, overrides, control in controls:
        seen = run_policy(with_overrides(cfg, overrides), control, 0, data, shards)["samples_seen"]
        if name == "kd (all data)":  # the reference at the full budget
            assert seen == 3 * len(data.train.labels)
        else:
            assert seen == policy["samples_seen"], name


def test_at_the_full_budget_the_window_controls_are_not_repeated():
    names = [name for name, _, _ in baseline_policies(1.0)]
    assert "kd (all data)" in names and "growing random (pacing sizes)" in names
    assert not any("budget" in name for name in names)


def test_identical_order_streams_give_an_a_a_difference_of_exactly_zero(inputs):
    """The A/A row's arms on evaluate's own code path (one population): the same stream gives the same run,
    an independent stream on the same initialisation does not."""
    cfg, data, shards = inputs
    kd = FixedSchedule("kd", "full")
    other = with_overrides(cfg, ["distill.order_stream=1"])
    runs = run_policies([PolicyRun(cfg, kd, s) for s in (0, 1)] + [PolicyRun(cfg, kd, s) for s in (0, 1)]
                        + [PolicyRun(other, kd, s) for s in (0, 1)], data, shards)
    same, twin, independent = runs[:2], runs[2:4], runs[4:]
    losses = [[row["train_loss"] for row in r["trajectory"]] for r in runs]
    assert [r["test_acc_last_epoch"] - t["test_acc_last_epoch"] for r, t in zip(same, twin)] == [0.0, 0.0]
    assert losses[:2] == losses[2:4]
    assert losses[:2] != losses[4:]  # another order: other batches, other losses
    assert any(a["val_acc_last_epoch"] != b["val_acc_last_epoch"]
               or a["test_acc_last_epoch"] != b["test_acc_last_epoch"]
               for a, b in zip(same, independent))
    # the stream changes the order, not the initialisation: both start from the same student
    first, second = DistillationRun(cfg, shards, 0, data), DistillationRun(other, shards, 0, data)
    assert all(torch.equal(a, b) for a, b in zip(first.student.state_dict().values(),
                                                 second.student.state_dict().values()))
    assert order_stream_seed(0, 0) == 0 and order_stream_seed(0, 1) != order_stream_seed(1, 1)


@pytest.mark.slow
def test_evaluate_refuses_seeds_the_checkpoints_training_used(tmp_path, trained_ppo, capsys):
    checkpoint = str(trained_ppo / "checkpoint")  # trained under the default seeds.choice [0, 10000]
    args = ["evaluate", "--out", str(tmp_path), "--checkpoint", checkpoint, "--set", "seeds.choice=[40000, 50000]",
            "--set", "seeds.evaluation=[5000, 6000]"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "seeds.evaluation [5000, 6000]" in err and "the checkpoint's seeds.choice" in err and "[0, 10000]" in err
    assert not (tmp_path / "report.md").exists()


# ------------------------------------------------------------------ `rlkd evaluate` end to end
@pytest.mark.slow
def test_evaluate_reports_the_paired_ci_table(tmp_path, teacher_dir, shards_dir, trained_ppo):
    """The session's tiny policy under a budget: every control, the paired CI table, the plots."""
    base = []
    for o in run_overrides(teacher_dir, shards_dir) + ["distill.epochs=2", "env.budget=0.5"]:
        base += ["--set", o]
    ev = tmp_path / "eval"
    checkpoint = str(trained_ppo / "checkpoint")
    # the same policy as a "pretrained" one: trained on the target's family (digits), so not zero-shot
    assert main(["evaluate", "--out", str(ev), *base, "--checkpoint", checkpoint, "--seeds", "2",
                 "--pretrained", checkpoint]) == 0
    report = (ev / "report.md").read_text()
    metrics = json.loads((ev / "metrics.json").read_text())
    assert metrics["test_acc_last_epoch"]["pretrained policy"] == metrics["test_acc_last_epoch"]["policy"]
    assert "95% t confidence interval" in report and "**test**" in report and "last epoch" in report
    assert "Seeds 20000–20001, the first 2 of seeds.evaluation" in report and "optimistic" in report
    assert (report.index("## Noise floor (A/A)") < report.index("## Recommendation")
            < report.index("| method | test acc"))
    assert metrics["seed_range"] == {"seeds.evaluation": [20_000, 30_000]} and metrics["seeds"] == [20_000, 20_001]
    pick = metrics["recommendation"]
    assert pick["chosen_on"] == "val" and pick["versus"] == "kd (all data)"  # no recipe stage: the config's own
    assert pick["row"] == max(metrics["val_acc_last_epoch"], key=metrics["val_acc_last_epoch"].get)
    assert (ev / "forest.png").is_file()
    # `rlkd train`'s metrics.json sits beside the checkpoint: the tuned row spent the RL's budget, within one trial
    tuned = metrics["kd_tuned_at_rl_budget"]
    assert tuned["budget_kd_epochs"] <= tuned["spent_kd_epochs"] <= tuned["budget_kd_epochs"] + 2 * 2
    assert f"| {BUDGET_ROW} |" in report and "## Tuning budgets" in report
    budgets = metrics["tuning_budgets"]
    assert budgets["policy"]["kd_epochs"] == pytest.approx(tuned["budget_kd_epochs"])  # no recipe stage here
    assert budgets[BUDGET_ROW]["chosen_on"].startswith("val") and budgets["labels"]["kd_epochs"] == 0
    assert budgets[BUDGET_ROW]["kd_epochs"] == pytest.approx(tuned["spent_kd_epochs"])  # + a recipe of 0 epochs
    for name in ("policy", "labels", "kd (all data)", AA_ROW, "random (policy's sizes)", "pacing", "anti",
                 "growing random (pacing sizes)", "open-loop replay (policy's mean action)"):
        assert f"| {name} |" in report
    assert (ev / "difficulty.png").is_file() and (ev / "val_acc.png").is_file()
    versus = metrics["policy_minus_control"]
    expected = {"random (policy's sizes)", "open-loop replay (policy's mean action)", AA_ROW, BUDGET_ROW,
                "pretrained policy", *(name for name, _, _ in baseline_policies(0.5))}
    assert set(versus) == expected
    policy_seen = f"{metrics['samples_seen']['policy']:.0f}"
    for name, v in versus.items():
        assert v["test"]["n"] == v["val"]["n"] == 2 and v["test"]["ci_low"] <= v["test"]["mean"] <= v["test"]["ci_high"]
        assert v["test_vs_noise"] in ("indistinguishable from noise", "outside the A/A interval")
        row = next(line for line in report.splitlines() if line.startswith(f"| {name} | ") and " / " in line)
        assert f" / {policy_seen} |" in row and row.count("/2") == 2  # samples seen beside the policy's; wins k/2


@pytest.mark.slow
def test_evaluate_reports_each_ppo_run_and_pools_them(tmp_path, teacher_dir, shards_dir, trained_ppo):
    base = []
    for o in run_overrides(teacher_dir, shards_dir) + ["distill.epochs=2", "tune.tuned_baseline=false"]:
        base += ["--set", o]
    ev, again = tmp_path / "eval", tmp_path / "train-ppo-seed-1"  # a second PPO run: another PPO seed
    assert main(args_for("train", again, teacher_dir, shards_dir, *POPULATION_OF_TWO, "ppo.seed=1")) == 0
    first, second = str(trained_ppo / "checkpoint"), str(again / "checkpoint")
    assert main(["evaluate", "--out", str(ev), *base, "--checkpoint", first, "--checkpoints", second,
                 "--seeds", "2"]) == 0
    metrics = json.loads((ev / "metrics.json").read_text())
    report = (ev / "report.md").read_text()
    runs = json.loads((ev / "runs.json").read_text())
    assert metrics["checkpoints"] == [first, second] and "## PPO runs (the unit of replication)" in report
    pooled = metrics["pooled_policy_minus_control"]
    assert "random (policy's sizes)" not in pooled and "kd (all data)" in pooled
    kd = [r["test_acc_last_epoch"] for r in runs["kd (all data)"]]
    first_diffs = [p["test_acc_last_epoch"] - k for p, k in zip(runs["policy"], kd)]
    assert metrics["policy_minus_control"]["kd (all data)"]["test"]["mean"] == pytest.approx(sum(first_diffs) / 2)
    test = pooled["kd (all data)"]["test"]
    assert test["runs"] == 2 and test["n"] == 4 and test["ci_low"] <= test["mean"] <= test["ci_high"]
    summary = json.loads((ev / "summary.json").read_text())
    assert summary["ppo_runs"] == 2 and summary["pooled_policy_minus_control"]["kd (all data)"]["test"]["n"] == 4
    assert summary["seed_range"] == {"seeds.evaluation": [20_000, 30_000]} and summary["epoch"] == "last"
    assert "kd, tuned at the RL's budget: not run (tune.tuned_baseline is false)" in report


def test_one_set_of_ppo_runs_against_another_pairs_every_run_on_the_same_seeds():
    def runs(accuracies):
        return [{"seed": s, "test_acc_last_epoch": a, "val_acc_last_epoch": a - 1}
                for s, a in zip((7, 8, 9), accuracies)]

    a = [runs([60.0, 62.0, 61.0]), runs([64.0, 63.0, 62.0])]
    b = [runs([60.0, 61.0, 60.0]), runs([61.0, 61.0, 65.0]), runs([59.0, 60.0, 61.0])]
    pooled = pooled_between_ppo_runs(a, b)
    assert pooled["test"]["mean"] == pytest.approx(62.0 - 60.8888889) == pytest.approx(pooled["val"]["mean"])
    assert pooled["test"]["runs"] == [2, 3] and pooled["test"]["n"] == 18
    assert pooled["test"]["wins"] == sum(x > y for ra in ([60, 62, 61], [64, 63, 62])
                                         for rb in ([60, 61, 60], [61, 61, 65], [59, 60, 61]) for x, y in zip(ra, rb))
    with pytest.raises(ValueError, match="same seeds"):
        pooled_between_ppo_runs(a, [runs([60.0, 61.0, 60.0])[::-1]])
