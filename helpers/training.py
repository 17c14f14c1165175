"""The series' one training loop: Adam over shuffled minibatches, schedules by progress, a wall-clock budget,
early stopping, a progress line and a history.

`fit(model, loss_fn, x, epochs=...)` is all most cells need. The VAE recipes of `helpers.recipes` use the same loop
with its options: a per-step cosine learning rate, a KL weight set by `on_step`, a budget in seconds and the
best validation epoch kept. A run's *progress* is the fraction of its steps done, or, with a budget, the larger of
that and the fraction of the budget used; schedules follow it, so one recipe works for a 20 s and a 20 min run.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable

import torch

from . import validate
from .progress import ProgressLine

__all__ = ["fit", "evaluate", "cosine_lr", "NonFiniteLossError", "LR_SCHEDULES"]

LossFn = Callable[[torch.nn.Module, torch.Tensor], "torch.Tensor | tuple[torch.Tensor, dict]"]
LR_SCHEDULES = ("constant", "cosine")


class NonFiniteLossError(ValueError):
    """The training loss became NaN or infinite; the message names the epoch and the batch."""


def _check_positive(name: str, value, kind=int) -> None:
    allowed = (int, float) if kind is float else (int,)
    if (not isinstance(value, allowed) or isinstance(value, bool) or not math.isfinite(value) or value <= 0):
        raise ValueError(f"{name} must be a positive {kind.__name__}, got {value!r}")


def _check_optional_positive(name: str, value, kind=int) -> None:
    if value is not None:
        try:
            _check_positive(name, value, kind)
        except ValueError:
            raise ValueError(f"{name} must be a positive {kind.__name__} or None, got {value!r}") from None


def _check_callable(name: str, value, optional: bool = True) -> None:
    if not (callable(value) or (optional and value is None)):
        raise TypeError(f"{name} must be a function{' or None' if optional else ''}, got {type(value).__name__}")


def _check_model(model) -> torch.nn.Parameter:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    first = next(model.parameters(), None)
    if first is None:
        raise ValueError("model must have parameters to train or to take its device from, got none")
    return first


def _check_data(name: str, x, like: torch.Tensor) -> None:
    """x: a non-empty floating-point tensor of the model's dtype, without NaN or infinite values."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__} "
                        f"(convert with torch.as_tensor({name}, dtype={like.dtype}))")
    if x.dim() == 0 or len(x) == 0:
        raise ValueError(f"{name} must hold at least one example (a tensor with a first dimension ≥ 1), "
                         f"got shape {tuple(x.shape)}")
    if x.dtype != like.dtype:
        raise TypeError(f"{name} must have the model's dtype {like.dtype}, got {x.dtype} "
                        f"(convert with {name}.to({like.dtype}))")
    bad = int((~torch.isfinite(x)).sum())
    if bad:
        raise ValueError(f"{name} must hold finite numbers, got {bad} NaN or infinite values of {x.numel()}")


def _split_loss(output) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """A loss function returns a scalar tensor, or (scalar, {name: batch mean to record})."""
    loss, metrics = output if isinstance(output, tuple) else (output, {})
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise TypeError(f"loss_fn must return a scalar tensor (or a (scalar, dict) pair), got {type(loss).__name__} "
                        f"of shape {tuple(getattr(loss, 'shape', ()))}")
    return loss, metrics


def cosine_lr(lr: float, progress: float) -> float:
    """The learning rate at `progress` ∈ [0, 1] of a cosine schedule: lr·½(1 + cos π·progress)."""
    _check_positive("lr", lr, float)
    if isinstance(progress, bool) or not isinstance(progress, (int, float)) or not 0 <= progress <= 1:
        raise ValueError(f"progress must be a fraction in [0, 1], got {progress!r}")
    return lr * 0.5 * (1.0 + math.cos(math.pi * progress))


@torch.no_grad()
def evaluate(model: torch.nn.Module, loss_fn: LossFn, x: torch.Tensor, batch_size: int = 500) -> float:
    """Mean of `loss_fn(model, batch)` over x, weighted by batch size, in eval mode, without gradients."""
    like = _check_model(model)
    _check_callable("loss_fn", loss_fn, optional=False)
    _check_data("x", x, like)
    _check_positive("batch_size", batch_size)
    was_training = model.training
    model.eval()
    total = 0.0
    try:
        for batch in x.split(batch_size):
            total += float(_split_loss(loss_fn(model, batch.to(like.device)))[0]) * len(batch)
    finally:
        model.train(was_training)
    return total / len(x)


def fit(
    model: torch.nn.Module,
    loss_fn: LossFn,
    train_x: torch.Tensor,
    *,
    epochs: int,
    batch_size: int = 128,
    lr: float = 1e-3,
    valid_x: torch.Tensor | None = None,
    valid_loss_fn: LossFn | None = None,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    weight_decay: float = 0.0,
    lr_schedule: str = "constant",
    patience: int | None = None,
    keep_best: bool | None = None,
    max_seconds: float | None = None,
    ema: float = 0.0,
    progress: bool = True,
    desc: str = "training",
    seed: int = 0,
    generator: torch.Generator | None = None,
    on_step: Callable[[float], None] | None = None,
    on_epoch_end: Callable[[int], None] | None = None,
    fused: bool | None = None,
) -> dict[str, list[float]]:
    """Minimize mean `loss_fn(model, batch)` with Adam over shuffled minibatches of train_x.

    loss_fn: returns a scalar tensor, or (scalar, {name: batch mean}) to record history["train_<name>"].
    transform: applied to each batch before the loss (e.g. dynamic binarization).
    lr_schedule: "constant" or "cosine" (lr·½(1 + cos π·progress), set before every step).
    valid_x, valid_loss_fn: scored after every epoch (default loss: loss_fn). patience: stop after this many epochs
    without a better validation loss. keep_best: end with the best validation epoch's weights (default: with
    patience). max_seconds: a training-time budget; the run stops at the first step past it.
    ema: also keep an exponential moving average of the weights with this decay, validate it and end with it.
    generator: the shuffling generator (default: a new one seeded with `seed`); a transform may draw from it too.
    on_step(progress): called before every step (e.g. to set a KL weight). on_epoch_end(epoch): after every
    epoch; the time spent in it is not counted in the budget or in history["seconds"].
    fused: use torch's fused Adam kernel, the same update in fewer operations per step (`make bench` measures it);
    None (default): fused on CPU and CUDA, where torch has it, the plain kernel elsewhere.
    A NaN or infinite loss stops training with NonFiniteLossError (a ValueError) naming the epoch and batch.
    Returns {"epoch", "train_loss", "valid_loss", "seconds", "train_<name>"...}, one entry per epoch.
    """
    like = _check_model(model)
    _check_callable("loss_fn", loss_fn, optional=False)
    _check_data("train_x", train_x, like)
    if valid_x is not None:
        _check_data("valid_x", valid_x, like)
    _check_arguments(epochs, batch_size, lr, weight_decay, lr_schedule, patience, max_seconds, ema, valid_x)
    for name, value in (("valid_loss_fn", valid_loss_fn), ("transform", transform), ("on_step", on_step),
                        ("on_epoch_end", on_epoch_end)):
        _check_callable(name, value)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    seed = validate.seed(seed)
    loop = _Loop(model, loss_fn, train_x, batch_size, lr, weight_decay, lr_schedule, transform, on_step,
                 generator or torch.Generator().manual_seed(seed), epochs, max_seconds, ema, like.device,
                 _check_fused(fused, like.device))
    history: dict[str, list[float]] = {"epoch": [], "train_loss": [], "valid_loss": [], "seconds": []}
    best = (math.inf, None, 0)  # (valid loss, weights, epoch)
    line = ProgressLine(epochs, desc=desc, unit="epoch", enabled=progress)
    stopped = ""
    for epoch in range(1, epochs + 1):
        means = loop.train_epoch(epoch)
        if means is None:  # the budget ran out before this epoch's first step
            break
        history["epoch"].append(epoch)
        for name, value in means.items():
            history.setdefault(f"train_{name}", []).append(value)
        postfix = {"train": f"{means['loss']:.2f}"}
        with loop.averaged_weights():
            if valid_x is not None:
                valid_loss = evaluate(model, valid_loss_fn or loss_fn, valid_x)
                history["valid_loss"].append(valid_loss)
                postfix["valid"] = f"{valid_loss:.2f}"
                if valid_loss < best[0]:
                    best = (valid_loss, copy.deepcopy(model.state_dict()), epoch)
            history["seconds"].append(loop.clock.seconds())
            line.update(postfix)
            if on_epoch_end is not None:
                with loop.clock.paused():
                    on_epoch_end(epoch)
        if patience is not None and epoch - best[2] >= patience:
            stopped = f", stopped early (best valid loss at epoch {best[2]})"
            break
        if loop.finished():
            stopped = f", stopped at the {max_seconds:g} s budget" if loop.out_of_time() else ""
            break
    line.close(_summary(desc, history, stopped))
    if (patience is not None if keep_best is None else keep_best) and best[1] is not None:
        model.load_state_dict(best[1])
    elif loop.average is not None:
        loop.average.copy_to(model)
    return history


def _check_arguments(epochs, batch_size, lr, weight_decay, lr_schedule, patience, max_seconds, ema, valid_x) -> None:
    _check_positive("epochs", epochs)
    _check_positive("batch_size", batch_size)
    _check_positive("lr", lr, float)
    if (isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float))
            or not math.isfinite(weight_decay) or weight_decay < 0):
        raise ValueError(f"weight_decay must be a non-negative finite float, got {weight_decay!r}")
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {lr_schedule!r}")
    _check_optional_positive("patience", patience)
    _check_optional_positive("max_seconds", max_seconds, float)
    if isinstance(ema, bool) or not isinstance(ema, (int, float)) or not 0 <= ema < 1:
        raise ValueError(f"ema must be a decay in [0, 1) (0: off), got {ema!r}")
    if patience is not None and valid_x is None:
        raise ValueError("patience (early stopping) needs valid_x, got valid_x=None")


FUSED_ADAM_DEVICES = ("cpu", "cuda")  # where torch ships the fused Adam kernel


def _check_fused(fused, device: torch.device) -> bool:
    """`fit`'s fused argument resolved for `device`: None becomes whether the device has the fused kernel."""
    if fused is None:
        return device.type in FUSED_ADAM_DEVICES
    if not isinstance(fused, bool):
        raise TypeError(f"fused must be True, False or None (fused where available), got {fused!r}")
    if fused and device.type not in FUSED_ADAM_DEVICES:
        raise ValueError(f"fused Adam runs on {' and '.join(FUSED_ADAM_DEVICES)}, not on {device.type}: "
                         "pass fused=False or None")
    return fused


class _Loop:
    """One `fit` run's state: optimizer, shuffler, step count, clock and weight average."""

    def __init__(self, model, loss_fn, x, batch_size, lr, weight_decay, lr_schedule, transform, on_step,
                 shuffler, epochs, max_seconds, ema, device, fused) -> None:
        self.model, self.loss_fn, self.x, self.batch_size = model, loss_fn, x, batch_size
        self.lr, self.lr_schedule, self.transform, self.on_step = lr, lr_schedule, transform, on_step
        self.shuffler, self.max_seconds, self.device = shuffler, max_seconds, device
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay, fused=fused)
        self.total_steps = epochs * math.ceil(len(x) / batch_size)
        self.step = 0
        self.clock = _Clock()
        self.average = _WeightAverage(model, ema) if ema else None

    def out_of_time(self) -> bool:
        return self.max_seconds is not None and self.clock.seconds() >= self.max_seconds

    def finished(self) -> bool:
        return self.step >= self.total_steps or self.out_of_time()

    def progress(self) -> float:
        done = self.step / self.total_steps
        return done if self.max_seconds is None else max(done, self.clock.seconds() / self.max_seconds)

    def train_epoch(self, epoch: int) -> dict[str, float] | None:
        """One pass over the shuffled data (cut short when progress reaches 1): the mean loss and metrics."""
        self.model.train()
        sums: dict[str, float] = {}
        seen = 0
        order = torch.randperm(len(self.x), generator=self.shuffler)
        for number, index in enumerate(order.split(self.batch_size), start=1):
            done = self.progress()
            if done >= 1.0:
                break
            values = self._step(epoch, number, index, done)
            for name, value in values.items():
                sums[name] = sums.get(name, 0.0) + value * len(index)
            seen += len(index)
        return {name: total / seen for name, total in sums.items()} if seen else None

    def _step(self, epoch: int, number: int, index: torch.Tensor, done: float) -> dict[str, float]:
        if self.lr_schedule == "cosine":
            for group in self.optimizer.param_groups:
                group["lr"] = cosine_lr(self.lr, done)
        if self.on_step is not None:
            self.on_step(done)
        batch = self.x[index].to(self.device)
        if self.transform is not None:
            batch = self.transform(batch)
        loss, metrics = _split_loss(self.loss_fn(self.model, batch))
        value = float(loss.detach())
        if not math.isfinite(value):
            raise NonFiniteLossError(f"the loss is {value} at epoch {epoch}, batch {number} (step {self.step + 1}): "
                                     "lower lr, check the data and the loss function")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step += 1
        if self.average is not None:
            self.average.update(self.model, self.step)
        return {"loss": value, **{name: float(metric.detach()) for name, metric in metrics.items()}}

    def averaged_weights(self):
        return self.average.swapped_in(self.model) if self.average is not None else contextlib.nullcontext()


def _summary(desc: str, history: dict[str, list[float]], stopped: str) -> str:
    """One line for the saved output: epochs, time, last losses, why training stopped."""
    if not history["epoch"]:
        return f"{desc}: no epoch completed{stopped}"
    text = (f"{desc}: {history['epoch'][-1]} epochs in {history['seconds'][-1]:.1f} s, "
            f"train loss {history['train_loss'][-1]:.2f}")
    if history["valid_loss"]:
        text += f", valid loss {history['valid_loss'][-1]:.2f}"
    return text + stopped


class _Clock:
    """Training time: wall-clock seconds minus the time spent in `paused()` blocks (callbacks)."""

    def __init__(self) -> None:
        self.start, self.pause_total = time.perf_counter(), 0.0

    def seconds(self) -> float:
        return time.perf_counter() - self.start - self.pause_total

    @contextlib.contextmanager
    def paused(self):
        began = time.perf_counter()
        try:
            yield
        finally:
            self.pause_total += time.perf_counter() - began


class _WeightAverage:
    """An exponential moving average of the weights, θ̄ ← d·θ̄ + (1 − d)·θ, with d = min(decay, (1+t)/(10+t))."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = [p.detach().clone() for p in model.parameters()]

    @torch.no_grad()
    def update(self, model: torch.nn.Module, step: int) -> None:
        d = min(self.decay, (1 + step) / (10 + step))
        for avg, p in zip(self.shadow, model.parameters()):
            avg.lerp_(p.detach(), 1 - d)

    @torch.no_grad()
    def copy_to(self, model: torch.nn.Module) -> None:
        for avg, p in zip(self.shadow, model.parameters()):
            p.copy_(avg)

    @contextlib.contextmanager
    def swapped_in(self, model: torch.nn.Module):
        """Inside the block the model holds the averaged weights; its own weights come back after."""
        saved = [p.detach().clone() for p in model.parameters()]
        self.copy_to(model)
        try:
            yield
        finally:
            with torch.no_grad():
                for keep, p in zip(saved, model.parameters()):
                    p.copy_(keep)
