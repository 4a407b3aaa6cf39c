import pytest
import torch
from safetensors.torch import save_file

from rlkd.errors import CheckpointError, ConfigError
from rlkd.models import build_model, read_metadata, save_weights
from rlkd.models.class_map import resolve_class_map


def images(n=2, c=3, s=32):
    return torch.randint(0, 256, (n, c, s, s), dtype=torch.uint8)


@pytest.mark.parametrize("name", ["resnet18", "mobilenetv2_100"])
def test_timm_models(name):
    model = build_model(name, num_classes=7, in_chans=3).eval()
    assert model(images()).shape == (2, 7)


@pytest.mark.parametrize("name,kwargs", [("tiny_cnn", {}), ("mlp", {"hidden": [8, 8]})])
def test_builtin_models(name, kwargs):
    model = build_model(name, 10, 1, input_shape=(1, 12, 12), model_kwargs=kwargs).eval()
    assert model(images(c=1, s=12)).shape == (2, 10)


def test_unknown_model():
    with pytest.raises(ConfigError, match="neither a built-in"):
        build_model("no_such_net", 10, 1, input_shape=(1, 8, 8))


def test_safetensors_round_trip(tmp_path):
    torch.manual_seed(0)
    a = build_model("tiny_cnn", 10, 1, input_shape=(1, 12, 12)).eval()
    path = save_weights(a, tmp_path / "m.safetensors", {"arch": "tiny_cnn", "num_classes": 10, "in_chans": 1,
                                                       "data_fingerprint": "abc"})
    assert read_metadata(path)["data_fingerprint"] == "abc"
    torch.manual_seed(1)
    b = build_model("tiny_cnn", 10, 1, input_shape=(1, 12, 12), checkpoint=str(path)).eval()
    x = images(4, 1, 12)
    assert torch.equal(a(x), b(x))


def test_checkpoint_mismatch_is_clear(tmp_path):
    a = build_model("tiny_cnn", 10, 1, input_shape=(1, 12, 12))
    path = save_weights(a, tmp_path / "m.safetensors", {"arch": "tiny_cnn", "num_classes": 10, "in_chans": 1})
    with pytest.raises(CheckpointError, match="num_classes=10.*num_classes=5"):
        build_model("tiny_cnn", 5, 1, input_shape=(1, 12, 12), checkpoint=str(path))
    with pytest.raises(CheckpointError, match="arch='tiny_cnn'.*arch='mlp'"):
        build_model("mlp", 10, 1, input_shape=(1, 12, 12), checkpoint=str(path))


def test_non_safetensors_checkpoint_refused(tmp_path):
    bad = tmp_path / "w.pt"
    torch.save({"x": torch.zeros(1)}, bad)
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        build_model("tiny_cnn", 10, 1, input_shape=(1, 12, 12), checkpoint=str(bad))


def test_timm_pretrained_from_local_file(tmp_path):
    """pretrained=True runs timm's real loading code, pointed at a local file instead of the hub."""
    import timm

    torch.manual_seed(3)
    source = timm.create_model("resnet18", num_classes=1000)
    file = tmp_path / "resnet18.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(file))
    model = build_model("resnet18", 1000, 3, pretrained=True, pretrained_file=str(file))
    assert torch.equal(model.net.conv1.weight, source.conv1.weight)
    # a new head: timm keeps the backbone and re-initialises the classifier
    small = build_model("resnet18", 5, 3, pretrained=True, pretrained_file=str(file))
    assert torch.equal(small.net.conv1.weight, source.conv1.weight) and small.net.fc.out_features == 5


def test_imagenet_class_map():
    from timm.data import ImageNetInfo

    wnids = ImageNetInfo("imagenet-1k").label_names()
    names = [wnids[7], wnids[404], wnids[0]]
    assert resolve_class_map("imagenet", names, 1000) == [7, 404, 0]
    with pytest.raises(ConfigError, match="not found"):
        resolve_class_map("imagenet", ["cat"], 1000)
    with pytest.raises(ConfigError, match="give a class_map"):
        resolve_class_map(None, names, 1000)
