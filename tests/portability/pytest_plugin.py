"""Log the notebooks' assert comparisons while `make test` runs them under nbval: the native side of the portability
run (`python -m tests.portability.run` reuses these logs instead of executing every notebook a third time).

Loaded with `-p tests.portability.pytest_plugin` (pyproject addopts). Before nbval starts a notebook's kernel, the
kernel's environment gets `IPYTHONDIR`, whose startup file instruments the kernel, and `VAE_NOTES_CLAIMS_LOG`, the
log to write: build/portability/native/<notebook>.jsonl, with a .json beside it naming the notebook's sha256.
Other processes the tests start never see either variable. Set VAE_NOTES_NO_CLAIMS_LOG=1 to turn it off.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from tests.portability.instrument import LOG_VARIABLE

REPO = Path(__file__).resolve().parents[2]
NATIVE_LOGS = REPO / "build" / "portability" / "native"
STARTUP = "from tests.portability.instrument import install_from_environment\ninstall_from_environment()\n"


def log_stamp(notebook: Path) -> dict:
    """What a native log was made from: the notebook and the instrument, by sha256 (a log of either's old version is
    not reused)."""
    instrument = Path(__file__).with_name("instrument.py")
    return {"notebook": notebook.name, "sha256": hashlib.sha256(notebook.read_bytes()).hexdigest(),
            "instrument_sha256": hashlib.sha256(instrument.read_bytes()).hexdigest()}


def _ipython_dir(config) -> Path:
    folder = Path(config._tmp_path_factory.getbasetemp()) / "ipython-claims"  # noqa: SLF001 (pytest's own factory)
    startup = folder / "profile_default" / "startup" / "00-claims.py"
    if not startup.exists():
        startup.parent.mkdir(parents=True, exist_ok=True)
        startup.write_text(f"import sys\nsys.path.insert(0, {str(REPO)!r})\n{STARTUP}")
    return folder


def _notebook_of(item) -> Path | None:
    """The notebook an nbval cell item belongs to, for items whose notebook kernel is not started yet."""
    parent = item.parent
    path = Path(str(getattr(parent, "path", getattr(parent, "fspath", ""))))
    if path.suffix != ".ipynb" or getattr(parent, "kernel", None) is not None:
        return None
    return path


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    notebook = None if os.environ.get("VAE_NOTES_NO_CLAIMS_LOG") else _notebook_of(item)
    if notebook is None:
        yield
        return
    NATIVE_LOGS.mkdir(parents=True, exist_ok=True)
    log = NATIVE_LOGS / f"{notebook.stem}.jsonl"
    log.unlink(missing_ok=True)
    log.with_suffix(".json").write_text(json.dumps(log_stamp(notebook)))
    saved = {name: os.environ.get(name) for name in ("IPYTHONDIR", LOG_VARIABLE)}
    os.environ.update(IPYTHONDIR=str(_ipython_dir(item.config)), **{LOG_VARIABLE: str(log)})
    try:
        yield  # nbval starts the notebook's kernel here, with this environment
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
