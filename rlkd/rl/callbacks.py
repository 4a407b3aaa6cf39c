"""Per-episode curriculum metrics for RLlib's results: final val accuracy, mean chosen difficulty."""

from __future__ import annotations

from ray.rllib.callbacks.callbacks import RLlibCallback


class CurriculumMetrics(RLlibCallback):
    def on_episode_end(self, *, episode, metrics_logger=None, **kwargs) -> None:
        infos = [i for i in episode.get_infos() if isinstance(i, dict) and "val_acc" in i]
        if not infos or metrics_logger is None:
            return
        metrics_logger.log_value("final_val_acc", infos[-1]["val_acc"])
        metrics_logger.log_value("mean_difficulty", sum(i["difficulty"] for i in infos) / len(infos))
        metrics_logger.log_value("mean_fraction", sum(i["fraction"] for i in infos) / len(infos))
        metrics_logger.log_value("diverged", float(any(i.get("diverged") for i in infos)))
