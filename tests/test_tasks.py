"""env.tasks: PPO's episodes drawn from a family of tasks, each the target with its own overrides."""

import json
import time
from collections import Counter

import numpy as np
import pytest

from rlkd.config import episode_configs, load_config
from rlkd.curriculum.actions import action_dims
from rlkd.env import CurriculumEnv, env_config_for
from rlkd.env.curriculum_env import draw_task
from rlkd.errors import ConfigError, DataError, RlkdError
from rlkd.stages.base import Stage
from rlkd.stages.tasks import Job, most_at_once, run_jobs
from tests.conftest import run_overrides
from tests.test_vector_env import step_both

TASKS = ('env.tasks=[{name: short, overrides: ["distill.epochs=2", "distill.alpha=0.3"], weight: 1},'
         ' {name: long, overrides: ["distill.epochs=3", "env.budget=0.6"], weight: 2}]')


def tasks_of(*tasks: dict) -> str:
    return f"env.tasks={json.dumps(list(tasks))}"


@pytest.mark.parametrize("task, why", [
    ({"name": "a", "overrides": ["ppo.lr=0.1"]}, "sets ppo.lr; PPO's settings"),
    ({"name": "a", "overrides": ["seeds.choice=[0, 5]"]}, "sets seeds.choice"),
    ({"name": "a", "overrides": ["env.control_alpha=false"]}, "which fixes the action space"),
    ({"name": "a", "overrides": ["teacher.additional=[x.safetensors]"]}, "which fixes the action space"),
    ({"name": "a", "overrides": ["env.tasks=[]"]}, "do not nest"),
    ({"name": "a", "overrides": ["distill.epochs=0"]}, "distill.epochs: value 0 is not allowed"),
    ({"name": "a", "overrides": ["distill.epoch=3"]}, "unknown key"),
])
def test_a_refused_task_override_names_the_task_entry_and_why(task, why):
    with pytest.raises(ConfigError) as err:
        load_config(None, [tasks_of({"name": "ok", "overrides": ["distill.epochs=2"]}, task)])
    message = str(err.value)
    assert f"env.tasks[1] (a).overrides[0] = {task['overrides'][0]!r}" in message and why in message


@pytest.mark.parametrize("tasks, key", [
    ([{"name": "a b"}], "env.tasks[0].name"),
    ([{"name": ""}], "env.tasks[0].name"),
    ([{"name": "a", "weight": 0}], "env.tasks[0].weight"),
    ([{"name": "a"}, {"name": "a"}], "env.tasks[1].name: value 'a' is not allowed; expected a name no other task"),
])
def test_task_names_and_weights_are_checked(tasks, key):
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_config(None, [tasks_of(*tasks)])


def test_a_task_may_move_the_recipe_the_box_is_centred_on_but_a_proxy_may_not():
    cfg = load_config(None, [tasks_of({"name": "a", "overrides": ["distill.alpha=0.3", "distill.temperature=2"]})])
    (_, _, task), = episode_configs(cfg)
    assert (task.distill.alpha, task.distill.temperature) == (0.3, 2.0)
    with pytest.raises(ConfigError, match="fixes the action space"):
        load_config(None, ["env.proxy=[distill.alpha=0.3]"])


def test_episode_configs_apply_each_task_then_the_proxy_and_leave_the_target_alone():
    cfg = load_config(None, ["distill.epochs=6", "env.proxy=[distill.epochs=2]", TASKS])
    (short_name, short_w, short), (long_name, long_w, long_) = episode_configs(cfg)
    assert (short_name, short_w, long_name, long_w) == ("short", 1.0, "long", 2.0)
    assert short.distill.epochs == long_.distill.epochs == 2  # the proxy comes after the task
    assert short.distill.alpha == 0.3 and long_.env.budget == 0.6 and long_.distill.alpha == cfg.distill.alpha
    assert short.env.tasks == [] and cfg.distill.epochs == 6 and len(cfg.env.tasks) == 2
    (name, weight, alone), = episode_configs(load_config(None, ["env.proxy=[distill.epochs=2]"]))
    assert (name, weight, alone.distill.epochs) == ("", 1.0, 2)


def test_draw_task_follows_the_weights_and_one_task_draws_nothing():
    rng = np.random.default_rng(3)
    counts = Counter(draw_task(rng, [1.0, 2.0, 1.0]) for _ in range(8000))
    assert abs(counts[1] / 8000 - 0.5) < 0.02 and abs(counts[0] / 8000 - 0.25) < 0.02
    before = np.random.default_rng(3)
    state = before.bit_generator.state
    assert draw_task(before, [5.0]) == 0 and before.bit_generator.state == state


@pytest.fixture(scope="module")
def tasks_cfg(teacher_dir, shards_dir):
    return load_config(None, run_overrides(teacher_dir, shards_dir) + ["student.model_kwargs={hidden: [64]}", TASKS])


def test_each_episode_runs_its_drawn_task_with_the_action_centred_on_that_tasks_recipe(tasks_cfg):
    env = CurriculumEnv(env_config_for(tasks_cfg))
    centre = np.full(len(action_dims(tasks_cfg.env, 1)), 0.5, dtype=np.float32)
    seen, lengths = [], {}
    for episode in range(8):
        _, info = env.reset(seed=episode)
        steps, done = 0, False
        while not done:
            _, _, done, _, _ = env.step(centre)
            steps += 1
        seen.append(info["task"])
        lengths.setdefault(info["task"], set()).add(steps)
        alphas = {row["alpha"] for row in env.run.history}
        assert alphas == {0.3 if info["task"] == "short" else tasks_cfg.distill.alpha}  # the task's own anchor
    assert set(seen) == {"short", "long"}
    assert lengths["short"] == {2} and max(lengths["long"]) <= 3  # the long task's budget may end it early
    again = CurriculumEnv(env_config_for(tasks_cfg))
    assert [again.reset(seed=episode)[1]["task"] for episode in range(8)] == seen  # seeded


def test_vector_env_lanes_on_tasks_step_as_lone_envs(tasks_cfg):
    """One population per task; each lane draws its task per episode as its lone env does."""
    vec, out = step_both(tasks_cfg, steps=10)
    assert len(vec.populations) == 2  # both tasks were drawn
    for (vec_out, lone_out) in out[1:]:
        np.testing.assert_allclose(vec_out[0], lone_out[0], atol=1e-5)  # observations
        np.testing.assert_allclose(vec_out[1], lone_out[1], rtol=1e-4, atol=1e-4)  # rewards
        assert list(vec_out[2]) == list(lone_out[2])  # terminations
        if "task" in vec_out[4]:
            assert [t for t, m in zip(vec_out[4]["task"], vec_out[4]["_task"]) if m] == \
                [t for t, m in zip(lone_out[4]["task"], lone_out[4]["_task"]) if m]


@pytest.mark.slow
def test_ppo_trains_across_tasks_on_a_remote_env_runner(tmp_path, teacher_dir, shards_dir, ray_session):
    """Two tasks of 2 and 3 epochs; the full sampler without a fraction control trains every epoch on all N
    training samples, so RL's cost counts N per step whichever task an episode drew."""
    from rlkd.cli import main
    from rlkd.data import load_data
    from tests.conftest import FRACTION_ONLY
    from tests.test_rl import args_for

    out = tmp_path / "train"
    tasks = tasks_of({"name": "two", "overrides": ["distill.epochs=2"]},
                     {"name": "three", "overrides": ["distill.epochs=3", "distill.alpha=0.2"]})
    exact = FRACTION_ONLY + ["env.sampler=full", "env.control_fraction=false", "resources.num_env_runners=1", tasks]
    assert main(args_for("train", out, teacher_dir, shards_dir, *exact)) == 0
    m = json.loads((out / "metrics.json").read_text())
    cost = m["rl_cost"]  # over the episodes that ended: N samples per epoch, 2 or 3 epochs each
    saved = load_config(out / "checkpoint" / "rlkd_config.yaml")
    assert [t.name for t in saved.env.tasks] == ["two", "three"]  # the target config records its tasks
    epochs, rest = divmod(cost["samples_seen"], len(load_data(saved.data).train.labels))
    assert rest == 0 and 2 * cost["episodes"] < epochs < 3 * cost["episodes"]  # episodes of both tasks


@pytest.mark.slow
def test_the_pipeline_prepares_each_tasks_teacher_and_shards_then_trains_across_them(tmp_path, ray_session, capsys):
    """A noisy-label task needs a teacher trained on its own labels (two of them train side by side as Ray tasks);
    a shorter budget changes neither teacher nor shards, so that task uses the pipeline's own, or the noisy task's;
    a task that names its shards is taken as is."""
    from tests.test_errors import load_launch
    from tests.test_pipeline import TINY, sets

    launch_main, work = load_launch().main, tmp_path / "work"
    tasks = tasks_of({"name": "noisy", "overrides": ["data.label_noise.rate=0.3"]},
                     {"name": "noisier", "overrides": ["data.label_noise.rate=0.4"]},
                     {"name": "noisy-short", "overrides": ["data.label_noise.rate=0.3", "env.budget=0.5"]},
                     {"name": "short", "overrides": ["env.budget=0.5"]},
                     {"name": "mine", "overrides": ["distill.epochs=1", f"data.shards={work / 'precompute' / 'shards'}",
                                                    f"teacher.checkpoint={work / 'teacher' / 'teacher.safetensors'}"]})
    args = ["--workdir", str(work), "--stage", "teacher,precompute,train", *sets(TINY + [tasks])]
    assert launch_main(args) == 0
    printed = capsys.readouterr().out
    for task in ("noisy", "noisier"):
        assert all(f"[tasks/{task}/{stage}] running into" in printed for stage in ("teacher", "precompute"))
    assert "[tasks] 2 teachers as Ray tasks" in printed  # side by side: the fast test below proves it
    assert "tasks/mine" not in printed  # it named its own shards
    assert f"[tasks/short/teacher] the same as {work / 'teacher'}" in printed
    assert f"[tasks/short/precompute] the same as {work / 'precompute'}" in printed
    noisy_work = work / "tasks" / "noisy"
    assert f"[tasks/noisy-short/teacher] the same as {noisy_work / 'teacher'}" in printed
    assert f"[tasks/noisy-short/precompute] the same as {noisy_work / 'precompute'}" in printed
    noisy, noisier, main_manifest = (json.loads((folder / "shards" / "manifest.json").read_text()) for folder in
                                     (noisy_work / "precompute", work / "tasks" / "noisier" / "precompute",
                                      work / "precompute"))
    fingerprints = {m["data"]["splits"]["train"]["fingerprint"] for m in (noisy, noisier, main_manifest)}
    assert len(fingerprints) == 3  # each noise rate's labels, and the clean ones
    trained = load_config(work / "train" / "config.yaml")
    wired = {task.name: task.overrides for task in trained.env.tasks}
    assert f"data.shards={noisy_work / 'precompute' / 'shards'}" in wired["noisy"]
    assert f"data.shards={noisy_work / 'precompute' / 'shards'}" in wired["noisy-short"]
    assert f"data.shards={work / 'precompute' / 'shards'}" in wired["short"]
    assert wired["mine"] == json.loads(tasks.split("=", 1)[1])[4]["overrides"]  # nothing wired in
    assert launch_main(args) == 0  # again: every stage, the tasks' included, is up to date
    again = capsys.readouterr().out
    assert "running into" not in again and "[tasks/noisy/teacher] up to date" in again
    assert f"[tasks/short/teacher] the same as {work / 'teacher'}" in again
    assert f"[tasks/noisy-short/teacher] the same as {noisy_work / 'teacher'}" in again
    assert "[train] up to date" in again
    # more iterations: training across the tasks goes on from its last checkpoint, as after a kill, and the
    # tasks' teachers and shards stay as they are
    assert launch_main([*args, "--set", "ppo.iterations=2"]) == 0
    more = capsys.readouterr().out
    assert "[tasks/noisy/teacher] up to date" in more and "[tasks/noisy/precompute] up to date" in more
    assert "train: resumed from" in more and "at iteration 1" in more
    history = json.loads((work / "train" / "metrics.json").read_text())["history"]
    assert [row["iteration"] for row in history] == [2]


def test_most_at_once_counts_overlapping_runs():
    spans = [{"started": 0, "ended": 2}, {"started": 1, "ended": 3}, {"started": 3, "ended": 4},
             {"started": 1.5, "ended": 1.6}]
    assert most_at_once(spans) == 3  # 1.5 to 1.6 inside both of the first two; 3 starts as the second ends
    assert most_at_once([{"started": 0, "ended": 1}, {"started": 1, "ended": 2}]) == 1
    assert most_at_once([]) == 0


def test_task_stages_run_side_by_side_as_ray_tasks_and_a_failure_names_its_task(tmp_path, ray_session, capsys):
    """Real Ray tasks on the local Ray; the stage is a stand-in that waits until its sibling has started too (so
    run one after another it would time out, however loaded the machine), or fails like a bad data file."""
    def wait_for_sibling_or_fail(cfg, out):
        (out.parent / f"{out.name}.started").touch()
        if out.name == "bad":
            raise DataError(f"{out}/train.csv: no such file")
        deadline = time.monotonic() + 120
        while len(list(out.parent.glob("*.started"))) < 2:
            assert time.monotonic() < deadline, "the other stage never started: they ran one after another"
            time.sleep(0.05)
        return {"worked": True}

    stage, cfg = Stage("teacher", wait_for_sibling_or_fail, "a stand-in teacher"), load_config(None, [])
    pair, failing = tmp_path / "pair", tmp_path / "failing"
    run_jobs(stage, [Job("a", cfg, pair / "a"), Job("b", cfg, pair / "b")], cfg)
    assert "[tasks] 2 teachers as Ray tasks, 2 at once at most" in capsys.readouterr().out
    for name in ("a", "b"):
        assert json.loads((pair / name / "metrics.json").read_text())["worked"] is True
    with pytest.raises(RlkdError, match=r"\[tasks/broken/teacher\] failed \(1 of 2 .*bad/train.csv: no such file"):
        run_jobs(stage, [Job("fine", cfg, failing / "fine"), Job("broken", cfg, failing / "bad")], cfg)
    assert (failing / "fine" / "metrics.json").is_file()  # the other task's teacher is kept
