"""A failed MNIST download points the way out, fast, as one error; against 127.0.0.1 only.

Three local mirrors fail in the three ways a real one does: the connection is refused, the
connection is accepted and then nothing comes (a listening socket that never accepts; the
timeout in these tests is a fraction of a second), and bad bytes are served.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import funcnn.data.mnist as mnist
from funcnn.cli import main
from funcnn.data.download import DEFAULT_TIMEOUT, DownloadError, download_mnist
from funcnn.data.mnist import MnistNotFoundError, find_mnist, load_mnist
from funcnn.errors import InvalidArgumentError

WAY_OUT = ("load_mnist(path=DIR)", "--data-dir DIR", "FUNCNN_DATA=DIR", "FUNCNN_DOWNLOAD_TIMEOUT")


@pytest.fixture(autouse=True)
def _no_copy_anywhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """As if installed from a wheel, with an empty cache and no default mirror reachable."""
    monkeypatch.setattr(mnist, "_VENDORED_DIR", None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("FUNCNN_MNIST_MIRRORS", "http://127.0.0.1:9/")
    for name in ("FUNCNN_DATA", "FUNCNN_DOWNLOAD_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def refused() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/mnist/"


@pytest.fixture
def stalled() -> Iterator[str]:
    """Connections complete (the kernel's backlog) but no byte ever comes back."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield f"http://127.0.0.1:{s.getsockname()[1]}/mnist/"


@pytest.fixture
def bad_bytes() -> Iterator[str]:
    class Garbage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>not the file you wanted</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/mnist/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def test_three_dead_mirrors_give_one_exception_naming_the_way_out(
    refused: str, stalled: str, bad_bytes: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    with pytest.raises(DownloadError) as info:
        load_mnist(cache_dir=tmp_path / "cache", mirrors=[refused, stalled, bad_bytes], timeout=0.3)
    assert time.monotonic() - started < 5
    err = info.value
    assert err.__cause__ is None and err.__suppress_context__  # no chained traceback
    message = str(err)
    assert "could not download train-images-idx3-ubyte.gz from any of 3 mirror(s)" in message
    assert f"{refused}train-images-idx3-ubyte.gz: " in message and "refused" in message
    assert f"{stalled}train-images-idx3-ubyte.gz: no answer within the timeout of 0.3 s" in message
    assert f"{bad_bytes}train-images-idx3-ubyte.gz: failed verification" in message
    assert all(way in message for way in WAY_OUT), message
    lines = capsys.readouterr().err.splitlines()
    # "connecting to ..." comes before each wait; only the last mirror is not followed by "next".
    connecting = [i for i, line in enumerate(lines) if line.startswith("connecting to ")]
    assert [lines[i].split()[2] for i in connecting] == [
        f"{m}train-images-idx3-ubyte.gz" for m in (refused, stalled, bad_bytes)
    ]
    timed_out = next(i for i, line in enumerate(lines) if "no answer within" in line)
    assert connecting[1] < timed_out < connecting[2]
    failures = [line for line in lines if line.startswith("http://127.0.0.1")]
    assert len(failures) == 3
    assert all(line.endswith("; trying the next mirror") for line in failures[:2])
    assert "next mirror" not in failures[2]


def test_the_timeout_defaults_to_10_s_and_comes_from_the_environment(
    stalled: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert DEFAULT_TIMEOUT == 10.0
    monkeypatch.setenv("FUNCNN_DOWNLOAD_TIMEOUT", "0.2")
    with pytest.raises(DownloadError, match=r"no answer within the timeout of 0\.2 s"):
        download_mnist(tmp_path, mirrors=[stalled], progress=False)
    monkeypatch.setenv("FUNCNN_DOWNLOAD_TIMEOUT", "soon")
    with pytest.raises(InvalidArgumentError, match="^FUNCNN_DOWNLOAD_TIMEOUT: expected a number"):
        download_mnist(tmp_path, mirrors=[stalled], progress=False)
    with pytest.raises(InvalidArgumentError, match="^timeout: expected a number"):
        download_mnist(tmp_path, mirrors=[stalled], timeout=float("inf"))


def test_the_cli_reports_a_failed_download_in_one_line(
    refused: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FUNCNN_MNIST_MIRRORS", refused)
    argv = ["train", "--limit", "200", "--no-plots", "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.splitlines()[-1]
    assert last.startswith("funcnn train: error: could not download train-images-idx3-ubyte.gz")
    assert "--data-dir DIR" in last and "FUNCNN_DATA=DIR" in last


def test_no_download_speaks_in_cli_flags(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["train", "--no-download", "-q", "--no-plots", "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "--no-download is set" in line and "--data-dir DIR" in line
    assert "download=False" not in line
    with pytest.raises(MnistNotFoundError, match="download=False") as info:
        load_mnist(download=False)  # while Python gets Python's words
    assert info.value.searched[-1] == tmp_path / "xdg-cache" / "funcnn" / "mnist"


def test_funcnn_data_pointing_nowhere_is_warned_about(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUNCNN_DATA", str(tmp_path / "typo"))
    with pytest.warns(UserWarning, match=r"FUNCNN_DATA=.*typo is not a directory; ignoring it"):
        assert find_mnist() is None
    monkeypatch.setenv("FUNCNN_DATA", str(tmp_path))  # exists, holds nothing
    with pytest.warns(UserWarning, match="lacks train-images-idx3-ubyte.gz, train-labels"):
        assert find_mnist() is None
