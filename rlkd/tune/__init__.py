"""Ray Tune: searches over PPO and KD settings, resume, and the PBT curriculum baseline."""
