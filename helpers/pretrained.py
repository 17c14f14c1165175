"""Shipped VAE weights, so notebooks 06 and 07 need not retrain: `load("vae-mnist-z2")`, `load("vae-mnist-z16")`.

Each model is two files in `helpers/weights/`: `<name>.pt` (float16 state dict, loaded with
`torch.load(weights_only=True)`) and `<name>.json` (architecture, recipe, seed, sha256 of the .pt, test ELBO and
IWAE-1000 estimate). `python -m helpers.pretrained --retrain` regenerates both from their seed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import torch

from helpers.data import atomic_write
from helpers.models import VAE

__all__ = ["load", "metadata", "available", "retrain", "PretrainedError", "WEIGHTS_DIR", "MODELS"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MODELS = {"vae-mnist-z2": (2, "ours-2d"), "vae-mnist-z16": (16, "ours")}  # name → (latent size, recipe name)
SEED = 0
IWAE_K = 1000
RETRAIN_THREADS = 1  # one thread: the same arithmetic on any machine, and no slowdown on a shared one


class PretrainedError(RuntimeError):
    """A shipped model is missing, corrupt, or does not match its architecture."""


def available() -> list[str]:
    """Names `load` accepts."""
    return sorted(MODELS)


def _paths(name: str) -> tuple[Path, Path]:
    if not isinstance(name, str) or name not in MODELS:
        raise ValueError(f"name must be one of {available()}, got {name!r}")
    return WEIGHTS_DIR / f"{name}.pt", WEIGHTS_DIR / f"{name}.json"


def metadata(name: str) -> dict:
    """The recipe, seed, checksum and test scores recorded beside the weights of `name`."""
    _, meta_path = _paths(name)
    if not meta_path.exists():
        raise PretrainedError(f"{meta_path.name} is missing from {WEIGHTS_DIR}; "
                              "run `python -m helpers.pretrained --retrain` to regenerate it.")
    try:
        return json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise PretrainedError(f"{meta_path.name} is not valid JSON ({exc}); "
                              "run `python -m helpers.pretrained --retrain`.") from exc


def load(name: str, device: torch.device | str = "cpu") -> VAE:
    """The shipped VAE `name` in eval mode, float32, on `device`."""
    weights_path, _ = _paths(name)
    meta = metadata(name)
    if not weights_path.is_file():
        raise PretrainedError(f"{weights_path.name} is missing from {WEIGHTS_DIR}; "
                              "run `python -m helpers.pretrained --retrain` to regenerate it.")
    payload = weights_path.read_bytes()
    if hashlib.sha256(payload).hexdigest() != meta.get("sha256"):
        raise PretrainedError(f"{weights_path.name} is corrupt (its sha256 does not match {name}.json); "
                              "restore it from git or run `python -m helpers.pretrained --retrain`.")
    state = _read_state_dict(weights_path)
    try:
        model = VAE(**meta["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PretrainedError(f"{name}.json does not describe a VAE architecture (config: {meta.get('config')!r}; "
                              f"{type(exc).__name__}: {exc}); restore it from git or retrain.") from exc
    try:
        model.load_state_dict({key: value.float() for key, value in state.items()})
    except RuntimeError as exc:
        raise PretrainedError(f"{weights_path.name} does not match the architecture {meta['config']}: "
                              f"{str(exc).splitlines()[0]}") from exc
    return model.to(device).eval()


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for unreadable files
        raise PretrainedError(f"{path.name} could not be read as weights ({type(exc).__name__}: {exc}).") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PretrainedError(f"{path.name} does not hold a state dict of tensors.")
    return state


def retrain(names: list[str] | None = None, progress: bool = True) -> dict[str, dict]:
    """Train each shipped model with the series' recipe from its seed; write weights and metadata."""
    from helpers.recipes import RECIPES, test_elbo, test_iwae, train_vae

    results = {}
    for name in names or available():
        _paths(name)
        torch.set_num_threads(RETRAIN_THREADS)
        latent_dim, recipe_name = MODELS[name]
        recipe = RECIPES[recipe_name]
        trained = train_vae(recipe, latent_dim, seed=SEED, progress=progress)
        model = trained.model.half().float()  # score exactly what is shipped
        torch.manual_seed(SEED)
        elbo_value = test_elbo(model, repeats=5)
        meta = {
            "name": name, "config": model.config(), "recipe": asdict(recipe), "seed": SEED,
            "epochs_run": len(trained.history["epoch"]), "best_epoch": trained.history["best_epoch"],
            "train_seconds": round(trained.seconds, 1),
            "test_elbo": round(elbo_value, 2), f"test_iwae_{IWAE_K}": round(test_iwae(model, k=IWAE_K, seed=SEED), 2),
            "data": "bundled MNIST: 3,500 train (dynamic binarization" + (", 1-pixel random shifts" if recipe.shift
                                                                        else "") + ") + 500 validation "
                    "(one fixed binarization), 1,000 test (static binarization)",
            "torch": torch.__version__,
        }
        weights_path, meta_path = _paths(name)
        atomic_write(weights_path, lambda f, m=model: torch.save(
            {k: v.half() for k, v in m.state_dict().items()}, f))
        meta["sha256"] = hashlib.sha256(weights_path.read_bytes()).hexdigest()
        atomic_write(meta_path, lambda f, m=meta: f.write(json.dumps(m, indent=2).encode() + b"\n"))
        results[name] = meta
        print(f"{name}: test ELBO {meta['test_elbo']} nats, IWAE-{IWAE_K} {meta[f'test_iwae_{IWAE_K}']} nats")
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--retrain", action="store_true", help="retrain the shipped models from their seed")
    parser.add_argument("--only", choices=available(), action="append", help="retrain just this model")
    args = parser.parse_args(argv)
    if not args.retrain:
        for name in available():
            meta = metadata(name)
            print(f"{name}: test ELBO {meta['test_elbo']} nats, IWAE-{IWAE_K} {meta.get(f'test_iwae_{IWAE_K}')} nats")
        return
    retrain(args.only)


if __name__ == "__main__":
    main()
