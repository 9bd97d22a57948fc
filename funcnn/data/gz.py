"""Gzip decompression for the IDX reader and the MNIST downloads, with bounded memory.

:func:`gunzip` decompresses one or more gzip members into a preallocated ``bytearray``
(sized from the gzip trailer, grown if need be), chunk by chunk, optionally stopping at
a size limit; every way the data can be wrong raises :class:`funcnn.DataFormatError`
naming the source. It also holds the byte-buffer checks the IDX decoder shares.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from funcnn.errors import ArgumentTypeError, DataFormatError, InvalidArgumentError

__all__ = ["GZIP_MAGIC", "byte_view", "check_source", "gunzip", "start_bytes"]

GZIP_MAGIC = b"\x1f\x8b"
_DEFLATE_MAX_RATIO = 1032  # deflate never expands more than this: caps the preallocation
_PREALLOCATE_LIMIT = 1 << 30
_IN_CHUNK = 1 << 18  # compressed bytes fed to zlib per step
_OUT_CHUNK = 1 << 22  # decompressed bytes produced per step


def start_bytes(data: bytes | bytearray | memoryview, n: int = 8) -> str:
    """The first ``n`` bytes of ``data`` in hex, for messages: ``"1f 8b 08 00"``."""
    return " ".join(f"{b:02x}" for b in bytes(data[:n]))


def byte_view(data: Any, name: str = "data") -> memoryview:
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


def check_source(source: Any) -> str:
    """``source``, the name of the data in messages, checked to be a ``str``."""
    if not isinstance(source, str):
        raise ArgumentTypeError(
            f"source: expected a string naming the data in messages, got {type(source).__name__}"
        )
    return source


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
    view = byte_view(data)
    source = check_source(source)
    max_size = _check_max_size(max_size)
    if view[:2] != GZIP_MAGIC:
        hint = ""
        if len(view) >= 4 and view[0] == 0 and view[1] == 0:
            hint = "; it looks like an uncompressed IDX file (drop the .gz from its name)"
        raise DataFormatError(
            f"{source}: not gzip data: expected the gzip magic 1f 8b, found "
            f"{start_bytes(view) or 'an empty file'}{hint}"
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
        if view[rest_start : rest_start + 2] != GZIP_MAGIC:
            raise DataFormatError(
                f"{source}: {len(view) - rest_start} trailing bytes after the gzip stream "
                f"(starting {start_bytes(view[rest_start:])})"
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
