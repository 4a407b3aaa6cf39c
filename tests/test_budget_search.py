"""`rlkd evaluate`'s "kd, tuned at the RL's budget": a real Tune search in the session's local Ray that spends a
given budget of KD epochs, no more than one trial past it, with the recipe and the policy's replay as points."""

import pytest

from rlkd.config import load_config
from rlkd.curriculum.actions import EpochAction
from rlkd.curriculum.policies import LinearSchedule, ReplayActions
from rlkd.tune.budget_search import budget_stopper, first_points, rl_budget_epochs, schedule_policy, tune_at_budget
from tests.conftest import run_overrides

EPOCHS, SEEDS = 3, 2  # a trial is at most EPOCHS x SEEDS KD epochs


def test_rl_budget_counts_samples_over_the_train_size():
    assert rl_budget_epochs(12_000 * 1_000, 1_000) == 12_000


def test_linear_schedule_runs_from_start_to_end_and_a_constant_stays():
    s = LinearSchedule("s", (0.2, 0.8), (4.0, 1.0), (0.5, 1.0))
    actions = [s.act(None, e, 4) for e in range(4)]
    assert [a.alpha for a in actions] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert [a.temperature for a in actions] == pytest.approx([4.0, 3.0, 2.0, 1.0])
    assert [a.sampler for a in actions] == ["random", "random", "random", "full"]
    cfg = load_config(None, [])
    constant = schedule_policy(cfg, {"shape": "constant", "fraction_start": 1.0}, [])
    assert {constant.act(None, e, 5) for e in range(5)} == {
        EpochAction(0.5, 1.0, cfg.distill.temperature, sampler="full", alpha=cfg.distill.alpha)}


def test_the_policys_replay_is_a_point_of_the_space():
    cfg = load_config(None, [])
    points = first_points(cfg)
    assert [p["schedule"]["shape"] for p in points] == ["constant", "replay"]
    replay = [{"difficulty": 0.3, "fraction": 0.6, "temperature": None, "teacher_weights": None, "sampler": "adaptive",
               "alpha": 0.25, "mix": None, "feature_scale": None}]
    policy = schedule_policy(cfg, points[1]["schedule"], replay)
    assert isinstance(policy, ReplayActions) and policy.act(None, 0, 1) == EpochAction(0.3, 0.6, sampler="adaptive",
                                                                                       alpha=0.25)


@pytest.mark.slow
def test_the_tuned_row_spends_the_budget_and_no_more_than_one_trial_past_it(tmp_path, teacher_dir, shards_dir,
                                                                             ray_session):
    cfg = load_config(None, run_overrides(teacher_dir, shards_dir) + [
        f"distill.epochs={EPOCHS}", f"tune.recipe.seeds={SEEDS}", "tune.recipe.grace_period=1"])
    budget = 20.0
    result = tune_at_budget(cfg, tmp_path, budget, [EpochAction(0.5, 0.8, alpha=0.3)] * EPOCHS)
    assert budget <= result["spent_kd_epochs"] <= budget + EPOCHS * SEEDS
    assert result["trials"] >= 4 and result["chosen_on"] == "val"
    chosen = result["chosen"]
    assert chosen["finished"]
    # the recipe point ran whole (ASHA keeps it) and the choice is never below it on the search's val
    assert chosen["val_acc_last_epoch"] >= result["points_val_acc_last_epoch"]["constant"]
    assert set(result["points_val_acc_last_epoch"]) == {"constant", "replay"}  # both points ran whole


@pytest.mark.slow
def test_one_schedule_is_searched_across_every_task_at_the_budget(tmp_path, teacher_dir, shards_dir, ray_session):
    """With env.tasks and no policy to replay: each trial runs its schedule on both tasks, the recipe is the point."""
    tasks = 'env.tasks=[{name: a, overrides: []}, {name: b, overrides: ["distill.epochs=2"]}]'
    cfg = load_config(None, run_overrides(teacher_dir, shards_dir) + [
        f"distill.epochs={EPOCHS}", f"tune.recipe.seeds={SEEDS}", "tune.recipe.grace_period=1", tasks])
    budget = 25.0
    result = tune_at_budget(cfg, tmp_path, budget, [])
    assert set(result["points_val_acc_last_epoch"]) == {"constant"}
    # the recipe on all data: task a's EPOCHS and task b's 2 epochs, on each seed
    assert result["points_kd_epochs"]["constant"] == pytest.approx((EPOCHS + 2) * SEEDS)
    assert budget <= result["spent_kd_epochs"] <= budget + (EPOCHS + 2) * SEEDS


def test_the_budget_spent_survives_a_restart_of_the_stopper(tmp_path):
    """Tune restores the stopper as it was when the search began: what was spent must come back from the file."""
    path = tmp_path / "budget_spent.json"
    stopper = budget_stopper(10.0, path)
    for trial, spent, point in (("a", 6.0, True), ("b", 3.0, True)):
        stopper(trial, {"kd_epochs": spent, "finished": True, "diverged": False, "point": point})
    assert not stopper.stop_all()  # 9 of 10
    restored = budget_stopper(10.0, path)
    restored("c", {"kd_epochs": 1.0, "finished": False, "diverged": False, "point": False})
    assert restored.stop_all()  # 6 + 3 + 1, both points ended


def test_the_search_never_stops_before_both_points_ended(tmp_path):
    stopper = budget_stopper(5.0, tmp_path / "spent.json")
    stopper("a", {"kd_epochs": 9.0, "finished": True, "diverged": False, "point": True})
    stopper("b", {"kd_epochs": 2.0, "finished": False, "diverged": False, "point": True})
    assert not stopper.stop_all()
    stopper("b", {"kd_epochs": 4.0, "finished": True, "diverged": False, "point": True})
    assert stopper.stop_all()
