"""Read and write IDX files, the binary array format MNIST is distributed in.

An IDX file is a 4-byte magic number ``00 00 TT NN`` (``TT`` the element type, ``NN`` the
number of dimensions), then ``NN`` big-endian uint32 dimension sizes, then the elements in
row-major (C) order, big-endian. Files whose name ends in ``.gz`` are gzip-compressed.

Every way a file can be wrong (not gzip, corrupt or truncated gzip, bad magic, unknown
element type, truncated header, payload shorter or longer than the dimensions say) raises
:class:`funcnn.DataFormatError` naming the file and the problem; nothing else escapes from
the reader for bad content. Arrays are built with :func:`numpy.frombuffer`, never a Python
loop over elements.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from numpy.typing import NDArray

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
_GZIP_MAGIC = b"\x1f\x8b"
_MAX_NDIM = 255
_NUMPY_MAXDIMS = 64  # NPY_MAXDIMS in numpy 2 (32 in numpy 1, which funcnn does not support)
_MAX_DIM = 2**32 - 1
_DEFLATE_MAX_RATIO = 1032  # deflate never expands more than this: caps the preallocation
_PREALLOCATE_LIMIT = 1 << 30
_IN_CHUNK = 1 << 18  # compressed bytes fed to zlib per step
_OUT_CHUNK = 1 << 22  # decompressed bytes produced per step


def _known_types() -> str:
    return ", ".join(f"0x{code:02X} ({dt.name})" for code, dt in IDX_TYPE_CODES.items())


def _start(data: bytes | bytearray | memoryview, n: int = 8) -> str:
    return " ".join(f"{b:02x}" for b in bytes(data[:n]))


def _byte_view(data: Any, name: str = "data") -> memoryview:
    """``data`` as a flat memoryview of bytes; anything but a contiguous buffer is rejected.

    ``str`` is rejected explicitly: text has no single byte encoding to assume.
    """
    if isinstance(data, str):
        raise ArgumentTypeError(
            f"{name}: expected bytes, bytearray or memoryview, got str (encode it, or read "
            "the file in binary mode)"
        )
    try:
        return memoryview(data).cast("B")
    except TypeError as exc:
        # memoryview refuses non-buffers, and cast() refuses non-contiguous buffers.
        raise ArgumentTypeError(
            f"{name}: expected bytes, bytearray or memoryview (a contiguous buffer), got "
            f"{type(data).__name__}"
        ) from exc


def _check_source(source: Any) -> str:
    if not isinstance(source, str):
        raise ArgumentTypeError(
            f"source: expected a string naming the data in messages, got {type(source).__name__}"
        )
    return source


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


def gunzip(
    data: bytes | bytearray | memoryview, *, source: str = "<bytes>", max_size: int | None = None
) -> bytearray:
    """Decompress gzip ``data`` (one or more members) into a new ``bytearray``.

    ``data``: bytes, bytearray, memoryview or any C-contiguous buffer (read as its bytes);
    anything else, a ``str`` say, raises :class:`ArgumentTypeError`.

    Memory stays near the output's size: the output is preallocated from the size in the
    gzip trailer and filled in place, in chunks of a few MB (a Python loop over chunks,
    not over samples). The CRC and length in each member's trailer are checked by zlib.

    Raises :class:`DataFormatError` naming ``source`` if ``data`` is not gzip, is corrupt
    or truncated, has bytes after the last member that are not another member, or (when
    ``max_size`` is given) decompresses to more than ``max_size`` bytes, in which case
    decompression stops there. ``max_size`` must be ``None`` or an integer ``>= 0``.
    """
    view = _byte_view(data)
    source = _check_source(source)
    max_size = _check_max_size(max_size)
    if view[:2] != _GZIP_MAGIC:
        hint = ""
        if len(view) >= 4 and view[0] == 0 and view[1] == 0:
            hint = "; it looks like an uncompressed IDX file (drop the .gz from its name)"
        raise DataFormatError(
            f"{source}: not gzip data: expected the gzip magic 1f 8b, found "
            f"{_start(view) or 'an empty file'}{hint}"
        )
    size_hint = int.from_bytes(view[-4:], "little") if len(view) >= 18 else 0
    size_hint = min(size_hint, _DEFLATE_MAX_RATIO * len(view), _PREALLOCATE_LIMIT)
    if max_size is not None:
        size_hint = min(size_hint, max_size)
    out = bytearray(size_hint)
    pos = 0
    start = 0  # where the current member starts in view
    member = 0
    while True:
        member += 1
        pos, rest_start = _inflate_member(view, start, out, pos, member, source, max_size)
        if rest_start >= len(view):
            break
        if view[rest_start : rest_start + 2] != _GZIP_MAGIC:
            raise DataFormatError(
                f"{source}: {len(view) - rest_start} trailing bytes after the gzip stream "
                f"(starting {_start(view[rest_start:])})"
            )
        start = rest_start
    if pos < len(out):
        del out[pos:]
    return out


def _check_max_size(max_size: Any) -> int | None:
    """``gunzip``'s ``max_size`` as a Python ``int`` (or ``None``); anything else is rejected."""
    if max_size is None:
        return None
    if isinstance(max_size, bool) or not isinstance(max_size, int | np.integer):
        raise ArgumentTypeError(
            f"max_size: expected None or an integer >= 0, got {type(max_size).__name__}"
        )
    if max_size < 0:
        raise InvalidArgumentError(f"max_size: expected None or an integer >= 0, got {max_size}")
    return int(max_size)


def _inflate_member(
    view: memoryview,
    start: int,
    out: bytearray,
    pos: int,
    member: int,
    source: str,
    max_size: int | None,
) -> tuple[int, int]:
    """Decompress the gzip member number ``member`` that starts at ``view[start]`` into
    ``out`` from ``out[pos]`` on (growing it as needed); return the new end of the output
    and where the member's compressed bytes end in ``view``."""
    decomp = zlib.decompressobj(wbits=31)  # 16 + 15: gzip header and trailer
    fed = start
    pending = b""
    try:
        while not decomp.eof:
            if pending:
                chunk_in: bytes | memoryview = pending
            else:
                chunk_in = view[fed : fed + _IN_CHUNK]  # empty once all is fed
                fed += len(chunk_in)
            chunk_out = decomp.decompress(chunk_in, _OUT_CHUNK)
            pending = decomp.unconsumed_tail
            if not chunk_in and not chunk_out and not decomp.eof:
                raise DataFormatError(
                    f"{source}: truncated gzip data: the compressed stream of member "
                    f"{member} ends after {len(view) - start} bytes, before its end "
                    f"marker ({pos} bytes decompressed so far)"
                )
            out[pos : pos + len(chunk_out)] = chunk_out
            pos += len(chunk_out)
            if max_size is not None and pos > max_size:
                raise DataFormatError(
                    f"{source}: gzip data decompresses to more than {max_size} bytes"
                )
    except zlib.error as exc:
        raise DataFormatError(f"{source}: corrupt gzip data in member {member}: {exc}") from exc
    return pos, fed - len(decomp.unused_data)


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
    view = _byte_view(data)
    source = _check_source(source)
    n = len(view)
    if n < 4:
        raise DataFormatError(
            f"{source}: too short for an IDX file: {n} bytes, the magic number alone is 4"
        )
    if view[0] != 0 or view[1] != 0:
        hint = ""
        if view[:2] == _GZIP_MAGIC:
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
