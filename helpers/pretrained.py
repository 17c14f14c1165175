"""Shipped VAE weights, so notebooks 06 and 07 need not retrain: `load("vae-mnist-z2")`, `load("vae-mnist-z16")`.

Each model is two files in `helpers/weights/`: `<name>.pt` (float16 state dict, loaded with
`torch.load(weights_only=True)`) and `<name>.json` (architecture, recipe, seed, sha256 of the .pt, test ELBO and
IWAE-1000 estimate). The sha256 of both files is pinned in `helpers/weights/manifest.json`: an edited file is
refused, and so are weights that are not all finite or do not fit the architecture.
`python -m helpers.pretrained --retrain` regenerates both files from their seed and updates their pins.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
from dataclasses import asdict
from pathlib import Path

import torch

from helpers import validate
from helpers.data import atomic_write
from helpers.models import VAE

__all__ = ["load", "metadata", "available", "retrain", "main", "PretrainedError", "WEIGHTS_DIR", "MODELS",
           "MANIFEST_NAME"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
MODELS = {"vae-mnist-z2": (2, "ours-2d"), "vae-mnist-z16": (16, "ours")}  # name → (latent size, recipe name)
SEED = 0
IWAE_K = 1000
RETRAIN_THREADS = 1  # one thread: the same arithmetic on any machine, and no slowdown on a shared one
MANIFEST_NAME = "manifest.json"  # {file name: sha256} of every shipped .pt and .json; written only by retrain
_FIX = "restore it from git (`git checkout helpers/weights/`) or run `python -m helpers.pretrained --retrain`"


class PretrainedError(RuntimeError):
    """A shipped model is missing, corrupt, or does not match its architecture."""


def available() -> list[str]:
    """Names `load` accepts."""
    return sorted(MODELS)


def _paths(name: str) -> tuple[Path, Path]:
    if not isinstance(name, str) or name not in MODELS:
        raise ValueError(f"name must be one of {available()}, got {name!r}")
    return WEIGHTS_DIR / f"{name}.pt", WEIGHTS_DIR / f"{name}.json"


def _sha256(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def _manifest() -> dict[str, str]:
    path = WEIGHTS_DIR / MANIFEST_NAME
    try:
        pins = json.loads(path.read_text())
    except FileNotFoundError:
        raise PretrainedError(f"{MANIFEST_NAME} is missing from {WEIGHTS_DIR}; {_FIX}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PretrainedError(f"{MANIFEST_NAME} is not valid JSON ({exc}); {_FIX}.") from exc
    if not isinstance(pins, dict):
        raise PretrainedError(f"{MANIFEST_NAME} must map file names to sha256 digests; {_FIX}.")
    return pins


def _pinned_bytes(path: Path) -> bytes:
    """The bytes of a shipped file, refused unless their sha256 is the one pinned in the manifest."""
    if not path.is_file():
        raise PretrainedError(f"{path.name} is missing from {WEIGHTS_DIR}; "
                              "run `python -m helpers.pretrained --retrain` to regenerate it.")
    payload = path.read_bytes()
    pinned, got = _manifest().get(path.name), _sha256(payload)
    if got != pinned:
        raise PretrainedError(f"{path.name} is corrupt or was edited (its sha256 does not match the one pinned in "
                              f"{MANIFEST_NAME}: got {got[:12]}…, pinned {str(pinned)[:12]}…); {_FIX}.")
    return payload


def metadata(name: str) -> dict:
    """The recipe, seed, checksum and test scores recorded beside the weights of `name` (verified against its pin)."""
    _, meta_path = _paths(name)
    payload = _pinned_bytes(meta_path)
    try:
        return json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PretrainedError(f"{meta_path.name} is not valid JSON ({exc}); {_FIX}.") from exc


def load(name: str, device: torch.device | str = "cpu") -> VAE:
    """The shipped VAE `name` in eval mode, float32, on `device`."""
    weights_path, _ = _paths(name)
    device = validate.device(device)
    meta = metadata(name)
    payload = _pinned_bytes(weights_path)
    if _sha256(payload) != meta.get("sha256"):
        raise PretrainedError(f"{weights_path.name} is corrupt (its sha256 does not match {name}.json); {_FIX}.")
    state = _read_state_dict(weights_path.name, payload)
    try:
        model = VAE(**meta["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PretrainedError(f"{name}.json does not describe a VAE architecture (config: {meta.get('config')!r}; "
                              f"{type(exc).__name__}: {exc}); {_FIX}.") from exc
    _check_fits(weights_path.name, state, model, meta["config"])
    model.load_state_dict(state)
    return model.to(device).eval()


def _read_state_dict(file_name: str, payload: bytes) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for unreadable files
        raise PretrainedError(f"{file_name} could not be read as weights ({type(exc).__name__}: {exc}).") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PretrainedError(f"{file_name} does not hold a state dict of tensors.")
    state = {key: value.float() for key, value in state.items()}  # checked as used: 1e300 in float64 is inf here
    broken = [key for key, value in state.items() if not bool(torch.isfinite(value).all())]
    if broken:
        raise PretrainedError(f"{file_name} holds non-finite values (nan or inf) in {broken}; {_FIX}.")
    return state


def _check_fits(file_name: str, state: dict[str, torch.Tensor], model: VAE, config: dict) -> None:
    """Every key the architecture needs, none it does not, each of the right shape; all listed when not."""
    wanted = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    missing = sorted(set(wanted) - set(state))
    unexpected = sorted(set(state) - set(wanted))
    reshaped = [f"{key}: {tuple(state[key].shape)} instead of {wanted[key]}"
                for key in sorted(set(wanted) & set(state)) if tuple(state[key].shape) != wanted[key]]
    if missing or unexpected or reshaped:
        raise PretrainedError(f"{file_name} does not match the architecture {config}: missing keys {missing}, "
                              f"unexpected keys {unexpected}, wrong shapes {reshaped}; {_FIX}.")


def retrain(names: list[str] | None = None, progress: bool = True) -> dict[str, dict]:
    """Train each shipped model with the series' recipe from its seed; write weights and metadata."""
    from helpers.recipes import RECIPES, test_elbo, test_iwae, train_vae

    if names is not None and (not isinstance(names, list) or not all(isinstance(n, str) for n in names)):
        raise TypeError(f"names must be None or a list of model names from {available()}, got {names!r}")
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    names = available() if names is None else names  # an empty list retrains nothing, never everything
    for name in names:
        _paths(name)  # every name checked before the first (long) training
    results = {}
    for name in names:
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
            "data": _data_description(recipe),
            "torch": torch.__version__,
        }
        results[name] = meta = _write_model(name, model, meta)
        print(f"{name}: test ELBO {meta['test_elbo']} nats, IWAE-{IWAE_K} {meta[f'test_iwae_{IWAE_K}']} nats")
    return results


def _data_description(recipe) -> str:
    """Which digits trained and scored a model of `recipe`, in words."""
    n_train = 4000 - recipe.n_valid
    shifts = f", {recipe.shift}-pixel random shifts" if recipe.shift else ""
    held_out = f" + {recipe.n_valid:,} validation (one fixed binarization)" if recipe.n_valid else ""
    return (f"bundled MNIST: {n_train:,} train (dynamic binarization{shifts}){held_out}, "
            "1,000 test (static binarization)")


def _write_model(name: str, model: VAE, meta: dict) -> dict:
    """Write `<name>.pt` and `<name>.json`, then pin both in the manifest (the only writer of the pins)."""
    buffer = io.BytesIO()
    torch.save({k: v.half() for k, v in model.state_dict().items()}, buffer)
    weights, meta = buffer.getvalue(), {**meta, "sha256": _sha256(buffer.getvalue())}
    meta_bytes = json.dumps(meta, indent=2).encode() + b"\n"
    weights_path, meta_path = _paths(name)
    atomic_write(weights_path, lambda f: f.write(weights))
    atomic_write(meta_path, lambda f: f.write(meta_bytes))
    manifest_path = WEIGHTS_DIR / MANIFEST_NAME
    pins = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    pins.update({weights_path.name: _sha256(weights), meta_path.name: _sha256(meta_bytes)})
    atomic_write(manifest_path, lambda f: f.write(json.dumps(dict(sorted(pins.items())), indent=2).encode() + b"\n"))
    return meta


def main(argv: list[str] | None = None) -> None:
    if argv is not None and (not isinstance(argv, list) or not all(isinstance(arg, str) for arg in argv)):
        raise TypeError(f"argv must be None or a list of strings, got {argv!r}")
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
