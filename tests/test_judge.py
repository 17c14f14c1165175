"""The digit judge: confident on real digits, not on blobs, blends and sharp fakes it never saw in training; the
set-level measure (precision and recall in its feature space) tells real digits from class means and blur."""

import pytest
import torch

from helpers.data import load_mnist
from helpers.judge import (
    HELD_OUT_KINDS,
    NOT_A_DIGIT,
    TRAINING_KINDS,
    DigitJudge,
    format_report_card,
    gaussian_blur,
    held_out_non_digits,
    judged_as_requested,
    judged_digits,
    non_digits,
    precision_recall,
    present,
    report_card,
    set_baselines,
    set_scores,
    train_digit_judge,
)

# Ceilings on the false-positive rate of each held-out kind at the matched presentation (seed 0), with margin over
# the rates measured by `python -m tests.judge_eval --seeds 0 1 2 3 4` (mean +- SE over judge seeds): quadrants
# 0.6 +- 0.0 %, untrained decoder 0 %, rotations 15.1 +- 2.0 %, two blobs 17.6 +- 1.5 %, digit + mirror 46.2 +- 3.3 %
# (seed 0: 14.6, 19.3, 53.2 %). The judge before issue 29 accepted 68 % of top/bottom chimeras, 100 % of two blobs
# and 75 % of rotations made by these generators. Class-mean prototypes are not capped: thresholded, a class mean is
# a clean thick digit; the set-level measure catches them (test_set_level_measure_*).
FPR_CEILINGS = {"quadrants_14x14": 0.05, "untrained_decoder": 0.05, "rotated": 0.25, "two_blobs": 0.30,
                "mirror_overlay": 0.70}


@pytest.fixture(scope="module")
def judge_and_data():
    x_train, y_train = load_mnist("train")
    x_test, y_test = load_mnist("test")
    return train_digit_judge(x_train, y_train), x_train, x_test, y_test


@pytest.fixture(scope="module")
def card(judge_and_data):
    judge, _, x_test, y_test = judge_and_data
    return report_card(judge, x_test, y_test)


def test_judge_recognises_real_test_digits(judge_and_data):
    judge, _, x_test, y_test = judge_and_data
    assert (judge.predict(x_test) == y_test).float().mean() > 0.85
    assert judge.confidence(x_test).median() > 0.8


def test_real_digits_pass_at_both_presentations(card):
    assert card["real_digits_raw"] > 0.88 and card["real_digits_presented"] > 0.88
    assert card["real_accuracy_presented"] > 0.83


@pytest.mark.parametrize("kind", sorted(FPR_CEILINGS))
def test_held_out_fakes_are_rejected(card, kind):
    assert card["held_out_fpr"][kind] <= FPR_CEILINGS[kind], card["held_out_fpr"]


def test_report_card_keys(card):
    assert set(card) == {"real_digits_raw", "real_digits_presented", "real_accuracy_raw", "real_accuracy_presented",
                         "held_out_fpr", "held_out_fpr_raw", "blur_fpr_training_kind"}
    assert set(card["held_out_fpr"]) == set(card["held_out_fpr_raw"]) == set(HELD_OUT_KINDS)
    assert all(0 <= v <= 1 for v in [*card["held_out_fpr"].values(), *card["held_out_fpr_raw"].values()])
    assert card["blur_fpr_training_kind"] < 0.1


def test_held_out_kinds_are_never_training_kinds():
    assert not set(TRAINING_KINDS) & set(HELD_OUT_KINDS)
    x, y = load_mnist("train")
    assert len(TRAINING_KINDS) == 10
    fakes = non_digits(x[:100], y[:100], torch.Generator().manual_seed(0))
    assert len(fakes) == 100  # ten of each training kind, in TRAINING_KINDS order: nothing else is made


def test_held_out_non_digits_shapes_and_sharpness():
    x, y = load_mnist("test")
    fakes = held_out_non_digits(x, y, n=40, seed=1)
    assert list(fakes) == list(HELD_OUT_KINDS)
    for kind, images in fakes.items():
        assert images.shape[1] == 784 and 0 < len(images) <= 40, kind
        assert images.min() >= 0 and images.max() <= 1, kind
        if kind not in ("untrained_decoder", "class_mean"):
            assert set(images.unique().tolist()) <= {0.0, 1.0}, kind  # sharp
    assert torch.equal(fakes["rotated"], held_out_non_digits(x, y, n=40, seed=1)["rotated"])


def test_present_thresholds_at_one_half():
    images = torch.tensor([[0.2, 0.5, 0.51, 1.0] * 196])
    assert present(images)[0, :4].tolist() == [0.0, 0.0, 1.0, 1.0]
    assert present(images.reshape(1, 28, 28)).shape == (1, 784)
    with pytest.raises(ValueError, match="threshold"):
        present(images, threshold=1.5)


def test_matched_presentation_judges_grey_and_sharp_digits_alike(judge_and_data):
    judge, _, x_test, _ = judge_and_data
    raw, matched = judged_digits(judge, x_test, presented=False), judged_digits(judge, x_test)
    assert abs(raw - matched) < 0.05
    assert judged_digits(judge, present(x_test)) == matched  # presenting twice changes nothing


def test_judged_as_requested_is_never_not_a_digit(judge_and_data):
    judge, x_train, x_test, y_test = judge_and_data
    assert judged_as_requested(judge, x_test, y_test).float().mean() > 0.83
    blurred = gaussian_blur(x_test[:100], 3.0)
    verdict = judged_as_requested(judge, blurred, y_test[:100], presented=False)
    assert verdict.float().mean() < 0.1 and not (verdict & (judge.predict(blurred) == NOT_A_DIGIT)).any()
    with pytest.raises(ValueError, match="labels"):
        judged_as_requested(judge, x_test[:3], torch.tensor([0, 1, 10]))


def test_sharp_chimeras_and_blobs_are_rejected(judge_and_data):
    """Issue 29: the judge before it accepted 67 % of top/bottom chimeras and two blobs scored 0.88 as a '2'."""
    judge, _, x_test, y_test = judge_and_data
    chimeras = set_baselines(x_test, x_test, y_test, seed=1)["top/bottom chimeras"]
    assert judged_digits(judge, chimeras) < 0.35
    blobs = held_out_non_digits(x_test, y_test, n=300, seed=2)["two_blobs"]
    assert judged_digits(judge, blobs) < 0.3
    assert judge.confidence(blobs).median() < 0.5


@pytest.fixture(scope="module")
def set_level(judge_and_data):
    judge, x_train, x_test, y_test = judge_and_data
    reference = x_train[torch.randperm(len(x_train), generator=torch.Generator().manual_seed(0))[:500]]
    groups = set_baselines(x_train, x_test, y_test, n=500, seed=0)
    return {name: set_scores(judge, reference, images) for name, images in groups.items()}


def test_set_level_measure_separates_real_digits_from_class_means_and_blur(set_level):
    """Per image, thresholded class means pass as digits (~85 %); as a set they cover almost no real digit."""
    real, means = set_level["real test digits"], set_level["class means"]
    assert real["precision"] > 0.8 and real["recall"] > 0.8, set_level
    assert means["judged_digits"] > 0.5 and means["recall"] < 0.1, set_level  # fools the per-image judge, not this
    assert set_level["mean image"]["recall"] < 0.01 and set_level["mean image"]["judged_digits"] == 0
    blurred = set_level["blurred test digits (σ = 1.5 px)"]
    assert blurred["judged_digits"] < real["judged_digits"] - 0.15 and blurred["recall"] < real["recall"] - 0.03
    assert set_level["top/bottom chimeras"]["precision"] < real["precision"] - 0.3, set_level


def test_precision_recall_on_known_sets():
    generator = torch.Generator().manual_seed(0)
    cloud = torch.randn(400, 5, generator=generator)
    same = torch.randn(400, 5, generator=generator)
    precision, recall = precision_recall(cloud, same)
    assert precision > 0.85 and recall > 0.85
    collapsed = same[:4].repeat(100, 1) + 1e-3 * torch.randn(400, 5, generator=generator)  # four prototypes
    precision, recall = precision_recall(cloud, collapsed)
    assert precision == 1.0 and recall < 0.1
    far = same + 10
    assert precision_recall(cloud, far) == (0.0, 0.0)


def test_format_report_card_prints_every_held_out_kind(card):
    text = format_report_card(card)
    assert all(kind in text for kind in HELD_OUT_KINDS)


def test_blobs_blends_and_noise_get_low_confidence(judge_and_data):
    judge, x_train, x_test, _ = judge_and_data
    assert judge.confidence(x_train.mean(0, keepdim=True)).item() < 0.2
    assert judge.confidence(gaussian_blur(x_test, 2.0)).median() < 0.2
    blends = 0.5 * (x_test[:500] + x_test[500:])
    assert judge.confidence(blends).median() < 0.5
    assert judge.confidence(torch.rand(100, 784, generator=torch.Generator().manual_seed(0))).median() < 0.2


def test_training_is_reproducible():
    x, y = load_mnist("train")
    first = train_digit_judge(x[:300], y[:300], epochs=1, seed=3)
    second = train_digit_judge(x[:300], y[:300], epochs=1, seed=3)
    assert torch.equal(first.probabilities(x[:20]), second.probabilities(x[:20]))


def test_non_digits_match_the_digits_in_count_and_range():
    x, y = load_mnist("train")
    fakes = non_digits(x[:100], y[:100], torch.Generator().manual_seed(0))
    assert fakes.shape == (100, 784)
    assert fakes.min() >= 0 and fakes.max() <= 1


@pytest.mark.parametrize(("call", "argument"), [
    (lambda j: j.confidence([[0.0] * 784]), "images"),
    (lambda j: j.confidence(torch.zeros(3, 100)), "images"),
    (lambda j: j.confidence(torch.full((1, 784), 2.0)), "images"),
    (lambda j: j.confidence(torch.full((1, 784), float("nan"))), "images"),
    (lambda j: DigitJudge(hidden=0), "hidden"),
    (lambda j: gaussian_blur(torch.zeros(1, 784), 0), "sigma"),
    (lambda j: present(torch.full((1, 784), 2.0)), "images"),
    (lambda j: held_out_non_digits(torch.zeros(2, 784), torch.tensor([0])), "labels"),
    (lambda j: held_out_non_digits(torch.zeros(2, 784), torch.tensor([0, 1]), n=0), "n"),
    (lambda j: precision_recall(torch.zeros(5, 3), torch.zeros(5, 4)), "samples"),
    (lambda j: precision_recall(torch.zeros(2, 3), torch.zeros(5, 3)), "reference"),
    (lambda j: precision_recall(torch.zeros(5, 3), torch.zeros(5, 3), k=0), "k"),
    (lambda j: set_scores("judge", torch.zeros(5, 784), torch.zeros(5, 784)), "judge"),
    (lambda j: judged_digits(None, torch.zeros(5, 784)), "judge"),
    (lambda j: format_report_card([]), "card"),
    (lambda j: set_baselines(torch.zeros(5, 784), torch.zeros(5, 784), torch.arange(5), n=10), "n"),
    (lambda j: train_digit_judge(torch.zeros(4, 784), torch.tensor([0, 1, 2])), "labels"),
    (lambda j: train_digit_judge(torch.zeros(2, 784), torch.tensor([0, 11])), "labels"),
    (lambda j: train_digit_judge(torch.zeros(2, 784), torch.tensor([0, 1]), epochs=0), "epochs"),
])
def test_bad_inputs_name_the_argument(call, argument):
    with pytest.raises((ValueError, TypeError), match=argument):
        call(DigitJudge())
