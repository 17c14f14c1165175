"""Plumbing for the vae-notes series. Importing this package is cheap: torch loads lazily."""

from __future__ import annotations

import os
import random
from pathlib import Path

__all__ = ["seed_everything", "get_device", "cache_dir"]

_DEVICES = ("cpu", "cuda", "mps")


def seed_everything(seed: int = 0) -> None:
    """Seed python, numpy and torch; ask torch for deterministic algorithms where it has them."""
    import numpy as np
    import torch

    from helpers import validate

    seed = validate.seed(seed)

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    _use_deterministic_algorithms(torch)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def _use_deterministic_algorithms(torch) -> None:
    """`torch.use_deterministic_algorithms(True, warn_only=True)` without loading torch's compiler, which that call
    imports to set the compiler's flag (about 1 s of every notebook's first cell). The compiler's flag is set when it is
    loaded already; the series never compiles."""
    import sys

    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:  # another torch: the public call
        torch.use_deterministic_algorithms(True, warn_only=True)
        return
    setter(True, warn_only=True)
    compiler = sys.modules.get("torch._inductor.config")
    if compiler is not None:
        compiler.deterministic = True


def get_device():
    """cuda if present, then mps, then cpu; `VAE_NOTES_DEVICE=cpu|cuda|mps` overrides."""
    import torch

    wanted = os.environ.get("VAE_NOTES_DEVICE", "").strip().lower()
    if wanted:
        if wanted not in _DEVICES:
            raise ValueError(f"VAE_NOTES_DEVICE must be one of {_DEVICES}, got {wanted!r}")
        return torch.device(wanted)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cache_dir() -> Path:
    """The series' cache folder: `$VAE_NOTES_CACHE`, default `~/.cache/vae-notes` (created)."""
    path = Path(os.environ.get("VAE_NOTES_CACHE") or Path.home() / ".cache" / "vae-notes")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file where the folder should be, a read-only disk, no permission
        raise OSError(exc.errno, f"the cache folder {path} cannot be used ({exc.strerror}); set VAE_NOTES_CACHE "
                                 "to a writable folder, e.g. `export VAE_NOTES_CACHE=/tmp/vae-notes`") from exc
    if not path.is_dir():
        raise NotADirectoryError(f"the cache path {path} is not a folder; set VAE_NOTES_CACHE to a writable folder")
    return path
