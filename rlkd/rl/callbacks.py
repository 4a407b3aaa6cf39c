"""Per-episode curriculum metrics for RLlib's results: final val accuracy, mean chosen difficulty, RL cost."""

from __future__ import annotations

from ray.rllib.callbacks.callbacks import RLlibCallback

# lifetime totals over every episode PPO sampled (RLlib sums them over env runners and keeps them in checkpoints)
EPISODES_LIFETIME = "rl_cost_episodes"
SAMPLES_SEEN_LIFETIME = "rl_cost_samples_seen"  # training samples the episodes' runs trained on


class CurriculumMetrics(RLlibCallback):
    def on_episode_end(self, *, episode, metrics_logger=None, **kwargs) -> None:
        if metrics_logger is None:
            return
        infos = [i for i in episode.get_infos() if isinstance(i, dict)]
        seen = [i["samples_seen"] for i in infos if "samples_seen" in i]  # the run's running total, per epoch
        metrics_logger.log_value(EPISODES_LIFETIME, 1, reduce="lifetime_sum")
        metrics_logger.log_value(SAMPLES_SEEN_LIFETIME, seen[-1] if seen else 0, reduce="lifetime_sum")
        infos = [i for i in infos if "val_acc" in i]
        if not infos:
            return
        metrics_logger.log_value("final_val_acc", infos[-1]["val_acc"])
        metrics_logger.log_value("mean_difficulty", sum(i["difficulty"] for i in infos) / len(infos))
        metrics_logger.log_value("mean_fraction", sum(i["fraction"] for i in infos) / len(infos))
        metrics_logger.log_value("diverged", float(any(i.get("diverged") for i in infos)))
