import numpy as np
import pytest
import torch
from PIL import Image

from rlkd.config import load_config
from rlkd.data import load_data
from rlkd.errors import ConfigError, DataError


def assert_disjoint(data):
    ids = [set(data.split(s).ids) for s in ("train", "val", "test")]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    for s in ("train", "val", "test"):
        sp = data.split(s)
        assert sp.images.dtype == torch.uint8 and sp.images.ndim == 4 and sp.labels.dtype == torch.int64


def test_digits_splits_disjoint_deterministic_stratified():
    cfg = load_config()
    a, b = load_data(cfg.data), load_data(cfg.data)
    assert_disjoint(a)
    assert len(a.train) + len(a.val) + len(a.test) == 1797
    assert a.fingerprints == b.fingerprints and a.train.ids == b.train.ids
    for s in ("train", "val", "test"):  # every class in every split, near the overall share
        counts = np.bincount(a.split(s).labels.numpy(), minlength=10)
        assert counts.min() > 0.07 * len(a.split(s))
    other = load_data(load_config(None, ["data.seed=1"]).data)
    assert other.train.ids != a.train.ids


def test_digits_harder_variant_places_and_noises():
    plain = load_data(load_config(None, ["data.digits.canvas=8"]).data)
    hard = load_data(load_config(None, ["data.digits.canvas=20", "data.digits.upscale=2",
                                        "data.digits.noise=0.05"]).data)
    assert plain.input_shape == (1, 8, 8) and hard.input_shape == (1, 20, 20)
    # digit ink sums are preserved up to noise; offsets differ between samples
    tops = [int(torch.nonzero(img[0] > 128)[:, 0].min()) for img in load_data(
        load_config(None, ["data.digits.canvas=20"]).data).train.images[:50]]
    assert len(set(tops)) > 3
    assert hard.train.images.float().std() > 0


def test_digits_rejects_image_size():
    with pytest.raises(ConfigError, match="image_size"):
        load_data(load_config(None, ["data.image_size=32"]).data)


def make_pil(label, mode="RGB", size=(10, 12)):
    rng = np.random.default_rng(label)
    arr = rng.integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    img = Image.fromarray(arr, "RGB")
    return img.convert(mode)


def hf_dataset(tmp_path, splits=("train", "test"), n=20, label_col="label", modes=("RGB",)):
    import datasets

    feats = datasets.Features({"image": datasets.Image(), label_col: datasets.ClassLabel(names=["cat", "dog"])})
    dd = {}
    for s in splits:
        rows = {"image": [make_pil(i, modes[i % len(modes)]) for i in range(n)], label_col: [i % 2 for i in range(n)]}
        dd[s] = datasets.Dataset.from_dict(rows, features=feats)
    path = tmp_path / "hfds"
    datasets.DatasetDict(dd).save_to_disk(str(path))
    return path


def hf_cfg(path, *extra):
    return load_config(None, ["data.source=hf", f"data.hf.path={path}", "data.image_size=8", *extra]).data


def test_hf_source_carves_val_from_train(tmp_path):
    path = hf_dataset(tmp_path)
    data = load_data(hf_cfg(path))
    assert_disjoint(data)
    assert data.class_names == ["cat", "dog"]
    assert data.train.images.shape[1:] == (3, 8, 8)
    assert len(data.test) == 20 and len(data.train) + len(data.val) == 20
    assert all(":train:" in i for i in data.val.ids)  # val came out of train, never out of test
    again = load_data(hf_cfg(path))
    assert again.fingerprint == data.fingerprint


def test_hf_source_uses_given_val_and_grayscale(tmp_path):
    path = hf_dataset(tmp_path, splits=("train", "validation", "test"))
    data = load_data(hf_cfg(path, "data.channels=1"))
    assert len(data.val) == 20 and data.in_chans == 1


def test_hf_missing_label_column(tmp_path):
    path = hf_dataset(tmp_path, label_col="target")
    with pytest.raises(DataError, match=r"no column 'label' \(data\.hf\.label_column\).*target"):
        load_data(hf_cfg(path))


def test_hf_mixed_modes_error_then_conversion(tmp_path):
    path = hf_dataset(tmp_path, modes=("RGB", "L"))
    with pytest.raises(DataError, match=r"mixed channels.*data\.channels"):
        load_data(hf_cfg(path))
    data = load_data(hf_cfg(path, "data.channels=3"))
    assert data.in_chans == 3


def test_hf_missing_path(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_data(hf_cfg(tmp_path / "missing"))


def test_hf_by_name_uses_load_dataset(tmp_path):
    """data.hf.name goes through datasets.load_dataset (here its local imagefolder builder)."""
    root = tmp_path / "tree"
    for split in ("train", "test"):
        for c in ("a", "b"):
            (root / split / c).mkdir(parents=True)
            for i in range(6):
                make_pil(i).save(root / split / c / f"{i}.png")
    cfg = load_config(None, ["data.source=hf", "data.hf.name=imagefolder", f"data.hf.data_dir={root}",
                             "data.image_size=8"]).data
    data = load_data(cfg)
    assert data.class_names == ["a", "b"] and len(data.test) == 12


def write_folder(root, splits=("train", "test"), n=4):
    for split in splits:
        for c in ("ant", "bee"):
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                make_pil(i + 10 * len(split)).save(root / split / c / f"{c}{i}.png")


def test_imagefolder_source(tmp_path):
    write_folder(tmp_path)
    data = load_data(load_config(None, ["data.source=imagefolder", f"data.imagefolder.root={tmp_path}",
                                        "data.image_size=6"]).data)
    assert_disjoint(data)
    assert data.class_names == ["ant", "bee"] and data.train.images.shape[1:] == (3, 6, 6)
    assert len(data.test) == 8 and len(data.train) + len(data.val) == 8


def test_imagefolder_missing_root(tmp_path):
    with pytest.raises(DataError, match="is not a directory"):
        load_data(load_config(None, ["data.source=imagefolder", f"data.imagefolder.root={tmp_path / 'x'}"]).data)


def test_imagefolder_mixed_sizes_need_image_size(tmp_path):
    write_folder(tmp_path)
    make_pil(0, size=(20, 20)).save(tmp_path / "train" / "ant" / "big.png")
    with pytest.raises(DataError, match=r"big\.png.*mixed size.*data\.image_size"):
        load_data(load_config(None, ["data.source=imagefolder", f"data.imagefolder.root={tmp_path}"]).data)
