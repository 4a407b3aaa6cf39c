import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def launch(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "launch.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_launch_runs_teacher_then_skips_when_up_to_date(tmp_path):
    work = tmp_path / "work"
    first = launch("--workdir", str(work), "--set", "teacher.epochs=3")
    assert first.returncode == 0, first.stderr
    metrics = json.loads((work / "teacher" / "metrics.json").read_text())
    assert metrics["command"] == "teacher" and "test_acc" in metrics
    second = launch("--workdir", str(work), "--set", "teacher.epochs=3")
    assert second.returncode == 0 and "up to date" in second.stdout
    changed = launch("--workdir", str(work), "--set", "teacher.epochs=2")
    assert changed.returncode == 0 and "running into" in changed.stdout


def test_launch_bad_stage_and_bad_key(tmp_path):
    bad = launch("--workdir", str(tmp_path), "--stage", "nope")
    assert bad.returncode == 2 and "--stage 'nope'" in bad.stderr
    typo = launch("--workdir", str(tmp_path), "--set", "techer.epochs=1")
    assert typo.returncode == 2 and "techer" in typo.stderr and "teacher" in typo.stderr
