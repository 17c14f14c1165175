"""VAE training recipes: the series' default and the well-known reference, trained under a wall-clock budget.

The reference is the PyTorch examples VAE: MLP 784-400-20, ReLU, Adam lr 1e-3, batch 128, summed BCE + analytic KL,
constant learning rate, no validation. Both recipes see the same data: dynamically binarized training digits; scores
are on the statically binarized test split. A run ends when its epochs or its budget (seconds) run out, whichever
comes first; schedules (learning-rate decay, KL warm-up) follow the run's *progress*, the larger of the fraction of
epochs done and the fraction of the budget used, so the same recipe works for a 20 s run and for a 20 min run.
Used by notebook 05, `helpers.pretrained --retrain` and `make bench` (`compare_recipes`).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from helpers import seed_everything
from helpers.data import dynamic_binarize, load_mnist, static_binarize, train_valid_split
from helpers.models import VAE
from helpers.objectives import bernoulli_log_prob, elbo, iwae_bound, kl_normal
from helpers.training import evaluate

__all__ = ["Recipe", "OURS", "OURS_2D", "REFERENCE", "RECIPES", "TrainedVAE", "train_vae", "test_elbo", "test_iwae",
           "compare_recipes", "recorded_comparison"]

LR_SCHEDULES = ("constant", "cosine")
VALID_SEED_OFFSET = 10_000  # the validation digits get their own fixed binarization


@dataclass(frozen=True)
class Recipe:
    """Everything that defines how a VAE is trained."""

    name: str
    hidden: tuple[int, ...]
    activation: str
    batch_size: int
    lr: float
    epochs: int  # upper bound; the wall-clock budget may stop earlier
    lr_schedule: str = "constant"  # "cosine": lr·½(1 + cos π·progress), per step
    warmup: float = 0.0  # KL weight rises linearly from 0 to 1 over this fraction of the run
    n_valid: int = 0  # held out of the 4,000 training digits for early stopping
    patience: int | None = None  # epochs without validation improvement before stopping
    weight_decay: float = 0.0
    output_bias_init: bool = False  # start the decoder's output bias at logit(mean training pixel)
    ema: float = 0.0  # evaluate and keep an exponential moving average of the weights with this decay (0: off)
    shift: int = 0  # augment: translate each training digit by up to this many pixels

    def __post_init__(self) -> None:
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError(f"warmup must be a fraction in [0, 1), got {self.warmup!r}")
        if self.patience is not None and not self.n_valid:
            raise ValueError("patience (early stopping) needs n_valid > 0")


REFERENCE = Recipe(name="reference", hidden=(400,), activation="relu", batch_size=128, lr=1e-3, epochs=10_000)
OURS = Recipe(
    name="ours", hidden=(400,), activation="silu", batch_size=100, lr=3e-3, epochs=200,
    lr_schedule="cosine", n_valid=500, patience=15, output_bias_init=True, shift=1,
)
# With only two latent coordinates there is no room to also encode where the digit sits, so no shifts; a deeper
# decoder unfolds the 2-D plane into digits better than a wide one.
OURS_2D = Recipe(
    name="ours-2d", hidden=(512, 256), activation="silu", batch_size=100, lr=2e-3, epochs=200,
    lr_schedule="cosine", n_valid=500, patience=15, output_bias_init=True,
)
RECIPES = {recipe.name: recipe for recipe in (OURS, OURS_2D, REFERENCE)}


@dataclass
class TrainedVAE:
    """A trained model with its recipe, per-epoch history and training time (seconds)."""

    model: torch.nn.Module
    recipe: Recipe
    history: dict
    seconds: float

    def summary(self) -> dict:
        return {"recipe": asdict(self.recipe), "seconds": round(self.seconds, 1),
                "epochs_run": len(self.history["epoch"])}


class _Clock:
    """Training time: wall-clock seconds minus the time spent in callbacks (pause/resume)."""

    def __init__(self) -> None:
        self.start, self.paused = time.perf_counter(), 0.0

    def seconds(self) -> float:
        return time.perf_counter() - self.start - self.paused

    def pause(self):
        began = time.perf_counter()
        return lambda: setattr(self, "paused", self.paused + time.perf_counter() - began)


def _check_budget(budget_s) -> None:
    if budget_s is not None and (isinstance(budget_s, bool) or not isinstance(budget_s, (int, float))
                                 or budget_s <= 0):
        raise ValueError(f"budget_s must be a positive number of seconds or None, got {budget_s!r}")


def train_vae(recipe: Recipe, latent_dim: int, *, budget_s: float | None = None, seed: int = 0,
              progress: bool = True, device: torch.device | None = None, model: torch.nn.Module | None = None,
              on_epoch_end: Callable[[int, torch.nn.Module], None] | None = None) -> TrainedVAE:
    """Maximize the ELBO with `recipe` on bundled MNIST until its epochs or `budget_s` seconds run out.

    model: train this VAE-like module (encode/decode/forward) instead of a new `helpers.models.VAE`.
    on_epoch_end(epoch, model): called after each epoch, outside the clock (e.g. to score the test split).
    Returns the model in eval mode (the best validation epoch when the recipe early-stops).
    """
    if not isinstance(recipe, Recipe):
        raise TypeError(f"recipe must be a Recipe, got {type(recipe).__name__}")
    _check_budget(budget_s)
    seed_everything(seed)
    device = device or torch.device("cpu")
    x, y = load_mnist("train")
    valid_x = None
    if recipe.n_valid:
        (x, _), (valid_x, _) = train_valid_split(x, y, recipe.n_valid, seed=seed)
        valid_x = static_binarize(valid_x, seed=VALID_SEED_OFFSET + seed).to(device)  # fixed: like with like
    if model is None:
        model = VAE(latent_dim, recipe.hidden, activation=recipe.activation)
    model = model.to(device)
    if recipe.output_bias_init:
        _init_output_bias(model, x)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    history = _run(model, optimizer, recipe, x.to(device), valid_x, budget_s, seed, progress,
                   f"{recipe.name} z={latent_dim}", on_epoch_end)
    model.eval()
    return TrainedVAE(model, recipe, history, history["seconds"][-1] if history["seconds"] else 0.0)


def _run(model, optimizer, recipe, x, valid_x, budget_s, seed, progress, desc, on_epoch_end) -> dict:
    """The training loop: per-step schedules from the run's progress, early stopping, budget."""
    shuffler = torch.Generator().manual_seed(seed)
    steps_per_epoch = math.ceil(len(x) / recipe.batch_size)
    total_steps, step = recipe.epochs * steps_per_epoch, 0
    history: dict[str, list[float]] = {"epoch": [], "train_loss": [], "train_elbo": [], "valid_elbo": [],
                                       "seconds": []}
    best = (-math.inf, None, 0)  # (validation ELBO, weights, epoch)
    average = _WeightAverage(model, recipe.ema) if recipe.ema else None
    clock = _Clock()
    bar = tqdm(range(1, recipe.epochs + 1), desc=desc, disable=not progress, unit="epoch")
    for epoch in bar:
        model.train()
        loss_sum = elbo_sum = seen = 0.0
        for index in torch.randperm(len(x), generator=shuffler).split(recipe.batch_size):
            done = step / total_steps if budget_s is None else max(step / total_steps, clock.seconds() / budget_s)
            if done >= 1.0:
                break
            for group in optimizer.param_groups:
                group["lr"] = _lr(recipe, done)
            batch = x[index] if not recipe.shift else _shift(x[index], recipe.shift, shuffler)
            batch = dynamic_binarize(batch)
            logits, mu, logvar = model(batch)
            log_lik, kl = bernoulli_log_prob(batch, logits), kl_normal(mu, logvar)
            loss = (-log_lik + _kl_weight(recipe, done) * kl).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            if average is not None:
                average.update(model, step)
            loss_sum += float(loss.detach()) * len(index)
            elbo_sum += float((log_lik - kl).sum().detach())
            seen += len(index)
        if seen == 0:
            break
        history["epoch"].append(epoch)
        history["train_loss"].append(loss_sum / seen)
        history["train_elbo"].append(elbo_sum / seen)
        postfix = {"train ELBO": f"{elbo_sum / seen:.1f}"}
        with average.swapped_in(model) if average is not None else contextlib.nullcontext():
            if valid_x is not None:
                valid = -evaluate(model, lambda m, b: -elbo(m, b).mean(), valid_x)
                history["valid_elbo"].append(valid)
                postfix["valid ELBO"] = f"{valid:.1f}"
                if valid > best[0]:
                    best = (valid, copy.deepcopy(model.state_dict()), epoch)
            history["seconds"].append(clock.seconds())
            bar.set_postfix(postfix)
            if on_epoch_end is not None:
                resume = clock.pause()
                on_epoch_end(epoch, model)
                resume()
        if recipe.patience is not None and epoch - best[2] >= recipe.patience:
            break
        if step >= total_steps or (budget_s is not None and clock.seconds() >= budget_s):
            break
    bar.close()
    if best[1] is not None:
        model.load_state_dict(best[1])
    elif average is not None:
        average.copy_to(model)
    history["best_epoch"] = best[2] if best[1] is not None else len(history["epoch"])
    return history


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


def _shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each 28×28 digit by a random (dy, dx) ∈ [−max_shift, max_shift]², filling with 0."""
    n, pad = len(x), max_shift
    padded = torch.nn.functional.pad(x.reshape(n, 28, 28), (pad, pad, pad, pad))
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator).to(x.device)
    rows = (offsets[:, :1] + torch.arange(28, device=x.device)).unsqueeze(2)  # (n, 28, 1)
    cols = (offsets[:, 1:] + torch.arange(28, device=x.device)).unsqueeze(1)  # (n, 1, 28)
    return padded[torch.arange(n, device=x.device).view(n, 1, 1), rows, cols].reshape(x.shape)


@torch.no_grad()
def _init_output_bias(model: torch.nn.Module, x: torch.Tensor) -> None:
    """Set the last decoder layer's bias to logit(mean pixel): the untrained decoder already draws the mean digit."""
    last = [m for m in model.decoder.modules() if isinstance(m, torch.nn.Linear)][-1]
    mean = x.mean(dim=0).clamp(1e-3, 1 - 1e-3)
    last.bias.copy_(torch.log(mean) - torch.log1p(-mean))


def _lr(recipe: Recipe, done: float) -> float:
    """Learning rate at progress `done` ∈ [0, 1]: constant, or cosine-annealed to 0."""
    if recipe.lr_schedule == "cosine":
        return recipe.lr * 0.5 * (1.0 + math.cos(math.pi * done))
    return recipe.lr


def _kl_weight(recipe: Recipe, done: float) -> float:
    """KL weight β at progress `done`: min(1, done / warmup) (1 without warm-up)."""
    return 1.0 if recipe.warmup == 0 else min(1.0, done / recipe.warmup)


@torch.no_grad()
def test_elbo(model: torch.nn.Module, repeats: int = 1) -> float:
    """Mean one-sample ELBO (nats) on the statically binarized bundled test split, averaged over `repeats` draws."""
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ValueError(f"repeats must be a positive int, got {repeats!r}")
    x_test, _ = load_mnist("test", binarize="static")
    x_test = x_test.to(next(model.parameters()).device)
    return sum(-evaluate(model, lambda m, b: -elbo(m, b).mean(), x_test) for _ in range(repeats)) / repeats


@torch.no_grad()
def test_iwae(model: torch.nn.Module, k: int = 1000, seed: int = 0) -> float:
    """Mean IWAE-k estimate of log p(x) (nats) on the statically binarized bundled test split."""
    x_test, _ = load_mnist("test", binarize="static")
    was_training = model.training
    model.eval()
    torch.manual_seed(seed)
    value = float(iwae_bound(model, x_test.to(next(model.parameters()).device), k=k).mean())
    model.train(was_training)
    return value


test_elbo.__test__ = False  # a scoring function, not a pytest test, even when imported into a test module
test_iwae.__test__ = False


def compare_recipes(budget_s: float = 60.0, seeds: Sequence[int] = (0, 1, 2), latent_dim: int = 20,
                    recipes: Sequence[Recipe] = (OURS, REFERENCE), threads: int | None = None,
                    iwae_k: int | None = None, progress: bool = False) -> dict:
    """Train each recipe for `budget_s` seconds per seed on the same data; score test ELBO (and IWAE-k).

    Runs alternate between recipes seed by seed, so slow phases of a shared machine hit both alike.
    Returns {"budget_s", "latent_dim", "threads", "runs": [...], "summary": {name: {mean, sd, ...}},
    "difference": mean ELBO of the first recipe minus the second's}.
    """
    _check_budget(budget_s)
    if not seeds:
        raise ValueError("seeds must name at least one seed, got an empty sequence")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive int or None, got {threads!r}")
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    runs = []
    try:
        for seed in seeds:
            for recipe in recipes:
                trained = train_vae(recipe, latent_dim, budget_s=budget_s, seed=seed, progress=progress)
                torch.manual_seed(seed)
                run = {"recipe": recipe.name, "seed": seed, "epochs": len(trained.history["epoch"]),
                       "seconds": round(trained.seconds, 1), "test_elbo": test_elbo(trained.model, repeats=5)}
                if iwae_k:
                    run[f"test_iwae_{iwae_k}"] = test_iwae(trained.model, k=iwae_k, seed=seed)
                runs.append(run)
    finally:
        torch.set_num_threads(old_threads)
    summary = {}
    for recipe in recipes:
        values = [r["test_elbo"] for r in runs if r["recipe"] == recipe.name]
        summary[recipe.name] = {"test_elbo_mean": statistics.fmean(values),
                                "test_elbo_sd": statistics.stdev(values) if len(values) > 1 else 0.0,
                                "epochs_mean": statistics.fmean(r["epochs"] for r in runs
                                                                if r["recipe"] == recipe.name)}
    first, second = (recipe.name for recipe in recipes[:2])
    return {"budget_s": budget_s, "latent_dim": latent_dim, "threads": torch.get_num_threads() if threads is None
            else threads, "runs": runs, "summary": summary,
            "difference": summary[first]["test_elbo_mean"] - summary[second]["test_elbo_mean"]}


COMPARISON_PATH = Path(__file__).resolve().parent / "weights" / "recipe-comparison.json"


def recorded_comparison() -> dict:
    """The last `compare_recipes` result saved with `python -m helpers.recipes --save` (budget, runs, summary)."""
    if not COMPARISON_PATH.is_file():
        raise FileNotFoundError(f"{COMPARISON_PATH.name} is missing; run `python -m helpers.recipes --save`.")
    return json.loads(COMPARISON_PATH.read_text())


def main(argv: list[str] | None = None) -> dict:
    """`python -m helpers.recipes [--budget S] [--seeds 0 1 2] [--threads T] [--save]`: compare OURS with REFERENCE."""
    parser = argparse.ArgumentParser(description="Train OURS and REFERENCE for the same wall-clock budget.")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds of training per run (default 60)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--save", action="store_true", help=f"write the result to weights/{COMPARISON_PATH.name}")
    args = parser.parse_args(argv)
    result = compare_recipes(args.budget, args.seeds, threads=args.threads, progress=True)
    result.update(date=time.strftime("%Y-%m-%d"), torch=torch.__version__, machine=platform.machine(),
                  cpus=os.cpu_count())
    for name, row in result["summary"].items():
        print(f"{name}: test ELBO {row['test_elbo_mean']:.2f} ± {row['test_elbo_sd']:.2f} nats, "
              f"{row['epochs_mean']:.0f} epochs in {args.budget:.0f} s")
    print(f"difference: {result['difference']:.2f} nats")
    if args.save:
        COMPARISON_PATH.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
