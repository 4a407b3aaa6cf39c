"""What a policy sees of its task (env.task_features), and a learned policy decoding around the run it acts in."""

import json
import math

import numpy as np
import pytest

from rlkd.config import load_config, with_overrides
from rlkd.curriculum.actions import EpochAction, action_dims
from rlkd.curriculum.observation import OBS_KEYS, TASK_KEYS, encode_observation, observation_keys
from rlkd.data.shards import load_shards
from rlkd.difficulty import label_difficulty
from rlkd.distill import DistillationRun
from rlkd.distill.inputs import load_run_inputs
from rlkd.distill.run import fixed_observation
from rlkd.env import CurriculumEnv, env_config_for
from rlkd.errors import CheckpointError
from tests.conftest import run_overrides


@pytest.fixture(scope="module")
def featured(teacher_dir, shards_dir):
    return load_config(None, run_overrides(teacher_dir, shards_dir) + ["distill.epochs=2", "env.task_features=true"])


def test_task_keys_by_hand(featured, shards_dir):
    data, shards = load_run_inputs(featured)
    run = DistillationRun(featured, shards, 0, data)
    val_logits = load_shards(shards_dir).splits["val"].logits[0, :, 0]
    teacher_val = (val_logits.argmax(1) == data.val.labels).float().mean().item()
    d_label = label_difficulty(shards.splits["train"].logits[0, :, 0], data.train.labels)
    before = run.observe()
    assert before["teacher_val_acc"] == pytest.approx(teacher_val) and 0.5 < teacher_val <= 1.0
    assert before["doubtful_labels"] == pytest.approx((d_label > 0.5).float().mean().item())
    assert before["log_train_size"] == pytest.approx(math.log10(len(data.train.labels)) / 6)
    assert before["val_acc_vs_teacher"] == 0.0 and before["train_loss_vs_log_c"] == 0.0  # nothing trained yet
    stats = run.epoch(EpochAction())
    after = run.observe()
    assert after["val_acc_vs_teacher"] == pytest.approx(min(stats.val_acc / 100 / teacher_val, 1.0))
    assert after["train_loss_vs_log_c"] == pytest.approx(min(stats.loss / math.log(10), 1.0))
    encoded = encode_observation(after, observation_keys(featured.env))
    assert encoded.shape == (len(OBS_KEYS) + len(TASK_KEYS),)
    assert encoded[len(OBS_KEYS):].tolist() == pytest.approx([after[k] for k in TASK_KEYS], abs=1e-6)


def test_the_switch_grows_the_observation_and_off_leaves_it_as_it_was(featured):
    env = CurriculumEnv(env_config_for(featured))
    obs, _ = env.reset(seed=0)
    assert env.observation_space.shape == obs.shape == (16,)
    plain = CurriculumEnv(env_config_for(with_overrides(featured, ["env.task_features=false"])))
    plain_obs, _ = plain.reset(seed=0)
    assert plain_obs.shape == (len(OBS_KEYS),) and np.array_equal(plain_obs, obs[:len(OBS_KEYS)])
    # the run still offers the task keys, for a policy trained with them that acts in it; the env encodes none
    assert "teacher_val_acc" in DistillationRun(with_overrides(featured, ["env.task_features=false"]),
                                                plain.task.shards, 0, plain.task.data).observe()


@pytest.mark.slow
def test_a_learned_policy_decodes_around_the_recipe_of_the_run_it_acts_in(trained_ppo):
    from rlkd.curriculum.policies import LearnedPolicy, load_policy

    policy = load_policy(trained_ppo / "checkpoint")
    obs = np.full(len(policy.observation_keys), 0.4, dtype=np.float32)
    dims = action_dims(policy.cfg.env, 1)
    value = float(np.clip(policy.raw_action(obs), 0, 1)[dims.index("alpha")])
    assert 0.0 < value < 1.0
    elsewhere = with_overrides(policy.cfg, ["distill.alpha=0.2"])
    own, there = policy.act(obs, 0, 3).alpha, policy.acting_in(elsewhere).act(obs, 0, 3).alpha
    anchor = lambda a: a * value / 0.5 if value <= 0.5 else a + (1 - a) * (value - 0.5) / 0.5  # noqa: E731
    assert own == pytest.approx(anchor(policy.cfg.distill.alpha)) and there == pytest.approx(anchor(0.2))
    # a run whose env section differs (a user's own config): the actions keep the meaning they had in training
    plain = with_overrides(policy.cfg, ["env.control_mix=false", "env.control_alpha=false", "distill.alpha=0.2"])
    acted = policy.acting_in(plain).act(obs, 0, 3)
    assert acted.alpha == pytest.approx(anchor(0.2)) and acted.mix is not None
    weighing = LearnedPolicy(policy.network, with_overrides(policy.cfg, ["env.control_teacher_weights=true"]), 2)
    with pytest.raises(CheckpointError, match="weighs 2 teachers each epoch, but the run has 1"):
        weighing.acting_in(policy.cfg)


def test_task_relative_thresholds_by_hand():
    from rlkd.config import RewardConfig
    from rlkd.env.reward import curriculum_reward, task_relative

    relative = task_relative(RewardConfig(), 80.0)  # a teacher at 80 %: thresholds 48 % and 56 %
    assert (relative.early_acc, relative.abs_threshold) == pytest.approx((48.0, 56.0))
    # 50 % at epoch 0 of 10: R_early = 2 under the teacher-relative thresholds, 0 under the seed's 60 %
    assert curriculum_reward(50.0, 0.0, 1.0, float("nan"), 0, 10, relative) == pytest.approx(2.0)
    assert curriculum_reward(50.0, 0.0, 1.0, float("nan"), 0, 10) == pytest.approx(0.0)
    # R_abs = 0.1 * (66 - 56) = 1.0 against the seed's 0
    assert curriculum_reward(66.0, 66.0, 1.0, 1.0, 9, 10, relative) == pytest.approx(1.0)
    assert curriculum_reward(66.0, 66.0, 1.0, 1.0, 9, 10) == pytest.approx(0.0)


def test_the_env_scores_with_the_runs_own_teacher(featured):
    from rlkd.env.curriculum_env import EpochStepper

    cfg = with_overrides(featured, ["reward.thresholds=teacher"])
    env = CurriculumEnv(env_config_for(cfg))
    env.reset(seed=0)
    teacher = 100.0 * env.run.teacher_val_acc()
    assert env.stepper.reward_cfg.abs_threshold == pytest.approx(0.7 * teacher)
    assert env.stepper.reward_cfg.early_acc == pytest.approx(0.6 * teacher)
    assert EpochStepper(featured, env.run).reward_cfg == featured.reward  # absolute: the seed's, untouched


@pytest.mark.slow
def test_builtin_policies_work_wherever_a_checkpoint_does(trained_ppo, teacher_dir, shards_dir, tmp_path,
                                                          monkeypatch, capsys):
    import json
    import shutil

    from rlkd.cli import main
    from tests.conftest import args_for

    shelf = tmp_path / "shelf"
    shutil.copytree(trained_ppo / "checkpoint", shelf / "mine", ignore=shutil.ignore_patterns("*.pkl", "algorithm*",
                                                                                                "learner*", "env*"))
    monkeypatch.setenv("RLKD_POLICY_PATH", str(shelf))
    assert main(args_for("distill", tmp_path / "distill", teacher_dir, shards_dir)
                + ["--curriculum", "policy:builtin:mine"]) == 0
    assert main(args_for("apply", tmp_path / "apply", teacher_dir, shards_dir) + ["--checkpoint", "builtin:mine"]) == 0
    distilled = json.loads((tmp_path / "distill" / "metrics.json").read_text())
    applied = json.loads((tmp_path / "apply" / "metrics.json").read_text())
    assert distilled["policy"] == str((shelf / "mine").resolve()) == applied["checkpoint"]
    assert distilled["test_acc_last_epoch"] == applied["test_acc_last_epoch"]  # the same run, seed and policy
    assert (tmp_path / "distill" / "learning_curve.png").is_file()
    capsys.readouterr()
    assert main(args_for("apply", tmp_path / "nope", teacher_dir, shards_dir) + ["--checkpoint", "builtin:nope"]) == 2
    err = capsys.readouterr().err  # rlkd's own, then RLKD_POLICY_PATH's
    assert "builtin:nope: no such policy; the ones there are: builtin:families-v1, builtin:mine" in err


def test_outside_training_names_each_key_beyond_the_trained_range():
    from rlkd.curriculum.policies import outside_training

    ranges = {"teacher_val_acc": [0.8, 0.95], "doubtful_labels": [0.0, 0.1]}
    assert outside_training(ranges, {"teacher_val_acc": 0.96, "doubtful_labels": 0.05}) == []  # within the slack
    assert outside_training(ranges, {"teacher_val_acc": 0.5, "doubtful_labels": 0.3, "other": 9.0}) == [
        "teacher_val_acc 0.500 (trained 0.800-0.950)", "doubtful_labels 0.300 (trained 0.000-0.100)"]


@pytest.mark.slow
def test_the_export_records_what_training_saw_and_apply_says_when_a_run_lies_outside(
        trained_ppo, teacher_dir, shards_dir, tmp_path, capsys):
    import json
    import shutil

    from rlkd.cli import main
    from tests.conftest import args_for

    spec = json.loads((trained_ppo / "checkpoint" / "policy.json").read_text())
    data, shards = load_run_inputs(load_config(None, run_overrides(teacher_dir, shards_dir)))
    fixed = fixed_observation(shards, data)
    assert spec["training_ranges"] == {key: [pytest.approx(v), pytest.approx(v)] for key, v in fixed.items()}
    moved = tmp_path / "moved"
    shutil.copytree(trained_ppo / "checkpoint", moved, ignore=shutil.ignore_patterns("algorithm*", "learner*", "env*"))
    spec["training_ranges"]["teacher_val_acc"] = [0.2, 0.3]  # as if trained on tasks with weak teachers
    (moved / "policy.json").write_text(json.dumps(spec))
    capsys.readouterr()
    assert main(args_for("apply", tmp_path / "apply", teacher_dir, shards_dir) + ["--checkpoint", str(moved)]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "outside what the policy saw" in line]
    assert len(lines) == 1 and "teacher_val_acc" in lines[0] and "(trained 0.200-0.300)" in lines[0]
    assert "d_label_q50" not in lines[0]  # the keys inside the range are not named


def test_a_pretrained_policy_is_zero_shot_only_on_a_family_none_of_its_tasks_came_from():
    from rlkd.curriculum.policies import LearnedPolicy, pretrained_row, training_families

    signals = {"name": "s", "overrides": ["data.source=python",
                                          "data.python.loader=examples.signals.data:load_signals"]}
    digits = {"name": "d", "overrides": ["data.digits.canvas=8"]}
    trained = load_config(None, [f"env.tasks={json.dumps([digits, signals])}"])
    policy = LearnedPolicy(None, trained, 1)  # the row needs only the config it was trained under
    assert training_families(policy) == {"digits", "python:examples.signals.data:load_signals"}
    assert pretrained_row(policy, load_config(None, ["data.digits.canvas=16"])) == "pretrained policy"
    tabular = load_config(None, ["data.source=python", "data.python.loader=examples.tabular.data:load_tabular"])
    assert pretrained_row(policy, tabular) == "pretrained policy (zero-shot)"
