"""The console: progress at a bounded rate off a terminal, known-harmless Ray lines dropped one by one, and a
worker's own error still shown."""

import logging
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from rlkd.console import HARMLESS, LINES, PART_LINES, LineProgress, filter_harmless_lines, progress


def test_off_a_terminal_progress_is_one_line_per_tenth(capsys):
    with LineProgress(total=250, desc="work", unit="step") as bar:
        for _ in range(250):
            bar.set_postfix_str("val 50.0")
            bar.update(1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == LINES and lines[0] == "work: 25/250 step (10%)  val 50.0" and lines[-1].startswith(
        "work: 250/250 step (100%)")
    assert "\r" not in "".join(lines)


def test_a_jump_past_several_tenths_prints_once_and_iteration_counts(capsys):
    bar = LineProgress(total=10, desc="x")
    bar.update(7)
    assert capsys.readouterr().out.splitlines() == ["x: 7/10 it (70%)"]
    assert list(LineProgress(range(5), desc="it")) == [0, 1, 2, 3, 4]
    assert len(capsys.readouterr().out.splitlines()) == 5  # 5 items: each is 20%


def test_a_part_of_a_stage_prints_fewer_lines(capsys):
    for _ in progress(range(20), desc="fold 1/5", unit="epoch", leave=False):
        pass
    assert capsys.readouterr().out.splitlines() == ["fold 1/5: 10/20 epoch (50%)", "fold 1/5: 20/20 epoch (100%)"]
    assert PART_LINES == 2


def test_each_harmless_line_is_dropped_and_its_neighbours_kept(caplog):
    filter_harmless_lines()
    filter_harmless_lines()  # idempotent: one filter per line
    for name, start, why in HARMLESS:
        assert why and sum(1 for f in logging.getLogger(name).filters if getattr(f, "start", None) == start) == 1
        with caplog.at_level(logging.WARNING, logger=name):
            logging.getLogger(name).warning(start + " and the rest of the line")
            logging.getLogger(name).warning("a real warning from " + name)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [f"a real warning from {name}" for name, _, _ in HARMLESS]


@pytest.mark.slow
def test_a_worker_error_reaches_the_console_and_its_harmless_lines_do_not(tmp_path):
    """A fresh process (no test-suite environment): Ray started the way rlkd starts it, a worker that drops the
    harmless lines as rlkd's env does when an env runner builds it, logs one, logs a real warning and raises."""
    name, start, _ = HARMLESS[1]
    script = textwrap.dedent(f"""
        import logging, time
        from rlkd.ray_runtime import ensure_ray
        ensure_ray()
        import ray

        @ray.remote
        def work():
            from rlkd.console import filter_harmless_lines

            filter_harmless_lines()
            logging.getLogger({name!r}).warning({start!r} + " (from a worker)")
            logging.getLogger("ray.rllib").warning("worker says: a real warning")
            raise ValueError("worker failed: boom-7311")

        try:
            ray.get(work.remote())
        except ray.exceptions.RayTaskError as exc:
            print("driver caught:", type(exc.cause).__name__, exc)
        time.sleep(2)  # let the worker's log lines reach the driver
        ray.shutdown()
    """)
    root = Path(__file__).resolve().parents[1]
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180, cwd=tmp_path,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "HOME": str(tmp_path),
                              "RAY_TMPDIR": tempfile.mkdtemp(prefix="rlkd-ray-"), "RAY_USAGE_STATS_ENABLED": "0"})
    console = run.stdout + run.stderr
    assert run.returncode == 0, console[-3000:]
    assert "boom-7311" in console and "driver caught: ValueError" in console
    assert "worker says: a real warning" in console
    assert start not in console
