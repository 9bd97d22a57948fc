"""MNIST downloads: the mirrors, HTTP, and the cache.

:func:`download_mnist` fetches whichever of the four ``.gz`` files a directory lacks
(by default the user cache, :func:`mnist_cache_dir`) from a list of mirrors, verifies each
against its published SHA-256 before writing it atomically into place, and, when no mirror
delivers, raises one :class:`DownloadError` that lists every attempt and says how to use
local files instead. :mod:`funcnn.data.mnist` finds and loads the files; the table of the
four files and their checksums is :mod:`funcnn.data.files` (re-exported here).
"""

from __future__ import annotations

# http.client, urllib.request and ssl take a noticeable share of ``import funcnn``:
# they are imported by the functions that download, not here (issue 23).
import math
import os
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeAlias

from funcnn.data._progress import StderrProgress
from funcnn.data.files import MNIST_FILES, MnistFile, file_in, verify_gz
from funcnn.data.idx import _as_path
from funcnn.errors import ArgumentTypeError, DataFormatError, FuncnnError, InvalidArgumentError

__all__ = [
    "DEFAULT_MIRRORS",
    "DEFAULT_TIMEOUT",
    "MNIST_FILES",
    "DownloadError",
    "MnistFile",
    "ProgressCallback",
    "download_mnist",
    "mnist_cache_dir",
]

ProgressCallback: TypeAlias = Callable[[str, int, "int | None"], None]
"""Called as ``progress(file_name, bytes_received, total_bytes_or_None)`` while downloading."""

DEFAULT_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
"""Where the files are downloaded from, in order (``FUNCNN_MNIST_MIRRORS`` overrides)."""

_MIRRORS_ENV = "FUNCNN_MNIST_MIRRORS"
_TIMEOUT_ENV = "FUNCNN_DOWNLOAD_TIMEOUT"
DEFAULT_TIMEOUT = 10.0
"""Seconds to wait for a mirror to connect or send more data (``FUNCNN_DOWNLOAD_TIMEOUT``)."""
_USER_AGENT = "funcnn-mnist/0.1 (+python urllib)"
_READ_CHUNK = 1 << 16


class DownloadError(FuncnnError, OSError):
    """No mirror delivered a verified copy of a file; the message lists each attempt.

    For example:

        >>> import tempfile
        >>> from pathlib import Path
        >>> import funcnn as fn
        >>> folder = Path(tempfile.mkdtemp())
        >>> empty_mirror = (folder / "none").as_uri() + "/"    # a file: URL, no network used
        >>> try:
        ...     fn.download_mnist(folder, mirrors=[empty_mirror], progress=False)
        ... except fn.DownloadError as error:
        ...     print(isinstance(error, OSError), "nothing was written" in str(error))
        True True
    """


def mnist_cache_dir() -> Path:
    """The download cache: ``$XDG_CACHE_HOME/funcnn/mnist``, else ``~/.cache/funcnn/mnist``.

    For example:

        >>> import funcnn as fn
        >>> cache = fn.mnist_cache_dir()
        >>> cache.is_absolute(), cache.parts[-2:]
        (True, ('funcnn', 'mnist'))
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "funcnn" / "mnist"


def _optional_path(name: str, path: Any) -> Path | None:
    return None if path is None else _as_path(name, path)


# --------------------------------------------------------------------------- download


def _mirror_list(mirrors: Sequence[str] | None) -> list[str]:
    if mirrors is None:
        env = os.environ.get(_MIRRORS_ENV, "")
        mirrors = env.replace(",", " ").split() if env.strip() else DEFAULT_MIRRORS
    if isinstance(mirrors, str) or not isinstance(mirrors, Sequence):
        raise ArgumentTypeError(
            f"mirrors: expected a sequence of URL strings, got {type(mirrors).__name__}"
        )
    result = []
    for m in mirrors:
        if not isinstance(m, str):
            raise ArgumentTypeError(f"mirrors: expected URL strings, got {m!r}")
        if urllib.parse.urlsplit(m).scheme not in ("http", "https", "file"):
            raise InvalidArgumentError(f"mirrors: expected http(s):// or file:// URLs, got {m!r}")
        result.append(m if m.endswith("/") else m + "/")
    if not result:
        raise InvalidArgumentError("mirrors: no mirror to download from (empty list)")
    return result


def _fetch(
    url: str, name: str, limit: int, progress: ProgressCallback | None, timeout: float
) -> bytearray:
    """The body at ``url`` (at most ``limit`` bytes), reporting progress as it arrives."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        opened = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()  # an HTTPError holds the open response
        raise
    with opened as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length is not None and length.strip().isdigit() else None
        if total is not None and total > limit:
            raise DataFormatError(
                f"{url}: the server announces {total} bytes, more than any valid copy "
                f"of {name} ({limit} bytes at most)"
            )
        body = bytearray()
        if progress is not None:
            progress(name, 0, total)
        while chunk := response.read(_READ_CHUNK):
            body += chunk
            if len(body) > limit:
                raise DataFormatError(
                    f"{url}: more than {limit} bytes received, more than any valid copy of {name}"
                )
            if progress is not None:
                progress(name, len(body), total)
    if total is not None and len(body) != total:
        raise DataFormatError(
            f"{url}: truncated download: the connection closed after {len(body)} of {total} bytes"
        )
    if progress is not None and total is None:
        progress(name, len(body), len(body))
    return body


def _write_atomically(path: Path, data: bytes | bytearray) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory + ``os.replace``.

    The file is created with mode 0o666 masked by the user's umask, flushed to disk
    before it is renamed into place, and removed again if anything fails.
    """
    import secrets

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)
    try:
        with open(fd, "wb", closefd=True) as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _describe(url: str, exc: BaseException, timeout: float) -> str:
    """One line saying why fetching ``url`` failed."""
    import socket
    import urllib.error

    if isinstance(exc, urllib.error.HTTPError):
        return f"{url}: HTTP error {exc.code} {exc.reason}"
    cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(cause, TimeoutError | socket.timeout):
        return f"{url}: no answer within the timeout of {timeout:g} s"
    text = str(cause) or type(cause).__name__
    return f"{url}: {text}"


def _way_out(timeout: float) -> str:
    """What to do when no mirror delivers: the local-file options and the knobs."""
    names = ", ".join(f.name for f in MNIST_FILES)
    return (
        "To use MNIST files you already have (the four files " + names + ", each .gz or "
        "uncompressed), put them in one directory DIR and pass it: load_mnist(path=DIR) in "
        "Python, 'funcnn train --data-dir DIR' on the command line, or set FUNCNN_DATA=DIR "
        f"for both. Other mirrors: set {_MIRRORS_ENV}='URL ...'. A slow network: set "
        f"{_TIMEOUT_ENV}=SECONDS (now {timeout:g})."
    )


def _download_file(
    f: MnistFile,
    directory: Path,
    mirrors: list[str],
    progress: ProgressCallback | None,
    timeout: float,
) -> str:
    """Fetch ``f`` into ``directory`` from the first mirror that delivers; return that mirror."""
    import http.client

    failures: list[str] = []
    limit = f.nbytes + f.nbytes // 100 + 1024  # deflate never grows data by more than this
    for i, mirror in enumerate(mirrors):
        url = urllib.parse.urljoin(mirror, f.name)
        if isinstance(progress, StderrProgress):
            progress.attempt(url, timeout)
        try:
            data = _fetch(url, f.name, limit, progress, timeout)
            verify_gz(data, f, url)
        except (OSError, http.client.HTTPException, DataFormatError) as exc:
            reason = str(exc) if isinstance(exc, DataFormatError) else _describe(url, exc, timeout)
            failures.append(reason)
            if isinstance(progress, StderrProgress):
                progress.note(reason + ("; trying the next mirror" if i + 1 < len(mirrors) else ""))
            continue
        target = directory / f.name
        _write_atomically(target, data)
        return mirror
    attempts = "\n".join(f"  - {reason}" for reason in failures)
    # from None: every attempt's reason is in the message; the chained tracebacks of
    # urllib's internals would only bury it.
    raise DownloadError(
        f"could not download {f.name} from any of {len(mirrors)} mirror(s); nothing was "
        f"written to {directory}:\n{attempts}\n{_way_out(timeout)}"
    ) from None


def _resolve_timeout(timeout: float | None) -> float:
    """``timeout``, else ``$FUNCNN_DOWNLOAD_TIMEOUT``, else :data:`DEFAULT_TIMEOUT`."""
    name: str = "timeout"
    value: Any = timeout
    if timeout is None:
        env = os.environ.get(_TIMEOUT_ENV, "").strip()
        if not env:
            return DEFAULT_TIMEOUT
        name = _TIMEOUT_ENV
        try:
            value = float(env)
        except ValueError:
            value = env
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise InvalidArgumentError(f"{name}: expected a number of seconds > 0, got {value!r}")
    return float(value)


def download_mnist(
    directory: str | os.PathLike[str] | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    progress: bool | ProgressCallback = True,
    timeout: float | None = None,
) -> Path:
    """Download whichever of the four MNIST ``.gz`` files ``directory`` lacks; return it.

    ``directory`` defaults to :func:`mnist_cache_dir` and is created if needed. Each file
    is tried from every mirror in turn (``mirrors``, else the whitespace- or
    comma-separated URLs in ``$FUNCNN_MNIST_MIRRORS``, else :data:`DEFAULT_MIRRORS`; the
    file name is appended to each) until one delivers a copy whose SHA-256 is verified;
    only then is it written, atomically, into ``directory``. A mirror that delivered is
    tried first for the next file. Files already present are kept (:func:`load_mnist`
    verifies them). ``progress``: ``True`` reports on stderr (a "connecting to ..." line
    before each wait, then the transfer), ``False`` is silent, a callable receives
    ``(file_name, bytes_received, total)``, starting with 0 received. ``timeout``: seconds
    to wait for a mirror to connect or send more data; default ``$FUNCNN_DOWNLOAD_TIMEOUT``,
    else :data:`DEFAULT_TIMEOUT` (10 s).

    Raises one :class:`DownloadError` (an ``OSError``, no chained traceback) when no mirror
    delivers a verified file: it names every failed attempt and how to use local files
    instead (``path=``, ``--data-dir``, ``FUNCNN_DATA``). No partial file is left behind.

        >>> import tempfile
        >>> from pathlib import Path
        >>> import funcnn as fn
        >>> from funcnn.data.download import MNIST_FILES
        >>> folder = Path(tempfile.mkdtemp())
        >>> for f in MNIST_FILES:                  # present files are kept: nothing to fetch
        ...     (folder / f.name).touch()
        >>> fn.download_mnist(folder, progress=False) == folder
        True
    """
    given = _optional_path("directory", directory)
    target = given if given is not None else mnist_cache_dir()
    urls = _mirror_list(mirrors)
    seconds = _resolve_timeout(timeout)
    report: ProgressCallback | None
    if progress is True:
        report = StderrProgress()
    elif progress is False:
        report = None
    elif callable(progress):
        report = progress
    else:
        raise ArgumentTypeError(f"progress: expected a bool or a callable, got {progress!r}")
    for f in MNIST_FILES:
        if file_in(target, f) is None:
            good = _download_file(f, target, urls, report, seconds)
            urls.remove(good)
            urls.insert(0, good)  # try the mirror that worked first for the next file
    return target
