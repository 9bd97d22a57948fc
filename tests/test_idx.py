"""IDX reader and writer: round trips, exact bytes, every malformed-file error, fuzzing."""

from __future__ import annotations

import gzip
import math
import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from funcnn.data.idx import (
    IDX_TYPE_CODES,
    decode_idx,
    encode_idx,
    gunzip,
    idx_header,
    read_idx,
    write_idx,
)
from funcnn.errors import ArgumentTypeError, DataFormatError, FuncnnError, InvalidArgumentError

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]
_STRUCT_CODES = {0x08: "B", 0x09: "b", 0x0B: "h", 0x0C: "i", 0x0D: "f", 0x0E: "d"}


def reference_decode(data: bytes) -> np.ndarray | None:
    """An independent, obviously-correct IDX decoder (struct, Python loops); None if invalid."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _STRUCT_CODES:
        return None
    code, ndim = data[2], data[3]
    if ndim == 0 or ndim > 64 or len(data) < 4 + 4 * ndim:  # numpy holds 64 dimensions
        return None
    dims = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    fmt = _STRUCT_CODES[code]
    if math.prod(d for d in dims if d) * struct.calcsize(fmt) > np.iinfo(np.intp).max:
        return None  # too large for an array, even when empty (numpy 2.0 refuses the shape)
    count = math.prod(dims)
    if len(data) - 4 - 4 * ndim != count * struct.calcsize(fmt):
        return None
    values = struct.unpack(f">{count}{fmt}", data[4 + 4 * ndim :])
    dtype = IDX_TYPE_CODES[code].newbyteorder("=")
    return np.array(values, dtype=dtype).reshape(dims)


def assert_same_array(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    assert got.dtype.isnative
    assert np.array_equal(got, want, equal_nan=want.dtype.kind == "f")


def arrays_for_idx() -> st.SearchStrategy[np.ndarray]:
    return st.sampled_from(DTYPES).flatmap(
        lambda dt: hnp.arrays(
            dtype=st.sampled_from([np.dtype(dt).newbyteorder("<"), np.dtype(dt).newbyteorder(">")]),
            shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
        )
    )


# ----------------------------------------------------------------------------- round trips


@given(arrays_for_idx())
def test_encode_decode_round_trip(a: np.ndarray) -> None:
    data = encode_idx(a)
    got = decode_idx(data)
    assert_same_array(got, a.astype(a.dtype.newbyteorder("=")))
    assert_same_array(got, reference_decode(data))  # type: ignore[arg-type]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("suffix", [".idx", ".gz"])
def test_write_read_round_trip(tmp_path: Path, dtype: Any, suffix: str) -> None:
    rng = np.random.default_rng(0)
    a = (rng.normal(size=(3, 4, 5)) * 100).astype(dtype)
    path = tmp_path / f"a{suffix}"
    write_idx(path, a)
    got = read_idx(path)
    assert_same_array(got, a)
    assert got.flags.writeable and got.flags.c_contiguous
    if suffix == ".gz":
        assert path.read_bytes()[:2] == b"\x1f\x8b"
        assert gzip.decompress(path.read_bytes()) == encode_idx(a)
    else:
        assert path.read_bytes() == encode_idx(a)


def test_exact_bytes_big_endian() -> None:
    a = np.array([[1, -2, 258]], dtype=np.int16)
    assert encode_idx(a) == bytes.fromhex("00000B02 00000001 00000003 0001 FFFE 0102")
    f = np.array([1.0], dtype="<f8")
    assert encode_idx(f) == bytes.fromhex("00000E01 00000001 3FF0000000000000")
    # Same bytes whatever the array's own byte order.
    assert encode_idx(a.astype(">i2")) == encode_idx(a)


def test_every_type_code() -> None:
    assert sorted(IDX_TYPE_CODES) == [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]
    for code, dt in IDX_TYPE_CODES.items():
        data = bytes([0, 0, code, 1]) + (2).to_bytes(4, "big") + bytes(2 * dt.itemsize)
        out = decode_idx(data)
        assert out.shape == (2,)
        assert out.dtype == dt.newbyteorder("=") and out.dtype.isnative
        assert idx_header(out.dtype, out.shape) == data[:8]


def test_many_dimensions_and_empty_arrays() -> None:
    a = np.arange(6, dtype=np.uint8).reshape((1,) * 62 + (2, 3))  # numpy's limit: 64
    assert_same_array(decode_idx(encode_idx(a)), a)
    # IDX allows up to 255 dimensions, numpy 64: a valid file beyond that is refused cleanly.
    deep = idx_header(np.uint8, (1,) * 65) + b"\x07"
    with pytest.raises(DataFormatError, match="65 dimensions; numpy arrays have at most 64"):
        decode_idx(deep)
    assert len(idx_header(np.uint8, (1,) * 255)) == 4 + 4 * 255
    for shape in [(0,), (3, 0, 2), (0, 28, 28)]:
        e = np.zeros(shape, dtype=np.float32)
        assert_same_array(decode_idx(encode_idx(e)), e)


def test_one_byte_types_are_zero_copy_views() -> None:
    data = bytearray(encode_idx(np.arange(12, dtype=np.uint8).reshape(3, 4)))
    out = decode_idx(data)
    assert out.flags.writeable
    data[-1] = 99  # the result is a view of the buffer, not a copy
    assert out[2, 3] == 99
    assert not decode_idx(bytes(data)).flags.writeable  # views of bytes are read-only


def test_multi_member_gzip(tmp_path: Path) -> None:
    a = np.arange(100, dtype=np.int32).reshape(10, 10)
    data = encode_idx(a)
    path = tmp_path / "two-members.gz"
    path.write_bytes(gzip.compress(data[:50]) + gzip.compress(data[50:]))
    assert_same_array(read_idx(path), a)


def test_gunzip_matches_zlib_on_large_data() -> None:
    # Incompressible then highly compressible: many input chunks, then output chunks
    # produced from little input (zlib's unconsumed tail), across the chunk boundaries.
    noise = np.random.default_rng(1).integers(0, 256, size=1_000_000, dtype=np.uint8)
    payload = noise.tobytes() + bytes(9_000_000) + noise.tobytes()[:1234]
    packed = gzip.compress(payload, compresslevel=1)
    out = gunzip(packed)
    assert isinstance(out, bytearray) and len(out) == len(payload) and out == payload
    assert gunzip(packed + packed) == payload + payload
    with pytest.raises(DataFormatError, match="more than 1000 bytes"):
        gunzip(packed, max_size=1000)


# ----------------------------------------------------------------------------- bad files

VALID = encode_idx(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short"),
        (b"\x00\x00\x08", "too short"),
        (b"\x01\x00\x08\x03" + VALID[4:], "bad IDX magic number 0x01000803"),
        (b"\x00\x00\x07\x03" + VALID[4:], "unknown element type 0x07"),
        (b"\x00\x00\x0a\x03" + VALID[4:], "unknown element type 0x0A"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (VALID[:10], "truncated IDX header"),
        (VALID[:-1], "truncated payload: 23 bytes, 1 missing"),
        (VALID[:16], "truncated payload: 0 bytes, 24 missing"),
        (VALID + b"\x00", "1 trailing bytes after the payload"),
        (b"\x00\x00\x08\x04" + VALID[4:], "truncated payload"),
        (b"\x00\x00\x08\x02" + VALID[4:], "trailing bytes"),
        (gzip.compress(VALID), "looks gzip-compressed"),
    ],
)
def test_bad_content_raises_data_format_error(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "bad-images-idx3-ubyte"
    path.write_bytes(data)
    with pytest.raises(DataFormatError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, FuncnnError)


GZ = gzip.compress(VALID, mtime=0)


def _flip(data: bytes, index: int) -> bytes:
    b = bytearray(data)
    b[index] ^= 0xFF
    return bytes(b)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (VALID, "not gzip data.*looks like an uncompressed IDX file"),
        (b"hello, world", "not gzip data: expected the gzip magic 1f 8b, found 68 65"),
        (b"", "not gzip data.*empty file"),
        (GZ[:-6], "truncated gzip data"),
        (GZ[:12], "truncated gzip data"),
        (GZ[:2], "truncated gzip data"),
        (_flip(GZ, len(GZ) - 6), "corrupt gzip data.*incorrect data check"),  # CRC
        (_flip(GZ, len(GZ) - 2), "corrupt gzip data.*incorrect length check"),  # ISIZE
        (_flip(GZ, 2), "corrupt gzip data"),  # compression method
        (GZ + b"junk", "4 trailing bytes after the gzip stream"),
        (gzip.compress(VALID[:-1]), "truncated payload"),  # good gzip, bad IDX inside
    ],
)
def test_bad_gzip_raises_data_format_error(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "bad-images-idx3-ubyte.gz"
    path.write_bytes(data)
    with pytest.raises(DataFormatError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_missing_file_is_an_os_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope.gz")


# ----------------------------------------------------------------------------- writer errors


@pytest.mark.parametrize("dtype", [np.int64, np.uint16, np.uint32, np.bool_, np.complex64, "U3"])
def test_write_rejects_dtypes_idx_cannot_hold(tmp_path: Path, dtype: Any) -> None:
    with pytest.raises(ArgumentTypeError, match="IDX cannot store dtype"):
        write_idx(tmp_path / "x.idx", np.zeros(3, dtype=dtype))
    assert not (tmp_path / "x.idx").exists()


def test_write_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="1 to 255 dimensions"):
        encode_idx(np.zeros((), dtype=np.uint8))
    with pytest.raises(InvalidArgumentError, match="1 to 255 dimensions"):
        idx_header(np.uint8, (1,) * 256)
    with pytest.raises(ArgumentTypeError, match="expected a numpy array"):
        encode_idx([1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="compresslevel"):
        write_idx(tmp_path / "x.gz", np.zeros(3, dtype=np.uint8), compresslevel=10)
    with pytest.raises(InvalidArgumentError, match=r"\[0, 2\*\*32\)"):
        idx_header(np.uint8, (2**32,))
    with pytest.raises(ArgumentTypeError, match="not a numpy dtype"):
        idx_header("not-a-dtype", (1,))


class _BytesPath:
    """An ``os.PathLike`` whose path is bytes: funcnn takes text paths only."""

    def __fspath__(self) -> bytes:
        return b"x.idx"


@pytest.mark.parametrize("path", [3, None, b"x.idx", ["x.idx"], _BytesPath()])
def test_paths_that_are_not_text_paths_are_type_errors(tmp_path: Path, path: Any) -> None:
    with pytest.raises(ArgumentTypeError, match=r"^path: expected a (str or os.PathLike|text)"):
        read_idx(path)
    with pytest.raises(ArgumentTypeError, match=r"^path: expected a (str or os.PathLike|text)"):
        write_idx(path, np.zeros(3, dtype=np.uint8))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ("\x00\x00\x08\x01", r"^data: expected bytes, bytearray or memoryview, got str"),
        (None, r"^data: expected bytes.*got NoneType"),
        ([0, 0, 8, 1], r"^data: expected bytes.*got list"),
        (memoryview(bytes(8))[::2], r"^data: expected bytes.*contiguous buffer.*memoryview"),
    ],
)
def test_decode_and_gunzip_take_bytes_only(data: Any, match: str) -> None:
    with pytest.raises(ArgumentTypeError, match=match):
        decode_idx(data)
    with pytest.raises(ArgumentTypeError, match=match):
        gunzip(data)


def test_decode_and_gunzip_accept_any_contiguous_buffer() -> None:
    raw = encode_idx(np.arange(6, dtype=np.int16).reshape(2, 3))
    assert len(raw) % 4 == 0
    # A buffer of 4-byte items is read as its bytes, not as its items.
    as_words = np.frombuffer(raw, dtype=np.uint32)
    decoded = decode_idx(as_words)  # type: ignore[arg-type]
    np.testing.assert_array_equal(decoded, np.arange(6).reshape(2, 3))
    packed = np.frombuffer(gzip.compress(raw), dtype=np.uint8)
    assert bytes(gunzip(packed)) == raw  # type: ignore[arg-type]


def test_gunzip_max_size() -> None:
    data = gzip.compress(bytes(100), mtime=0)
    assert len(gunzip(data, max_size=100)) == 100
    with pytest.raises(DataFormatError, match="decompresses to more than 99 bytes"):
        gunzip(data, max_size=99)
    assert gunzip(gzip.compress(b""), max_size=0) == bytearray()
    with pytest.raises(InvalidArgumentError, match=r"^max_size: expected None or an integer >= 0"):
        gunzip(data, max_size=-1)
    for bad in (True, 1.5, "10"):
        with pytest.raises(ArgumentTypeError, match=r"^max_size: expected None or an integer"):
            gunzip(data, max_size=bad)  # type: ignore[arg-type]


def test_source_must_be_a_string() -> None:
    with pytest.raises(ArgumentTypeError, match=r"^source: expected a string"):
        decode_idx(encode_idx(np.zeros(1, np.uint8)), source=3)  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError, match=r"^source: expected a string"):
        gunzip(gzip.compress(b"x"), source=None)  # type: ignore[arg-type]


def test_gz_output_is_deterministic(tmp_path: Path) -> None:
    a = np.arange(10, dtype=np.float32)
    write_idx(tmp_path / "a.gz", a)
    write_idx(tmp_path / "b.gz", a)
    assert (tmp_path / "a.gz").read_bytes() == (tmp_path / "b.gz").read_bytes()


# ----------------------------------------------------------------------------- fuzzing


def _decode_or_error(data: bytes) -> np.ndarray | None:
    """Our decoder's answer: the array, or None after a DataFormatError (anything else fails)."""
    try:
        return decode_idx(data, source="fuzz")
    except DataFormatError as exc:
        assert "fuzz" in str(exc)
        return None


def _check_against_reference(data: bytes) -> None:
    ours = _decode_or_error(data)
    ref = reference_decode(data)
    assert (ours is None) == (ref is None)
    if ours is not None and ref is not None:
        assert_same_array(ours, ref)


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_fuzz_random_bytes(data: bytes) -> None:
    _check_against_reference(data)


@st.composite
def mutated_files(draw: st.DrawFn) -> bytes:
    """A valid IDX file with its header bytes mutated, truncated or extended."""
    a = draw(arrays_for_idx())
    assume(a.size <= 64)
    data = bytearray(encode_idx(a))
    header_len = 4 + 4 * a.ndim
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, header_len - 1))
        data[i] = draw(st.sampled_from([0, 1, 2, 3, 0x08, 0x0B, 0x0E, 0x7F, 0xFF, data[i] ^ 1]))
    action = draw(st.sampled_from(["none", "truncate", "append"]))
    if action == "truncate":
        del data[draw(st.integers(0, len(data))) :]
    elif action == "append":
        data += draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


@settings(max_examples=200)
@given(mutated_files())
@example(b"\x00\x00\x08\x04" + b"\x01\x00\x00\x00" * 2 + b"\x00" * 4 + b"\x01\x00\x00\x00")
def test_fuzz_mutated_headers(data: bytes) -> None:
    _check_against_reference(data)


@st.composite
def mutated_gzip(draw: st.DrawFn) -> bytes:
    """Random bytes, or a valid gzipped IDX file with bytes flipped, cut or appended."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=64))
    data = bytearray(gzip.compress(draw(mutated_files()), mtime=0))
    for _ in range(draw(st.integers(0, 2))):
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
    if draw(st.booleans()):
        del data[draw(st.integers(0, len(data))) :]
    if draw(st.booleans()):
        data += draw(st.binary(max_size=8))
    return bytes(data)


@settings(max_examples=150)
@given(mutated_gzip())
def test_fuzz_gzip_files(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz-idx3-ubyte.gz"
        path.write_bytes(data)
        try:
            ours: np.ndarray | None = read_idx(path)
        except DataFormatError as exc:
            assert str(path) in str(exc)
            ours = None
    if ours is not None:  # whatever we accept, the standard library reads identically
        ref = reference_decode(gzip.decompress(data))
        assert ref is not None
        assert_same_array(ours, ref)
