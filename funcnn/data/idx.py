"""Read and write IDX files, the binary array format MNIST is distributed in.

An IDX file is a 4-byte magic number ``00 00 TT NN`` (``TT`` the element type, ``NN`` the
number of dimensions), then ``NN`` big-endian uint32 dimension sizes, then the elements in
row-major (C) order, big-endian. Files whose name ends in ``.gz`` are gzip-compressed.

Every way a file can be wrong (not gzip, corrupt or truncated gzip, bad magic, unknown
element type, truncated header, payload shorter or longer than the dimensions say) raises
:class:`funcnn.DataFormatError` naming the file and the problem; nothing else escapes from
the reader for bad content. Arrays are built with :func:`numpy.frombuffer`, never a Python
loop over elements. Decompression is :func:`funcnn.data.gz.gunzip` (re-exported here).
"""

from __future__ import annotations

import gzip
import math
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from funcnn.data.gz import GZIP_MAGIC, byte_view, check_source, gunzip
from funcnn.errors import ArgumentTypeError, DataFormatError, InvalidArgumentError

__all__ = [
    "IDX_TYPE_CODES",
    "decode_idx",
    "encode_idx",
    "gunzip",
    "idx_header",
    "read_idx",
    "write_idx",
]

IDX_TYPE_CODES: Mapping[int, np.dtype[Any]] = MappingProxyType(
    {
        0x08: np.dtype(">u1"),  # unsigned byte
        0x09: np.dtype(">i1"),  # signed byte
        0x0B: np.dtype(">i2"),  # short (2 bytes)
        0x0C: np.dtype(">i4"),  # int (4 bytes)
        0x0D: np.dtype(">f4"),  # float (4 bytes)
        0x0E: np.dtype(">f8"),  # double (8 bytes)
    }
)
"""The element types the IDX format defines: type code to (big-endian) numpy dtype."""

_CODE_OF_KIND_SIZE = {(dt.kind, dt.itemsize): code for code, dt in IDX_TYPE_CODES.items()}
_MAX_NDIM = 255
_NUMPY_MAXDIMS = 64  # NPY_MAXDIMS in numpy 2 (32 in numpy 1, which funcnn does not support)
_MAX_DIM = 2**32 - 1


def _known_types() -> str:
    return ", ".join(f"0x{code:02X} ({dt.name})" for code, dt in IDX_TYPE_CODES.items())


def _as_path(name: str, path: Any) -> Path:
    """``path`` (a ``str`` or ``os.PathLike`` of text) as a ``Path``; anything else is rejected.

    Checked here rather than left to ``Path()``, whose ``TypeError`` names no argument.
    """
    if not isinstance(path, str | os.PathLike):
        raise ArgumentTypeError(
            f"{name}: expected a str or os.PathLike path, got {type(path).__name__}"
        )
    text = os.fspath(path)
    if not isinstance(text, str):
        raise ArgumentTypeError(
            f"{name}: expected a text path (str), got a {type(text).__name__} path"
        )
    return Path(text)


def decode_idx(data: bytes | bytearray | memoryview, *, source: str = "<bytes>") -> NDArray[Any]:
    """Decode the uncompressed bytes of an IDX file into an array.

    ``data``: bytes, bytearray, memoryview or any C-contiguous buffer (read as its bytes).

    Returns an array of the file's shape ``(d0, d1, ...)`` and its element type in native
    byte order (``uint8``, ``int8``, ``int16``, ``int32``, ``float32`` or ``float64``).
    For the one-byte types the result is a view of ``data`` (zero copy; writable exactly
    when ``data`` is, e.g. a ``bytearray``); wider types are converted into a new array.

    Raises :class:`DataFormatError` naming ``source`` for a bad magic number, an unknown
    element type, zero dimensions, a truncated header, or a payload whose length is not
    exactly the product of the dimensions times the element size; ``ArgumentTypeError``
    if ``data`` is not a bytes-like buffer (a ``str``, say).
    """
    view = byte_view(data)
    source = check_source(source)
    n = len(view)
    if n < 4:
        raise DataFormatError(
            f"{source}: too short for an IDX file: {n} bytes, the magic number alone is 4"
        )
    if view[0] != 0 or view[1] != 0:
        hint = ""
        if view[:2] == GZIP_MAGIC:
            hint = "; it looks gzip-compressed (name it .gz, or decompress it)"
        raise DataFormatError(
            f"{source}: bad IDX magic number 0x{int.from_bytes(view[:4], 'big'):08X}: "
            f"the first two bytes must be zero{hint}"
        )
    code, ndim = view[2], view[3]
    if code not in IDX_TYPE_CODES:
        raise DataFormatError(
            f"{source}: bad IDX magic number 0x{int.from_bytes(view[:4], 'big'):08X}: "
            f"unknown element type 0x{code:02X} (known: {_known_types()})"
        )
    if ndim == 0:
        raise DataFormatError(f"{source}: IDX header declares 0 dimensions (at least 1 needed)")
    header_len = 4 + 4 * ndim
    if n < header_len:
        raise DataFormatError(
            f"{source}: truncated IDX header: {ndim} dimensions need {header_len} header "
            f"bytes, the file has {n}"
        )
    shape = tuple(int(d) for d in np.frombuffer(view, dtype=">u4", count=ndim, offset=4))
    be_dtype = IDX_TYPE_CODES[code]
    count = math.prod(shape)
    expected = count * be_dtype.itemsize
    payload = n - header_len
    if payload != expected:
        what = (
            f"truncated payload: {payload} bytes, {expected - payload} missing"
            if payload < expected
            else f"{payload - expected} trailing bytes after the payload"
        )
        raise DataFormatError(
            f"{source}: {what} (the header declares shape {shape} of {be_dtype.name}, "
            f"{expected} payload bytes after the {header_len}-byte header)"
        )
    if ndim > _NUMPY_MAXDIMS:
        raise DataFormatError(
            f"{source}: the IDX header declares {ndim} dimensions; numpy arrays have at "
            f"most {_NUMPY_MAXDIMS}"
        )
    if math.prod(d for d in shape if d) * be_dtype.itemsize > np.iinfo(np.intp).max:
        # Checked here, not left to numpy: numpy 2.0 refuses such a shape even when a zero
        # dimension makes it empty, later versions build the empty array.
        raise DataFormatError(
            f"{source}: the header declares shape {shape} of {be_dtype.name}, too large for "
            "an array on this machine"
        )
    native = be_dtype.newbyteorder("=")
    if count == 0:
        return np.zeros(shape, dtype=native)
    flat = np.frombuffer(view, dtype=be_dtype, count=count, offset=header_len)
    # Wider types become a native-endian copy; one-byte types stay a view of ``data``.
    flat = flat.astype(native) if be_dtype.itemsize > 1 else flat.view(native)
    return flat.reshape(shape)


def read_idx(path: str | os.PathLike[str]) -> NDArray[Any]:
    """Read an IDX file into a new, writable array; gzip-compressed if its name ends in ``.gz``.

    Returns an array of the file's shape ``(d0, d1, ...)`` and element type, in native
    byte order (see :data:`IDX_TYPE_CODES`). The payload is decoded with
    :func:`numpy.frombuffer` straight from the (decompressed) file contents, so memory
    stays near the data's own size.

    Raises :class:`DataFormatError` (a ``ValueError``) naming the file for any bad content;
    ``OSError`` (e.g. ``FileNotFoundError``) if the file cannot be read;
    :class:`ArgumentTypeError` if ``path`` is not a ``str`` or ``os.PathLike``.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> fn.write_idx("labels-idx1-ubyte.gz", np.array([7, 2, 1], dtype=np.uint8))
        >>> labels = fn.read_idx("labels-idx1-ubyte.gz")
        >>> labels, labels.flags.writeable
        (array([7, 2, 1], dtype=uint8), True)
    """
    p = _as_path("path", path)
    source = str(p)
    if p.name.lower().endswith(".gz"):
        buffer = gunzip(p.read_bytes(), source=source)
    else:
        with p.open("rb") as f:
            buffer = bytearray(os.fstat(f.fileno()).st_size)
            got = f.readinto(buffer)
            if got != len(buffer) or f.read(1):  # the file changed while being read
                raise DataFormatError(f"{source}: file size changed while reading it")
    return decode_idx(buffer, source=source)


def _idx_code(dtype: Any, name: str) -> int:
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise ArgumentTypeError(f"{name}: not a numpy dtype: {dtype!r}") from exc
    code = _CODE_OF_KIND_SIZE.get((dt.kind, dt.itemsize))
    if code is None:
        raise ArgumentTypeError(f"{name}: IDX cannot store dtype {dt}; it holds {_known_types()}")
    return code


def idx_header(dtype: Any, shape: tuple[int, ...], *, name: str = "array") -> bytes:
    """The IDX header (magic number and dimensions) for an array of ``dtype`` and ``shape``.

    ``dtype`` must be one of the six IDX element types in any byte order; ``shape`` must
    have 1 to 255 dimensions, each in ``[0, 2**32)``.
    """
    code = _idx_code(dtype, name)
    if not 1 <= len(shape) <= _MAX_NDIM:
        raise InvalidArgumentError(
            f"{name}: IDX holds arrays of 1 to {_MAX_NDIM} dimensions, got shape {shape}"
        )
    if any(
        isinstance(d, bool) or not isinstance(d, int | np.integer) or not 0 <= d <= _MAX_DIM
        for d in shape
    ):
        raise InvalidArgumentError(
            f"{name}: IDX dimension sizes must lie in [0, 2**32), got shape {shape}"
        )
    return bytes([0, 0, code, len(shape)]) + np.asarray(shape, dtype=">u4").tobytes()


def encode_idx(array: NDArray[Any]) -> bytes:
    """The uncompressed IDX bytes of ``array`` (any shape with 1 to 255 dimensions).

    ``array`` must have one of the IDX element types (``uint8``, ``int8``, ``int16``,
    ``int32``, ``float32``, ``float64``; any byte order): other dtypes raise
    :class:`ArgumentTypeError` rather than being cast. Elements are written big-endian in
    C order. ``decode_idx(encode_idx(a))`` equals ``a``.
    """
    if not isinstance(array, np.ndarray):
        raise ArgumentTypeError(f"array: expected a numpy array, got {type(array).__name__}")
    header = idx_header(array.dtype, array.shape)
    payload = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder(">")).tobytes()
    return header + payload


def write_idx(path: str | os.PathLike[str], array: NDArray[Any], *, compresslevel: int = 9) -> None:
    """Write ``array`` to ``path`` as an IDX file, gzip-compressed if the name ends in ``.gz``.

    The gzip header carries no name or timestamp, so equal arrays give equal files.
    ``array`` is as for :func:`encode_idx`; ``compresslevel`` is gzip's 0-9.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> images = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
        >>> fn.write_idx("images-idx3-ubyte.gz", images)
        >>> back = fn.read_idx("images-idx3-ubyte.gz")
        >>> back.shape, back.dtype, np.array_equal(back, images)
        ((2, 3, 4), dtype('uint8'), True)
    """
    p = _as_path("path", path)
    data = encode_idx(array)
    if p.name.lower().endswith(".gz"):
        if isinstance(compresslevel, bool) or compresslevel not in range(10):
            raise InvalidArgumentError(
                f"compresslevel: expected an integer from 0 to 9, got {compresslevel!r}"
            )
        data = gzip.compress(data, compresslevel=compresslevel, mtime=0)
    p.write_bytes(data)
