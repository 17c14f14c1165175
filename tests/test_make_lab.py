"""`make lab` starts JupyterLab for root users too (Docker, cloud VMs), on localhost with a token.

The recipe is checked with `make -n` for both kinds of user (a fake `id` on PATH plays the non-root one), and one
test really starts JupyterLab through `make lab` as the current user, waits for its URL, then stops it.

`make lab` is a student's lab (nbgrader's Validate, no teacher UI) and `make lab-teacher` a teacher's: both are started
for real and asked what they serve, the page config's disabled lab plugins and which nbgrader URLs answer.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
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


# ---------------------------------------------------------------- students' and teachers' lab

TEACHER_PLUGINS = ["@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
                   "@jupyter/nbgrader:course-list", "@jupyter/nbgrader:assignment-list", "@jupyter/nbgrader:menu"]
VALIDATE_PLUGIN = "@jupyter/nbgrader:validate-assignment"
CONFIG_DATA = re.compile(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', re.DOTALL)


@contextlib.contextmanager
def running_lab(target: str, tmp_path: Path, cwd: Path = REPO) -> Iterator[tuple[int, str]]:
    """`make <target>` in `cwd` on a free loopback port, the user's Jupyter config out of the way (an empty
    JUPYTER_CONFIG_DIR); yields (port, token) once the URL is printed, and always stops the whole process group."""
    port = _free_port()
    args = f"LAB_ARGS=--no-browser --ServerApp.port={port} --ServerApp.port_retries=0 --ServerApp.ip=127.0.0.1"
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path)}
    env.pop("JUPYTER_CONFIG_PATH", None)
    process = subprocess.Popen(["make", "-o", STAMP, target, args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output = []
    try:
        deadline = time.monotonic() + 60
        url = None
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            url = re.search(rf"http://(?:localhost|127\.0\.0\.1):{port}/lab\?token=(\w+)", line)
        assert url, "".join(output)
        while True:  # the URL can be printed a moment before the port accepts connections
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline and process.poll() is None, "".join(output)
                time.sleep(0.1)
        yield port, url[1]
    finally:
        stop_process_group(process, timeout=15)
        process.stdout.close()


def get(port: int, token: str, path: str) -> tuple[int, str]:
    """(status, body) of GET path on the lab, redirects not followed."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Authorization": f"token {token}"})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def lab_ui(port: int, token: str) -> dict:
    """What the lab offers: its disabled lab plugins, its lab extensions, and the status of nbgrader's URLs."""
    status, page = get(port, token, "/lab")
    assert status == 200, page[:500]
    config = json.loads(CONFIG_DATA.search(page)[1])
    urls = {path: get(port, token, path)[0] for path in ("/formgrader", "/formgraders", "/assignments",
                                                          "/assignments/validate")}
    return {"disabled": set(config["disabledExtensions"]),
            "extensions": {ext["name"] for ext in config["federated_extensions"]}, "urls": urls}


def assert_student_lab(ui: dict) -> None:
    assert "@jupyter/nbgrader" in ui["extensions"], ui
    assert set(TEACHER_PLUGINS) <= ui["disabled"], f"teacher UI shown: {set(TEACHER_PLUGINS) - ui['disabled']}"
    assert VALIDATE_PLUGIN not in ui["disabled"], "students need the Validate button"
    # formgrader, the course list and the assignment list (it needs an exchange) are not served; validate is
    # (POST only, so a GET is 405, not 404)
    assert ui["urls"] == {"/formgrader": 404, "/formgraders": 404, "/assignments": 404,
                          "/assignments/validate": 405}, ui["urls"]


def test_make_lab_is_a_students_lab(tmp_path):
    with running_lab("lab", tmp_path) as (port, token):
        assert_student_lab(lab_ui(port, token))


def test_make_lab_teacher_has_nbgraders_teacher_ui(tmp_path):
    with running_lab("lab-teacher", tmp_path) as (port, token):
        ui = lab_ui(port, token)
    assert "@jupyter/nbgrader" in ui["extensions"] and not ui["disabled"] & {*TEACHER_PLUGINS, VALIDATE_PLUGIN}, ui
    assert ui["urls"]["/formgrader"] in (200, 302) and ui["urls"]["/formgraders"] == 200, ui["urls"]
    assert ui["urls"]["/assignments/validate"] == 405, ui["urls"]


def test_the_student_lab_leaves_the_users_jupyter_config_alone(tmp_path):
    """Only this command's JUPYTER_CONFIG_PATH gains lab/student, in front of the user's own path."""
    command = _dry_run(_fake_id(tmp_path, 1000))
    assert f'JUPYTER_CONFIG_PATH="{REPO}/lab/student${{JUPYTER_CONFIG_PATH:+:$JUPYTER_CONFIG_PATH}}"' in command
    assert "JUPYTER_CONFIG_DIR" not in command and "labextension" not in command and "extension disable" not in command
