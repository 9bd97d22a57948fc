"""MNIST downloads, for real, from an HTTP server on 127.0.0.1 that each test starts and stops.

No test touches the outside network: the mirrors are local URLs, the cache is a temporary
directory, and ``FUNCNN_MNIST_MIRRORS`` points at a closed local port in case anything
tried the default mirrors.
"""

from __future__ import annotations

import gzip
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import funcnn.data.mnist as mnist
from funcnn.data.mnist import MNIST_FILES, DownloadError, download_mnist, load_mnist
from funcnn.errors import ArgumentTypeError, FuncnnError, InvalidArgumentError

VENDORED = Path(__file__).resolve().parents[1] / "data" / "mnist"
GOOD = {f.name: (VENDORED / f.name).read_bytes() for f in MNIST_FILES}
SMALL = "t10k-labels-idx1-ubyte.gz"  # the file most tests download (4.5 kB)


@dataclass
class Route:
    body: bytes
    mode: str = "ok"  # "ok", "short" (closes mid-body) or "hang" (never answers)


@dataclass
class LocalServer:
    """A threaded HTTP server on 127.0.0.1 serving ``routes`` and logging every request."""

    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    httpd: ThreadingHTTPServer | None = None

    def url(self, prefix: str) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{prefix}/"

    def serve(self, prefix: str, files: dict[str, bytes], mode: str = "ok") -> str:
        for name, body in files.items():
            self.routes[f"/{prefix}/{name}"] = Route(body, mode)
        return self.url(prefix)


def _handler(state: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            route = state.routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            if route.mode == "hang":
                state.release.wait(10)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            body = route.body[: len(route.body) // 2] if route.mode == "short" else route.body
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[LocalServer]:
    state = LocalServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.httpd = httpd
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def closed_port_url() -> str:
    """A local URL nobody listens on (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FUNCNN_MNIST_MIRRORS", "http://127.0.0.1:9/")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("FUNCNN_DATA", raising=False)


def prefilled(directory: Path, missing: str = SMALL) -> Path:
    """``directory`` holding the vendored files except ``missing``, which is to download."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in GOOD:
        if name != missing:
            shutil.copyfile(VENDORED / name, directory / name)
    return directory


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def corrupt(data: bytes) -> bytes:
    b = bytearray(data)
    b[len(b) // 2] ^= 0x01
    return bytes(b)


# ----------------------------------------------------------------------------- good files


def test_good_files_are_downloaded_and_load(server: LocalServer, tmp_path: Path) -> None:
    good = server.serve("good", GOOD)
    target = tmp_path / "new" / "cache"  # created on demand
    assert download_mnist(target, mirrors=[good], progress=False) == target
    assert listing(target) == sorted(GOOD)  # nothing else, no temporary files
    for name, body in GOOD.items():
        assert (target / name).read_bytes() == body
    (_, y_train), (x_test, y_test) = load_mnist(target)
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert x_test.shape == (10000, 28, 28)


def test_only_missing_files_are_downloaded(server: LocalServer, tmp_path: Path) -> None:
    good = server.serve("good", GOOD)
    target = prefilled(tmp_path / "cache")
    download_mnist(target, mirrors=[good], progress=False)
    assert server.requests == [f"/good/{SMALL}"]
    download_mnist(target, mirrors=[good], progress=False)
    assert server.requests == [f"/good/{SMALL}"]  # complete: nothing fetched


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_files_are_written_with_the_users_umask(
    server: LocalServer, tmp_path: Path, umask: int
) -> None:
    good = server.serve("good", GOOD)
    target = prefilled(tmp_path / "cache")
    old = os.umask(umask)
    try:
        download_mnist(target, mirrors=[good], progress=False)
    finally:
        os.umask(old)
    assert (target / SMALL).stat().st_mode & 0o777 == 0o666 & ~umask


def test_recompressed_copy_is_accepted_by_content(server: LocalServer, tmp_path: Path) -> None:
    other = gzip.compress(gzip.decompress(GOOD[SMALL]), compresslevel=1, mtime=12345)
    assert other != GOOD[SMALL]
    url = server.serve("other", {SMALL: other})
    target = prefilled(tmp_path / "cache")
    download_mnist(target, mirrors=[url], progress=False)
    assert (target / SMALL).read_bytes() == other
    _, (_, y_test) = load_mnist(target)
    assert y_test[:3].tolist() == [7, 2, 1]


def test_progress_is_reported(
    server: LocalServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = server.serve("good", GOOD)
    events: list[tuple[str, int, int | None]] = []
    target = prefilled(tmp_path / "cache", missing="t10k-images-idx3-ubyte.gz")
    download_mnist(target, mirrors=[good], progress=lambda *e: events.append(e))
    size = len(GOOD["t10k-images-idx3-ubyte.gz"])
    assert events[0] == ("t10k-images-idx3-ubyte.gz", 0, size)
    assert events[-1] == ("t10k-images-idx3-ubyte.gz", size, size)
    done = [e[1] for e in events]
    assert done == sorted(done) and len(events) > 10
    (target / "t10k-images-idx3-ubyte.gz").unlink()
    download_mnist(target, mirrors=[good])  # progress=True: on stderr
    err = capsys.readouterr().err
    assert f"downloading {good}t10k-images-idx3-ubyte.gz (1.6 MB)\n" in err
    assert "downloaded t10k-images-idx3-ubyte.gz: 1.6 MB in" in err


# ----------------------------------------------------------------------------- bad files


def _assert_rejected(info: pytest.ExceptionInfo[DownloadError], *expected: str) -> None:
    err = info.value
    assert isinstance(err, OSError) and isinstance(err, FuncnnError)
    message = str(err)
    assert f"could not download {SMALL} from any of 1 mirror(s); nothing was written" in message
    # One exception, not a chain of urllib internals: its message holds every reason.
    assert err.__cause__ is None and err.__suppress_context__
    for text in expected:
        assert text in message, message


def test_corrupted_file_is_rejected(server: LocalServer, tmp_path: Path) -> None:
    url = server.serve("bad", {SMALL: corrupt(GOOD[SMALL])})
    target = prefilled(tmp_path / "cache")
    before = listing(target)
    with pytest.raises(DownloadError) as info:
        download_mnist(target, mirrors=[url], progress=False)
    _assert_rejected(info, f"{url}{SMALL}: failed verification", "none of the known copies")
    assert listing(target) == before  # no partial or temporary file left behind


def test_corrupted_but_valid_gzip_is_rejected(server: LocalServer, tmp_path: Path) -> None:
    content = bytearray(gzip.decompress(GOOD[SMALL]))
    content[-1] = 3 if content[-1] != 3 else 4  # one label changed: well-formed, wrong
    url = server.serve("bad", {SMALL: gzip.compress(bytes(content))})
    target = prefilled(tmp_path / "cache")
    with pytest.raises(DownloadError) as info:
        download_mnist(target, mirrors=[url], progress=False)
    _assert_rejected(info, "decompress to 10008 bytes with SHA-256", "corrupt or truncated")
    assert not (target / SMALL).exists()


def test_truncated_file_is_rejected(server: LocalServer, tmp_path: Path) -> None:
    url = server.serve("cut", {SMALL: GOOD[SMALL][:-100]})
    target = prefilled(tmp_path / "cache")
    before = listing(target)
    with pytest.raises(DownloadError) as info:
        download_mnist(target, mirrors=[url], progress=False)
    _assert_rejected(info, "failed verification", "not valid gzip data", "truncated gzip data")
    assert listing(target) == before


def test_connection_closed_mid_file_is_rejected(server: LocalServer, tmp_path: Path) -> None:
    url = server.serve("short", {SMALL: GOOD[SMALL]}, mode="short")
    target = prefilled(tmp_path / "cache")
    before = listing(target)
    with pytest.raises(DownloadError) as info:
        download_mnist(target, mirrors=[url], progress=False)
    half, full = len(GOOD[SMALL]) // 2, len(GOOD[SMALL])
    _assert_rejected(info, f"truncated download: the connection closed after {half} of {full}")
    assert listing(target) == before


def test_oversized_file_is_refused_unread(server: LocalServer, tmp_path: Path) -> None:
    url = server.serve("big", {SMALL: bytes(50_000)})
    target = prefilled(tmp_path / "cache")
    with pytest.raises(DownloadError) as info:
        download_mnist(target, mirrors=[url], progress=False)
    _assert_rejected(info, "the server announces 50000 bytes, more than any valid copy")


def test_big_corrupted_file_is_rejected(server: LocalServer, tmp_path: Path) -> None:
    name = "train-images-idx3-ubyte.gz"
    url = server.serve("bad", {name: corrupt(GOOD[name])})
    target = prefilled(tmp_path / "cache", missing=name)
    with pytest.raises(DownloadError, match=f"could not download {name}") as info:
        download_mnist(target, mirrors=[url], progress=False)
    assert "corrupt gzip data" in str(info.value) or "SHA-256" in str(info.value)
    assert not (target / name).exists() and len(listing(target)) == 3


def test_a_failed_write_leaves_nothing(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = server.serve("good", GOOD)
    target = prefilled(tmp_path / "cache")
    before = listing(target)

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        download_mnist(target, mirrors=[good], progress=False)
    assert listing(target) == before


# ----------------------------------------------------------------------------- mirrors


def test_dead_mirrors_fall_through_to_a_good_one(
    server: LocalServer, tmp_path: Path, closed_port_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    mirrors = [
        closed_port_url,  # connection refused
        server.url("missing"),  # 404
        server.serve("hang", {SMALL: b""}, mode="hang"),  # times out
        server.serve("bad", {SMALL: corrupt(GOOD[SMALL])}),  # fails verification
        server.serve("good", GOOD),
    ]
    target = prefilled(tmp_path / "cache")
    download_mnist(target, mirrors=mirrors, timeout=0.5)
    assert (target / SMALL).read_bytes() == GOOD[SMALL]
    assert server.requests == [f"/{p}/{SMALL}" for p in ("missing", "hang", "bad", "good")]
    err = capsys.readouterr().err
    assert err.count("trying the next mirror") == 4
    assert "Connection refused" in err and "HTTP error 404 Not Found" in err
    assert "no answer within the timeout of 0.5 s" in err
    assert f"downloaded {SMALL}" in err


def test_the_mirror_that_worked_is_tried_first_next_time(
    server: LocalServer, tmp_path: Path
) -> None:
    mirrors = [server.url("missing"), server.serve("good", GOOD)]
    target = tmp_path / "cache"
    target.mkdir()
    shutil.copyfile(VENDORED / "train-images-idx3-ubyte.gz", target / "train-images-idx3-ubyte.gz")
    shutil.copyfile(VENDORED / "t10k-images-idx3-ubyte.gz", target / "t10k-images-idx3-ubyte.gz")
    download_mnist(target, mirrors=mirrors, progress=False)
    assert server.requests == [
        "/missing/train-labels-idx1-ubyte.gz",
        "/good/train-labels-idx1-ubyte.gz",
        f"/good/{SMALL}",
    ]
    assert listing(target) == sorted(GOOD)


def test_all_mirrors_failing_lists_every_attempt(
    server: LocalServer, tmp_path: Path, closed_port_url: str
) -> None:
    target = tmp_path / "cache"
    with pytest.raises(DownloadError) as info:
        download_mnist(target, mirrors=[closed_port_url, server.url("missing")], progress=False)
    message = str(info.value)
    assert "from any of 2 mirror(s)" in message
    assert f"  - {closed_port_url}train-images-idx3-ubyte.gz: " in message
    assert "Connection refused" in message
    assert f"  - {server.url('missing')}train-images-idx3-ubyte.gz: " in message
    assert "HTTP error 404 Not Found" in message
    assert not target.exists() or listing(target) == []


def test_mirrors_from_the_environment(
    server: LocalServer, tmp_path: Path, closed_port_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = server.serve("good", GOOD)
    monkeypatch.setenv("FUNCNN_MNIST_MIRRORS", f"{closed_port_url}, {good.rstrip('/')}")
    target = prefilled(tmp_path / "cache")
    download_mnist(target, progress=False)
    assert server.requests == [f"/good/{SMALL}"]


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="mirrors: expected http"):
        download_mnist(tmp_path, mirrors=["ftp://example.org/mnist/"])
    with pytest.raises(ArgumentTypeError, match="mirrors: expected a sequence"):
        download_mnist(tmp_path, mirrors="http://127.0.0.1:9/")
    with pytest.raises(InvalidArgumentError, match="mirrors: no mirror"):
        download_mnist(tmp_path, mirrors=[])
    with pytest.raises(InvalidArgumentError, match="timeout"):
        download_mnist(tmp_path, mirrors=["http://127.0.0.1:9/"], timeout=0)
    with pytest.raises(ArgumentTypeError, match="progress"):
        download_mnist(tmp_path, mirrors=["http://127.0.0.1:9/"], progress="yes")  # type: ignore[arg-type]
    assert listing(tmp_path) == []


# ----------------------------------------------------------------------------- load_mnist


def test_load_mnist_downloads_when_no_copy_exists(
    server: LocalServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(mnist, "_VENDORED_DIR", None)  # as if installed from a wheel
    good = server.serve("good", GOOD)
    (x_train, y_train), (_, y_test) = load_mnist(mirrors=[good])
    cache = tmp_path / "xdg-cache" / "funcnn" / "mnist"
    assert listing(cache) == sorted(GOOD)
    assert len(server.requests) == 4
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    err = capsys.readouterr().err
    assert all(f"downloaded {name}" in err for name in GOOD)
    load_mnist(mirrors=[good])  # now cached: no request
    assert len(server.requests) == 4


def test_load_mnist_with_a_dead_mirror_and_no_copy(
    tmp_path: Path, closed_port_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mnist, "_VENDORED_DIR", None)
    with pytest.raises(DownloadError, match="could not download train-images"):
        load_mnist(cache_dir=tmp_path / "cache", mirrors=[closed_port_url], progress=False)
    assert not (tmp_path / "cache").exists() or listing(tmp_path / "cache") == []
