"""The task families PPO trains across (tune_configs/families), the examples they vary, and `extends:`."""

import numpy as np
import pytest
import yaml

from rlkd.config import config_to_dict, episode_configs, load_config, task_config
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


def test_families_lists_every_familys_tasks_each_with_its_familys_data_teacher_and_student():
    every = load_config(ROOT / "tune_configs" / "families" / "all.yaml")
    assert every.distill == load_config().distill  # the default's recipe, for every task
    listed = {task.name: task for task in every.env.tasks}
    for family in FAMILIES:
        own = load_config(ROOT / "tune_configs" / "families" / f"{family}.yaml")
        for task in own.env.tasks:
            mine = config_to_dict(task_config(own, task))
            theirs = config_to_dict(task_config(every, listed.pop(task.name)))
            assert all(mine[s] == theirs[s] for s in ("data", "teacher", "student", "env", "distill")), task.name
    assert not listed  # nothing else


def test_a_family_that_sets_a_recipe_key_is_refused_naming_the_key(tmp_path):
    tasks = {"env": {"tasks": [{"name": "t1", "overrides": ["data.digits.canvas=8"]}]}}
    (tmp_path / "fam.yaml").write_text(yaml.safe_dump({**tasks, "distill": {"lr": 0.03}}))
    (tmp_path / "ok.yaml").write_text(yaml.safe_dump({**tasks, "student": {"model_kwargs": {"hidden": [8]}}}))
    (tmp_path / "all.yaml").write_text(yaml.safe_dump({"families": ["fam.yaml"]}))
    with pytest.raises(ConfigError, match=r"fam.yaml sets distill.lr differently .* give distill.lr the same value"):
        load_config(tmp_path / "all.yaml")
    (tmp_path / "all.yaml").write_text(yaml.safe_dump({"families": ["ok.yaml", "all.yaml"]}))
    with pytest.raises(ConfigError, match="all.yaml leads back"):
        load_config(tmp_path / "all.yaml")
    (tmp_path / "all.yaml").write_text(yaml.safe_dump({"families": ["ok.yaml"]}))
    task = load_config(tmp_path / "all.yaml").env.tasks[0]
    assert task.overrides == ['student.model_kwargs={"hidden": [8]}', "data.digits.canvas=8"]


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
