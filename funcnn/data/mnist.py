"""MNIST: find the four IDX files (or download and verify them), load them, prepare them.

:func:`load_mnist` looks for the data, in order:

1. the directory ``path``, when given (and only there: a missing file is an error);
2. the directory named by the ``FUNCNN_DATA`` environment variable, when set;
3. the copy vendored in ``data/mnist/``, when funcnn runs from a source checkout;
4. the user cache, ``$XDG_CACHE_HOME/funcnn/mnist`` (default ``~/.cache/funcnn/mnist``).

A directory has the data when it holds all four files, each as ``NAME.gz`` or
uncompressed ``NAME``. When none has it, the missing files are downloaded into the cache
from a list of mirrors; each download is checked against its published SHA-256 before it
is written, atomically, into place, so the cache never holds a partial or corrupt file.

Every load validates the files' structure (IDX format, 28x28 uint8 images, image and label
counts equal, labels 0-9) and, unless ``verify=False``, their SHA-256 against the canonical
MNIST files, in a few tens of milliseconds. The helpers (:func:`flatten`, :func:`scale`,
:func:`standardize`, :func:`one_hot`, :func:`train_validation_split`) return new arrays
and never modify their inputs.
"""

from __future__ import annotations

import hashlib
import http.client
import math
import os
import secrets
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias, cast

import numpy as np
from numpy.typing import NDArray

from funcnn.core.validation import check_float_dtype, check_positive_int, ensure_array
from funcnn.data.idx import _as_path, decode_idx, gunzip, idx_header, read_idx
from funcnn.errors import (
    ArgumentTypeError,
    DataFormatError,
    FuncnnError,
    InvalidArgumentError,
    NonFiniteError,
)

__all__ = [
    "DEFAULT_MIRRORS",
    "MNIST_FILES",
    "MNIST_MEAN",
    "MNIST_STD",
    "DownloadError",
    "MnistFile",
    "ProgressCallback",
    "download_mnist",
    "find_mnist",
    "flatten",
    "load_mnist",
    "mnist_cache_dir",
    "one_hot",
    "scale",
    "standardize",
    "train_validation_split",
]

MNIST_MEAN = 0.1307
"""Mean of the training pixels after scaling to [0, 1]."""

MNIST_STD = 0.3081
"""Standard deviation of the training pixels after scaling to [0, 1]."""

U8Array: TypeAlias = NDArray[np.uint8]
Split: TypeAlias = tuple[U8Array, U8Array]

ProgressCallback: TypeAlias = Callable[[str, int, "int | None"], None]
"""Called as ``progress(file_name, bytes_received, total_bytes_or_None)`` while downloading."""

DEFAULT_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
"""Where the files are downloaded from, in order (``FUNCNN_MNIST_MIRRORS`` overrides)."""

_DATA_ENV = "FUNCNN_DATA"
_MIRRORS_ENV = "FUNCNN_MNIST_MIRRORS"
_CHECKOUT_ROOT = Path(__file__).resolve().parents[2]
_VENDORED_DIR: Path | None = (
    _CHECKOUT_ROOT / "data" / "mnist" if (_CHECKOUT_ROOT / "pyproject.toml").is_file() else None
)
_USER_AGENT = "funcnn-mnist/0.1 (+python urllib)"
_READ_CHUNK = 1 << 16


@dataclass(frozen=True)
class MnistFile:
    """One of the four MNIST files and the checksums that identify it.

    ``sha256`` is the digest of the uncompressed IDX content (which any correct copy has,
    however it was compressed); ``gz_sha256`` holds the digests of the known ``.gz``
    encodings: the original files the mirrors serve and the copy vendored here.
    """

    name: str
    """File name as the mirrors serve it, e.g. ``"train-images-idx3-ubyte.gz"``."""
    shape: tuple[int, ...]
    """Array shape: ``(N, 28, 28)`` for images, ``(N,)`` for labels."""
    sha256: str
    gz_sha256: frozenset[str]

    @property
    def stem(self) -> str:
        """The uncompressed file's name, e.g. ``"train-images-idx3-ubyte"``."""
        return self.name.removesuffix(".gz")

    @property
    def nbytes(self) -> int:
        """Size of the uncompressed IDX file in bytes."""
        return 4 + 4 * len(self.shape) + math.prod(self.shape)


MNIST_FILES: tuple[MnistFile, MnistFile, MnistFile, MnistFile] = (
    MnistFile(
        "train-images-idx3-ubyte.gz",
        (60000, 28, 28),
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        frozenset(
            {
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                "db8f937d487057fb14a9f0fbe97f0bc8d311ab41b750d41e1ff37c43b9e55e19",
            }
        ),
    ),
    MnistFile(
        "train-labels-idx1-ubyte.gz",
        (60000,),
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        frozenset(
            {
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                "51fc562b6747b666fbf6e84ce29d43c3cb5f9c388c664d43b33f02095313405a",
            }
        ),
    ),
    MnistFile(
        "t10k-images-idx3-ubyte.gz",
        (10000, 28, 28),
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        frozenset(
            {
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                "cfeddb84311ecf044fc6a5b0f6ee8a24d265d4e83e388400186eb114082f4209",
            }
        ),
    ),
    MnistFile(
        "t10k-labels-idx1-ubyte.gz",
        (10000,),
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        frozenset(
            {
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                "e41c74e484045d39b462a7790a4af51301bd9b0b24f0154798d713ec68c45920",
            }
        ),
    ),
)
"""Train images, train labels, test images, test labels, with their SHA-256 digests."""


class DownloadError(FuncnnError, OSError):
    """No mirror delivered a verified copy of a file; the message lists each attempt."""


# --------------------------------------------------------------------------- locations


def mnist_cache_dir() -> Path:
    """The download cache: ``$XDG_CACHE_HOME/funcnn/mnist``, else ``~/.cache/funcnn/mnist``."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "funcnn" / "mnist"


def _file_in(directory: Path, f: MnistFile) -> Path | None:
    """``directory/NAME.gz`` or ``directory/NAME`` (uncompressed), whichever exists first."""
    for candidate in (directory / f.name, directory / f.stem):
        if candidate.is_file():
            return candidate
    return None


def _files_in(directory: Path) -> list[Path] | None:
    found = [_file_in(directory, f) for f in MNIST_FILES]
    return None if any(p is None for p in found) else cast(list[Path], found)


def _optional_path(name: str, path: Any) -> Path | None:
    return None if path is None else _as_path(name, path)


def _search_path(cache_dir: Path | None) -> list[Path]:
    dirs: list[Path] = []
    env = os.environ.get(_DATA_ENV, "")
    if env:
        dirs.append(Path(env))
    if _VENDORED_DIR is not None:
        dirs.append(_VENDORED_DIR)
    dirs.append(cache_dir if cache_dir is not None else mnist_cache_dir())
    return dirs


def find_mnist(
    path: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path | None:
    """The directory :func:`load_mnist` would read, or ``None`` if it would have to download.

    With ``path``, that directory if it holds all four files; otherwise the first of
    ``$FUNCNN_DATA``, the vendored ``data/mnist/`` (source checkouts only) and the cache
    (``cache_dir``, default :func:`mnist_cache_dir`) that does. Files are not opened.
    ``path`` and ``cache_dir`` must be ``str`` or ``os.PathLike`` (``ArgumentTypeError``).
    """
    given = _optional_path("path", path)
    cache = _optional_path("cache_dir", cache_dir)
    dirs = [given] if given is not None else _search_path(cache)
    for d in dirs:
        if _files_in(d) is not None:
            return d
    return None


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


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


class _StderrProgress:
    """Download progress on stderr: a live line on a terminal, start and end lines otherwise."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._line_open = False  # a live (tty) line is waiting for its newline
        self._last = 0.0
        self._started = 0.0
        self._url = ""

    def attempt(self, url: str) -> None:
        """Note which URL the next progress reports are about."""
        self._url = url

    def note(self, message: str) -> None:
        """Print ``message`` on a line of its own."""
        sys.stderr.write(("\n" if self._line_open else "") + message + "\n")
        sys.stderr.flush()
        self._line_open = False

    def __call__(self, name: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if done == 0:
            self._started = now
        finished = total is not None and done >= total
        if self._tty:
            if done == 0 or finished or now - self._last >= 0.1:
                self._last = now
                size = f"{_size(done)} of {_size(total)}" if total else _size(done)
                pct = f"{100 * done // total:3d}% " if total else ""
                sys.stderr.write(f"\rdownloading {self._url}: {pct}{size}\x1b[K")
                self._line_open = not finished
                if finished:
                    sys.stderr.write("\n")
        elif done == 0:
            sys.stderr.write(
                f"downloading {self._url} ({_size(total) if total else 'size unknown'})\n"
            )
        elif finished:
            sys.stderr.write(f"downloaded {name}: {_size(done)} in {now - self._started:.1f} s\n")
        sys.stderr.flush()


def _fetch(
    url: str, name: str, limit: int, progress: ProgressCallback | None, timeout: float
) -> bytearray:
    """The body at ``url`` (at most ``limit`` bytes), reporting progress as it arrives."""
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


def _verify_gz(data: bytes | bytearray, f: MnistFile, source: str) -> None:
    """Raise ``DataFormatError`` unless ``data`` is a verified gzip copy of ``f``.

    Accepted: a known ``.gz`` SHA-256, or gzip data whose content has the canonical
    SHA-256 (a mirror that recompressed the file).
    """
    digest = hashlib.sha256(data).hexdigest()
    if digest in f.gz_sha256:
        return
    known = ", ".join(sorted(f.gz_sha256))
    problem = (
        f"{source}: failed verification: the {len(data)} bytes received have SHA-256 "
        f"{digest}, which is none of the known copies of {f.name} ({known})"
    )
    try:
        content = gunzip(data, source=source, max_size=f.nbytes)
    except DataFormatError as exc:
        why = str(exc).removeprefix(f"{source}: ")
        raise DataFormatError(f"{problem}, and they are not valid gzip data ({why})") from exc
    content_digest = hashlib.sha256(content).hexdigest()
    if content_digest != f.sha256:
        raise DataFormatError(
            f"{problem}, and they decompress to {len(content)} bytes with SHA-256 "
            f"{content_digest}, not the {f.nbytes} bytes with SHA-256 {f.sha256} of "
            f"{f.stem}: the file is corrupt or truncated"
        )


def _write_atomically(path: Path, data: bytes | bytearray) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same directory + ``os.replace``.

    The file is created with mode 0o666 masked by the user's umask, flushed to disk
    before it is renamed into place, and removed again if anything fails.
    """
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
    if isinstance(exc, urllib.error.HTTPError):
        return f"{url}: HTTP error {exc.code} {exc.reason}"
    cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(cause, TimeoutError | socket.timeout):
        return f"{url}: no answer within the timeout of {timeout:g} s"
    text = str(cause) or type(cause).__name__
    return f"{url}: {text}"


def _download_file(
    f: MnistFile,
    directory: Path,
    mirrors: list[str],
    progress: ProgressCallback | None,
    timeout: float,
) -> str:
    """Fetch ``f`` into ``directory`` from the first mirror that delivers; return that mirror."""
    failures: list[str] = []
    last: BaseException | None = None
    limit = f.nbytes + f.nbytes // 100 + 1024  # deflate never grows data by more than this
    for mirror in mirrors:
        url = urllib.parse.urljoin(mirror, f.name)
        if isinstance(progress, _StderrProgress):
            progress.attempt(url)
        try:
            data = _fetch(url, f.name, limit, progress, timeout)
            _verify_gz(data, f, url)
        except (OSError, http.client.HTTPException, DataFormatError) as exc:
            reason = str(exc) if isinstance(exc, DataFormatError) else _describe(url, exc, timeout)
            failures.append(reason)
            last = exc
            if isinstance(progress, _StderrProgress):
                progress.note(f"{reason}; trying the next mirror")
            continue
        target = directory / f.name
        _write_atomically(target, data)
        return mirror
    attempts = "\n".join(f"  - {reason}" for reason in failures)
    raise DownloadError(
        f"could not download {f.name} from any of {len(mirrors)} mirror(s); nothing was "
        f"written to {directory}:\n{attempts}"
    ) from last


def download_mnist(
    directory: str | os.PathLike[str] | None = None,
    *,
    mirrors: Sequence[str] | None = None,
    progress: bool | ProgressCallback = True,
    timeout: float = 30.0,
) -> Path:
    """Download whichever of the four MNIST ``.gz`` files ``directory`` lacks; return it.

    ``directory`` defaults to :func:`mnist_cache_dir` and is created if needed. Each file
    is tried from every mirror in turn (``mirrors``, else the whitespace- or
    comma-separated URLs in ``$FUNCNN_MNIST_MIRRORS``, else :data:`DEFAULT_MIRRORS`; the
    file name is appended to each) until one delivers a copy whose SHA-256 is verified;
    only then is it written, atomically, into ``directory``. A mirror that delivered is
    tried first for the next file. Files already present are kept (:func:`load_mnist`
    verifies them). ``progress``: ``True`` reports on stderr, ``False`` is silent, a
    callable receives ``(file_name, bytes_received, total)``, starting with 0 received.
    ``timeout``: seconds to wait for a mirror to connect or send more data.

    Raises :class:`DownloadError` (an ``OSError``) naming every failed attempt when no
    mirror delivers a verified file; no partial file is left behind.
    """
    given = _optional_path("directory", directory)
    target = given if given is not None else mnist_cache_dir()
    urls = _mirror_list(mirrors)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise InvalidArgumentError(f"timeout: expected a number of seconds > 0, got {timeout!r}")
    report: ProgressCallback | None
    if progress is True:
        report = _StderrProgress()
    elif progress is False:
        report = None
    elif callable(progress):
        report = progress
    else:
        raise ArgumentTypeError(f"progress: expected a bool or a callable, got {progress!r}")
    for f in MNIST_FILES:
        if _file_in(target, f) is None:
            good = _download_file(f, target, urls, report, float(timeout))
            urls.remove(good)
            urls.insert(0, good)  # try the mirror that worked first for the next file
    return target


# --------------------------------------------------------------------------- loading


def _content_sha256(array: NDArray[Any]) -> str:
    """SHA-256 of the uncompressed IDX file that ``array`` was decoded from."""
    digest = hashlib.sha256(idx_header(array.dtype, array.shape))
    digest.update(np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">")).data)
    return digest.hexdigest()


def _read_file(path: Path) -> tuple[NDArray[Any], str | None]:
    """The array in ``path`` and, for a ``.gz`` file, the SHA-256 of its compressed bytes."""
    if not path.name.lower().endswith(".gz"):
        return read_idx(path), None
    raw = path.read_bytes()
    gz_digest = hashlib.sha256(raw).hexdigest()
    content = gunzip(raw, source=str(path))
    del raw
    return decode_idx(content, source=str(path)), gz_digest


def _check_structure(path: Path, array: NDArray[Any], images: bool) -> U8Array:
    want = "(N, 28, 28) uint8 images" if images else "(N,) uint8 labels"
    ok_shape = array.ndim == 3 and array.shape[1:] == (28, 28) if images else array.ndim == 1
    if array.dtype != np.uint8 or not ok_shape:
        raise DataFormatError(f"{path}: expected {want}, found shape {array.shape} {array.dtype}")
    return cast(U8Array, array)


def _read_split(image_path: Path, label_path: Path) -> tuple[Split, tuple[str | None, str | None]]:
    x, x_gz = _read_file(image_path)
    y, y_gz = _read_file(label_path)
    images = _check_structure(image_path, x, images=True)
    labels = _check_structure(label_path, y, images=False)
    if images.shape[0] != labels.shape[0]:
        raise DataFormatError(
            f"{image_path} holds {images.shape[0]} images but {label_path} holds "
            f"{labels.shape[0]} labels; the counts must agree"
        )
    if labels.size and labels.max() > 9:
        i = int(np.flatnonzero(labels > 9)[0])
        raise DataFormatError(
            f"{label_path}: labels must be digits 0-9, found {int(labels[i])} at index {i}"
        )
    return (images, labels), (x_gz, y_gz)


def _verify_content(path: Path, array: NDArray[Any], gz_digest: str | None, f: MnistFile) -> None:
    if gz_digest is not None and gz_digest in f.gz_sha256:
        return
    digest = _content_sha256(array)
    if digest != f.sha256:
        raise DataFormatError(
            f"{path}: not the canonical MNIST {f.stem}: its content has SHA-256 {digest}, "
            f"expected {f.sha256} (a corrupt or modified copy: delete it to download a fresh "
            "one; or pass verify=False to load other data in MNIST's layout)"
        )


def _read_mnist_dir(directory: Path, verify: bool) -> tuple[Split, Split]:
    paths = _files_in(directory)
    if paths is None:
        missing = [f.name for f in MNIST_FILES if _file_in(directory, f) is None]
        raise FileNotFoundError(
            f"{directory}: no MNIST data here: missing {', '.join(missing)} "
            "(each may also be stored uncompressed, without .gz)"
        )
    train, train_gz = _read_split(paths[0], paths[1])
    test, test_gz = _read_split(paths[2], paths[3])
    if verify:
        arrays = (*train, *test)
        digests = (*train_gz, *test_gz)
        for f, p, a, d in zip(MNIST_FILES, paths, arrays, digests, strict=True):
            _verify_content(p, a, d, f)
    return train, test


def load_mnist(
    path: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    mirrors: Sequence[str] | None = None,
    verify: bool = True,
    progress: bool | ProgressCallback = True,
    timeout: float = 30.0,
) -> tuple[Split, Split]:
    """MNIST as ``(x_train, y_train), (x_test, y_test)``, all ``uint8``, new writable arrays.

    Shapes: ``x_train`` ``(60000, 28, 28)`` pixels 0-255, ``y_train`` ``(60000,)`` digits
    0-9, ``x_test`` ``(10000, 28, 28)``, ``y_test`` ``(10000,)``.

    Reads the directory ``path`` if given (``FileNotFoundError`` if it lacks a file);
    otherwise the first of ``$FUNCNN_DATA``, the vendored ``data/mnist/`` of a source
    checkout, and the cache (``cache_dir``, default :func:`mnist_cache_dir`) that holds
    all four files. If none does and ``download`` is true, the missing files are
    downloaded into the cache first (see :func:`download_mnist` for ``mirrors``,
    ``progress`` and ``timeout``).

    Raises :class:`DataFormatError` (a ``ValueError``) naming the file for a corrupt,
    truncated or malformed file, image and label counts that disagree, labels outside 0-9,
    or (when ``verify``) content whose SHA-256 is not the canonical file's.
    ``verify=False`` keeps the structural checks only, e.g. for data in MNIST's layout.
    ``path`` and ``cache_dir`` must be ``str`` or ``os.PathLike`` (``ArgumentTypeError``).
    """
    given = _optional_path("path", path)
    cache = _optional_path("cache_dir", cache_dir)
    if given is not None:
        directory = given
    else:
        found = find_mnist(cache_dir=cache)
        if found is None:
            if not download:
                searched = ", ".join(str(d) for d in _search_path(cache))
                raise FileNotFoundError(
                    f"MNIST not found (searched {searched}) and download=False; set "
                    f"{_DATA_ENV} to a directory holding the four files, or allow the download"
                )
            found = download_mnist(cache, mirrors=mirrors, progress=progress, timeout=timeout)
        directory = found
    return _read_mnist_dir(directory, verify)


# --------------------------------------------------------------------------- helpers


def _check_array(name: str, value: Any) -> NDArray[Any]:
    if not isinstance(value, np.ndarray):
        raise ArgumentTypeError(f"{name}: expected a numpy array, got {type(value).__name__}")
    return value


def _check_pixels(name: str, x: Any) -> U8Array:
    arr = _check_array(name, x)
    if arr.dtype != np.uint8:
        raise ArgumentTypeError(f"{name}: expected uint8 pixels 0-255, got dtype {arr.dtype}")
    return cast(U8Array, arr)


def flatten(x: NDArray[Any]) -> NDArray[Any]:
    """Images ``(N, 28, 28)`` as rows ``(N, 784)``; generally ``(N, ...)`` to ``(N, prod(...))``.

    Same dtype; a view of ``x`` when ``x`` is contiguous (no copy), so it is as writable
    as ``x``. ``(N, D)`` input comes back unchanged in shape. Needs ``x.ndim >= 2``.
    """
    arr = _check_array("x", x)
    if arr.ndim < 2:
        raise InvalidArgumentError(
            f"x: expected a batch of samples (N, ...) with at least 2 dimensions, got shape "
            f"{arr.shape}"
        )
    # math.prod, not -1: numpy cannot infer -1 for an empty batch (0, 28, 28).
    return arr.reshape(arr.shape[0], math.prod(arr.shape[1:]))


def scale(x: U8Array, dtype: Any = np.float64) -> NDArray[np.floating[Any]]:
    """uint8 pixels 0-255 as floats in [0, 1] (``x / 255``), a new array of ``x``'s shape.

    ``dtype``: ``np.float32`` or ``np.float64`` (the default, as :func:`funcnn.init`).
    """
    pixels = _check_pixels("x", x)
    dt = check_float_dtype("dtype", dtype)
    out: NDArray[np.floating[Any]] = pixels.astype(dt)
    out /= dt.type(255)
    return out


def standardize(
    x: NDArray[Any],
    dtype: Any = None,
    *,
    mean: float = MNIST_MEAN,
    std: float = MNIST_STD,
) -> NDArray[np.floating[Any]]:
    """``(x / 255 - mean) / std`` for uint8 pixels, ``(x - mean) / std`` for floats in [0, 1].

    A new array of ``x``'s shape. The defaults are MNIST's training mean 0.1307 and std
    0.3081, so standardized training pixels have mean ~0 and std ~1. ``dtype``
    (``np.float32`` or ``np.float64``) defaults to float64 for uint8 input and to ``x``'s
    own dtype for float input. Float input must be finite and in [0, 1] (already scaled);
    other dtypes are rejected. :class:`funcnn.NonFiniteError` if ``mean`` or ``std`` push
    the result out of the dtype's range (e.g. ``std=1e-320``).
    """
    arr = _check_array("x", x)
    for name, value in (("mean", mean), ("std", std)):
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise ArgumentTypeError(f"{name}: expected a number, got {value!r}")
        if not math.isfinite(float(value)):
            raise InvalidArgumentError(f"{name}: expected a finite number, got {value}")
    if not float(std) > 0:
        raise InvalidArgumentError(f"std: expected a number > 0, got {std}")
    if arr.dtype == np.uint8:
        out = scale(cast(U8Array, arr), np.float64 if dtype is None else dtype)
    elif arr.dtype in (np.float32, np.float64):
        dt = check_float_dtype("dtype", arr.dtype if dtype is None else dtype)
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
        if not (lo >= 0 and hi <= 1):  # NaN fails both
            raise InvalidArgumentError(
                f"x: float pixels must be finite and in [0, 1], found values in [{lo}, {hi}] "
                "(pass raw pixels as uint8, or scale them first with scale(x))"
            )
        out = arr.astype(dt, copy=True)
    else:
        raise ArgumentTypeError(
            f"x: expected uint8 pixels or float32/float64 values in [0, 1], got {arr.dtype}"
        )
    # Finite arguments can still leave the dtype's range: a mean or std beyond float32, a
    # std so small that (x - mean) / std overflows or that rounds to 0. The arithmetic runs
    # with those warnings off and the result is checked once instead.
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        out -= out.dtype.type(mean)
        out /= out.dtype.type(std)
    if out.size and not np.isfinite(out).all():
        raise NonFiniteError(
            f"std: (x - mean) / std is not representable in {out.dtype} for mean={mean}, "
            f"std={std}; expected a std that keeps the result finite (MNIST's is {MNIST_STD})"
        )
    return out


def one_hot(labels: Any, n_classes: int = 10, dtype: Any = np.float64) -> NDArray[Any]:
    """Integer ``labels`` of shape ``S`` as one-hot rows, shape ``S + (n_classes,)``.

    ``labels`` (e.g. ``(N,)``) must be integers in ``[0, n_classes)``; the result (e.g.
    ``(N, n_classes)``) has ``dtype`` (float64 by default; float32, or any numeric dtype),
    with a single 1 per row and 0 elsewhere. Out-of-range labels raise
    :class:`InvalidArgumentError` naming ``labels``, the value and its index.
    """
    arr = ensure_array("labels", labels)
    if arr.dtype.kind not in "iu":
        raise ArgumentTypeError(f"labels: expected integer class labels, got dtype {arr.dtype}")
    n = check_positive_int("n_classes", n_classes)
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ArgumentTypeError(f"dtype: not a numpy dtype: {dtype!r}") from exc
    if dt.kind not in "biuf":
        raise ArgumentTypeError(f"dtype: expected a numeric dtype, got {dt}")
    if arr.size:
        bad = (arr < 0) | (arr >= n)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            index = where[0] if len(where) == 1 else where
            raise InvalidArgumentError(
                f"labels: must lie in [0, {n}) for n_classes={n}, found {int(arr[where])} "
                f"at index {index}"
            )
    out: NDArray[Any] = np.eye(n, dtype=dt)[arr.astype(np.intp, copy=False)]
    return out


def train_validation_split(
    x: NDArray[Any],
    y: NDArray[Any],
    rng: np.random.Generator,
    *,
    n_validation: int = 10_000,
) -> tuple[tuple[NDArray[Any], NDArray[Any]], tuple[NDArray[Any], NDArray[Any]]]:
    """Split ``(x, y)`` into ``(x_train, y_train), (x_val, y_val)`` at random, using ``rng``.

    ``x`` ``(N, ...)`` and ``y`` ``(N, ...)`` must have the same number of samples ``N``;
    ``n_validation`` of them (10,000 by default, MNIST's usual 50,000/10,000 split), drawn
    uniformly without replacement from ``rng`` (one ``rng.permutation(N)``, so the same
    seed gives the same split), form the validation set and the other ``N - n_validation``
    the training set. Both keep the samples' original order and their dtypes; the results
    are new arrays.
    """
    xa = _check_array("x", x)
    ya = _check_array("y", y)
    if not isinstance(rng, np.random.Generator):
        raise ArgumentTypeError(
            f"rng: expected a numpy.random.Generator (np.random.default_rng(seed)), got "
            f"{type(rng).__name__}"
        )
    if xa.ndim == 0 or ya.ndim == 0 or xa.shape[0] != ya.shape[0]:
        raise InvalidArgumentError(
            f"x, y: expected the same number of samples, got shapes {xa.shape} and {ya.shape}"
        )
    n = xa.shape[0]
    k = check_positive_int("n_validation", n_validation)
    if k >= n:
        raise InvalidArgumentError(
            f"n_validation: must be less than the number of samples {n}, got {k}"
        )
    perm = rng.permutation(n)
    val_idx = np.sort(perm[:k])
    train_idx = np.sort(perm[k:])
    return (xa[train_idx], ya[train_idx]), (xa[val_idx], ya[val_idx])
