"""RLlib PPO: config, training, checkpoints and the policy export."""
