"""What rlkd writes to the console: its own progress at a bounded rate, and Ray's and RLlib's known-harmless lines
filtered out one by one (never a worker's output wholesale: a worker's error still reaches the console).

Progress is a live tqdm bar on a terminal; written to a file or a pipe it is one line every ~10% of the work
instead of a carriage-return redraw per step. Per-epoch and per-iteration detail stays in each stage's
metrics.json and TensorBoard; Ray's full logs stay in its session folder (`ray_session_dir` in the logs).
"""

from __future__ import annotations

import logging
import sys
from typing import Iterable, Optional

from tqdm import tqdm

LINES = 10  # progress lines per piece of work when the console is not a terminal
PART_LINES = 2  # ... for a part of a stage (a bar a terminal would clear: leave=False), e.g. one fold teacher

# (logger, the start of the message, why it is harmless): each line is dropped where it is logged, in the driver
# (rlkd.ray_runtime.ensure_ray) and in every env runner (rlkd.env.curriculum_env.env_setup). Not through Ray's
# worker_process_setup_hook: measured, it doubles the start-up time of every Ray worker process
HARMLESS = (
    ("ray.rllib.algorithms.algorithm_config", "You are running PPO on the new API stack!",
     "rlkd runs RLlib's new API stack on purpose (RAY_NOTES.md); the line only says that it is the default"),
    ("ray._common.deprecation", "DeprecationWarning: `RLModule(config=[RLModuleConfig object])`",
     "RLlib 2.60's own default PPO module builds itself through this deprecated path; rlkd never calls it"),
    ("ray.tune.utils.util", "Install gputil for GPU system monitoring.",
     "only Tune's GPU-utilisation monitor needs gputil; placement and training on GPUs do not"),
    ("ray.data._internal.progress", "Progress bars disabled.",
     "rlkd turns Ray Data's bars off where the console is not a terminal (quiet_ray_data_console); the line "
     "only says so"),
    ("ray.tune.search.variant_generator", "Pre-set value `replay` is not within valid values of parameter",
     "the tuned baseline's fixed point, the policy's own replay, lies outside the searched schedule shapes on "
     "purpose (rlkd.tune.budget_search)"),
)


class _DropHarmless(logging.Filter):
    def __init__(self, start: str):
        super().__init__()
        self.start = start

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.start)


def filter_harmless_lines() -> None:
    """Drop the HARMLESS lines in this process (idempotent)."""
    for name, start, _ in HARMLESS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropHarmless) and f.start == start for f in logger.filters):
            logger.addFilter(_DropHarmless(start))


def quiet_ray_data_console() -> None:
    """Ray Data's per-dataset INFO lines (its execution plan, and off a terminal a progress block every few
    seconds) leave the console; they stay in its own log, ray-data.log in the Ray session's logs folder. Its
    warnings and errors still show; its progress bars show on a terminal."""
    import ray.data

    for handler in logging.getLogger("ray.data").handlers:
        if isinstance(handler, logging.StreamHandler):  # the console; its file handler is a plain Handler
            handler.setLevel(logging.WARNING)
    ray.data.DataContext.get_current().enable_progress_bars = interactive()


def interactive() -> bool:
    return sys.stderr.isatty()


class LineProgress:
    """tqdm's interface (iterate, update, set_postfix_str, close, `with`) printing a line every ~1/`lines` of
    `total`."""

    def __init__(self, iterable: Optional[Iterable] = None, total: Optional[float] = None, desc: str = "",
                 unit: str = "it", initial: float = 0, lines: int = LINES):
        self.iterable, self.desc, self.unit, self.n, self.postfix = iterable, desc, unit, initial, ""
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.lines = lines
        self._shown = int(lines * initial / self.total) if self.total else 0  # steps already printed (or resumed)

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def update(self, n: float = 1) -> None:
        self.n += n
        if not self.total:
            return
        step = min(self.lines, int(self.lines * self.n / self.total + 1e-9))
        if step > self._shown:
            self._shown = step
            print(f"{self.desc}: {_count(self.n)}/{_count(self.total)} {self.unit} ({100 * self.n / self.total:.0f}%)"
                  + (f"  {self.postfix}" if self.postfix else ""), flush=True)

    def close(self) -> None:
        pass


def _count(x: float) -> str:
    """Whole counts as they are, amounts such as KD epochs to the unit."""
    return f"{x:.0f}" if float(x).is_integer() or abs(x) >= 10 else f"{x:.2g}"


def progress(iterable: Optional[Iterable] = None, total: Optional[float] = None, desc: str = "", unit: str = "it",
             leave: bool = True, initial: float = 0):
    """A live bar on a terminal, else LineProgress: the one way rlkd shows how far a piece of work has got."""
    if interactive():
        return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, initial=initial)
    return LineProgress(iterable, total, desc, unit, initial, LINES if leave else PART_LINES)
