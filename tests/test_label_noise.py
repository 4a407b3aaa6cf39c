"""Label noise (train only by default), the D_label signal that sees it, and the action dimensions that use it."""

import pytest
import torch
import torch.nn.functional as F

from rlkd.config import CurriculumConfig, DistillConfig, load_config
from rlkd.curriculum.actions import EpochAction, action_dims, decode_action
from rlkd.data import flip_labels, load_data
from rlkd.data.shards import load_shards
from rlkd.difficulty import label_difficulty
from rlkd.distill import DistillationRun
from rlkd.distill.losses import HintonKD, Targets
from rlkd.distill.samplers import SamplerAction, mix_with_random, sample_indices
from rlkd.errors import ConfigError
from rlkd.names import check_names
from tests.conftest import FRACTION_ONLY, run_overrides

CLASSES = 5


def labels_of(n_per_class=40):
    return torch.arange(CLASSES).repeat_interleave(n_per_class)


# ----------------------------------------------------------------------------- flip_labels


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.3, 0.55])
@pytest.mark.parametrize("kind", ["symmetric", "pairflip"])
def test_flip_realises_exactly_round_rate_n_flips_never_to_the_same_class(rate, kind):
    labels = labels_of(41)  # N = 205: round(rate * N) is not a multiple of anything convenient
    flipped = flip_labels(labels, CLASSES, rate, kind, seed=7)
    changed = flipped != labels
    assert int(changed.sum()) == round(rate * len(labels))
    assert flipped.min() >= 0 and flipped.max() < CLASSES and flipped.dtype == labels.dtype
    assert torch.equal(labels, labels_of(41))  # the input is left alone


def test_pairflip_moves_each_chosen_label_to_the_next_class():
    labels = labels_of()
    flipped = flip_labels(labels, CLASSES, 0.5, "pairflip", seed=1)
    changed = flipped != labels
    assert torch.equal(flipped[changed], (labels[changed] + 1) % CLASSES)


def test_symmetric_spreads_flips_over_the_other_classes():
    labels = torch.zeros(4000, dtype=torch.long)
    flipped = flip_labels(labels, CLASSES, 0.5, "symmetric", seed=0)
    counts = torch.bincount(flipped, minlength=CLASSES)
    assert counts[0] == 2000 and (counts[1:] > 400).all()  # ~500 each of the 4 other classes


def test_flip_is_deterministic_by_seed():
    labels = labels_of()
    assert torch.equal(flip_labels(labels, CLASSES, 0.3, "symmetric", 3),
                       flip_labels(labels, CLASSES, 0.3, "symmetric", 3))
    assert not torch.equal(flip_labels(labels, CLASSES, 0.3, "symmetric", 3),
                           flip_labels(labels, CLASSES, 0.3, "symmetric", 4))


# ----------------------------------------------------------------------------- load_data


def test_load_data_noises_train_only_and_changes_its_fingerprint():
    clean = load_data(load_config().data)
    noisy = load_data(load_config(None, ["data.label_noise.rate=0.3", "data.label_noise.seed=5"]).data)
    assert int((noisy.train.labels != clean.train.labels).sum()) == round(0.3 * len(clean.train))
    for split in ("val", "test"):
        assert torch.equal(noisy.split(split).labels, clean.split(split).labels)
        assert noisy.fingerprints[split] == clean.fingerprints[split]
    assert noisy.fingerprints["train"] != clean.fingerprints["train"] and noisy.fingerprint != clean.fingerprint
    assert torch.equal(noisy.train.images, clean.train.images) and noisy.train.ids == clean.train.ids
    assert noisy.noise["flipped"] == {"train": round(0.3 * len(clean.train)), "val": 0, "test": 0}
    assert noisy.noise["kind"] == "symmetric" and noisy.noise["splits"] == ["train"] and clean.noise == {}
    again = load_data(load_config(None, ["data.label_noise.rate=0.3", "data.label_noise.seed=5"]).data)
    assert torch.equal(again.train.labels, noisy.train.labels)


def test_val_noised_only_on_request_test_never():
    clean = load_data(load_config().data)
    both = load_data(load_config(None, ["data.label_noise.rate=0.2", "data.label_noise.kind=pairflip",
                                        "data.label_noise.splits=[train, val]"]).data)
    assert both.noise["flipped"] == {"train": round(0.2 * len(clean.train)), "val": round(0.2 * len(clean.val)),
                                     "test": 0}
    assert torch.equal(both.test.labels, clean.test.labels)


@pytest.mark.parametrize("override", ["data.label_noise.rate=1.0", "data.label_noise.rate=-0.1",
                                      "data.label_noise.splits=[test]", "data.label_noise.kind=uniform"])
def test_bad_label_noise_settings_name_the_key(override):
    with pytest.raises(ConfigError, match="data.label_noise"):
        load_config(None, [override])


@pytest.mark.slow
def test_teacher_stage_trains_on_the_noisy_train_labels(tmp_path):
    from rlkd.models.io import read_metadata
    from rlkd.stages import STAGES, execute

    cfg = load_config(None, ["teacher.epochs=1", "teacher.cross_fit=2", "data.label_noise.rate=0.3"])
    execute(STAGES["teacher"], cfg, tmp_path)
    for name in ("teacher.safetensors", "fold0.safetensors"):
        assert read_metadata(tmp_path / name)["data_fingerprint"] == load_data(cfg.data).fingerprint
    assert load_data(cfg.data).fingerprint != load_data(load_config().data).fingerprint


# ----------------------------------------------------------------------------- D_label and the clean sampler


def test_label_difficulty_is_one_minus_teacher_probability_of_the_label():
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.7, 0.2, 0.1], [0.05, 0.05, 0.9]])
    labels = torch.tensor([0, 1, 2])
    got = label_difficulty(probs.log(), labels)
    assert torch.allclose(got, torch.tensor([0.3, 0.8, 0.1]), atol=1e-6)


def test_clean_sampler_keeps_the_lowest_d_label_within_each_class():
    labels = labels_of()
    d_label = torch.rand(len(labels), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    d_label[labels == 0] += 5.0  # class 0 all "noisy": a global cut would drop it
    idx = sample_indices("clean", d_label, labels, SamplerAction(0.5, 0.25, 0.0), CurriculumConfig(),
                         torch.Generator().manual_seed(0))
    for c in range(CLASSES):
        members = torch.nonzero(labels == c).squeeze(1)
        chosen = torch.isin(members, idx)
        assert int(chosen.sum()) == 10
        assert d_label[members[chosen]].max() < d_label[members[~chosen]].min()


# ----------------------------------------------------------------------------- the mix between window and random


def window_and_random(mix, fraction=0.3, seed=0):
    labels = labels_of()
    difficulty = torch.rand(len(labels), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    cfg = CurriculumConfig()
    def pick(name, m):
        return sample_indices(name, difficulty, labels, SamplerAction(0.9, fraction, 0.0, m), cfg,
                              torch.Generator().manual_seed(seed))
    return labels, pick("adaptive", mix), pick("adaptive", 1.0), pick("random", 1.0)


def test_mix_one_is_the_window_itself():
    _, mixed, window, _ = window_and_random(1.0)
    assert torch.equal(mixed, window)


def test_mix_zero_is_the_random_control_at_that_fraction():
    labels, mixed, window, random = window_and_random(0.0)
    assert len(mixed) == len(random) and len(torch.unique(mixed)) == len(mixed)
    assert torch.equal(torch.bincount(labels[mixed]), torch.bincount(labels[random]))
    assert not torch.equal(mixed, window)
    draws = torch.stack([window_and_random(0.0, seed=s)[1] for s in range(200)])
    hits = torch.bincount(draws.flatten(), minlength=len(labels)).double() / 200
    assert hits.min() > 0.1 and hits.max() < 0.55  # every sample drawn at about the fraction's rate (0.3)


def test_mix_in_between_keeps_that_share_of_the_window_per_class():
    labels, mixed, window, _ = window_and_random(0.5)
    assert len(mixed) == len(window)
    for c in range(CLASSES):
        in_class = mixed[labels[mixed] == c]
        assert len(in_class) == int((labels[window] == c).sum()) == 12
        assert int(torch.isin(in_class, window).sum()) >= 6  # round(0.5 * 12) kept, the fill may add more


def test_mix_follows_the_unstratified_window_when_asked():
    labels = labels_of()
    window = torch.arange(50)  # classes 0 and 1 only
    mixed = mix_with_random(window, labels, 0.0, False, torch.Generator().manual_seed(0))
    assert len(mixed) == 50 and len(torch.unique(labels[mixed])) > 2


# ----------------------------------------------------------------------------- the action space


def test_decode_action_with_every_dimension_on():
    cfg = load_config(None, ["env.control_temperature=true", "env.control_teacher_weights=true",
                             "env.control_alpha=true", "env.control_mix=true", "env.control_sampler=true",
                             "distill.alpha=0.3", "distill.temperature=2.0"])
    assert action_dims(cfg.env, 2) == ["difficulty", "fraction", "temperature", "teacher_weight_0",
                                       "teacher_weight_1", "alpha", "mix", "sampler"]
    a = decode_action([0.2, 0.25, 0.75, 0.3, 0.1, 0.25, 0.25, 0.6], cfg, 2)
    lo, hi = cfg.env.temperature_range  # 1, 8
    assert a.difficulty == pytest.approx(0.2)
    assert a.fraction == pytest.approx(0.3 + 0.7 / 2)  # halfway from min_fraction up to the anchor 1
    assert a.temperature == pytest.approx(2.0 + (hi - 2.0) / 2)  # halfway from the anchor 2 up to 8
    assert a.teacher_weights == pytest.approx((0.301 / 0.402, 0.101 / 0.402))
    assert a.alpha == pytest.approx(0.15) and a.mix == pytest.approx(0.5)  # halfway from 0 to the anchors 0.3, 1
    assert a.sampler == cfg.env.sampler_choices[int(0.6 * len(cfg.env.sampler_choices))]
    assert [decode_action([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, s], cfg, 2).sampler for s in (0.0, 1.0)] == \
        [cfg.env.sampler_choices[0], cfg.env.sampler_choices[-1]]


def test_the_centre_of_the_action_box_is_kd_on_all_data_with_the_runs_recipe():
    cfg = load_config(None, ["env.control_temperature=true", "env.control_alpha=true", "env.control_mix=true",
                             "distill.alpha=0.3", "distill.temperature=2.0"])
    centre = decode_action([0.5] * len(action_dims(cfg.env, 1)), cfg, 1)
    assert (centre.fraction, centre.alpha, centre.temperature, centre.mix) == (1.0, pytest.approx(0.3),
                                                                              pytest.approx(2.0), 1.0)
    upper = decode_action([0.9] * len(action_dims(cfg.env, 1)), cfg, 1)  # all data from the centre up
    assert upper.fraction == 1.0 and upper.mix == 1.0
    corner = decode_action([0.0] * len(action_dims(cfg.env, 1)), cfg, 1)
    assert (corner.fraction, corner.alpha, corner.temperature, corner.mix) == (cfg.env.min_fraction, 0.0, 1.0, 0.0)
    assert decode_action([1.0] * len(action_dims(cfg.env, 1)), cfg, 1).alpha == 1.0  # labels only is reachable


def test_controls_off_leave_the_run_its_configured_values():
    cfg = load_config(None, FRACTION_ONLY)
    a = decode_action([0.4] * len(action_dims(cfg.env, 1)), cfg, 1)
    assert a.alpha is None and a.mix is None and a.sampler == cfg.env.sampler


def test_new_controls_need_a_continuous_action():
    with pytest.raises(ConfigError, match="env.action"):
        load_config(None, ["env.action=discrete", "env.control_fraction=false", "env.control_mix=true"])
    with pytest.raises(ConfigError, match=r"env.sampler_choices\[1\]"):
        check_names(load_config(None, ["env.sampler_choices=[adaptive, nope]"]))


# ----------------------------------------------------------------------------- alpha reaches the loss


def test_kd_loss_at_alpha_one_is_the_label_loss_and_at_zero_the_soft_one():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(16, CLASSES, generator=gen, requires_grad=True)
    labels = torch.randint(CLASSES, (16,), generator=gen)
    probs = torch.softmax(torch.randn(1, 16, CLASSES, generator=gen), dim=-1)
    loss = HintonKD(DistillConfig(alpha=0.5))
    hard = loss(logits, Targets(labels, None, probs, 4.0, alpha=1.0))
    assert hard.item() == pytest.approx(F.cross_entropy(logits, labels).item(), rel=1e-6)
    (grad,) = torch.autograd.grad(hard, logits)
    (want,) = torch.autograd.grad(F.cross_entropy(logits, labels), logits)
    assert torch.allclose(grad, want, atol=1e-7)
    soft = loss(logits, Targets(labels, None, probs, 4.0, alpha=0.0))
    want_soft = 16.0 * F.cross_entropy(logits / 4.0, probs[0])
    assert soft.item() == pytest.approx(want_soft.item(), rel=1e-6)
    configured = loss(logits, Targets(labels, None, probs, 4.0))
    assert configured.item() == pytest.approx(0.5 * hard.item() + 0.5 * soft.item(), rel=1e-6)


@pytest.fixture(scope="module")
def inputs(teacher_dir, shards_dir):
    """(config for a mode, data, shards): the session's digits teacher and shards."""
    overrides = run_overrides(teacher_dir, shards_dir) + ["distill.epochs=3"]
    def cfg(mode="kd"):
        return load_config(None, overrides + [f"distill.mode={mode}"])
    return cfg, load_data(cfg().data), load_shards(shards_dir)


def test_run_epoch_alpha_one_trains_like_labels_only(inputs):
    cfg, data, shards = inputs
    kd = DistillationRun(cfg(), shards, 2, data)
    kd.epoch(EpochAction(0.5, 0.6, sampler="adaptive", alpha=1.0))
    plain = DistillationRun(cfg("labels"), shards, 2, data)
    plain.epoch(EpochAction(0.5, 0.6, sampler="adaptive"))
    for p, q in zip(kd.student.parameters(), plain.student.parameters()):
        assert torch.allclose(p, q, atol=1e-5)
    soft = DistillationRun(cfg(), shards, 2, data)
    soft.epoch(EpochAction(0.5, 0.6, sampler="adaptive", alpha=0.0))
    assert any(not torch.allclose(p, q, atol=1e-3) for p, q in zip(soft.student.parameters(), kd.student.parameters()))
    assert kd.history[0]["alpha"] == 1.0 and soft.history[0]["alpha"] == 0.0


def test_alpha_for_a_loss_without_a_label_weight_is_a_config_error(inputs):
    cfg, data, shards = inputs
    with pytest.raises(ConfigError, match="env.control_alpha"):
        DistillationRun(cfg("dkd"), shards, 0, data).epoch(EpochAction(alpha=0.5))


def test_run_exposes_d_label_and_the_clean_sampler_uses_it(inputs):
    cfg, data, shards = inputs
    run = DistillationRun(cfg(), shards, 0, data)
    d_label = label_difficulty(shards.splits["train"].logits[0, :, 0], data.train.labels)
    assert torch.allclose(run.d_label, d_label)
    obs = run.observe()
    assert obs["d_label_q50"] == pytest.approx(torch.quantile(d_label.double(), 0.5).item())
    assert 0 <= obs["d_label_q50"] <= obs["d_label_q90"] <= 1
    stats = run.epoch(EpochAction(fraction=0.5, sampler="clean", mix=1.0))
    assert stats.subset_d_label_mean < d_label.mean().item()
    assert stats.mix == 1.0
