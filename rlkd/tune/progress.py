"""Tune's console progress cut down to what a person reads: the searched keys and the metrics."""

from __future__ import annotations

import os


def use_legacy_output() -> None:
    """Switch this process to Tune's legacy console output, the one that honours a progress reporter.

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
    use_legacy_output()
    return CLIReporter(parameter_columns=parameter_columns, metric_columns=metric_columns,
                       print_intermediate_tables=True, max_report_frequency=30)
