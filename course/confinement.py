"""What confines a submission while it is graded, beyond its own folder and mount namespace (course/sandbox.py).

- Run as root, the grader starts each submission's kernel as a user of its own (no account, no groups, a process
  limit): the kernel cannot signal the grader, read its memory or `/proc/<pid>/root`, or read the job's gradebook
  (hidden tests), and every process of that user is killed when the job ends.
- Where cgroup v1's memory and pids controllers are writable (root on Linux with cgroup v1, as on the CI machine),
  each submission (nbgrader, its kernel and everything they start) runs in a control group of its own, which caps the
  memory of the whole submission and its number of tasks, and lets the grader kill all of it at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import sys
import time
from pathlib import Path

LAUNCHER = Path(__file__).with_name("kernel_launcher.py")
KERNEL_NAME = "vae-notes-grading"
# Tasks (processes and threads) one submission may run: nbgrader, its kernel (torch's and ZeroMQ's threads) and what
# they start peaked at 22 to 24 tasks (and 0.42 to 0.92 GB) grading the six solved assignments (2026-12-05); a fork
# bomb stops here.
TASK_LIMIT = 256
# Ids of the grading users, far above any account: one per job running at once.
FIRST_GRADING_ID = 3_900_000_000


def privileged() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _mapped_ids(map_file: str) -> list[tuple[int, int]]:
    """(first, count) of each id range this process's user namespace maps (all ids where there is no map)."""
    try:
        rows = Path(map_file).read_text().split("\n")
    except OSError:
        return [(0, 2**32 - 1)]
    return [(int(inside), int(count)) for inside, _, count in (row.split() for row in rows if row.strip())]


def grading_ids(count: int) -> list[int]:
    """`count` user ids for grading kernels, unused by any account and mapped in this namespace (also as group ids)."""
    import pwd

    usable = [
        candidate for candidate in range(FIRST_GRADING_ID, FIRST_GRADING_ID + 10 * count)
        if all(any(first <= candidate < first + size for first, size in _mapped_ids(f"/proc/self/{kind}_map"))
               for kind in ("uid", "gid"))
    ]
    free = []
    for candidate in usable:
        try:
            pwd.getpwuid(candidate)
        except KeyError:
            free.append(candidate)
    if len(free) < count:
        raise RuntimeError(f"no {count} free user ids from {FIRST_GRADING_ID} are mapped here: grade as a user with "
                           "a full id map, or not as root")
    return free[:count]


class GradingUsers:
    """The ids of the jobs running now: a job takes one when it starts and gives it back, its processes killed."""

    def __init__(self, count: int) -> None:
        self._free: queue.Queue[int] = queue.Queue()
        for uid in grading_ids(count):
            self._free.put(uid)

    def take(self) -> int:
        return self._free.get()

    def give_back(self, uid: int) -> None:
        kill_user(uid)
        self._free.put(uid)


def kill_user(uid: int) -> int:
    """SIGKILL every process whose real or effective user is `uid`; returns how many."""
    killed = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ids = next(line for line in (entry / "status").read_text().splitlines() if line.startswith("Uid:"))
            if uid in [int(value) for value in ids.split()[1:3]]:
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
        except (OSError, StopIteration, ValueError):
            pass
    return killed


def prepare_unprivileged_job(job: Path, root: Path, uid: int) -> dict[str, str]:
    """Permissions and kernel spec of a job whose kernel runs as `uid`; returns nbgrader's extra environment.

    The kernel's user may read the helpers copy and write its home and temporary folder; the course folder (the
    gradebook holds the hidden tests) and the grader's own files are root's alone. `job` is the folder on this side,
    `root` where the grading process sees it."""
    for folder in (job, job / "course"):
        folder.chmod(0o711)
    (job / "course" / "gradebook.db").chmod(0o600)
    for path in [job / "lib", *(job / "lib").rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    for name in ("home", "tmp"):
        os.chown(job / name, uid, uid)
        (job / name).chmod(0o700)
    grader = job / "grader"
    spec = grader / "share" / "jupyter" / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    (grader / "launcher.py").write_bytes(LAUNCHER.read_bytes())
    argv = [sys.executable, "-I", str(root / "grader" / "launcher.py"), str(uid), str(uid), str(TASK_LIMIT),
            str(root / "home"), "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Python 3 (grading)",
                                                  "language": "python"}))
    grader.chmod(0o700)
    seen = root / "grader"
    return {"JUPYTER_CONFIG_DIR": str(seen / "config"), "JUPYTER_RUNTIME_DIR": str(seen / "runtime"),
            "JUPYTER_DATA_DIR": str(seen / "share" / "jupyter"), "JUPYTER_PATH": str(seen / "share" / "jupyter")}


def _cgroup_folders() -> dict[str, Path]:
    """Where this process's cgroup v1 `memory` and `pids` groups are, for those mounted here."""
    mounts = {}
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, mountpoint, kind, options, *_ = line.split()
        for controller in ("memory", "pids"):
            if kind == "cgroup" and controller in options.split(","):
                mounts[controller] = Path(mountpoint)
    folders = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in set(controllers.split(",")) & set(mounts):
            own = mounts[controller] / path.lstrip("/")
            folders[controller] = own if own.is_dir() else mounts[controller]
    return folders


def remove_stale_cgroups() -> list[Path]:
    """Kill and remove the groups a killed grader left behind (the grader's pid is in their name)."""
    removed = []
    for parent in _cgroup_folders().values():
        for folder in parent.glob("vae-grade-*-*"):
            grader = folder.name.split("-")[2]
            if grader.isdigit() and not Path(f"/proc/{grader}").exists():
                JobCgroup.kill_and_remove_folder(folder)
                removed.append(folder)
    return removed


class JobCgroup:
    """A cgroup v1 memory and pids group for one submission; `available()` tells whether this system allows one."""

    def __init__(self, name: str, memory_bytes: int, tasks: int = TASK_LIMIT) -> None:
        self.folders = {controller: parent / name for controller, parent in _cgroup_folders().items()}
        self.folders["memory"].mkdir()
        self.folders["pids"].mkdir()
        limit = self.folders["memory"]
        (limit / "memory.limit_in_bytes").write_text(str(memory_bytes))
        with contextlib.suppress(OSError):  # memory plus swap, where swap is accounted: swapping does not escape it
            (limit / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))
        (self.folders["pids"] / "pids.max").write_text(str(tasks))

    @staticmethod
    def available() -> bool:
        try:
            folders = _cgroup_folders()
            return {"memory", "pids"} <= set(folders) and all(os.access(f, os.W_OK) for f in folders.values())
        except OSError:
            return False

    def command_prefix(self) -> list[str]:
        """Runs the command inside the group (from its first instruction on, so nothing it forks escapes)."""
        join = 'while [ "$1" != -- ]; do echo $$ > "$1"; shift; done; shift; exec "$@"'
        return ["sh", "-c", join, "cgroup", *(str(f / "cgroup.procs") for f in self.folders.values()), "--"]

    def ran_out_of_memory(self) -> bool:
        try:
            control = (self.folders["memory"] / "memory.oom_control").read_text().split()
            return int(control[control.index("oom_kill") + 1]) > 0
        except (OSError, ValueError, IndexError):
            return False

    def kill_and_remove(self) -> None:
        for folder in self.folders.values():
            self.kill_and_remove_folder(folder)

    @staticmethod
    def kill_and_remove_folder(folder: Path) -> None:
        deadline = time.monotonic() + 10
        while folder.is_dir() and time.monotonic() < deadline:
            for pid in (folder / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):
                    os.kill(int(pid), signal.SIGKILL)
            try:
                folder.rmdir()
            except OSError:
                time.sleep(0.05)
