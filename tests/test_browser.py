"""Real-browser test of notebook 06: JupyterLab started here on 127.0.0.1, driven by headless Debian Chromium.

The test copies the notebook (outputs cleared) into a temporary folder, starts JupyterLab there with a random free
port, a token and temporary Jupyter config/data/runtime folders (nothing in $HOME is touched), opens the notebook in
Chromium through Playwright, runs all cells from the Run menu, presses the arrow key on the z₁ slider of the 2-D
explorer and checks that the decoded digit changed. Screenshots go to `test-artifacts/` (gitignored). The server is
always stopped, even when the test fails.

Needs Debian's Chromium at /usr/bin/chromium (`apt-get install chromium`) and the `playwright` Python package
(requirements.txt). Without them the test skips locally and fails in CI (`CI=true`), where it must run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

from tests.conftest import REPO
from tests.processes import stop_process_group

NOTEBOOK = REPO / "notebooks" / "06_latent_space_explorer.ipynb"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
# The flags that work on this machine's closed network (no sandbox as root, no GPU, no calls home).
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-quic", "--no-first-run", "--disable-dev-shm-usage",
]
SERVER_START_S = 60
RUN_ALL_S = 120
UPDATE_S = 15
KEY_PRESSES = 10  # ArrowRight presses on the z₁ handle: +10 steps of 0.05

def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _require_browser() -> None:
    """Skip (locally) or fail (in CI) when Chromium or Playwright is missing."""
    problems = []
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        problems.append(f"Chromium is not installed at {CHROMIUM} (install it with `apt-get install chromium`)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the playwright package is missing (install it with `pip install -r requirements.txt`)")
    if problems:
        message = "; ".join(problems)
        if _in_ci():
            pytest.fail(f"the browser test must run in CI (CI=true), but {message}")
        pytest.skip(f"browser test skipped: {message}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _copy_without_outputs(source: Path, folder: Path) -> Path:
    """Copy the notebook with its outputs and widget state cleared, so every picture the test sees is new."""
    notebook = nbformat.read(source, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    notebook.metadata.pop("widgets", None)
    target = folder / source.name
    nbformat.write(notebook, target)
    return target


def _isolated_env(base: Path) -> dict[str, str]:
    """Environment for the server: every Jupyter/IPython folder it may write lives under `base`."""
    folders = {
        "JUPYTER_CONFIG_DIR": "config", "JUPYTER_DATA_DIR": "data", "JUPYTER_RUNTIME_DIR": "runtime",
        "IPYTHONDIR": "ipython", "JUPYTERLAB_SETTINGS_DIR": "lab-settings", "JUPYTERLAB_WORKSPACES_DIR": "workspaces",
    }
    env = dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1")
    for variable, name in folders.items():
        (base / name).mkdir(parents=True, exist_ok=True)
        env[variable] = str(base / name)
    # Answer JupyterLab's "get notified about Jupyter news?" question up front: no pop-up, no news fetched.
    settings = base / "lab-settings" / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    settings.parent.mkdir(parents=True)
    settings.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    return env


def _get(url: str, token: str, method: str = "GET") -> bytes:
    request = urllib.request.Request(url, method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.read()


def _stop(server: subprocess.Popen, base_url: str, token: str) -> None:
    """Ask the server to shut down (it stops its kernels), then kill its process group if it lingers."""
    if server.poll() is None:
        with contextlib.suppress(OSError, urllib.error.URLError):
            _get(f"{base_url}/api/shutdown", token, method="POST")
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            stop_process_group(server)


@pytest.fixture
def jupyter_lab(tmp_path):
    """A JupyterLab server serving a cleared copy of notebook 06; yields (base_url, token, notebook name, log)."""
    _require_browser()
    assert NOTEBOOK.is_file(), f"{NOTEBOOK} is missing"
    served = tmp_path / "served"
    served.mkdir()
    notebook = _copy_without_outputs(NOTEBOOK, served)
    port, token = _free_port(), os.urandom(16).hex()
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyterlab", "--ip=127.0.0.1", f"--port={port}", "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False", f"--IdentityProvider.token={token}", "--allow-root",
        f"--ServerApp.root_dir={served}",
        # No news feed and no update check: nothing reaches for the network.
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, cwd=served, env=_isolated_env(tmp_path / "jupyter"), stdout=log,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited with code {server.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                _get(f"{base_url}/api/status", token)
                break
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not answer within {SERVER_START_S} s:\n"
                                f"{log_path.read_text()[-3000:]}")
                time.sleep(0.5)
        yield base_url, token, notebook.name, log_path
    finally:
        _stop(server, base_url, token)


# Prompts of code cells: "[ ]:" before running, "[*]:" queued or running, "[3]:" done.
_PROMPTS_JS = """() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
  .map(p => p.textContent)"""
_DONE_JS = f"""() => {{
  const prompts = ({_PROMPTS_JS})();
  return prompts.length > 0 && prompts.some(p => /\\d/.test(p)) && !prompts.some(p => p.includes('*'));
}}"""
_ERRORS_JS = """() => [...document.querySelectorAll(
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
  .map(e => e.textContent).filter(t => /Error|Traceback/.test(t)).map(t => t.slice(0, 1500))"""


def _run_all_cells(page) -> None:
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    page.wait_for_function(_DONE_JS, timeout=RUN_ALL_S * 1000, polling=500)
    errors = page.evaluate(_ERRORS_JS)
    assert not errors, "a cell raised in JupyterLab:\n" + "\n---\n".join(errors)
    prompts = page.evaluate(_PROMPTS_JS)
    assert all(any(ch.isdigit() for ch in prompt) for prompt in prompts), f"not every cell ran: {prompts}"


def _wait_for_change(page, image, before_src: str, before_pixels: bytes) -> tuple[str, bytes]:
    deadline = time.monotonic() + UPDATE_S
    while True:
        src, pixels = image.get_attribute("src"), image.screenshot()
        if src != before_src and pixels != before_pixels:
            return src, pixels
        if time.monotonic() > deadline:
            return src, pixels
        page.wait_for_timeout(250)


@pytest.mark.browser
@pytest.mark.slow
def test_sliders_update_the_decoded_digit_in_jupyterlab(jupyter_lab):
    from playwright.sync_api import sync_playwright

    base_url, token, name, log_path = jupyter_lab
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            try:
                page.goto(f"{base_url}/lab/tree/{name}?token={token}", timeout=60_000)
                page.get_by_text(re.compile(r"^Python 3.* \| Idle$")).wait_for(timeout=60_000)  # the status bar
                _run_all_cells(page)

                explorer = page.locator(".vae-explorer-2d").first
                explorer.scroll_into_view_if_needed()
                digit = explorer.locator("img.vae-digit")
                handle = explorer.locator(".widget-slider .noUi-handle").first
                readout = explorer.locator(".widget-readout").first
                digit.wait_for(state="visible", timeout=30_000)
                before_src, before_pixels, before_value = digit.get_attribute("src"), digit.screenshot(), \
                    readout.text_content()
                page.screenshot(path=ARTIFACTS / "06_explorer_before.png")

                handle.focus()
                for _ in range(KEY_PRESSES):
                    handle.press("ArrowRight")
                after_src, after_pixels = _wait_for_change(page, digit, before_src, before_pixels)
                page.screenshot(path=ARTIFACTS / "06_explorer_after.png")
                explorer.screenshot(path=ARTIFACTS / "06_explorer_widget.png")

                for kind in ("edit", "interp"):  # the other two explorers rendered too: keep a picture of each
                    other = page.locator(f".vae-explorer-{kind}").first
                    other.scroll_into_view_if_needed()
                    other.locator("img.vae-digit").wait_for(state="visible", timeout=10_000)
                    other.screenshot(path=ARTIFACTS / f"06_explorer_{kind}.png")

                after_value = readout.text_content()
                assert after_value != before_value, f"the z1 slider did not move (readout stayed {before_value})"
                assert float(after_value.replace("\u2212", "-")) > float(before_value.replace("\u2212", "-")), \
                    f"ArrowRight should increase z1, but it went from {before_value} to {after_value}"
                assert after_src != before_src, "the decoded digit's <img> src did not change after the slider moved"
                assert after_pixels != before_pixels, "the decoded digit looks the same after the slider moved"
            except Exception:
                page.screenshot(path=ARTIFACTS / "06_explorer_failure.png")
                print(f"JupyterLab log (last lines):\n{log_path.read_text()[-3000:]}")
                raise
        finally:
            browser.close()


@pytest.mark.parametrize("ci", ["true", ""])
def test_missing_chromium_fails_in_ci_and_skips_locally(monkeypatch, tmp_path, ci):
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", tmp_path / "no-chromium")
    outcome = pytest.fail.Exception if ci else pytest.skip.Exception
    with pytest.raises(outcome, match="apt-get install chromium"):
        _require_browser()
