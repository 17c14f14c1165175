"""`make lab` starts JupyterLab for root users too (Docker, cloud VMs), on localhost with a token.

The recipe is checked with `make -n` for both kinds of user (a fake `id` on PATH plays the non-root one), and one
test really starts JupyterLab through `make lab` as the current user, waits for its URL, then stops it.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from pathlib import Path

from tests.processes import stop_process_group

REPO = Path(__file__).resolve().parents[1]
STAMP = ".venv/.installed"


def _dry_run(extra_path: Path | None = None, *args: str) -> str:
    env = dict(os.environ)
    if extra_path is not None:
        env["PATH"] = f"{extra_path}{os.pathsep}{env['PATH']}"
    # -o STAMP: never (re)install packages here, only show the lab command
    result = subprocess.run(["make", "-n", "-o", STAMP, "lab", *args], cwd=REPO, env=env, capture_output=True,
                            text=True, check=True)
    return result.stdout


def _fake_id(folder: Path, uid: int) -> Path:
    script = folder / "id"
    script.write_text(f"#!/bin/sh\necho {uid}\n")
    script.chmod(0o755)
    return folder


def test_root_gets_allow_root(tmp_path):
    command = _dry_run(_fake_id(tmp_path, 0))
    assert "jupyter lab" in command and "--allow-root" in command, command


def test_other_users_do_not_get_allow_root(tmp_path):
    command = _dry_run(_fake_id(tmp_path, 1000))
    assert "jupyter lab" in command and "--allow-root" not in command, command


def test_lab_stays_on_localhost_unless_asked(tmp_path):
    default = _dry_run(_fake_id(tmp_path, 0))
    assert "--ip" not in default and "token" not in default.lower(), "the default must keep localhost + token"
    container = _dry_run(_fake_id(tmp_path, 0), "LAB_ARGS=--ip=0.0.0.0")
    assert "--ip=0.0.0.0" in container


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_make_lab_really_starts_for_the_current_user(tmp_path):
    """As root this failed before the fix with 'Running as root is not recommended. Use --allow-root'."""
    port = _free_port()
    args = f"LAB_ARGS=--no-browser --ServerApp.port={port} --ServerApp.port_retries=0"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path)}
    process = subprocess.Popen(["make", "-o", STAMP, "lab", args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            if re.search(rf"http://(localhost|127\.0\.0\.1):{port}/lab\?token=\w+", line):
                break
        log = "".join(output)
        assert re.search(rf"http://(localhost|127\.0\.0\.1):{port}/lab\?token=\w+", log), log
    finally:
        stop_process_group(process, timeout=15)
        process.stdout.close()
