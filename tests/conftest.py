"""Shared test set-up: a non-interactive matplotlib backend and caches that never touch the user's.

Every test collected under tests/ runs with `VAE_NOTES_CACHE` pointing at a per-session temporary
folder (autouse fixture below), so no unit test reads or writes `~/.cache/vae-notes`. The variable is
set with monkeypatch and restored after each test, so the notebooks that nbval executes (collected
from notebooks/, outside this conftest's reach) keep the normal cache. A test that must execute a
notebook with the user's cache requests the `user_cache` fixture, which switches the isolation off.

Torch runs single-threaded in this process: the unit tests use tiny tensors, and on a busy 2-core
machine two intra-op threads make them up to 50x slower. Notebooks run in their own kernels; with pytest-xdist's
parallel workers (`-n auto` in pyproject.toml) each kernel gets its share of the cores (see below).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from tests.processes import cores  # noqa: E402

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
MAX_WORKERS = 4  # each worker's notebooks hold ~1 GB; more workers than this gain little on a laptop


@pytest.hookimpl(optionalhook=True)  # known only when pytest-xdist is loaded (`-p no:xdist` turns it off)
def pytest_xdist_auto_num_workers(config) -> int:
    """`-n auto` (pyproject addopts): one pytest-xdist worker per core, at most MAX_WORKERS."""
    return max(1, min(cores(), MAX_WORKERS))


# Fixtures that build, serve, execute or grade something: a test that uses one is `slow`, so `make check`
# (`-m "not slow and not browser"`) leaves it to `make test` without each test having to say so.
HEAVY_FIXTURES = frozenset({"built_book", "book_server", "book_browser", "visits", "graded", "fresh_build",
                            "redrawn", "jupyter_lab", "judge_and_data"})


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if HEAVY_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)

def _share_cores_between_workers() -> None:
    """Under pytest-xdist, the kernels and subprocesses a worker starts get cores / workers torch threads each.

    Two notebooks training side by side with one thread per core each would oversubscribe the machine; the
    variables are only defaults (a value set by the user wins) and the committed outputs do not depend on them.
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        threads = str(max(1, cores() // workers))
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, threads)


_share_cores_between_workers()


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    """An empty cache folder shared by the whole test session."""
    return tmp_path_factory.mktemp("vae-notes-cache")


@pytest.fixture(autouse=True)
def _isolated_cache(request, monkeypatch, session_cache):
    """Point VAE_NOTES_CACHE at the session's temporary cache unless the test asks for `user_cache`."""
    if "user_cache" not in request.fixturenames:
        monkeypatch.setenv("VAE_NOTES_CACHE", str(session_cache))
    yield
    plt.close("all")


@pytest.fixture
def user_cache() -> None:
    """Opt out of the cache isolation (for tests that execute notebooks as a reader would)."""


@pytest.fixture(scope="session")
def bundled_npz(tmp_path_factory) -> Path:
    """The bundled MNIST cache file, built once per session in its own folder (about 1.5 s)."""
    from helpers.data import BUNDLED_CACHE_NAME, load_mnist

    folder = tmp_path_factory.mktemp("bundled-build")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VAE_NOTES_CACHE", str(folder))
        load_mnist("train")
    path = folder / BUNDLED_CACHE_NAME
    assert path.is_file(), "load_mnist did not write the bundled cache file"
    return path


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch) -> Path:
    """A fresh, empty cache folder for this test only (VAE_NOTES_CACHE points at it)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("VAE_NOTES_CACHE", str(folder))
    return folder


@pytest.fixture
def bundled_cache(tmp_cache, bundled_npz) -> Path:
    """A fresh cache folder already holding the bundled split (no 1.5 s rebuild)."""
    tmp_cache.mkdir(parents=True, exist_ok=True)
    shutil.copy(bundled_npz, tmp_cache / bundled_npz.name)
    return tmp_cache


# --- The book (issue 18): built once per run, served on 127.0.0.1, read in headless Chromium. ------------------
BOOK_BUILD_TIMEOUT_S = 900  # without `make setup`, the first build also creates .venv-book and runs `npm ci`


def _run_root(tmp_path_factory) -> Path:
    """A folder shared by every process of this run: pytest-xdist's workers each get a subfolder of it."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Path:
    """The book built once per run (`python -m book.build --out <tmp>`) from the committed notebooks.

    With parallel workers, the first one to ask builds it under a file lock; the others wait and reuse it.
    """
    root = _run_root(tmp_path_factory)
    site, done = root / "book" / "html", root / "book" / "built"
    site.parent.mkdir(parents=True, exist_ok=True)
    with open(root / "book.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.is_file():
            result = subprocess.run([sys.executable, "-m", "book.build", "--out", str(site)], cwd=REPO,
                                    capture_output=True, text=True, timeout=BOOK_BUILD_TIMEOUT_S)
            if result.returncode != 0:
                pytest.fail(f"the book build failed (exit {result.returncode}):\n{result.stdout[-3000:]}\n"
                            f"{result.stderr[-5000:]}")
            done.touch()
    assert (site / "index.html").is_file(), f"the book build wrote no index.html into {site}"
    return site


@pytest.fixture(scope="session")
def book_server(built_book) -> str:
    """The built book served on 127.0.0.1 (random port); its base URL, ending in '/'."""
    from tests.book_support import serve_folder

    with serve_folder(built_book) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def book_browser():
    """Headless Debian Chromium through Playwright (per module: Playwright's sync API allows one instance at a time).

    Open pages with `tests.book_support.open_offline_page(book_browser, site)`: requests outside `site` are aborted
    and counted. Skips locally / fails in CI when Chromium or Playwright is missing.
    """
    from tests.book_support import launch_chromium, require_browser

    require_browser()
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    browser = launch_chromium(playwright)
    try:
        yield browser
    finally:
        browser.close()
        playwright.stop()
