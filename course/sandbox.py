"""Where a submission runs while it is graded: its own folder, environment and (where allowed) mount namespace."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from course.layout import with_venv_path


class Snapshot:
    """What every submission is graded with, read into memory once: the helpers package and the course build."""

    def __init__(self, helpers_dir: Path, course_dir: Path) -> None:
        self.helpers = read_tree(helpers_dir, skip=("__pycache__",))
        self.course = read_tree(course_dir, skip=("release",))

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


# Run inside a private mount namespace: the job's folder is the only writable place, the other jobs are hidden.
# $1 = the job's folder, $2 = where the grading process sees it, $3 = the folder holding every job; then the command.
SANDBOX_SCRIPT = """set -e
mount --bind "$1" "$2"
mount -t tmpfs -o size=1m tmpfs "$3"
mount -t tmpfs tmpfs /dev/shm || true
for mp in $(awk '{print $5}' /proc/self/mountinfo | sort -u); do
  case "$mp" in
    /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|"$2") ;;
    *) mount -o remount,bind,ro "$mp" 2>/dev/null || true ;;
  esac
done
shift 3
exec "$@"
"""


def sandbox_command() -> list[str] | None:
    """`unshare` arguments that give each grading process its own read-only view of the disk, or None where the
    system does not allow it (then submissions are isolated by folders and in-memory copies only)."""
    unshare = shutil.which("unshare")
    if unshare is None or sys.platform != "linux":
        return None
    command = [unshare, "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        command[1:1] = ["--user", "--map-root-user"]
    with tempfile.TemporaryDirectory(prefix="vae-sandbox-probe-") as tmp:
        for name in ("job", "seen", "jobs"):
            (Path(tmp) / name).mkdir()
        probe = subprocess.run([*command, "sh", "-c", SANDBOX_SCRIPT, "sandbox", f"{tmp}/job", f"{tmp}/seen",
                                f"{tmp}/jobs", "sh", "-c", f"touch {tmp}/seen/ok && ! touch {tmp}/outside"],
                               capture_output=True, check=False)
        return command if probe.returncode == 0 and (Path(tmp) / "job" / "ok").is_file() else None

