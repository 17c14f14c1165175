"""Starts a grading kernel as an unprivileged user (used when the grader runs as root).

nbgrader starts this script, as root, in the notebook's folder, through the kernel spec the grader writes into each
job (`course/confinement.py`). It runs with `python -I` and the standard library only: the job's copy of this file is
all it needs. Arguments: user id, group id, process limit, the kernel's home, then jupyter_client's connection file.
"""

import os
import resource
import sys

# Set by the grader for nbgrader's own files (its config, runtime and kernel spec, all root-only): not the kernel's.
GRADER_ONLY = ("JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "JUPYTER_PATH")


def private_copy(connection_file: str, home: str, uid: int, gid: int) -> str:
    """The connection file (root-only, in the grader's runtime folder) copied where the kernel's user reads it."""
    with open(connection_file, "rb") as source:
        content = source.read()
    target = os.path.join(home, ".grading-kernel-connection.json")
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "wb") as copy:
        copy.write(content)
    os.chown(target, uid, gid)
    return target


def main(argv: list[str]) -> None:
    uid, gid, process_limit = (int(value) for value in argv[:3])
    home, connection_file = argv[3], argv[4]
    connection = private_copy(connection_file, home, uid, gid)
    os.chown(".", uid, gid)  # the notebook's folder: the kernel may write beside the notebook, as it does for a student
    resource.setrlimit(resource.RLIMIT_NPROC, (process_limit, process_limit))
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    if os.getuid() != uid or os.geteuid() != uid:
        sys.exit("the grading kernel could not drop its privileges")
    for name in GRADER_ONLY:
        os.environ.pop(name, None)
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", "-f", connection])


if __name__ == "__main__":
    main(sys.argv[1:])
