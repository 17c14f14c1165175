"""The training loop shared by the notebooks: minibatches, a progress line, a history."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

import torch

from .progress import ProgressLine

__all__ = ["fit", "evaluate"]

LossFn = Callable[[torch.nn.Module, torch.Tensor], torch.Tensor]


def _check_positive(name: str, value, kind=int) -> None:
    if not isinstance(value, kind) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} must be a positive {kind.__name__}, got {value!r}")


@torch.no_grad()
def evaluate(model: torch.nn.Module, loss_fn: LossFn, x: torch.Tensor, batch_size: int = 500) -> float:
    """Mean of `loss_fn(model, batch)` over x, weighted by batch size, in eval mode, without gradients."""
    _check_positive("batch_size", batch_size)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = 0.0
    for batch in x.split(batch_size):
        total += float(loss_fn(model, batch.to(device))) * len(batch)
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
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    weight_decay: float = 0.0,
    lr_schedule: str = "constant",
    patience: int | None = None,
    max_seconds: float | None = None,
    progress: bool = True,
    desc: str = "training",
    seed: int = 0,
    on_epoch_end: Callable[[int], None] | None = None,
) -> dict[str, list[float]]:
    """Minimize mean `loss_fn(model, batch)` with Adam over shuffled minibatches.

    transform: applied to each batch before the loss (e.g. dynamic binarization).
    lr_schedule: "constant" or "cosine" (annealed to 0 over `epochs`).
    patience: with valid_x, stop after this many epochs without improvement and restore the
    best weights (early stopping). max_seconds: stop after the epoch that crosses this budget.
    on_epoch_end: called with the epoch number after each epoch (e.g. to advance a KL warm-up).
    Returns {"epoch", "train_loss", "valid_loss", "seconds"}, one entry per epoch.
    """
    _check_positive("epochs", epochs)
    _check_positive("batch_size", batch_size)
    _check_positive("lr", lr, float)
    if lr_schedule not in ("constant", "cosine"):
        raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {lr_schedule!r}")
    if patience is not None and valid_x is None:
        raise ValueError("patience (early stopping) needs valid_x")
    device = next(model.parameters()).device
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
                 if lr_schedule == "cosine" else None)
    shuffler = torch.Generator().manual_seed(seed)
    history: dict[str, list[float]] = {"epoch": [], "train_loss": [], "valid_loss": [], "seconds": []}
    best = (float("inf"), None, 0)  # (valid loss, weights, epoch)
    start = time.perf_counter()
    line = ProgressLine(epochs, desc=desc, unit="epoch", enabled=progress)
    stopped = ""
    for epoch in range(1, epochs + 1):
        train_loss = _train_one_epoch(model, loss_fn, train_x, batch_size, optimizer,
                                      transform, shuffler, device)
        if scheduler is not None:
            scheduler.step()
        if on_epoch_end is not None:
            on_epoch_end(epoch)
        history["epoch"].append(epoch)
        history["train_loss"].append(train_loss)
        history["seconds"].append(time.perf_counter() - start)
        postfix = {"train": f"{train_loss:.2f}"}
        if valid_x is not None:
            valid_loss = evaluate(model, loss_fn, valid_x)
            history["valid_loss"].append(valid_loss)
            postfix["valid"] = f"{valid_loss:.2f}"
            if valid_loss < best[0]:
                best = (valid_loss, copy.deepcopy(model.state_dict()), epoch)
        line.update(postfix)
        if patience is not None and epoch - best[2] >= patience:
            stopped = f", stopped early (best valid loss at epoch {best[2]})"
            break
        if max_seconds is not None and history["seconds"][-1] >= max_seconds:
            stopped = f", stopped at the {max_seconds:g} s budget"
            break
    line.close(_summary(desc, history, stopped))
    if patience is not None and best[1] is not None:
        model.load_state_dict(best[1])
    return history


def _summary(desc: str, history: dict[str, list[float]], stopped: str) -> str:
    """One line for the saved output: epochs, time, last losses, why training stopped."""
    text = (f"{desc}: {history['epoch'][-1]} epochs in {history['seconds'][-1]:.1f} s, "
            f"train loss {history['train_loss'][-1]:.2f}")
    if history["valid_loss"]:
        text += f", valid loss {history['valid_loss'][-1]:.2f}"
    return text + stopped


def _train_one_epoch(model, loss_fn, x, batch_size, optimizer, transform, shuffler, device) -> float:
    model.train()
    order = torch.randperm(len(x), generator=shuffler)
    total = 0.0
    for index in order.split(batch_size):
        batch = x[index].to(device)
        if transform is not None:
            batch = transform(batch)
        loss = loss_fn(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(index)
    return total / len(x)
