"""Tune's console: rlkd's progress lines by default, Tune's own status tables on request (tune.status_tables)."""

from __future__ import annotations

import os
from typing import Callable, Optional

from rlkd.console import progress


def use_legacy_output() -> None:
    """Switch this process to Tune's legacy console output, the one that honours a progress reporter and `verbose`.

    Ray 2.60's default output engine ignores `RunConfig(progress_reporter=...)` (ray-project/ray#38202)
    and prints every "Current best trial" line with the trial's whole config: for a PPO trial the
    whole AlgorithmConfig, about 15 kB a line. Call it before `Tuner.fit()` (the engine is chosen there).
    """
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"


def progress_reporter(parameter_columns: dict[str, str], metric_columns: dict[str, str]):
    """A status table of these trial-config keys and result metrics only ({path in the trial: shown name}).

    `parameter_columns` must not be empty: given none, Tune prints the whole config again.
    """
    from ray.tune import CLIReporter

    if not parameter_columns:
        raise ValueError("progress_reporter: name at least one parameter column")
    return CLIReporter(parameter_columns=parameter_columns, metric_columns=metric_columns,
                       print_intermediate_tables=True, max_report_frequency=30)


def trial_progress(desc: str, total: float, unit: str, amount: Optional[Callable[[dict], float]] = None):
    """A Tune callback that advances rlkd's progress: by one per trial that ends, or, with `amount`, by what each
    result adds to `amount(result)` of its trial (e.g. the KD epochs a trial has spent)."""
    from ray.tune import Callback

    class TrialProgress(Callback):
        def __init__(self):
            self.bar, self.seen = None, {}

        def _bar(self):
            if self.bar is None:  # made in the driver's experiment loop, never pickled
                self.bar = progress(total=total, desc=desc, unit=unit)
            return self.bar

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if amount is not None and amount(result) is not None:
                now = amount(result)
                self._bar().update(now - self.seen.get(trial.trial_id, 0))
                self.seen[trial.trial_id] = now

        def on_trial_complete(self, iteration, trials, trial, **info):
            if amount is None:
                self._bar().update(1)

        on_trial_error = on_trial_complete

        def on_experiment_end(self, trials, **info):
            if self.bar is not None:
                self.bar.close()

    return TrialProgress()


def console_output(status_tables: bool, parameter_columns: dict[str, str], metric_columns: dict[str, str],
                   desc: str, total: float, unit: str = "trial",
                   amount: Optional[Callable[[dict], float]] = None) -> dict:
    """`tune.RunConfig` keyword arguments for the console: Tune's status tables of these columns where
    `status_tables` (tune.status_tables) asks for them, else one rlkd progress line per ~10% of `total` (trials
    ended, or `amount`). Trial errors reach the console either way."""
    use_legacy_output()
    if status_tables:
        return {"progress_reporter": progress_reporter(parameter_columns, metric_columns), "verbose": 1}
    return {"verbose": 0, "callbacks": [trial_progress(desc, total, unit, amount)]}
