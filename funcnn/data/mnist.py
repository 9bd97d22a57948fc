"""MNIST: find the four IDX files (or download and verify them), load them, prepare them.

:func:`load_mnist` looks for the data, in order:

1. the directory ``path``, when given (and only there: a missing file is an error);
2. the directory named by the ``FUNCNN_DATA`` environment variable, when set;
3. the copy vendored in ``data/mnist/``, when funcnn runs from a source checkout;
4. the user cache, ``$XDG_CACHE_HOME/funcnn/mnist`` (default ``~/.cache/funcnn/mnist``).

A directory has the data when it holds all four files, each as ``NAME.gz`` or
uncompressed ``NAME``. When none has it, the missing files are downloaded into the cache
from a list of mirrors (:mod:`funcnn.data.download`); each download is checked against its
published SHA-256 before it is written, atomically, into place, so the cache never holds a
partial or corrupt file. ``FUNCNN_DATA`` set to a directory without the data is warned
about, not silently skipped.

Every load validates the files' structure (IDX format, 28x28 uint8 images, image and label
counts equal, labels 0-9) and, unless ``verify=False``, their SHA-256 against the canonical
MNIST files, in a few tens of milliseconds. The helpers (:func:`flatten`, :func:`scale`,
:func:`standardize`, :func:`one_hot`, :func:`train_validation_split`) live in
:mod:`funcnn.data.prepare` and are re-exported here.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeAlias, cast

import numpy as np
from numpy.typing import NDArray

from funcnn.data.download import (
    DEFAULT_MIRRORS,
    MNIST_FILES,
    DownloadError,
    MnistFile,
    ProgressCallback,
    _optional_path,
    download_mnist,
    mnist_cache_dir,
)
from funcnn.data.files import file_in
from funcnn.data.idx import decode_idx, gunzip, idx_header, read_idx
from funcnn.data.prepare import (
    MNIST_MEAN,
    MNIST_STD,
    flatten,
    one_hot,
    scale,
    standardize,
    train_validation_split,
)
from funcnn.errors import DataFormatError, FuncnnError

__all__ = [
    "DEFAULT_MIRRORS",
    "MNIST_FILES",
    "MNIST_MEAN",
    "MNIST_STD",
    "DownloadError",
    "MnistFile",
    "MnistNotFoundError",
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

U8Array: TypeAlias = NDArray[np.uint8]
Split: TypeAlias = tuple[U8Array, U8Array]

_DATA_ENV = "FUNCNN_DATA"
_CHECKOUT_ROOT = Path(__file__).resolve().parents[2]
_VENDORED_DIR: Path | None = (
    _CHECKOUT_ROOT / "data" / "mnist" if (_CHECKOUT_ROOT / "pyproject.toml").is_file() else None
)


class MnistNotFoundError(FuncnnError, FileNotFoundError):
    """No directory searched holds MNIST and downloading is off; ``searched`` lists them.

    For example:

        >>> from funcnn.data.mnist import MnistNotFoundError
        >>> issubclass(MnistNotFoundError, FileNotFoundError)    # except FileNotFoundError works
        True
    """

    def __init__(self, message: str, searched: Sequence[Path]) -> None:
        super().__init__(message)
        self.searched: tuple[Path, ...] = tuple(searched)


def _files_in(directory: Path) -> list[Path] | None:
    found = [file_in(directory, f) for f in MNIST_FILES]
    return None if any(p is None for p in found) else cast(list[Path], found)


def _missing(directory: Path) -> list[str]:
    return [f.name for f in MNIST_FILES if file_in(directory, f) is None]


def _search_path(cache_dir: Path | None) -> list[Path]:
    dirs: list[Path] = []
    env = os.environ.get(_DATA_ENV, "")
    if env:
        dirs.append(Path(env))
    if _VENDORED_DIR is not None:
        dirs.append(_VENDORED_DIR)
    dirs.append(cache_dir if cache_dir is not None else mnist_cache_dir())
    return dirs


def _warn_about_env_dir() -> None:
    """Warn when ``$FUNCNN_DATA`` is set but cannot be used: a typo must not go unnoticed."""
    env = os.environ.get(_DATA_ENV, "")
    if not env:
        return
    directory = Path(env)
    if not directory.is_dir():
        problem = "is not a directory"
    elif missing := _missing(directory):
        problem = f"lacks {', '.join(missing)}"
    else:
        return
    warnings.warn(
        f"{_DATA_ENV}={env} {problem}; ignoring it and searching the other places "
        "(each file may be NAME.gz or uncompressed NAME)",
        UserWarning,
        stacklevel=3,
    )


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
    Nothing found and ``download=False``: :class:`MnistNotFoundError` (a
    ``FileNotFoundError``); the download failed: :class:`DownloadError` (an ``OSError``).

        >>> import tempfile
        >>> from pathlib import Path
        >>> import funcnn as fn
        >>> from funcnn.data.download import MNIST_FILES
        >>> folder = Path(tempfile.mkdtemp())
        >>> for f in MNIST_FILES:                  # find_mnist only looks for the four names
        ...     (folder / f.name).touch()
        >>> fn.find_mnist(folder) == folder
        True
    """
    given = _optional_path("path", path)
    cache = _optional_path("cache_dir", cache_dir)
    if given is None:
        _warn_about_env_dir()
    dirs = [given] if given is not None else _search_path(cache)
    for d in dirs:
        if _files_in(d) is not None:
            return d
    return None


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
        missing = [f.name for f in MNIST_FILES if file_in(directory, f) is None]
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
    timeout: float | None = None,
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
    Nothing found and ``download=False``: :class:`MnistNotFoundError` (a
    ``FileNotFoundError``); the download failed: :class:`DownloadError` (an ``OSError``).

    Where the files are absent the error says which (here an empty directory given as
    ``path``; without ``path`` and with ``download=False``, a :class:`MnistNotFoundError`
    says where it looked):

        >>> import tempfile
        >>> import funcnn as fn
        >>> with tempfile.TemporaryDirectory() as empty:
        ...     fn.load_mnist(empty, download=False)
        Traceback (most recent call last):
        ...
        FileNotFoundError: ...: no MNIST data here: missing train-images-idx3-ubyte.gz, ...
    """
    given = _optional_path("path", path)
    cache = _optional_path("cache_dir", cache_dir)
    if given is not None:
        directory = given
    else:
        found = find_mnist(cache_dir=cache)
        if found is None:
            if not download:
                searched = _search_path(cache)
                raise MnistNotFoundError(
                    f"MNIST not found in {', '.join(map(str, searched))}, and download=False. "
                    "Put the four files in a directory DIR and pass load_mnist(path=DIR) or "
                    f"set {_DATA_ENV}=DIR, or allow the download (download=True)",
                    searched,
                )
            found = download_mnist(cache, mirrors=mirrors, progress=progress, timeout=timeout)
        directory = found
    return _read_mnist_dir(directory, verify)
