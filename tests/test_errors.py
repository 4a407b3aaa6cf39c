"""Every bad input ends as `rlkd <command>: error: ...` naming the key or file, exit 2, no traceback, no metrics.json.

The commands run in-process (`rlkd.cli.main`) and fail before any training, so each test is cheap.
"""

import importlib.util
import os
from pathlib import Path

import datasets
import pytest
import timm
import torch
from safetensors.torch import save_file

from rlkd.cli import main
from rlkd.distill.samplers import SAMPLERS
from rlkd.errors import CheckpointError, ConfigError
from rlkd.models import build_model, read_metadata, save_weights
from tests.test_data import make_pil

ROOT = Path(__file__).resolve().parent.parent


def fails(capsys, tmp_path, *args) -> str:
    """Run `rlkd ARGS --out tmp/out`; it must exit 2 with one clean error line and leave no metrics.json."""
    out = tmp_path / "out"
    capsys.readouterr()
    assert main([*args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    last = err.rstrip("\n").replace("\r", "\n").split("\n")[-1]  # progress bars may come before it
    assert last.startswith(f"rlkd {args[0]}: error: ") and "Traceback" not in err
    assert not (out / "metrics.json").exists()
    return last


def test_temperature_range_elements_are_numbers(capsys, tmp_path):
    err = fails(capsys, tmp_path, "distill", "--set", "env.temperature_range=[a, 2]")
    assert "env.temperature_range[0]: value 'a' has the wrong type; expected a number" in err


def test_unknown_sampler_lists_the_registry(capsys, tmp_path):
    err = fails(capsys, tmp_path, "train", "--set", "env.sampler=easiest")
    assert "env.sampler: value 'easiest'" in err and all(repr(name) in err for name in SAMPLERS)
    err = fails(capsys, tmp_path, "distill", "--set", "curriculum.sampler=easiest")
    assert "curriculum.sampler: value 'easiest'" in err and all(repr(name) in err for name in SAMPLERS)


def test_eval_seeds_must_be_positive(capsys, tmp_path):
    err = fails(capsys, tmp_path, "evaluate", "--seeds", "0")
    assert "env.eval_seeds: value 0" in err and "--seeds" in err


@pytest.mark.parametrize("spec,says", [
    ("{uniform: [1]}", "uniform: value [1]"),
    ("{loguniform: [0, 1]}", "lo > 0"),
    ("{uniform: [0.2, 0.1]}", "lo < hi"),
    ("{uniform: [a, 1]}", "uniform[0]: value 'a' has the wrong type"),
    ("{grid: []}", "non-empty list"),
    ("{choice: [0.1, x]}", "choice[1]: value 'x' has the wrong type; expected a number"),
    ("{random: [1, 2]}", "one of {grid: [...]}"),
])
def test_param_space_searches_are_checked(capsys, tmp_path, spec, says):
    err = fails(capsys, tmp_path, "tune", "--set", f"tune.param_space={{ppo.lr: {spec}}}")
    assert "tune.param_space.ppo.lr" in err and says in err


@pytest.mark.parametrize("override,key", [
    ("reward.acc_weight=.nan", "reward.acc_weight"),
    ("reward.loss_cap=.inf", "reward.loss_cap"),
    ("reward.early_fraction=1.5", "reward.early_fraction"),
    ("resources.precompute.batch_size=0", "resources.precompute.batch_size"),
    ("resources.num_cpus_per_env_runner=-1", "resources.num_cpus_per_env_runner"),
    ("resources.num_gpus_per_learner=-0.5", "resources.num_gpus_per_learner"),
    ("resources.num_envs_per_env_runner=0", "resources.num_envs_per_env_runner"),
    ("ppo.lr=0", "ppo.lr"),
    ("ppo.gamma=1.01", "ppo.gamma"),
    ("ppo.lambda_=-0.1", "ppo.lambda_"),
    ("ppo.hidden=[64, 0]", "ppo.hidden"),
    ("ppo.hidden=[64, 1.5]", "ppo.hidden[1]"),
    ("tune.max_failures=-1", "tune.max_failures"),
    ("tune.stop={val_acc: high}", "tune.stop.val_acc"),
    ("distill.weight_decay=-1", "distill.weight_decay"),
    ("data.val_fraction=.nan", "data.val_fraction"),
    ("teacher.num_classes=0", "teacher.num_classes"),
    ("curriculum.difficulty=.nan", "curriculum.difficulty"),
    ("student.model_kwargs={drop_rate: .nan}", "student.model_kwargs.drop_rate"),
])
def test_section_values_are_range_and_finite_checked(capsys, tmp_path, override, key):
    err = fails(capsys, tmp_path, "train", "--set", override)
    assert f"{key}: value" in err and ("is not allowed" in err or "has the wrong type" in err)


@pytest.mark.parametrize("arch", ["resnet10t", "tiny_cnn"])
def test_bad_model_kwargs_name_the_section(capsys, tmp_path, arch):
    err = fails(capsys, tmp_path, "teacher", "--set", f"teacher.arch={arch}",
                "--set", "teacher.model_kwargs={bogus: 1}",
                "--set", "teacher.cross_fit=0")
    assert "teacher.model_kwargs: {'bogus': 1} do not fit" in err and "bogus" in err
    with pytest.raises(ConfigError, match=r"^student\.model_kwargs: \{'bogus': 1\} do not fit"):
        build_model(arch, 10, 1, input_shape=(1, 16, 16), model_kwargs={"bogus": 1}, section="student")


def test_torch_pretrained_file_is_never_unpickled(capsys, tmp_path):
    torch.manual_seed(0)
    source = timm.create_model("resnet10t", num_classes=1000)
    weights = tmp_path / "resnet10t.pth"
    torch.save(source.state_dict(), weights)
    same = build_model("resnet10t", 1000, 3, pretrained=True, pretrained_file=str(weights), section="student")
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in same.net.state_dict().items())
    assert "state_dict" not in same.net.pretrained_cfg  # the model holds no second copy of the file's tensors
    head = build_model("resnet10t", 5, 3, pretrained=True, pretrained_file=str(weights))  # timm re-inits the head
    assert torch.equal(head.net.conv1[0].weight, source.conv1[0].weight) and head.net.fc.out_features == 5

    other = tmp_path / "mobilenet.pth"
    torch.save(timm.create_model("mobilenetv2_035").state_dict(), other)
    with pytest.raises(CheckpointError, match=r"student\.pretrained_file: .*mobilenet\.pth does not fit timm model"):
        build_model("resnet10t", 1000, 3, pretrained=True, pretrained_file=str(other), section="student")

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    evil = tmp_path / "evil.pth"
    torch.save({"conv1.0.weight": Payload()}, evil)
    err = fails(capsys, tmp_path, "teacher", "--set", "teacher.arch=resnet10t", "--set", "teacher.pretrained=true",
                "--set", f"teacher.pretrained_file={evil}", "--set", "teacher.cross_fit=0")
    assert f"teacher.pretrained_file: {evil}: torch.load(weights_only=True) refused it" in err
    assert not marker.exists()


def test_bad_metadata_json_names_the_file(capsys, tmp_path):
    bad = tmp_path / "teacher.safetensors"
    save_file({"w": torch.zeros(1)}, str(bad), metadata={"rlkd": "{not json"})
    err = fails(capsys, tmp_path, "teacher", "--set", f"teacher.checkpoint={bad}", "--set", "teacher.cross_fit=0")
    assert f"{bad}: its rlkd metadata is not valid JSON" in err

    # a temp file of the same name (another run's, here a folder) is left alone: each save has its own
    busy = tmp_path / "m.tmp"
    busy.mkdir()
    path = save_weights(build_model("mlp", 10, 1, input_shape=(1, 8, 8)), tmp_path / "m.safetensors", {"arch": "mlp"})
    assert read_metadata(path) == {"arch": "mlp"} and busy.is_dir()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == ["m.tmp"]  # and none of its own left


def test_missing_teacher_file_at_distill_time(capsys, tmp_path):
    missing = tmp_path / "nowhere.safetensors"
    err = fails(capsys, tmp_path, "distill", "--set", f"teacher.checkpoint={missing}",
                "--set", f"data.shards={tmp_path / 'shards'}")
    assert f"teacher.checkpoint: teacher checkpoint {missing} does not exist" in err
    present = tmp_path / "teacher.safetensors"
    present.write_bytes(b"x")
    err = fails(capsys, tmp_path, "distill", "--set", f"teacher.checkpoint={present}",
                "--set", f"teacher.additional=[{present}, {missing}]", "--set", f"data.shards={tmp_path / 'shards'}")
    assert f"teacher.additional[1]: teacher checkpoint {missing} does not exist" in err


def test_labels_outside_the_class_range(capsys, tmp_path):
    feats = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["cat", "dog"])})
    splits = {"train": [0, 1] * 4, "test": [0, 1, -1, 1, -1, 0]}  # HF marks unlabelled samples with -1
    datasets.DatasetDict({s: datasets.Dataset.from_dict({"image": [make_pil(i) for i in range(len(y))], "label": y},
                                                        features=feats)
                          for s, y in splits.items()}).save_to_disk(str(tmp_path / "hfds"))
    err = fails(capsys, tmp_path, "teacher", "--set", "data.source=hf", "--set", f"data.hf.path={tmp_path / 'hfds'}",
                "--set", "data.image_size=8", "--set", "teacher.cross_fit=0")
    assert "split 'test' has labels [-1] outside 0..1" in err


@pytest.mark.parametrize("content,says", [
    (None, "cannot be read (No such file or directory)"),
    ("[{\"difficulty\": 0.5,", "not valid JSON"),
    ("{\"difficulty\": 0.5}", "expected a non-empty JSON list"),
    ("[]", "expected a non-empty JSON list"),
    ("[{\"difficulty\": 0.5}, {\"fraction\": 0.5}]", "row 1 is {'fraction': 0.5}"),
    ("[{\"difficulty\": \"hard\"}]", "row 0 is {'difficulty': 'hard'}"),
    ("[{\"difficulty\": 0.5, \"fraction\": 0}]", "row 0 is"),
])
def test_pbt_schedule_checked_before_any_run(capsys, tmp_path, content, says):
    schedule = tmp_path / "schedule.json"
    if content is not None:
        schedule.write_text(content)
    err = fails(capsys, tmp_path, "evaluate", "--pbt", str(schedule))
    assert f"tune.pbt.schedule: {schedule}: {says}" in err


def load_launch():
    spec = importlib.util.spec_from_file_location("launch", ROOT / "scripts" / "launch.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_os_errors_are_one_line(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["teacher", "--out", str(blocker / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"rlkd teacher: error: {blocker / 'out'}") and err.endswith(": Not a directory\n")
    assert load_launch().main(["--workdir", str(blocker / "work")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"launch: error: {blocker / 'work'}") and err.endswith(": Not a directory\n")
    assert "Traceback" not in err
