"""env.proxy: PPO trains on cheap proxy episodes, the checkpoint keeps the target config, and the RL cost is
counted in runs of the target."""

import json

import pytest

from rlkd.cli import main
from rlkd.config import config_to_dict, load_config, proxy_config
from rlkd.curriculum.policy_net import load_policy_network
from rlkd.data import load_data
from rlkd.distill.run import budget_samples
from rlkd.errors import ConfigError
from rlkd.reports.evaluate import rl_cost_line
from rlkd.rl.ppo import build_ppo_config, run_identity
from tests.conftest import FRACTION_ONLY
from tests.test_rl import args_for

REFUSED = [  # (entry, what the message must say)
    ("distill.epochs", "expected key.path=value"),  # does not parse
    ("distill.epoch=3", "unknown key"),  # does not apply
    ("distill.epochs=0", "distill.epochs: value 0 is not allowed"),  # the proxy config does not validate
    ("env.proxy=[distill.epochs=3]", "proxies do not nest"),
    ("ppo.lr=0.1", "sets ppo.lr; PPO's settings"),
    ("resources.num_env_runners=2", "sets resources.num_env_runners; PPO's settings"),
    ("env.control_alpha=true", "sets env.control_alpha, which fixes the action space"),
    ("env.action=discrete", "sets env.action, which fixes the action space"),
    ("env.sampler_choices=[adaptive]", "sets env.sampler_choices, which fixes the action space"),
    ("env.difficulty_bins=3", "sets env.difficulty_bins, which fixes the action space"),
    ("teacher.additional=[other.safetensors]", "sets teacher.additional, which fixes the action space"),
    ("distill.alpha=0.2", "sets distill.alpha, which fixes the action space"),  # the box's centre (anchor)
    ("env={budget: 0.5}", "sets a whole section"),  # replacing env resets its action keys to their defaults
]


@pytest.mark.parametrize("entry, why", REFUSED)
def test_each_refused_entry_names_its_index_value_and_reason(digits_cfg, entry, why):
    with pytest.raises(ConfigError) as err:
        digits_cfg(f"env.proxy={json.dumps(['distill.epochs=2', entry])}")
    message = str(err.value)
    assert f"env.proxy[1] = {entry!r}" in message and why in message


def test_a_searched_key_the_proxy_also_sets_is_refused(digits_cfg):
    with pytest.raises(ConfigError, match=r"tune\.param_space\.distill\.epochs: env\.proxy\[0\]"):
        digits_cfg("env.proxy=[distill.epochs=2]", "tune.param_space={distill.epochs: {grid: [2, 4]}}")


def test_proxy_config_applies_the_overrides_and_leaves_the_target_alone(digits_cfg):
    target = digits_cfg("distill.epochs=6", "env.budget=0.8", "env.proxy=[distill.epochs=2, data.views=2]")
    before = config_to_dict(target)
    proxy = proxy_config(target)
    assert (proxy.distill.epochs, proxy.data.views, proxy.env.budget, proxy.env.proxy) == (2, 2, 0.8, [])
    assert config_to_dict(target) == before and target.distill.epochs == 6
    plain = digits_cfg()
    assert proxy_config(plain) is plain


def test_ppo_episodes_run_the_proxy_and_a_changed_proxy_is_another_run(digits_cfg):
    target = digits_cfg("distill.epochs=6", "ppo.episodes_per_batch=3", "env.proxy=[distill.epochs=2]")
    algo_config = build_ppo_config(target)
    assert algo_config.env_config["config"]["distill"]["epochs"] == 2
    assert algo_config.train_batch_size_per_learner == 3 * 2  # whole proxy episodes
    assert run_identity(target) != run_identity(digits_cfg("distill.epochs=6", "ppo.episodes_per_batch=3",
                                                           "env.proxy=[distill.epochs=3]"))
    # what only `rlkd evaluate` reads, or how long the run goes on: the same run, resumed rather than restarted
    assert run_identity(target) == run_identity(digits_cfg(
        "distill.epochs=6", "ppo.episodes_per_batch=3", "env.proxy=[distill.epochs=2]", "ppo.pretrained=null",
        "ppo.checkpoints=[elsewhere]", "ppo.iterations=7"))


def test_rl_cost_line_reads_the_train_metrics_beside_the_checkpoint(digits_cfg, tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"command": "train", "rl_cost": {
        "episodes": 300, "samples_seen": 150_000, "target_run_samples": 1000, "target_run_equivalents": 150.0,
        "proxy": ["distill.epochs=10"]}}))
    cfg = digits_cfg(f"ppo.checkpoint={tmp_path / 'checkpoint'}")
    seen = {"policy": 600.0, "kd (all data)": 1000.0}
    line = rl_cost_line(cfg, seen, {"policy": 80.0, "kd (all data)": 80.0})
    assert line.startswith("RL cost: 300 proxy episodes = 150.0 target runs")
    assert "saves 0.40 target runs per run" in line and "pays back after 375 runs" in line
    worse = rl_cost_line(cfg, seen, {"policy": 79.5, "kd (all data)": 80.0})  # fewer samples, less learned
    assert "0.50 val points below kd (all data), so it saves no samples" in worse and "pays back" not in worse
    assert rl_cost_line(digits_cfg(f"ppo.checkpoint={tmp_path / 'elsewhere' / 'checkpoint'}"), {"policy": 1.0},
                        {"policy": 1.0}) is None


@pytest.mark.slow
def test_train_on_proxy_episodes_saves_the_target_and_counts_the_cost(tmp_path, teacher_dir, shards_dir, ray_session):
    """TINY's 3-epoch target, 2-epoch proxy; the full sampler without a fraction control makes every epoch
    see all N training samples, so each episode's samples are known: 2 N (proxy), not 3 N (target)."""
    out = tmp_path / "train"
    exact = FRACTION_ONLY + ["env.sampler=full", "env.control_fraction=false", "env.proxy=[distill.epochs=2]"]
    assert main(args_for("train", out, teacher_dir, shards_dir, *exact)) == 0
    m = json.loads((out / "metrics.json").read_text())
    cost, steps = m["rl_cost"], sum(h["env_steps_sampled"] for h in m["history"])
    assert cost["episodes"] >= 4 and steps == 2 * cost["episodes"]  # 2 iterations x 2 whole 2-step episodes

    saved = load_config(out / "checkpoint" / "rlkd_config.yaml")
    assert saved.distill.epochs == 3 and saved.env.proxy == ["distill.epochs=2"]
    assert load_policy_network(out / "checkpoint").spec.config == config_to_dict(saved)  # policy.json's too

    n = len(load_data(saved.data).train.labels)
    assert cost["samples_seen"] == cost["episodes"] * 2 * n
    assert cost["target_run_samples"] == budget_samples(saved.env.budget, 3, n)
    assert cost["target_run_equivalents"] == pytest.approx(cost["samples_seen"] / cost["target_run_samples"])
