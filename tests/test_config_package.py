"""The config package: renamed keys (refused where a user writes them, translated where an artefact stored
them), registry names checked above the config, and an import that loads no engine."""

import copy
import json
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

from rlkd.cli import main
from rlkd.config import Config, config_from_dict, load_config
from rlkd.config.coerce import field_type
from rlkd.config.renames import RENAMES, RenamedKeyWarning, translate_stored
from rlkd.curriculum.policies import load_policy
from rlkd.errors import CheckpointError, ConfigError
from rlkd.names import check_names
from rlkd.stages import STAGES, already_done

# made by rlkd 0.1.0 (commit 4a62101) from the default config with distill.dkd_beta=4.0, tune.recipe_samples=7,
# tune.pbt_budget=100.0, tune.recipe_replaced=["distill.lr=0.003"], tune.recipe_choice=[0, 10000] and
# resources.precompute_batch_size=128: a policy export and a stage's config.yaml
OLD = Path(__file__).parent / "fixtures" / "rlkd_0.1"


def reexported_old_policy(folder: Path) -> Path:
    """The 0.1.0 export as re-exporting it from its RLlib checkpoint gives it: the same weights and stored config
    (old keys and all) under the policy format this rlkd reads; what its untouched version-1 tag gets is below."""
    shutil.copytree(OLD / "policy", folder)
    spec = json.loads((folder / "policy.json").read_text())
    (folder / "policy.json").write_text(json.dumps({**spec, "version": 2}))
    return folder


def test_a_version_1_policy_is_refused_naming_both_versions_and_how_to_re_export():
    with pytest.raises(CheckpointError, match=r"policy format version 1, but this rlkd reads version 2 .*rlkd train "
                                              r"--resume"):
        load_policy(OLD / "policy")


@pytest.mark.parametrize("old,new", sorted(RENAMES.items()))
def test_every_old_key_is_refused_naming_its_new_key_which_exists(old, new, tmp_path):
    field_type(Config, new.split("."))  # the new key is a config field
    with pytest.raises(ConfigError, match=rf"{old}: {old} was renamed to {new}"):
        load_config(None, [f"{old}=1"])
    section, *rest = old.split(".")
    node = data = {}
    for key in [section, *rest[:-1]]:
        node = node.setdefault(key, {})
    node[rest[-1]] = 1
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=rf"old\.yaml: {old}: {old} was renamed to {new}"):
        load_config(path)


def test_an_old_key_is_an_exit_2_from_the_cli(capsys, tmp_path):
    assert main(["recipe", "--set", "tune.recipe_samples=3", "--out", str(tmp_path / "o")]) == 2
    assert "tune.recipe_samples was renamed to tune.recipe.samples" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_policy_exported_before_the_renames_loads_with_one_warning(tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        policy = load_policy(reexported_old_policy(tmp_path / "policy"))
    renamed = [w for w in caught if issubclass(w.category, RenamedKeyWarning)]
    assert len(renamed) == 1 and "distill.dkd_beta" in str(renamed[0].message)
    cfg = policy.cfg
    assert cfg.distill.dkd.beta == 4.0 and cfg.tune.recipe.samples == 7 and cfg.tune.pbt.budget == 100.0
    assert cfg.tune.recipe.replaced == ["distill.lr=0.003"] and cfg.tune.recipe.choice == [0, 10000]
    assert cfg.resources.precompute.batch_size == 128
    action = policy.act(np.zeros(11, dtype=np.float32), 0, cfg.distill.epochs)
    assert 0.0 <= action.difficulty <= 1.0


def test_a_stage_finished_before_the_renames_stays_done(tmp_path):
    old = yaml.safe_load((OLD / "stage_config.yaml").read_text())
    assert "recipe_samples" in old["tune"] and "recipe" not in old["tune"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RenamedKeyWarning)
        cfg = config_from_dict(translate_stored(copy.deepcopy(old), "fixture"))
    assert cfg.tune.recipe.samples == 7
    out = tmp_path / "recipe"
    out.mkdir()
    (out / "config.yaml").write_text((OLD / "stage_config.yaml").read_text())
    (out / "metrics.json").write_text(json.dumps({"command": "recipe"}))
    (out / "recipe.json").write_text("{}")
    with pytest.warns(RenamedKeyWarning, match="config.yaml"):
        assert already_done(STAGES["recipe"], cfg, out)
    cfg.distill.lr = 0.01  # a key the recipe depends on: the old folder no longer matches
    with warnings.catch_warnings():
        warnings.simplefilter("error", RenamedKeyWarning)  # the same file is read (and warned about) once
        assert not already_done(STAGES["recipe"], cfg, out)


def test_a_stored_config_in_the_new_form_warns_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RenamedKeyWarning)
        translate_stored({"tune": {"recipe": {"samples": 3}}}, "new")


def test_registry_names_are_checked_when_a_stage_loads_its_config(capsys, tmp_path):
    cfg = load_config(None, ["curriculum.sampler=bogus"])  # the config package knows no registry
    with pytest.raises(ConfigError, match=r"curriculum\.sampler: value 'bogus' is not allowed; expected a sampler"):
        check_names(cfg)
    with pytest.raises(ConfigError, match=r"env\.sampler_choices\[1\]: value 'nope'"):
        check_names(load_config(None, ['env.sampler_choices=["adaptive", "nope"]']))
    with pytest.raises(ConfigError, match=r"distill\.mode: value 'hinton' .* a loss: one of 'labels', 'kd'"):
        check_names(load_config(None, ["distill.mode=hinton"]))
    for key, value, what in [("distill.optimizer", "adamw", "an optimizer: one of 'adam', 'sgd'"),
                             ("tune.scheduler", "hyperband", "a Tune scheduler: one of 'none', 'asha', 'pbt'"),
                             ("teacher.embedding.projection", "umap", "a projection: one of 'pca', 'random'"),
                             ("data.source", "mnist", "a data source: one of 'digits', 'hf', 'imagefolder'")]:
        with pytest.raises(ConfigError, match=rf"{re.escape(key)}: value '{value}' is not allowed; expected "
                                              rf"{re.escape(what)}"):
            check_names(load_config(None, [f"{key}={value}"]))
    for overrides, key in [(["data.source=hf"], "data.hf.name/data.hf.path"),
                           (["data.source=imagefolder"], "data.imagefolder.root"),
                           (["data.image_size=32"], "data.image_size/channels")]:
        with pytest.raises(ConfigError, match=re.escape(key)):
            check_names(load_config(None, overrides))  # each source checks the keys it reads
    assert main(["distill", "--set", "env.sampler=bogus", "--out", str(tmp_path / "o")]) == 2
    assert "env.sampler: value 'bogus'" in capsys.readouterr().err
    assert not (tmp_path / "o" / "config.yaml").exists()


@pytest.mark.slow
def test_importing_the_config_loads_no_torch_gymnasium_or_ray():
    code = ("import sys, rlkd.config, rlkd.config.loader; rlkd.config.load_config(); "
            "print(sorted(m for m in ('torch', 'gymnasium', 'ray', 'numpy') if m in sys.modules))")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root)})
    assert out.stdout.strip() == "[]"
