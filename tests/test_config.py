import pytest
import yaml

from rlkd.cli import main
from rlkd.config import Config, load_config
from rlkd.errors import ConfigError


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
        load_config(write(tmp_path, {"data": {"source": "mnist"}}))
    with pytest.raises(ConfigError, match=r"data\.val_fraction: value 1\.5"):
        load_config(write(tmp_path, {"data": {"val_fraction": 1.5}}))


def test_set_overrides_and_types():
    cfg = load_config(None, ["teacher.epochs=3", "teacher.lr=1e-2", "data.digits.noise=0.1", "student.model_kwargs={hidden: [8]}"])
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
