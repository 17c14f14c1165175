"""Where a submission runs while it is graded: its own folder, environment and (where allowed) mount namespace."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from course.layout import with_venv_path


class Snapshot:
    """What every submission is graded with, read into memory once: the helpers package and the course build."""

    def __init__(self, helpers_dir: Path, course_dir: Path) -> None:
        self.helpers = read_tree(helpers_dir, skip=("__pycache__",))
        # The gradebook and the config are all nbgrader's autograde needs: no solutions (source/) in a job.
        self.course = read_tree(course_dir, skip=("release", "source"))

    def write(self, folder: Path) -> None:
        write_tree(self.helpers, folder / "lib" / "helpers")
        write_tree(self.course, folder / "course")


def read_tree(root: Path, skip: tuple[str, ...]) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(Path(root).rglob("*"))
            if p.is_file() and not set(p.relative_to(root).parts) & set(skip)}


def write_tree(files: dict[str, bytes], root: Path) -> None:
    for relative, content in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)




def kernel_env(job: Path, root: Path) -> dict[str, str]:
    """The grading process's environment: the fresh helpers copy first on the path; home, temp files and caches
    inside the job's folder (`job` on this side, `root` as the grading process sees it)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("JUPYTER", "IPYTHON", "PYTHON"))}
    for name in ("home", "tmp"):
        (job / name).mkdir(exist_ok=True)
    env.update(PYTHONPATH=str(root / "lib"), HOME=str(root / "home"), TMPDIR=str(root / "tmp"),
               VAE_NOTES_CACHE=str(root / "home" / "cache"), MPLCONFIGDIR=str(root / "home" / "mpl"),
               JUPYTER_PLATFORM_DIRS="1", PYTHONDONTWRITEBYTECODE="1")
    return with_venv_path(env)


# Run inside a private mount namespace: the job's folder is the only writable place, the other jobs are hidden, and
# so are the teacher's files ($VAE_SANDBOX_HIDE: one folder per line, each covered by an empty tmpfs) except the
# Python environment the grading runs in ($VAE_SANDBOX_KEEP, held aside first and put back on top). In a private
# network namespace too (where allowed): only its own loopback, which nbgrader needs to reach the kernel, is up;
# nothing outside the job can be reached. $1 = the job's folder, $2 = where the grading process sees it, $3 = the
# folder holding every job; then the command.
SANDBOX_SCRIPT = """set -e
if [ -n "$VAE_SANDBOX_NET" ]; then ip link set lo up; fi
mount --bind "$1" "$2"
mount -t tmpfs -o size=1m tmpfs "$3"
mount -t tmpfs tmpfs /dev/shm || true
n=0
while IFS= read -r path; do
  [ -n "$path" ] || continue
  n=$((n + 1)); mkdir "$3/kept-$n"; mount --rbind "$path" "$3/kept-$n"
done <<KEEP
$VAE_SANDBOX_KEEP
KEEP
while IFS= read -r path; do
  [ -n "$path" ] || continue
  mount -t tmpfs -o size=1m,mode=755 tmpfs "$path"
done <<HIDE
$VAE_SANDBOX_HIDE
HIDE
n=0
while IFS= read -r path; do
  [ -n "$path" ] || continue
  n=$((n + 1)); mkdir -p "$path"; mount --move "$3/kept-$n" "$path"
done <<KEEP
$VAE_SANDBOX_KEEP
KEEP
for mp in $(awk '{print $5}' /proc/self/mountinfo | sort -u); do
  case "$mp" in
    /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|"$2") ;;
    *) mount -o remount,bind,ro "$mp" 2>/dev/null || true ;;
  esac
done
shift 3
exec "$@"
"""


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _python_folders() -> set[Path]:
    python = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    return python | {Path(p).resolve() for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()}


def _closed_to_others(python: set[Path]) -> set[Path]:
    """Folders above the Python environment that other users may not pass through (such as /root, 0700)."""
    return {folder for p in python for folder in p.parents if not folder.stat().st_mode & 0o001}


def hidden_and_kept(teacher_paths: list[Path], job_base: Path, other_user: bool = False) -> dict[str, str]:
    """The sandbox's environment that hides `teacher_paths` (folders; a file's folder) from a graded submission
    and keeps the Python environment visible. Never hides the job's own folder, `/`, or a folder of a hidden one.

    With `other_user` (the kernel runs as another user), a folder above the Python environment that other users may
    not pass through is replaced too, by an open one that holds the environment alone."""
    base, python = Path(job_base).resolve(), _python_folders()
    folders = {(p if p.is_dir() else p.parent).resolve() for p in map(Path, teacher_paths) if p.exists()}
    folders = sorted(folders | (_closed_to_others(python) if other_user else set()), key=lambda p: (len(p.parts), p))
    hide: list[Path] = []
    for folder in folders:
        if len(folder.parts) > 1 and not _inside(base, folder) and not any(_inside(folder, h) for h in hide) \
                and "\n" not in str(folder):
            hide.append(folder)
    keep = sorted((p for p in python if any(_inside(p, h) for h in hide)), key=lambda p: len(p.parts))
    keep = [p for p in keep if not any(other != p and _inside(p, other) for other in keep)]
    return {"VAE_SANDBOX_HIDE": "\n".join(map(str, hide)), "VAE_SANDBOX_KEEP": "\n".join(map(str, keep))}


def sandbox_command() -> list[str] | None:
    """`unshare` arguments that give each grading process its own read-only view of the disk and, where allowed,
    no network but its own loopback; or None where the system allows neither (then submissions are isolated by
    folders and in-memory copies only)."""
    unshare = shutil.which("unshare")
    if unshare is None or sys.platform != "linux":
        return None
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    with_network_cut = [unshare, *user, "--mount", "--net", "--propagation", "private", "env", "VAE_SANDBOX_NET=1"]
    for command in (with_network_cut, [unshare, *user, "--mount", "--propagation", "private"]):
        if _sandbox_works(command):
            return command
    return None


# Inside the sandbox: the job's folder is writable, the rest is not, and the loopback carries a connection.
_PROBE = """
import pathlib, socket, sys
pathlib.Path(sys.argv[1], "ok").touch()
try:
    pathlib.Path(sys.argv[2]).touch()
    sys.exit("the disk outside the job is writable")
except OSError:
    pass
server = socket.create_server(("127.0.0.1", 0))
socket.create_connection(server.getsockname(), timeout=5).close()
"""


def _sandbox_works(command: list[str]) -> bool:
    with tempfile.TemporaryDirectory(prefix="vae-sandbox-probe-") as tmp:
        for name in ("job", "seen", "jobs"):
            (Path(tmp) / name).mkdir()
        probe = subprocess.run([*command, "sh", "-c", SANDBOX_SCRIPT, "sandbox", f"{tmp}/job", f"{tmp}/seen",
                                f"{tmp}/jobs", sys.executable, "-c", _PROBE, f"{tmp}/seen", f"{tmp}/outside"],
                               capture_output=True, check=False)
        return probe.returncode == 0 and (Path(tmp) / "job" / "ok").is_file()


def mount_namespace(pid: int) -> str | None:
    """The mount namespace of process `pid` (like 'mnt:[4026532xyz]'), or None when it is gone or not visible."""
    try:
        return os.readlink(f"/proc/{pid}/ns/mnt")
    except OSError:
        return None


class HeldNamespace:
    """A job's mount namespace, held open by a file descriptor. The kernel gives the id of a freed namespace to the
    next one created, so a job whose processes all exited could otherwise share its id with a job starting on the other
    worker, and killing "every process in it" would kill that job; a held namespace is not freed."""

    def __init__(self, name: str, descriptor: int) -> None:
        self.name, self._descriptor = name, descriptor

    def kill_and_release(self) -> int:
        try:
            return kill_namespace(self.name)
        finally:
            os.close(self._descriptor)


def namespace_of_job(pid: int, wait: float = 2.0) -> HeldNamespace | None:
    """The mount namespace the sandboxed process `pid` enters, held; None if it never leaves ours in `wait` s."""
    ours, deadline = mount_namespace(os.getpid()), time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            descriptor = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY)
        except OSError:
            return None
        theirs = f"mnt:[{os.fstat(descriptor).st_ino}]"
        if theirs != ours:
            return HeldNamespace(theirs, descriptor)
        os.close(descriptor)
        time.sleep(0.005)
    return None


def kill_namespace(namespace: str) -> int:
    """SIGKILL every process in `namespace`, including those that left the job's process group or session
    (a background process a submission started with setsid); returns how many were killed."""
    killed = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid() and mount_namespace(int(entry.name)) == namespace:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
                killed += 1
            except OSError:
                pass
    return killed


GRADE_FOLDER_PREFIX = "vae-grade-"
OWNER_FILE = "grader.pid"


def _start_time(pid: int) -> str | None:
    """Process `pid`'s start time in clock ticks since boot (tells a live grader from a recycled pid)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def mark_as_ours(folder: Path) -> None:
    (folder / OWNER_FILE).write_text(f"{os.getpid()} {_start_time(os.getpid())}")


def remove_stale_folders(parent: Path | None = None, min_age: float = 3600) -> list[Path]:
    """Delete the grading folders a killed grader left behind (its process is gone); return them.

    A folder whose owner file is missing is removed only when older than `min_age` seconds (it may be a grader
    that is starting right now)."""
    removed = []
    for folder in sorted(Path(parent or tempfile.gettempdir()).glob(f"{GRADE_FOLDER_PREFIX}*")):
        try:
            pid, started = (folder / OWNER_FILE).read_text().split()
            alive = _start_time(int(pid)) == started
        except (OSError, ValueError):
            alive = time.time() - folder.stat().st_mtime < min_age
        if folder.is_dir() and not folder.is_symlink() and not alive:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


# The address space each grading process may hold (nbgrader, the kernel, anything they start): the series' notebooks
# peak under 1 GB resident and 0.8 GB virtual per torch process, so 4 GiB leaves room; one answer cannot take the
# machine's memory from the others (and from the grader).
DEFAULT_MEMORY_GB = 4.0


def memory_limited(memory_bytes: int) -> list[str]:
    """A command prefix that caps the address space of what it runs (util-linux prlimit; none where it is missing)."""
    prlimit = shutil.which("prlimit")
    return [prlimit, f"--as={int(memory_bytes)}", "--"] if prlimit else []
