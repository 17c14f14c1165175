"""The processes and loopback servers the tests start: how many cores they share, how they stop, how they fail."""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import subprocess
import sys
from http.server import ThreadingHTTPServer
from pathlib import Path


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one) and the cores this process may run on."""
    try:
        model = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        model = platform.processor() or platform.machine()
    return f"{model}, {cores()} cores"


def stop_process_group(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM the process's whole group; SIGKILL it if the process is still there after `timeout` seconds."""
    with contextlib.suppress(ProcessLookupError):  # the group may be gone already
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)


class QuietServer(ThreadingHTTPServer):
    """A loopback server that does not print a traceback when a client hangs up (browsers and the download tests
    drop connections on purpose); any other error is reported as usual."""

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)
