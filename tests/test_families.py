"""The task families PPO trains across (tune_configs/families), the examples they vary, and `extends:`."""

import numpy as np
import pytest
import yaml

from rlkd.config import episode_configs, load_config
from rlkd.data import load_data
from rlkd.errors import ConfigError
from rlkd.names import check_names
from tests.test_pipeline import ROOT

FAMILIES = ("digits", "signals", "tabular")


def test_each_family_is_its_config_with_only_the_data_budget_or_student_swapped():
    names = []
    for family in FAMILIES:
        cfg = check_names(load_config(ROOT / "tune_configs" / "families" / f"{family}.yaml"))
        assert cfg.env.task_features and cfg.env.control_lr_scale and len(cfg.env.tasks) >= 4
        for task in cfg.env.tasks:
            for entry in task.overrides:  # no task gets a recipe of its own: the family's config is the user's
                assert entry.split("=")[0] in ("data.digits.canvas", "data.label_noise.rate", "data.label_noise.kind",
                                               "env.budget", "student.model_kwargs", "data.python.kwargs"), entry
        names += [name for name, _, _ in episode_configs(cfg)]
    assert len(names) == len(set(names)) >= 12


def test_extends_merges_over_the_base_and_refuses_a_loop(tmp_path):
    base = {"distill": {"epochs": 7, "lr": 0.01}, "env": {"proxy": ["distill.epochs=2"]}}
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(base))
    (tmp_path / "child.yaml").write_text(yaml.safe_dump({"extends": "base.yaml", "distill": {"lr": 0.02},
                                                         "env": {"proxy": []}}))
    cfg = load_config(tmp_path / "child.yaml")
    assert (cfg.distill.epochs, cfg.distill.lr, cfg.env.proxy) == (7, 0.02, [])  # mappings merge, lists replace
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    with pytest.raises(ConfigError, match="leads back to itself"):
        load_config(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("extends: nowhere.yaml\n")
    with pytest.raises(ConfigError, match="nowhere.yaml does not exist"):
        load_config(tmp_path / "c.yaml")


def test_the_signals_motif_seed_keeps_the_examples_data_and_makes_other_classes():
    from examples.signals.data import load_signals

    default, same, other = load_signals(), load_signals(motif_seed=1234), load_signals(motif_seed=7)
    assert np.array_equal(default["train"][0], same["train"][0]) and default["name"] == "signals-40"
    assert not np.allclose(default["train"][0], other["train"][0]) and other["name"] == "signals-40-motifs7"
    assert np.array_equal(default["train"][1], other["train"][1])  # the same labels, other motifs


def test_the_tabular_example_loads_standardised_features():
    cfg = load_config(ROOT / "examples" / "tabular" / "config.yaml")
    data = load_data(cfg.data)
    assert data.train.images.shape == (1500, 20) and data.num_classes == 5 and len(data.test) == 1000
    x = data.train.images.float()
    assert x.mean(0).abs().max() < 1e-4 and (x.std(0) - 1).abs().max() < 1e-2
