"""The series' one training loop, `helpers.training.fit`: schedules by progress, budget, metrics, errors."""

from __future__ import annotations

import math
import re
import time

import numpy as np
import pytest
import torch
from torch import nn

from helpers.training import NonFiniteLossError, _check_fused, _WeightAverage, cosine_lr, evaluate, fit


class _Scalar(nn.Module):
    """One parameter w; the loss pulls it towards the batch mean."""

    def __init__(self, start: float = 0.0):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(start))


def _pull(model, batch):
    return (model.w - batch).pow(2).mean()


def test_cosine_schedule_is_set_before_every_step_from_the_progress():
    model = _Scalar()
    progresses, positions = [], []

    def record(progress):
        progresses.append(progress)
        positions.append(model.w.item())

    far = torch.full((10,), 1000.0)  # a constant gradient sign: each Adam step moves w by about the lr
    fit(model, _pull, far, epochs=2, batch_size=5, lr=0.1, lr_schedule="cosine", progress=False, on_step=record)
    assert progresses == pytest.approx([0.0, 0.25, 0.5, 0.75]), "progress = steps done / total steps"
    moves = np.diff([*positions, model.w.item()])
    assert moves == pytest.approx([cosine_lr(0.1, p) for p in progresses], rel=1e-3)
    assert cosine_lr(0.1, 0.5) == pytest.approx(0.05) and cosine_lr(0.1, 1.0) == pytest.approx(0.0, abs=1e-12)


def test_a_budget_stops_mid_epoch_and_drives_the_progress():
    progresses = []

    def slow(model, batch):
        time.sleep(0.01)
        return _pull(model, batch)

    history = fit(_Scalar(), slow, torch.ones(400), epochs=1, batch_size=1, max_seconds=0.2, progress=False,
                  on_step=progresses.append)
    assert len(progresses) < 100, "the budget should end the single long epoch early"
    assert progresses[-1] < 1.0 and progresses == sorted(progresses)
    assert progresses[-1] > 0.5, "progress follows the clock when the budget binds first"
    assert history["epoch"] == [1] and history["seconds"][-1] >= 0.2


def test_time_in_on_epoch_end_is_not_counted():
    history = fit(_Scalar(), _pull, torch.ones(4), epochs=3, batch_size=4, progress=False,
                  on_epoch_end=lambda epoch: time.sleep(0.1))
    assert history["seconds"][-1] < 0.1, f"callback time leaked into the clock: {history['seconds']}"


def test_metrics_returned_by_the_loss_are_recorded_per_epoch():
    def loss(model, batch):
        value = _pull(model, batch)
        return value, {"double": 2 * value.detach()}

    history = fit(_Scalar(), loss, torch.ones(6), epochs=2, batch_size=4, progress=False)
    assert history["train_double"] == pytest.approx([2 * v for v in history["train_loss"]])


def test_keep_best_without_patience_and_a_separate_validation_loss():
    model = _Scalar()
    train_x, valid_x = torch.ones(8), torch.full((8,), 0.35)
    history = fit(model, _pull, train_x, epochs=30, batch_size=8, lr=0.05, valid_x=valid_x, keep_best=True,
                  valid_loss_fn=lambda m, b: (m.w - b).abs().mean(), progress=False)
    assert len(history["epoch"]) == 30, "without patience every epoch runs"
    assert abs(model.w.item() - 0.35) < 0.05, "the best validation epoch's weights are kept"
    assert min(history["valid_loss"]) < 0.05 and history["valid_loss"][-1] > 0.3, "valid_loss_fn was used"


def test_ema_ends_with_the_averaged_weights():
    model = _Scalar()
    fit(model, _pull, torch.ones(4), epochs=5, batch_size=4, lr=0.1, ema=0.9, progress=False)
    plain = _Scalar()
    fit(plain, _pull, torch.ones(4), epochs=5, batch_size=4, lr=0.1, progress=False)
    assert 0 < model.w.item() < plain.w.item(), "the average lags behind the weights it averages"


def test_weight_average_follows_its_formula():
    model = nn.Linear(2, 1)
    average = _WeightAverage(model, decay=0.9)
    before = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    average.update(model, step=1000)  # decay = min(0.9, 1001/1010) = 0.9
    assert all(torch.allclose(avg, old + 0.1) for avg, old in zip(average.shadow, before))
    current = [p.detach().clone() for p in model.parameters()]
    with average.swapped_in(model):
        assert torch.allclose(model.weight, average.shadow[0])
    assert all(torch.equal(p, c) for p, c in zip(model.parameters(), current)), "the weights come back"


def test_a_shared_generator_shuffles_and_the_transform_may_draw_from_it():
    def run():
        generator = torch.Generator().manual_seed(3)
        seen = []

        def transform(batch):
            seen.append(torch.rand(1, generator=generator).item())
            return batch

        fit(_Scalar(), _pull, torch.arange(6.0), epochs=2, batch_size=3, generator=generator,
            transform=transform, progress=False)
        return seen

    assert run() == run() and len(set(run())) == 4


def test_a_non_finite_loss_names_the_epoch_and_the_batch():
    calls = {"n": 0}

    def blows_up(model, batch):
        calls["n"] += 1
        return _pull(model, batch) * (math.inf if calls["n"] == 7 else 1.0)

    with pytest.raises(NonFiniteLossError, match=re.escape("the loss is inf at epoch 3, batch 1")):
        fit(_Scalar(), blows_up, torch.ones(9), epochs=5, batch_size=3, progress=False)
    assert issubclass(NonFiniteLossError, ValueError)


def test_a_model_that_diverges_stops_with_an_error_not_nan_weights():
    model = nn.Linear(1, 1)
    x = torch.full((8, 1), 1e20)
    with pytest.raises(NonFiniteLossError, match="epoch 1, batch 1"):
        fit(model, lambda m, b: (m(b) - b).pow(2).mean() * 1e30, x, epochs=2, batch_size=4, progress=False)


def test_fused_adam_is_the_default_on_cpu_and_takes_the_same_steps(monkeypatch):
    made = []
    plain_adam = torch.optim.Adam
    monkeypatch.setattr(torch.optim, "Adam", lambda *args, **kwargs: made.append(kwargs) or plain_adam(*args, **kwargs))
    torch.manual_seed(0)
    x = torch.randn(64, 5)
    finals = {}
    for fused in (None, False):
        torch.manual_seed(1)
        model = nn.Linear(5, 5)
        fit(model, lambda m, b: (m(b) - b).pow(2).mean(), x, epochs=3, batch_size=16, lr=0.01, fused=fused,
            progress=False)
        finals[fused] = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert [kwargs["fused"] for kwargs in made] == [True, False], "None means fused on the CPU"
    torch.manual_seed(1)
    start = torch.cat([p.detach().flatten() for p in nn.Linear(5, 5).parameters()])
    assert (finals[False] - start).abs().max() > 0.01, "training moved the weights"
    assert torch.allclose(finals[None], finals[False], atol=1e-5), "the same update, up to rounding"


def test_fused_is_resolved_per_device():
    assert _check_fused(None, torch.device("cpu")) and not _check_fused(None, torch.device("mps"))
    assert _check_fused(False, torch.device("cuda")) is False
    with pytest.raises(ValueError, match="fused Adam runs on cpu and cuda, not on mps"):
        _check_fused(True, torch.device("mps"))
    with pytest.raises(TypeError, match="fused must be True, False or None"):
        _check_fused("yes", torch.device("cpu"))


@pytest.mark.parametrize(("call", "error", "words"), [
    (lambda: fit(_Scalar(), _pull, torch.ones(4), epochs=1, patience=0, valid_x=torch.ones(2), progress=False),
     ValueError, "patience must be a positive int or None, got 0"),
    (lambda: fit(_Scalar(), _pull, torch.ones(4), epochs=1, max_seconds=0, progress=False),
     ValueError, "max_seconds must be a positive float or None, got 0"),
    (lambda: fit(_Scalar(), _pull, torch.ones(4), epochs=1, max_seconds=-2.0, progress=False),
     ValueError, "max_seconds must be a positive float or None, got -2.0"),
    (lambda: fit(_Scalar(), _pull, torch.tensor([1.0, math.nan]), epochs=1, progress=False),
     ValueError, "train_x must hold finite numbers, got 1 NaN or infinite values"),
    (lambda: fit(_Scalar(), _pull, torch.ones(4), epochs=1, valid_x=torch.tensor([math.inf]), progress=False),
     ValueError, "valid_x must hold finite numbers"),
    (lambda: fit(_Scalar(), _pull, torch.ones(0), epochs=1, progress=False),
     ValueError, "train_x must hold at least one example"),
    (lambda: fit(_Scalar(), _pull, np.ones(4, dtype=np.float32), epochs=1, progress=False),
     TypeError, "train_x must be a torch.Tensor, got ndarray"),
    (lambda: fit(_Scalar(), _pull, torch.ones(4, dtype=torch.float64), epochs=1, progress=False),
     TypeError, "train_x must have the model's dtype torch.float32, got torch.float64"),
    (lambda: fit(_Scalar(), _pull, torch.ones(4), epochs=1, ema=1.0, progress=False),
     ValueError, "ema must be a decay in [0, 1)"),
    (lambda: fit(_Scalar(), "loss", torch.ones(4), epochs=1, progress=False),
     TypeError, "loss_fn must be a function, got str"),
    (lambda: fit(_Scalar(), lambda m, b: m.w * torch.ones(2), torch.ones(4), epochs=1, progress=False),
     TypeError, "loss_fn must return a scalar tensor"),
    (lambda: evaluate(_Scalar(), _pull, torch.ones(0)), ValueError, "x must hold at least one example"),
    (lambda: evaluate(_Scalar(), _pull, np.ones(3)), TypeError, "x must be a torch.Tensor, got ndarray"),
    (lambda: evaluate(_Scalar(), _pull, torch.ones(3, dtype=torch.float64)), TypeError, "x must have the model's"),
    (lambda: evaluate(_Scalar(), _pull, torch.tensor([math.nan])), ValueError, "x must hold finite numbers"),
    (lambda: evaluate(nn.Module(), _pull, torch.ones(3)), ValueError, "model must have parameters"),
])
def test_bad_input_is_rejected_with_the_argument_named(call, error, words):
    with pytest.raises(error, match=re.escape(words)):
        call()
