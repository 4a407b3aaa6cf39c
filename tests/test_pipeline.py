import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from rlkd.config import load_config
from tests.test_errors import load_launch

ROOT = Path(__file__).resolve().parent.parent
TINY = ["teacher.epochs=3", "teacher.cross_fit=2", "distill.epochs=2", "ppo.iterations=1", "ppo.episodes_per_batch=1",
        "ppo.hidden=[8]", "ppo.num_epochs=1", "resources.num_env_runners=0", "env.eval_seeds=2",
        "resources.precompute.actors=1", "tune.recipe.samples=2", "tune.recipe.grace_period=1"]


def launch(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "launch.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=900)


def sets(overrides):
    return [x for o in overrides for x in ("--set", o)]


def kill_when(cmd: list[str], ready, settle: float = 0.0) -> None:
    """Start `cmd`, wait for `ready()`, then kill -9 its whole process group (Ray's processes included)."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 400
    while time.time() < deadline and proc.poll() is None and not ready():
        time.sleep(0.2)
    assert proc.poll() is None, "the stage finished before it could be killed"
    time.sleep(settle)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


@pytest.mark.slow
def test_full_pipeline_reruns_only_what_changed_and_resumes_after_kill_9(tmp_path):
    """One workdir, as a user meets it: the whole pipeline; the same command again (all up to date); a PPO
    setting changed, killed -9 mid-`train` and launched again (train resumes, iterations intact, evaluate
    follows); `--tune`, killed -9 mid-search and launched again (every trial continues from its checkpoint)."""
    work, n = tmp_path / "work", 20  # tiny iterations take ~0.3 s: enough of them that each kill lands mid-run
    base = TINY + ["tune.keep_checkpoints=20", "tune.max_concurrent_trials=2",
                   "tune.param_space={ppo.lr: {grid: [0.0001, 0.001]}}"]
    first = launch("--workdir", str(work), *sets(base))
    assert first.returncode == 0, first.stderr[-3000:]
    for stage in ("teacher", "precompute", "recipe", "distill", "train", "evaluate"):
        assert json.loads((work / stage / "metrics.json").read_text())["command"] == stage
    # the recipe chosen on val is what every later stage ran with
    recipe = json.loads((work / "recipe" / "recipe.json").read_text())
    for stage in ("distill", "train", "evaluate"):
        ran = yaml.safe_load((work / stage / "config.yaml").read_text())
        for key, value in (o.split("=") for o in recipe["overrides"]):
            section, name = key.split(".")
            assert ran[section][name] == float(value), (stage, key)
        assert ran["tune"]["recipe"]["trials"] == recipe["trials"] == 2
    assert "chosen on val by `rlkd recipe` over 2 trials" in (work / "evaluate" / "report.md").read_text()
    assert f"report: {work / 'evaluate' / 'report.md'}" in first.stdout
    # a quiet console: rlkd's own lines at a bounded rate, no redraws, none of the known-harmless Ray lines
    console = first.stdout + first.stderr
    assert len(console.splitlines()) <= 150 and "\r" not in console, console
    assert "RLModule(config=" not in console and "new API stack" not in console and "Current best trial" not in console
    second = launch("--workdir", str(work), *sets(base))
    assert second.returncode == 0 and second.stdout.count("up to date") == 6 and "running into" not in second.stdout

    # a PPO setting changes (more iterations, a checkpoint each): train is killed -9 mid-run, then launched again
    train = [sys.executable, str(ROOT / "scripts" / "launch.py"), "--workdir", str(work),
             *sets(base + ["ppo.lr=0.001", "ppo.checkpoint_every=1", f"ppo.iterations={n}"])]
    kill_when(train, lambda: len(list((work / "train" / "checkpoints").glob("iter_*"))) >= 3)
    assert not (work / "train" / "metrics.json").exists()
    again = subprocess.run(train, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert all(f"[{s}] up to date" in again.stdout for s in ("teacher", "precompute", "recipe", "distill"))
    assert "[train] running into" in again.stdout and "[evaluate] running into" in again.stdout
    assert "train: resumed from" in again.stdout
    history = json.loads((work / "train" / "metrics.json").read_text())["history"]
    assert history[0]["iteration"] >= 4 and history[-1]["iteration"] == n  # continued, not restarted at 1

    # the policy from a Tune search instead of one PPO run: killed -9 mid-search, then launched again
    tune = train + ["--tune"]
    results = work / "tune" / "ray_results"
    # past Tune's 1 s experiment-state snapshot: what a user would lose is bounded by it
    kill_when(tune, lambda: len(list(results.glob("*/PPO_*/checkpoint_000002"))) >= 1, settle=2.0)
    assert not (work / "tune" / "metrics.json").exists()
    again = subprocess.run(tune, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "[tune] running into" in again.stdout and "tune: resuming" in again.stdout
    assert "[evaluate] running into" in again.stdout
    trials = json.loads((work / "tune" / "metrics.json").read_text())["trials"]
    assert [t["iterations"] for t in trials] == [n, n]
    assert any(t["iterations_since_restore"] < n for t in trials)  # a trial continued from its checkpoint
    (experiment,) = results.glob("*")
    for trial in experiment.glob("PPO_*"):
        with open(trial / "progress.csv") as fh:
            iterations = sorted({int(row["training_iteration"]) for row in csv.DictReader(fh)})
        assert iterations == list(range(1, n + 1))  # every iteration reported, none missing
    assert "tune/checkpoint" in (work / "evaluate" / "config.yaml").read_text()


@pytest.mark.slow
def test_launch_bad_stage_and_bad_key(tmp_path, capsys):
    """In this process: both fail before any stage starts (the subprocess launches above check the exit status)."""
    launch_main = load_launch().main
    assert launch_main(["--workdir", str(tmp_path), "--stage", "nope"]) == 2
    assert "--stage 'nope'" in capsys.readouterr().err
    assert launch_main(["--workdir", str(tmp_path), "--stage", "teacher,nope"]) == 2
    assert "comma-separated" in capsys.readouterr().err
    assert launch_main(["--workdir", str(tmp_path), "--set", "techer.epochs=1"]) == 2
    err = capsys.readouterr().err
    assert "techer" in err and "teacher" in err


def test_teacher_stage_ignores_what_only_precompute_reads(tmp_path):
    """Storing embeddings, a second teacher or more views must not retrain the teacher; its own keys must."""
    from rlkd.config import config_yaml
    from rlkd.stages import STAGES, already_done

    teacher = STAGES["teacher"]
    cfg = load_config(None, [])
    (tmp_path / "config.yaml").write_text(config_yaml(cfg))
    (tmp_path / "metrics.json").write_text("{}")
    for name in teacher.outputs:
        (tmp_path / name).write_text("")
    assert already_done(teacher, cfg, tmp_path)
    for same in (["teacher.embedding.store=true"], ["teacher.additional=[x.safetensors]"], ["data.views=4"],
                 ["teacher.topk=3"]):
        assert already_done(teacher, load_config(None, same), tmp_path), same
    for other in (["teacher.epochs=3"], ["data.seed=1"], ["teacher.arch=mlp"]):
        assert not already_done(teacher, load_config(None, other), tmp_path), other


@pytest.mark.parametrize("stage, same, other", [
    ("recipe", ["env.eval_seeds=48", "seeds.evaluate_on=confirmation.default", "tune.pbt.budget=100",
                "tune.param_space={ppo.lr: {choice: [0.001]}}", "ppo.checkpoints=[a]"],
     ["seeds.choice=[50000, 60000]", "tune.recipe.samples=3", "distill.epochs=3"]),
    ("train", ["env.eval_seeds=48", "seeds.evaluation=[40000, 41000]", "tune.tuned_baseline=false",
               "ppo.checkpoint=x"], ["seeds.choice=[50000, 60000]", "ppo.seed=1"]),
    ("tune", ["env.eval_seeds=48", "ppo.checkpoints=[a]"], ["seeds.choice=[50000, 60000]"]),
    ("evaluate", [], ["seeds.evaluate_on=confirmation.default", "tune.tuned_baseline=false", "env.eval_seeds=3"]),
])
def test_evaluation_keys_redo_no_choosing_stage_and_seed_ranges_redo_them(tmp_path, stage, same, other):
    """A change only `rlkd evaluate` reads must not redo a stage that chose something (and the stages after it);
    a change of the seeds a stage draws from, or of its own settings, must."""
    from rlkd.config import config_yaml
    from rlkd.stages import STAGES, already_done

    command = STAGES[stage]
    cfg = load_config(None, [])
    (tmp_path / "config.yaml").write_text(config_yaml(cfg))
    (tmp_path / "metrics.json").write_text("{}")
    for name in command.outputs:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    for override in same:
        assert already_done(command, load_config(None, [override]), tmp_path), override
    for override in other:
        assert not already_done(command, load_config(None, [override]), tmp_path), override


def test_a_stage_is_up_to_date_whichever_link_named_its_inputs(tmp_path):
    """benchmarks/zero_shot.py links a prepared workdir's stages into its own: the same files by another path."""
    from rlkd.config import config_yaml
    from rlkd.stages import STAGES, already_done

    precompute = STAGES["precompute"]
    real, other = tmp_path / "prepared" / "teacher", tmp_path / "other" / "teacher"
    for folder in (real, other):
        folder.mkdir(parents=True)
        (folder / "teacher.safetensors").write_text("")
    (tmp_path / "linked").symlink_to(real.parent)
    out = tmp_path / "precompute"
    out.mkdir()
    (out / "config.yaml").write_text(config_yaml(load_config(
        None, [f"teacher.checkpoint={tmp_path / 'linked' / 'teacher' / 'teacher.safetensors'}"])))
    (out / "metrics.json").write_text("{}")
    for name in precompute.outputs:
        (out / name).mkdir(parents=True, exist_ok=True)
    assert already_done(precompute, load_config(None, [f"teacher.checkpoint={real / 'teacher.safetensors'}"]), out)
    assert not already_done(precompute, load_config(None, [f"teacher.checkpoint={other / 'teacher.safetensors'}"]),
                            out)
