import pytest
import yaml

from rlkd.cli import main
from rlkd.config import Config, apply_overrides, config_from_dict, load_config
from rlkd.errors import ConfigError
from rlkd.names import check_names


def write(tmp_path, data):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_default_config_loads():
    cfg = load_config()
    assert isinstance(cfg, Config) and cfg.data.source == "digits"


def test_unknown_key_names_its_path_and_suggests(tmp_path):
    with pytest.raises(ConfigError, match=r"teacher\.epoch: unknown key.*Did you mean 'epochs'"):
        load_config(write(tmp_path, {"teacher": {"epoch": 3}}))


def test_wrong_type_names_key_and_value(tmp_path):
    with pytest.raises(ConfigError, match=r"teacher\.epochs: value 'ten' has the wrong type; expected an integer"):
        load_config(write(tmp_path, {"teacher": {"epochs": "ten"}}))


def test_bad_value_names_allowed_values(tmp_path):
    with pytest.raises(ConfigError, match=r"data\.source: value 'mnist'.*'digits', 'hf', 'imagefolder'"):
        check_names(load_config(write(tmp_path, {"data": {"source": "mnist"}})))
    with pytest.raises(ConfigError, match=r"data\.val_fraction: value 1\.5"):
        load_config(write(tmp_path, {"data": {"val_fraction": 1.5}}))


def test_set_overrides_and_types():
    cfg = load_config(None, ["teacher.epochs=3", "teacher.lr=1e-2", "data.digits.noise=0.1",
                             "student.model_kwargs={hidden: [8]}"])
    assert cfg.teacher.epochs == 3 and cfg.teacher.lr == 0.01 and cfg.data.digits.noise == 0.1
    assert cfg.student.model_kwargs == {"hidden": [8]}


def test_set_unknown_key_is_an_error():
    with pytest.raises(ConfigError, match=r"teacher\.epochz: unknown key"):
        load_config(None, ["teacher.epochz=3"])
    with pytest.raises(ConfigError, match=r"expected key\.path=value"):
        load_config(None, ["teacher.epochs"])


def test_cli_exit_code_2_with_message(capsys, tmp_path):
    assert main(["teacher", "--set", "teacher.epochz=1", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "teacher.epochz" in err and "epochs" in err
    assert not (tmp_path / "o" / "metrics.json").exists()


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def float_keys(cls=Config, prefix=""):
    """Every key of the config whose type is a float (or an optional float), found from the dataclasses."""
    import dataclasses
    import typing

    for f in dataclasses.fields(cls):
        tp = typing.get_type_hints(cls)[f.name]
        if dataclasses.is_dataclass(tp):
            yield from float_keys(tp, f"{prefix}{f.name}.")
        elif tp is float or (typing.get_origin(tp) is typing.Union and float in typing.get_args(tp)):
            yield f"{prefix}{f.name}"


@pytest.mark.parametrize("key", list(float_keys()))
@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "nan"])
def test_every_float_key_refuses_nan_and_inf(key, value):
    with pytest.raises(ConfigError, match=rf"^{key}: value .* is not allowed; expected a finite number"):
        config_from_dict(apply_overrides({}, [f"{key}={value}"]))


def test_boundary_values_stay_allowed():
    cfg = load_config(None, ["ppo.gamma=1", "ppo.lambda_=0", "tune.max_failures=0", "resources.num_env_runners=0",
                             "resources.num_gpus_per_env_runner=0", "reward.acc_weight=0", "ppo.hidden=[8]",
                             "env.temperature_range=[1, 2]", "tune.param_space={ppo.lr: {loguniform: [1e-4, 1e-3]}}"])
    assert cfg.ppo.gamma == 1.0 and cfg.env.temperature_range == [1.0, 2.0] and cfg.ppo.hidden == [8]


def test_param_space_keys_and_values_fit_the_config():
    with pytest.raises(ConfigError, match=r"tune\.param_space\.ppo\.lrr: not a config key.*Did you mean 'lr'"):
        load_config(None, ["tune.param_space={ppo.lrr: {grid: [0.1]}}"])
    with pytest.raises(ConfigError,
                       match=r"tune\.param_space\.distill\.epochs\.grid\[1\]: value 'ten' has the wrong type"):
        load_config(None, ["tune.param_space={distill.epochs: {grid: [5, ten]}}"])
    with pytest.raises(ConfigError, match=r"tune\.param_space\.distill\.epochs\.uniform\[0\]: value 1\.0 .*an integer"):
        load_config(None, ["tune.param_space={distill.epochs: {uniform: [1, 9]}}"])
