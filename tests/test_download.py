"""load_mnist(source="full") against real HTTP servers on 127.0.0.1 that the tests start and stop.

The servers serve small gzipped IDX files (100 train / 50 test digits) written from the bundled
data; `helpers.data.MNIST_MIRRORS` and `MNIST_FILES` are pointed at them. Each mirror URL names
a behaviour (good, bad checksum, truncated, stalled, dying...), so one server plays many mirrors.
No test touches the internet.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import data
from helpers.data import MnistDownloadError, load_mnist
from tests.processes import QuietServer

N_TRAIN, N_TEST = 100, 50
IMAGES, LABELS = "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"


def _idx_gz(array: np.ndarray) -> bytes:
    """MNIST's IDX format, gzipped: 0, 0, type 0x08 (uint8), ndim, big-endian dims, then the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return gzip.compress(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes(), mtime=0)


@pytest.fixture(scope="module")
def mnist_files(bundled_npz) -> dict[str, bytes]:
    """The four small full-MNIST files, built from the bundled split (same digits, same order)."""
    with np.load(bundled_npz) as bundled:
        x_train, y_train, x_test, y_test = (bundled[key] for key in ("x_train", "y_train", "x_test", "y_test"))
    return {
        IMAGES: _idx_gz(x_train[:N_TRAIN].reshape(-1, 28, 28)),
        LABELS: _idx_gz(y_train[:N_TRAIN]),
        TEST_IMAGES: _idx_gz(x_test[:N_TEST].reshape(-1, 28, 28)),
        TEST_LABELS: _idx_gz(y_test[:N_TEST]),
    }


@pytest.fixture(autouse=True)
def _small_mnist(monkeypatch, mnist_files, bundled_cache):
    """Published checksums are the test files'; short timeout; no proxy between us and 127.0.0.1."""
    monkeypatch.setattr(data, "MNIST_FILES", {name: _sha(payload) for name, payload in mnist_files.items()})
    monkeypatch.setattr(data, "MNIST_SIZES", {name: len(payload) for name, payload in mnist_files.items()})
    monkeypatch.setattr(data, "MNIST_MIRRORS", [])  # every test sets its own mirrors
    monkeypatch.setattr(data, "DOWNLOAD_TIMEOUT_S", 1.0)
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")


def _sha(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


# ---------------------------------------------------------------- the loopback mirror server


class _MirrorHandler(BaseHTTPRequestHandler):
    """GET /<mode>/<file name>; `mode` picks how the file is (mis)served."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (http.server's naming)
        mode, _, name = self.path.lstrip("/").partition("/")
        self.server.requests.append(self.path)
        payload = self.server.files.get(name)
        serve = getattr(self, f"_serve_{mode.replace('-', '_')}", None)
        if payload is None or serve is None:
            self.send_error(404, "no such file")
            return
        serve(payload)

    def log_message(self, *args):  # keep pytest's output clean
        pass

    def _headers(self, length: int | None = None, chunked: bool = False) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _serve_good(self, payload):
        self._headers(len(payload))
        self.wfile.write(payload)

    def _serve_badsum(self, payload):
        """Same length, one byte changed: only the sha256 can tell."""
        self._headers(len(payload))
        self.wfile.write(payload[:-1] + bytes([payload[-1] ^ 0xFF]))

    def _serve_truncated(self, payload):
        """Announce the full Content-Length, send half, close the connection."""
        self._headers(len(payload))
        self.wfile.write(payload[: len(payload) // 2])
        self.close_connection = True

    def _serve_chunked_truncated(self, payload):
        """Chunked transfer (no Content-Length): one chunk of half the file, then close, no final chunk."""
        self._headers(chunked=True)
        half = payload[: len(payload) // 2]
        self.wfile.write(f"{len(half):x}\r\n".encode() + half + b"\r\n")
        self.close_connection = True

    def _serve_stall(self, payload):
        """Send half, then go silent (until the test ends) without closing."""
        self._headers(len(payload))
        self.wfile.write(payload[: len(payload) // 2])
        self.wfile.flush()
        self.server.release.wait(timeout=10)
        self.close_connection = True

    def _serve_trickle(self, payload):
        """The right file, 16 bytes every 20 ms: each read succeeds, the whole takes minutes."""
        self._headers(len(payload))
        for start in range(0, len(payload), 16):
            if self.server.release.wait(timeout=0.02):
                break
            self.wfile.write(payload[start: start + 16])
            self.wfile.flush()
        self.close_connection = True

    def _serve_oversized(self, payload):
        """Announce and send the file plus 1 MB of padding."""
        padding = bytes(1 << 20)
        self._headers(len(payload) + len(padding))
        self.wfile.write(payload + padding)

    def _serve_endless(self, payload):
        """Chunked transfer (no length announced) of the file followed by zeros, up to 64 MB; counts what it sent."""
        self._headers(chunked=True)
        block = bytes(1 << 16)
        try:
            for part in [payload] + [block] * 1024:
                self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                self.server.bytes_sent += len(part)
            self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client hung up: what we want
            pass
        self.close_connection = True

    def _serve_die(self, payload):
        """Send half, then the whole server goes away: listening socket and this connection closed."""
        self._headers(len(payload))
        self.wfile.write(payload[: len(payload) // 2])
        self.wfile.flush()
        self.server.shutdown()
        self.server.server_close()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True


class _MirrorServer(QuietServer):  # the deadline and size tests hang up on purpose
    daemon_threads = True

    def __init__(self, files: dict[str, bytes]):
        super().__init__(("127.0.0.1", 0), _MirrorHandler)  # port 0: the OS picks a free port
        self.files = files
        self.requests: list[str] = []
        self.bytes_sent = 0
        self.release = threading.Event()
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, mode: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{mode}/"

    def stop(self) -> None:
        self.release.set()
        self.shutdown()  # returns at once if the server already shut itself down
        self.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server(mnist_files):
    """A running loopback mirror server, always stopped at the end of the test."""
    instance = _MirrorServer(mnist_files)
    try:
        yield instance
    finally:
        instance.stop()


def _closed_port_url() -> str:
    """A URL on a port nobody listens on (connection refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/good/"


def _full_folder() -> Path:
    from helpers import cache_dir

    return cache_dir() / "mnist-full"


def _assert_nothing_left() -> None:
    folder = _full_folder()
    left = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    assert left == [], f"files left in the cache after a failed download: {left}"


def _assert_cache_is_complete(mnist_files) -> None:
    folder = _full_folder()
    assert sorted(p.name for p in folder.iterdir()) == sorted(mnist_files), "unexpected files in the cache"
    for name, payload in mnist_files.items():
        assert (folder / name).read_bytes() == payload, f"{name} in the cache differs from the served file"


def _use_mirrors(monkeypatch, *urls: str) -> None:
    monkeypatch.setattr(data, "MNIST_MIRRORS", list(urls))


# ---------------------------------------------------------------- success


def test_good_download_gives_the_served_digits(server, monkeypatch, mnist_files):
    _use_mirrors(monkeypatch, server.url("good"))
    x_train, y_train = load_mnist("train", source="full")
    x_test, y_test = load_mnist("test", source="full")
    assert x_train.shape == (N_TRAIN, 784) and x_test.shape == (N_TEST, 784)
    assert x_train.dtype == torch.float32 and y_train.dtype == torch.int64
    bundled_train, bundled_test = load_mnist("train"), load_mnist("test")
    assert torch.equal(x_train, bundled_train[0][:N_TRAIN]) and torch.equal(y_train, bundled_train[1][:N_TRAIN])
    assert torch.equal(x_test, bundled_test[0][:N_TEST]) and torch.equal(y_test, bundled_test[1][:N_TEST])
    assert sorted(server.requests) == sorted(f"/good/{name}" for name in mnist_files), "each file fetched once"
    _assert_cache_is_complete(mnist_files)


def test_second_load_uses_the_cache(server, monkeypatch):
    _use_mirrors(monkeypatch, server.url("good"))
    first = load_mnist("train", source="full")
    server.requests.clear()
    _use_mirrors(monkeypatch, _closed_port_url())  # offline now
    second = load_mnist("train", source="full", binarize="static")
    assert server.requests == [], "verified cached files must not be downloaded again"
    assert second[0].shape == first[0].shape and set(second[0].unique().tolist()) == {0.0, 1.0}


def test_checksum_mismatch_on_first_mirror_falls_back_to_second(server, monkeypatch, mnist_files):
    _use_mirrors(monkeypatch, server.url("badsum"), server.url("good"))
    x, _ = load_mnist("test", source="full")
    assert x.shape == (N_TEST, 784)
    for name in mnist_files:
        assert server.requests.index(f"/badsum/{name}") < server.requests.index(f"/good/{name}")
    _assert_cache_is_complete(mnist_files)


@pytest.mark.parametrize("bad_mode", ["truncated", "chunked-truncated", "missing"])
def test_broken_first_mirror_falls_back_to_second(server, monkeypatch, mnist_files, bad_mode):
    _use_mirrors(monkeypatch, server.url(bad_mode), server.url("good"))
    load_mnist("train", source="full")
    _assert_cache_is_complete(mnist_files)


# ---------------------------------------------------------------- failures: clear error, nothing left behind


def _expect_failure(*fragments: str) -> str:
    with pytest.raises(MnistDownloadError) as info:
        load_mnist("train", source="full")
    message = str(info.value)
    assert "source='bundled'" in message and "offline" in message, f"point to the offline source:\n{message}"
    for fragment in fragments:
        assert fragment in message, f"the error should mention {fragment!r}:\n{message}"
    _assert_nothing_left()
    return message


def test_all_mirrors_bad_raises_one_clear_error(server, monkeypatch):
    refused = _closed_port_url()
    _use_mirrors(monkeypatch, server.url("badsum"), server.url("missing"), server.url("truncated"), refused)
    message = _expect_failure(IMAGES, "sha256 mismatch", "404", "truncated download", refused + IMAGES)
    assert message.count("http://127.0.0.1") == 4, "each mirror tried should be listed once"


def test_checksum_mismatch_everywhere(server, monkeypatch):
    _use_mirrors(monkeypatch, server.url("badsum"))
    _expect_failure("sha256 mismatch")


def test_truncated_file_is_rejected(server, monkeypatch):
    _use_mirrors(monkeypatch, server.url("truncated"))
    _expect_failure("truncated download")


def test_truncated_chunked_transfer_is_rejected(server, monkeypatch):
    _use_mirrors(monkeypatch, server.url("chunked-truncated"))
    _expect_failure(IMAGES)


def test_stalled_server_times_out(server, monkeypatch):
    monkeypatch.setattr(data, "DOWNLOAD_TIMEOUT_S", 0.3)
    _use_mirrors(monkeypatch, server.url("stall"))
    start = time.perf_counter()
    _expect_failure("timed out")
    assert time.perf_counter() - start < 5, "the download timeout was not applied"


def test_trickling_server_hits_the_overall_deadline(server, monkeypatch):
    """Every read returns within the per-read timeout, so only an overall deadline ends the download."""
    monkeypatch.setattr(data, "DOWNLOAD_DEADLINE_S", 0.5)
    _use_mirrors(monkeypatch, server.url("trickle"))
    start = time.perf_counter()
    _expect_failure("deadline")
    assert time.perf_counter() - start < 5, "the overall download deadline was not applied"


def test_oversized_announcement_is_refused(server, monkeypatch):
    _use_mirrors(monkeypatch, server.url("oversized"))
    _expect_failure("larger than expected")


def test_endless_body_is_not_read_past_the_expected_size(server, monkeypatch):
    _use_mirrors(monkeypatch, server.url("endless"))
    _expect_failure("larger than expected")
    server.release.set()
    time.sleep(0.2)  # let the handler notice the closed connection
    assert server.bytes_sent < 16 << 20, f"the client read on: the server sent {server.bytes_sent} bytes"


def test_no_server_at_all(monkeypatch):
    _use_mirrors(monkeypatch, _closed_port_url(), _closed_port_url())
    _expect_failure("Connection refused")


def test_server_shut_down_mid_download(server, monkeypatch):
    _use_mirrors(monkeypatch, server.url("die"), server.url("good"))  # the second mirror is the same, dead server
    message = _expect_failure("truncated download")
    assert "Connection refused" in message, "the server should be gone for the second mirror"
    assert server.requests == [f"/die/{IMAGES}"]


_KILLABLE_SERVER = r"""
import sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

payload = open(sys.argv[1], "rb").read()

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload[: len(payload) // 2])
        self.wfile.flush()
        print("HALF-SENT", flush=True)
        time.sleep(60)  # until the test kills us

server = HTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def test_server_process_killed_mid_download(monkeypatch, tmp_path, mnist_files):
    """The issue's bar: kill -9 the loopback server mid-download → the clear error, no file left."""
    (tmp_path / "payload").write_bytes(mnist_files[IMAGES])
    (tmp_path / "server.py").write_text(_KILLABLE_SERVER)
    process = subprocess.Popen([sys.executable, str(tmp_path / "server.py"), str(tmp_path / "payload")],
                               stdout=subprocess.PIPE, text=True)
    killed = threading.Event()

    def kill_when_half_sent():
        if process.stdout.readline().strip() == "HALF-SENT":
            process.kill()
            killed.set()

    try:
        port = int(process.stdout.readline())
        killer = threading.Thread(target=kill_when_half_sent, daemon=True)
        killer.start()
        monkeypatch.setattr(data, "DOWNLOAD_TIMEOUT_S", 30.0)  # so only the kill can end the download
        _use_mirrors(monkeypatch, f"http://127.0.0.1:{port}/")
        message = _expect_failure()
        assert "truncated download" in message or "reset by peer" in message, message
        killer.join(timeout=5)
        assert killed.is_set(), "the server was not killed mid-download"
    finally:
        process.kill()
        process.wait(timeout=10)
        with contextlib.suppress(Exception):
            process.stdout.close()


# ---------------------------------------------------------------- a corrupted cache is fetched again


def test_corrupted_cached_files_are_fetched_again(server, monkeypatch, mnist_files):
    _use_mirrors(monkeypatch, server.url("good"))
    expected = load_mnist("train", source="full")
    folder = _full_folder()
    images = (folder / IMAGES).read_bytes()
    (folder / IMAGES).write_bytes(images[:-1] + bytes([images[-1] ^ 0xFF]))  # one byte flipped
    (folder / TEST_LABELS).write_bytes(mnist_files[TEST_LABELS][:10])  # truncated
    server.requests.clear()
    again = load_mnist("train", source="full")
    assert sorted(server.requests) == sorted([f"/good/{IMAGES}", f"/good/{TEST_LABELS}"]), server.requests
    assert torch.equal(again[0], expected[0]) and torch.equal(again[1], expected[1])
    _assert_cache_is_complete(mnist_files)


def test_corrupted_cached_file_is_never_used_offline(server, monkeypatch, mnist_files):
    _use_mirrors(monkeypatch, server.url("good"))
    load_mnist("test", source="full")
    folder = _full_folder()
    (folder / IMAGES).write_bytes(b"\x1f\x8b garbage")
    _use_mirrors(monkeypatch, _closed_port_url())
    with pytest.raises(MnistDownloadError, match="source='bundled'"):
        load_mnist("test", source="full")
    left = sorted(p.name for p in folder.iterdir())
    assert left == sorted(set(mnist_files) - {IMAGES}), f"the corrupted file should be gone, found {left}"
    for name in left:
        assert (folder / name).read_bytes() == mnist_files[name], f"{name} should still be the verified file"


def test_a_folder_where_a_cached_file_belongs_gives_a_clear_error(server, monkeypatch):
    _use_mirrors(monkeypatch, server.url("good"))
    (_full_folder() / IMAGES).mkdir(parents=True)
    with pytest.raises(OSError, match="VAE_NOTES_CACHE") as info:
        load_mnist("train", source="full")
    assert IMAGES in str(info.value)
