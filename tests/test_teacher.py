import json

import numpy as np
import pytest
import torch

from rlkd.cli import main
from rlkd.models import read_metadata
from rlkd.teacher.calibration import fit_temperature, nll
from rlkd.teacher.folds import fold_assignment


@pytest.mark.slow
def test_teacher_on_digits_reaches_95(tmp_path):
    """The shipped teacher settings; its folds (cross-fitting) change nothing asserted here, and have their own test."""
    out = tmp_path / "teacher"
    assert main(["teacher", "--out", str(out), "--set", "teacher.cross_fit=0"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_acc"] >= 95.0, metrics
    assert metrics["selection"] == "best_val_epoch"
    meta = read_metadata(out / "teacher.safetensors")
    assert meta["arch"] == "tiny_cnn" and meta["num_classes"] == 10 and meta["temperature"] >= 1.0
    assert (out / "config.yaml").is_file()


def test_calibration_lowers_val_nll():
    torch.manual_seed(0)
    labels = torch.randint(0, 10, (2000,))
    # an overconfident model: right 80% of the time, always with a huge margin
    logits = torch.randn(2000, 10)
    pred = torch.where(torch.rand(2000) < 0.8, labels, torch.randint(0, 10, (2000,)))
    logits[torch.arange(2000), pred] += 12.0
    t = fit_temperature(logits, labels)
    assert t > 1.5
    assert nll(logits, labels, t) < nll(logits, labels) - 0.1
    # T* is a minimum: nudging it either way does not help
    assert nll(logits, labels, t) <= min(nll(logits, labels, t * 1.05), nll(logits, labels, t / 1.05))


def test_calibration_guard_keeps_t_at_least_min():
    labels = torch.arange(10).repeat(20)
    logits = torch.nn.functional.one_hot(labels, 10).float() * 2.0  # underconfident and always right
    assert fit_temperature(logits, labels, min_temperature=0.05) < 1.0
    assert fit_temperature(logits, labels, min_temperature=1.0) == 1.0


def test_fold_assignment_partitions_stratified():
    labels = np.repeat(np.arange(5), 30)
    folds = fold_assignment(labels, 3, seed=0)
    assert set(folds) == {0, 1, 2}
    for k in range(3):
        assert np.all(np.bincount(labels[folds == k], minlength=5) == 10)
    assert np.array_equal(folds, fold_assignment(labels, 3, seed=0))


@pytest.mark.slow
def test_cross_fit_folds_partition_train_and_never_see_their_fold(tmp_path):
    from rlkd.config import load_config
    from rlkd.data import load_data
    from rlkd.models import build_model
    from rlkd.models.inference import predict_logits

    out = tmp_path / "teacher"
    assert main(["teacher", "--out", str(out), "--set", "teacher.cross_fit=3", "--set", "teacher.epochs=12"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    main_meta = read_metadata(out / "teacher.safetensors")
    assert main_meta["folds"] == ["fold0.safetensors", "fold1.safetensors", "fold2.safetensors"]
    data = load_data(load_config().data)
    held = [read_metadata(out / f)["holdout"] for f in main_meta["folds"]]
    assert sorted(sum(held, [])) == list(range(len(data.train)))  # a partition of train
    for name, holdout in zip(main_meta["folds"], held):
        model = build_model("tiny_cnn", 10, 1, input_shape=data.input_shape, checkpoint=str(out / name))
        probs = torch.softmax(predict_logits(model, data.train.images), 1)
        seen = np.setdiff1d(np.arange(len(data.train)), holdout)
        nll_seen = -probs[seen, data.train.labels[seen]].log().mean()
        nll_held = -probs[holdout, data.train.labels[holdout]].log().mean()
        assert nll_held > 1.3 * nll_seen  # it fits what it trained on better than its held-out fold
    assert metrics["train_oof_acc"] > 80.0
    # exact: retraining fold 0 on train minus its recorded holdout reproduces the saved teacher
    from rlkd.stages.teacher import _fresh_teacher
    from rlkd.teacher.training import train_classifier

    cfg = load_config(None, ["teacher.cross_fit=3", "teacher.epochs=12"])
    again = _fresh_teacher(cfg, data, 10, cfg.teacher.seed + 1)
    train_classifier(again, data.train.subset(np.setdiff1d(np.arange(len(data.train)), held[0])), data.val,
                     cfg.teacher, torch.device("cpu"))
    saved = build_model("tiny_cnn", 10, 1, input_shape=data.input_shape, checkpoint=str(out / "fold0.safetensors"))
    assert torch.allclose(predict_logits(again, data.val.images), predict_logits(saved, data.val.images), atol=1e-5)
