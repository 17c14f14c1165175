"""The digit judge: confident on real digits, not on the blobs and blends that fooled an L2 measure."""

import pytest
import torch

from helpers.data import load_mnist
from helpers.judge import DigitJudge, gaussian_blur, non_digits, train_digit_judge


@pytest.fixture(scope="module")
def judge_and_data():
    x_train, y_train = load_mnist("train")
    x_test, y_test = load_mnist("test")
    return train_digit_judge(x_train, y_train), x_train, x_test, y_test


def test_judge_recognises_real_test_digits(judge_and_data):
    judge, _, x_test, y_test = judge_and_data
    assert (judge.predict(x_test) == y_test).float().mean() > 0.85
    assert judge.confidence(x_test).median() > 0.8


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
    (lambda j: train_digit_judge(torch.zeros(4, 784), torch.tensor([0, 1, 2])), "labels"),
    (lambda j: train_digit_judge(torch.zeros(2, 784), torch.tensor([0, 11])), "labels"),
    (lambda j: train_digit_judge(torch.zeros(2, 784), torch.tensor([0, 1]), epochs=0), "epochs"),
])
def test_bad_inputs_name_the_argument(call, argument):
    with pytest.raises((ValueError, TypeError), match=argument):
        call(DigitJudge())
