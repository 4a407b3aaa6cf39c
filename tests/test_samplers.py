import pytest
import torch

from rlkd.config import CurriculumConfig
from rlkd.distill.samplers import SAMPLERS, SamplerAction, rank01, sample_indices

N_PER_CLASS, CLASSES = 50, 4


def setup():
    gen = torch.Generator().manual_seed(0)
    labels = torch.arange(CLASSES).repeat_interleave(N_PER_CLASS)
    # class 0 is all easy, class 3 all hard: a global window would drop classes
    difficulty = (labels.double() + torch.rand(len(labels), generator=gen, dtype=torch.float64)) / CLASSES
    return difficulty, labels


def pick(name, d=0.5, f=0.7, progress=0.0, stratify=True, seed=0, **cfg):
    difficulty, labels = setup()
    return sample_indices(name, difficulty, labels, SamplerAction(d, f, progress),
                          CurriculumConfig(stratify=stratify, **cfg), torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", ["adaptive", "easy_to_hard", "hard_mining", "mixed", "anti", "random"])
def test_size_and_class_coverage(name):
    idx = pick(name, f=0.3)
    _, labels = setup()
    assert len(idx) == CLASSES * round(0.3 * N_PER_CLASS)
    assert len(torch.unique(idx)) == len(idx)
    assert torch.equal(torch.bincount(labels[idx], minlength=CLASSES), torch.full((CLASSES,), 15))


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_deterministic_for_a_seed(name):
    assert torch.equal(pick(name, seed=3), pick(name, seed=3))


def test_adaptive_nearest_difficulty_within_class():
    difficulty, labels = setup()
    idx = pick("adaptive", d=0.2, f=0.3)
    for c in range(CLASSES):
        cls = torch.nonzero(labels == c).squeeze(1)
        r = rank01(difficulty[cls])
        chosen = torch.isin(cls, idx)
        # every chosen sample is at least as near the target rank as every unchosen one
        assert (r[chosen] - 0.2).abs().max() <= (r[~chosen] - 0.2).abs().min() + 1e-12


def test_unstratified_reproduces_the_seed_and_drops_classes():
    _, labels = setup()
    idx = pick("adaptive", d=0.0, f=0.3, stratify=False)
    assert len(idx) == round(0.3 * CLASSES * N_PER_CLASS)
    assert len(torch.unique(labels[idx])) < CLASSES  # what stratify=true prevents


def test_random_is_same_size_as_the_curriculum():
    for f in (0.3, 0.5, 0.7):
        assert len(pick("random", f=f)) == len(pick("adaptive", f=f))
    assert not torch.equal(pick("random", seed=1), pick("random", seed=2))


def test_threshold_and_full_and_pacing():
    difficulty, labels = setup()
    idx = pick("threshold", d=0.4)
    assert torch.equal(idx[difficulty[idx] <= 0.4], torch.nonzero(difficulty <= 0.4).squeeze(1))
    above = idx[difficulty[idx] > 0.4]  # only the easiest sample of a class with nothing under d
    for i in above:
        cls = labels == labels[i]
        assert difficulty[i] == difficulty[cls].min() and not bool((difficulty[cls] <= 0.4).any())
    assert len(torch.unique(labels[idx])) == CLASSES
    assert len(pick("full")) == CLASSES * N_PER_CLASS
    sizes = [len(pick("pacing", progress=p, pacing_start=0.2)) for p in (0.0, 0.5, 0.9)]
    assert sizes[0] == CLASSES * 10 and sizes[0] < sizes[1] < sizes[2]
    root = len(pick("pacing", progress=0.25, pacing_start=0.2, pacing="root"))
    linear = len(pick("pacing", progress=0.25, pacing_start=0.2, pacing="linear"))
    assert root > linear


def test_anti_goes_from_hard_to_easy():
    difficulty, _ = setup()
    early, late = pick("anti", progress=0.0), pick("anti", progress=0.9)
    assert difficulty[early].mean() > difficulty[late].mean()


def test_bad_actions_are_clear():
    with pytest.raises(ValueError, match="fraction must be in"):
        SamplerAction(0.5, 0.0, 0.0)
    with pytest.raises(ValueError, match="difficulty must be in"):
        SamplerAction(1.5, 0.5, 0.0)
    with pytest.raises(ValueError, match="unknown sampler"):
        pick("nope")
