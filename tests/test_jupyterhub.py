"""A course run through a real JupyterHub with nbgrader's exchange, on 127.0.0.1 (issue 26, items 1 and 2).

The hub is `jupyterhub` from requirements.txt with configurable-http-proxy from book/package.json (`make setup`
installs both), started with the committed course/jupyterhub/jupyterhub_config.py, unchanged: its dummy
authenticator and simple local-process spawner, a teacher and two students, each with a home under one temporary
folder that also holds nbgrader's exchange. The ports are random free loopback ports. The course folder is laid out
by the course tools (`course.layout.lay_out_course`, what `python -m course course` does, here with notebook 02
only, the fastest to grade) in the teacher's home before the hub starts. Everything else goes through the hub, over
HTTP, with the tokens the hub gives each user, the way JupyterLab's buttons do it:

- the teacher generates and releases the assignment (nbgrader's Formgrader REST API on the teacher's server);
- each student lists and fetches it (nbgrader's Assignments REST API on the student's own server) and saves the
  notebook (Jupyter's contents API): student1 pastes the reference solutions and runs nbgrader's Validate on it
  there (a kernel of the student's server runs it, `helpers` imported from the server's environment), student2
  leaves the stubs; both submit;
- the teacher collects and autogrades (Formgrader), reads the scores from Formgrader's gradebook API, and exports
  them with `nbgrader export` typed into a JupyterLab terminal of the teacher's server (nbgrader has no REST call
  for export), then reads grades.csv through the contents API;
- student1's JupyterLab, opened in Chromium through the hub's login page, shows nbgrader's Assignments panel
  (screenshot in test-artifacts/, browser test).

The hub, the proxy, the users' servers and their kernels are stopped at the end, even when a step fails, and the
test checks that none of them is left (every process whose environment names the temporary folder); the folder
is removed. It does not prove real system accounts and their file permissions, HTTPS, or a class of hundreds
(docs/teacher-guide.md).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from course.layout import assignment_sources, lay_out_course
from course.notebooks import NOTEBOOKS
from tests.conftest import REPO
from tests.test_browser import _free_port, _in_ci
from tests.test_grading import ASSIGNMENT, NAME, solve

pytestmark = pytest.mark.slow

HUB_CONFIG = REPO / "course" / "jupyterhub" / "jupyterhub_config.py"
PROXY = REPO / "book" / "node_modules" / ".bin" / "configurable-http-proxy"
ARTIFACTS = REPO / "test-artifacts"
COURSE_ID = "vae-notes"
TEACHER, SOLVER, IDLER = "teacher", "student1", "student2"
STUDENTS = (SOLVER, IDLER)
HUB_START_S = 60
SPAWN_S = 90
REQUEST_S = 300  # one HTTP call; autograde and Validate run the notebook inside the call


def _require_hub() -> None:
    """Skip (locally) or fail (in CI) when jupyterhub or configurable-http-proxy is not installed."""
    problems = []
    if shutil.which("jupyterhub", path=str(Path(sys.executable).parent)) is None:
        problems.append("jupyterhub is not installed (`make setup`, requirements.txt)")
    if not os.access(PROXY, os.X_OK):
        problems.append(f"{PROXY.relative_to(REPO)} is missing (`make setup` runs npm ci in book/)")
    if problems:
        message = "; ".join(problems)
        if _in_ci():
            pytest.fail(f"the JupyterHub test must run in CI (CI=true), but {message}")
        pytest.skip(f"JupyterHub test skipped: {message}")


class HubError(AssertionError):
    pass


@dataclass
class Hub:
    """A running hub: its public URL (the proxy), the admin service's token, the temporary folder it lives in."""

    url: str
    token: str
    folder: Path
    log: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def request(self, method: str, path: str, body=None, token: str | None = None, raw: bool = False):
        """An HTTP call through the proxy; the JSON answer (or the text when `raw`)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"Authorization": f"token {token or self.token}",
                                                  "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_S) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as error:
            raise HubError(f"{method} {path}: HTTP {error.code} {error.read().decode()[:2000]}\n"
                           f"{self.log_tail()}") from None
        return text if raw else (json.loads(text) if text.strip() else None)

    def as_user(self, name: str, method: str, path: str, body=None, raw: bool = False):
        """A call to `name`'s own server, through the proxy, with the token the hub made for that user."""
        return self.request(method, f"/user/{name}/{path.lstrip('/')}", body, token=self.tokens[name], raw=raw)

    def log_tail(self, size: int = 4000) -> str:
        text = self.log.read_text(errors="replace") if self.log.is_file() else ""
        return f"--- the hub's log (last {size} characters) ---\n{text[-size:]}"


def processes_of(folder: Path) -> list[int]:
    """Every process whose command line or environment names `folder`: the hub, the proxy, the users' servers and
    their kernels (the spawner passes paths under it to each server, and a kernel inherits its server's)."""
    found, marker = [], str(folder).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if marker in (entry / "environ").read_bytes() or marker in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
    return found


def kill_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def stop_hub(hub: Hub | None, process: subprocess.Popen, folder: Path) -> list[int]:
    """Stop the users' servers through the API, then the hub's process group (SIGTERM: the hub stops the proxy and
    any server left), then SIGKILL whatever still names the folder. The pids that needed SIGKILL."""
    if hub is not None and process.poll() is None:
        def stop_server(name: str) -> None:
            with contextlib.suppress(Exception):
                hub.request("DELETE", f"/hub/api/users/{name}/server")

        with ThreadPoolExecutor(3) as pool:
            list(pool.map(stop_server, (TEACHER, *STUDENTS)))
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    deadline = time.monotonic() + 10
    while processes_of(folder) and time.monotonic() < deadline:
        time.sleep(0.2)
    leftover = processes_of(folder)
    kill_all(leftover, signal.SIGKILL)
    return leftover


def wait_for(what: str, probe, timeout: float, hub: Hub, process: subprocess.Popen):
    """Call `probe` until it returns something true; fail with the hub's log when the hub died or time ran out."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise HubError(f"the hub exited ({process.returncode}) while waiting for {what}\n{hub.log_tail()}")
        try:
            result = probe()
            if result:
                return result
        except (OSError, HubError) as error:
            last = error
        time.sleep(0.3)
    raise HubError(f"timed out after {timeout:.0f} s waiting for {what} ({last})\n{hub.log_tail()}")


def start_servers(hub: Hub, process: subprocess.Popen, names: tuple[str, ...]) -> None:
    """Start each user's server through the hub's REST API, wait until the hub says it is ready, and get a token
    for the user (the token JupyterLab's requests would carry)."""
    with ThreadPoolExecutor(len(names)) as pool:  # each call waits for its spawn up to the hub's slow_spawn_timeout
        list(pool.map(lambda name: hub.request("POST", f"/hub/api/users/{name}/server"), names))
    for name in names:
        wait_for(f"{name}'s server", lambda name=name: hub.request("GET", f"/hub/api/users/{name}")
                 .get("servers", {}).get("", {}).get("ready"), SPAWN_S, hub, process)
        hub.tokens[name] = hub.request("POST", f"/hub/api/users/{name}/tokens",
                                       {"expires_in": 3600, "note": "tests/test_jupyterhub.py"})["token"]


def run_in_terminal(hub: Hub, name: str, command: str, timeout: float = 120) -> str:
    """Type `command` into a new JupyterLab terminal of `name`'s server (Jupyter's terminal websocket, through the
    proxy), wait for its exit status, close the terminal; the terminal's output. Fails on a non-zero exit."""
    import websocket  # websocket-client, which jupyter_server depends on

    terminal = hub.as_user(name, "POST", "api/terminals")["name"]
    url = hub.url.replace("http://", "ws://") + f"/user/{name}/terminals/websocket/{terminal}"
    connection = websocket.create_connection(url, header=[f"Authorization: token {hub.tokens[name]}"],
                                             timeout=timeout)
    output, done = "", re.compile(r"\bEXIT=(\d+)\b")
    try:
        connection.send(json.dumps(["stdin", f"{command}; echo EXIT=$?\r"]))
        deadline = time.monotonic() + timeout
        while not done.search(output.replace("EXIT=$?", "")) and time.monotonic() < deadline:
            kind, *payload = json.loads(connection.recv())
            if kind == "stdout":
                output += payload[0]
    finally:
        connection.close()
        hub.as_user(name, "DELETE", f"api/terminals/{terminal}", raw=True)
    status = done.search(output.replace("EXIT=$?", ""))
    assert status and status[1] == "0", f"`{command}` in {name}'s terminal failed:\n{output[-3000:]}"
    return output


def read_notebook_of(hub: Hub, name: str, path: str) -> dict:
    return hub.as_user(name, "GET", f"api/contents/{urllib.parse.quote(path)}?content=1")["content"]


def save_notebook_of(hub: Hub, name: str, path: str, nb: dict) -> None:
    hub.as_user(name, "PUT", f"api/contents/{urllib.parse.quote(path)}",
                {"type": "notebook", "format": "json", "content": nb})


def assignment_of(listing: dict) -> list[dict]:
    assert listing.get("success"), f"nbgrader's assignment list failed: {listing}"
    return [entry for entry in listing["value"] if entry["assignment_id"] == ASSIGNMENT]


def run_course(hub: Hub, process: subprocess.Popen) -> dict:
    """The course, step by step, through the hub; what each step answered, for the tests to assert on."""
    record: dict = {"seconds": {}}
    clock = time.monotonic()

    def lap(step: str) -> None:
        nonlocal clock
        record["seconds"][step], clock = time.monotonic() - clock, time.monotonic()

    start_servers(hub, process, (TEACHER, *STUDENTS))
    lap("start the three servers")
    record["status"] = {name: hub.as_user(name, "GET", "api/status") for name in (TEACHER, *STUDENTS)}

    formgrader = f"formgrader/api/assignment/{ASSIGNMENT}"
    record["generate"] = hub.as_user(TEACHER, "POST", f"{formgrader}/assign")
    assert record["generate"]["success"], record["generate"]
    record["release"] = hub.as_user(TEACHER, "POST", f"{formgrader}/release")
    assert record["release"]["success"], record["release"]
    lap("generate and release")

    main = json.loads((NOTEBOOKS / f"{ASSIGNMENT}.ipynb").read_text(encoding="utf-8"))
    query = f"assignments?course_id={COURSE_ID}"
    for name in STUDENTS:
        record[f"{name} listed"] = assignment_of(hub.as_user(name, "GET", query))
        fetched = hub.as_user(name, "POST", "assignments/fetch", {"course_id": COURSE_ID, "assignment_id": ASSIGNMENT})
        record[f"{name} fetched"] = assignment_of(fetched)
        path = f"{ASSIGNMENT}/{NAME}"
        nb = read_notebook_of(hub, name, path)
        record[f"{name} handed out"] = copy.deepcopy(nb)
        if name == SOLVER:
            nb = solve(nb, main, {"2.1", "2.2"})
        save_notebook_of(hub, name, path, nb)
        if name == SOLVER:  # Validate runs the notebook in a kernel of the student's server: helpers imports there
            record[f"{name} validate"] = hub.as_user(name, "POST", "assignments/validate", {"path": path})
        submitted = hub.as_user(name, "POST", "assignments/submit", {"course_id": COURSE_ID,
                                                                      "assignment_id": ASSIGNMENT})
        record[f"{name} submitted"] = assignment_of(submitted)
        lap(f"{name}: list, fetch, save, (validate), submit")

    record["collect"] = hub.as_user(TEACHER, "POST", f"{formgrader}/collect")
    assert record["collect"]["success"], record["collect"]
    for name in STUDENTS:
        record[f"{name} autograde"] = hub.as_user(
            TEACHER, "POST", f"formgrader/api/submission/{ASSIGNMENT}/{name}/autograde")
    record["gradebook"] = hub.as_user(TEACHER, "GET", f"formgrader/api/submissions/{ASSIGNMENT}")
    lap("collect and autograde")
    # A terminal runs a login shell, whose PATH is the system's: name the hub's environment, as `make` names .venv
    # (quoted: the checkout's path may hold spaces).
    nbgrader = shlex.quote(str(Path(sys.executable).parent / "nbgrader"))
    record["export"] = run_in_terminal(hub, TEACHER, f"cd ~/{COURSE_ID} && {nbgrader} export")
    record["grades.csv"] = hub.as_user(TEACHER, "GET", f"api/contents/{COURSE_ID}/grades.csv?content=1&type=file"
                                       "&format=text")["content"]
    lap("export")
    return record


@contextlib.contextmanager
def running_hub():
    """A hub started from course/jupyterhub/jupyterhub_config.py in a new temporary folder; always stopped."""
    _require_hub()
    folder = Path(tempfile.mkdtemp(prefix="vae-hub-"))
    process, hub, leftover = None, None, []
    try:
        teacher_home = folder / "home" / TEACHER
        lay_out_course(teacher_home / COURSE_ID, {ASSIGNMENT: assignment_sources()[ASSIGNMENT]})
        (folder / "exchange").mkdir(mode=0o777)
        os.chmod(folder / "exchange", 0o777)  # as nbgrader's docs set it up: every user writes there
        ports: list[int] = []
        while len(ports) < 3:  # the proxy's public and API ports, the hub's own
            ports += [port for port in [_free_port()] if port not in ports]
        token = secrets.token_hex(32)
        env = {**os.environ, "VAE_NOTES_HUB_DIR": str(folder), "VAE_NOTES_HUB_API_TOKEN": token,
               "PATH": os.pathsep.join([str(PROXY.parent), str(Path(sys.executable).parent), os.environ["PATH"]])}
        log = folder / "hub.log"
        with open(log, "wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(HUB_CONFIG), "--port", str(ports[0]),
                 f"--JupyterHub.hub_port={ports[1]}", f"--ConfigurableHTTPProxy.api_url=http://127.0.0.1:{ports[2]}"],
                cwd=folder, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
        hub = Hub(f"http://127.0.0.1:{ports[0]}", token, folder, log)
        wait_for("the hub's API", lambda: hub.request("GET", "/hub/api/"), HUB_START_S, hub, process)
        yield hub, process
    finally:
        if process is not None:
            leftover = stop_hub(hub, process, folder)
            with contextlib.suppress(OSError):  # the hub's log, for a failure in CI
                ARTIFACTS.mkdir(exist_ok=True)
                shutil.copyfile(folder / "hub.log", ARTIFACTS / "hub.log")
        shutil.rmtree(folder, ignore_errors=True)
    assert not leftover, f"processes were still running after the hub stopped and had to be killed: {leftover}"


@pytest.fixture(scope="module")
def hub_course():
    """One hub for the module, the whole course run through it: (the hub, each step's answer and the seconds it
    took). The hub stays up for the browser test and is stopped after the module's last test, which fails there
    when a process had to be killed."""
    with running_hub() as (hub, process):
        yield hub, run_course(hub, process)


@pytest.fixture(scope="module")
def course_run(hub_course):
    return hub_course[1]


def test_the_hub_starts_a_server_for_the_teacher_and_each_student(course_run):
    assert set(course_run["status"]) == {TEACHER, *STUDENTS}
    assert all("started" in status for status in course_run["status"].values())


def test_the_teacher_generates_and_releases_through_formgrader(course_run):
    assert course_run["generate"]["success"] and course_run["release"]["success"]


def test_each_student_fetches_and_submits_through_their_own_server(course_run):
    for name in STUDENTS:
        assert [entry["status"] for entry in course_run[f"{name} listed"]] == ["released"]
        assert [entry["status"] for entry in course_run[f"{name} fetched"]] == ["fetched"]
        statuses = sorted(entry["status"] for entry in course_run[f"{name} submitted"])
        assert "submitted" in statuses, f"{name}'s submission is not listed: {course_run[f'{name} submitted']}"
        handed_out = json.dumps(course_run[f"{name} handed out"])
        assert "raise NotImplementedError()" in handed_out and "BEGIN HIDDEN TESTS" not in handed_out


def test_validate_runs_in_the_students_server_where_helpers_imports(course_run):
    answer = course_run[f"{SOLVER} validate"]
    assert answer["success"] and answer["value"] == {}, f"the solved notebook fails Validate: {answer}"


def test_collect_and_autograde_give_full_marks_and_zero(course_run):
    for name in STUDENTS:
        assert course_run[f"{name} autograde"]["success"], course_run[f"{name} autograde"]
    scores = {row["student"]: (row["score"], row["max_score"], row["autograded"]) for row in course_run["gradebook"]}
    assert scores == {SOLVER: (2.0, 2.0, True), IDLER: (0.0, 2.0, True)}, scores


def test_the_export_has_the_same_scores(course_run):
    rows = [line.split(",") for line in course_run["grades.csv"].strip().splitlines()]
    header, body = rows[0], rows[1:]
    table = {row[header.index("student_id")]: (float(row[header.index("score")]),
                                               float(row[header.index("max_score")])) for row in body}
    assert table == {SOLVER: (2.0, 2.0), IDLER: (0.0, 2.0)}, course_run["grades.csv"]


@pytest.mark.browser
def test_a_students_jupyterlab_on_the_hub_shows_the_assignments_panel(hub_course):
    """student1 logs in on the hub's page in Chromium, JupyterLab opens, and Nbgrader > Assignment List shows the
    fetched and submitted assignment. Screenshot: test-artifacts/hub-student-assignments.png."""
    from tests.book_support import launch_chromium, require_browser

    require_browser()
    from playwright.sync_api import sync_playwright

    hub, _ = hub_course
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            try:
                page.goto(f"{hub.url}/hub/login?next=/user/{SOLVER}/lab", timeout=60_000)
                page.fill("input[name=username]", SOLVER)
                page.fill("input[name=password]", "any password: the test's authenticator takes any")
                page.click("input[type=submit], button[type=submit]")
                page.get_by_role("menuitem", name="Nbgrader").click(timeout=90_000)
                page.get_by_role("menuitem", name="Assignment List").click()
                panel = page.locator("#nbgrader-assignment-list")
                panel.get_by_text(ASSIGNMENT).first.wait_for(timeout=30_000)
                page.wait_for_timeout(500)  # the list's three sections fill in one after another
                text = panel.inner_text()
                page.screenshot(path=ARTIFACTS / "hub-student-assignments.png")
            except Exception:
                page.screenshot(path=ARTIFACTS / "hub-student-assignments-failure.png")
                raise
        finally:
            browser.close()
    assert "Submitted assignments" in text and "Downloaded assignments" in text, text
    submitted = text.split("Submitted assignments", 1)[1]
    assert ASSIGNMENT in submitted and "vae-notes" in submitted, text
