"""MNIST loading from local files: the real data's known facts, where data is found, bad
files, checksum verification, memory, and the preparation helpers."""

from __future__ import annotations

import gzip
import shutil
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import funcnn.data.mnist as mnist
from funcnn.data.idx import encode_idx, read_idx, write_idx
from funcnn.data.mnist import (
    MNIST_FILES,
    MNIST_MEAN,
    MNIST_STD,
    find_mnist,
    flatten,
    load_mnist,
    mnist_cache_dir,
    one_hot,
    scale,
    standardize,
    train_validation_split,
)
from funcnn.errors import (
    ArgumentTypeError,
    DataFormatError,
    FuncnnError,
    InvalidArgumentError,
    NonFiniteError,
)
from tests.test_idx import reference_decode

VENDORED = Path(__file__).resolve().parents[1] / "data" / "mnist"
NAMES = [f.name for f in MNIST_FILES]

MnistData = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@pytest.fixture(autouse=True)
def _no_network_no_user_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Never touch the real mirrors or the user's cache: any stray download fails locally."""
    monkeypatch.setenv("FUNCNN_MNIST_MIRRORS", "http://127.0.0.1:9/")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("FUNCNN_DATA", raising=False)


@pytest.fixture(scope="module")
def data() -> MnistData:
    return load_mnist(VENDORED)


@pytest.fixture
def no_vendored(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(mnist, "_VENDORED_DIR", None)
    yield


def copy_mnist(directory: Path, *, uncompressed: bool = False) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        if uncompressed:
            target = directory / name.removesuffix(".gz")
            target.write_bytes(gzip.decompress((VENDORED / name).read_bytes()))
        else:
            shutil.copyfile(VENDORED / name, directory / name)
    return directory


# ----------------------------------------------------------------------------- the real data


def test_vendored_files_are_present_and_documented() -> None:
    readme = (VENDORED / "README.md").read_text()
    assert "CC BY-SA 3.0" in readme
    for f in MNIST_FILES:
        assert (VENDORED / f.name).is_file()
        assert f.sha256 in readme
        assert any(d in readme for d in f.gz_sha256)


def test_shapes_and_dtypes(data: MnistData) -> None:
    (x_train, y_train), (x_test, y_test) = data
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and x_test.dtype == np.uint8
    assert y_test.shape == (10000,) and y_test.dtype == np.uint8
    assert x_train.nbytes == 47_040_000
    for a in (x_train, y_train, x_test, y_test):
        assert a.flags.c_contiguous and a.flags.writeable


def test_known_facts(data: MnistData) -> None:
    (x_train, y_train), (_, y_test) = data
    assert y_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert y_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert int((y_train == 0).sum()) == 5923
    assert np.bincount(y_train, minlength=10).tolist() == [
        5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949,
    ]  # fmt: skip
    assert np.bincount(y_test, minlength=10).sum() == 10000
    assert x_train.min() == 0 and x_train.max() == 255


def _scaled_moments(x: np.ndarray) -> tuple[float, float]:
    """Mean and std of ``scale(x)`` from exact integer sums (fast, no float copy of x)."""
    n = x.size
    s1 = int(x.sum(dtype=np.int64))
    s2 = int(np.square(x, dtype=np.uint16).sum(dtype=np.int64))  # 255**2 fits in uint16
    mean = s1 / n / 255
    return mean, float(np.sqrt(s2 / n / 255**2 - mean**2))


def test_training_pixel_mean_and_std_after_scaling(data: MnistData) -> None:
    (x_train, _), _ = data
    mean, std = _scaled_moments(x_train)
    assert abs(mean - 0.1307) < 5e-5 and abs(std - 0.3081) < 5e-5
    assert round(mean, 4) == MNIST_MEAN and round(std, 4) == MNIST_STD
    some = x_train[:500]  # the integer formula agrees with scale() itself
    m, sd = _scaled_moments(some)
    assert abs(scale(some).mean() - m) < 1e-12 and abs(scale(some).std() - sd) < 1e-12


def test_standardized_training_pixels_have_mean_0_std_1(data: MnistData) -> None:
    (x_train, _), _ = data
    mean, std = _scaled_moments(x_train)
    assert abs((mean - MNIST_MEAN) / MNIST_STD) < 1e-3 and abs(std / MNIST_STD - 1) < 1e-3
    z = standardize(x_train[:2000], dtype=np.float32)
    assert z.dtype == np.float32 and z.shape == (2000, 28, 28)
    np.testing.assert_allclose(z, (scale(x_train[:2000]) - MNIST_MEAN) / MNIST_STD, rtol=1e-5)
    assert abs(z.min() - (0 - MNIST_MEAN) / MNIST_STD) < 1e-6  # background pixels


def test_loading_memory_stays_near_the_data_size() -> None:
    load_mnist(VENDORED)  # warm up imports and caches outside the measurement
    tracemalloc.start()
    try:
        (x_train, y_train), (x_test, y_test) = load_mnist(VENDORED)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = x_train.nbytes + y_train.nbytes + x_test.nbytes + y_test.nbytes  # ~55 MB
    assert peak < 1.25 * size, f"peak {peak / 1e6:.1f} MB for {size / 1e6:.1f} MB of data"


# ----------------------------------------------------------------------------- finding data


def test_load_benchmark_runs_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import bench_load_mnist

    assert bench_load_mnist.main(["--path", str(VENDORED), "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert f"MNIST from {VENDORED}" in out
    assert "data size (4 uint8 arrays)           55.0 MB" in out
    for line in ("first load_mnist", "load_mnist x1: min / median", "gunzip", "tracemalloc"):
        assert line in out
    with pytest.raises(SystemExit):
        bench_load_mnist.main(["--path", str(VENDORED), "--repeat", "-1"])


def test_default_search_finds_the_vendored_copy(tmp_path: Path) -> None:
    assert find_mnist(cache_dir=tmp_path / "empty") == VENDORED
    (_, y_train), _ = load_mnist(cache_dir=tmp_path / "empty", download=False)
    assert y_train[:3].tolist() == [5, 0, 4]


def test_funcnn_data_comes_before_the_vendored_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = copy_mnist(tmp_path / "env", uncompressed=True)
    monkeypatch.setenv("FUNCNN_DATA", str(d))
    assert find_mnist() == d
    _, (_, y_test) = load_mnist(download=False)  # uncompressed, so verified by content
    assert y_test[:4].tolist() == [7, 2, 1, 0]


def test_incomplete_funcnn_data_falls_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d = tmp_path / "partial"
    d.mkdir()
    shutil.copyfile(VENDORED / NAMES[1], d / NAMES[1])
    monkeypatch.setenv("FUNCNN_DATA", str(d))
    with pytest.warns(UserWarning, match=f"FUNCNN_DATA={d} lacks train-images-idx3-ubyte.gz, "):
        assert find_mnist() == VENDORED


def test_cache_dir_is_searched_last(tmp_path: Path, no_vendored: None) -> None:
    cache = copy_mnist(tmp_path / "cache")
    assert find_mnist(cache_dir=cache) == cache
    assert find_mnist(cache_dir=tmp_path / "nothing") is None
    _, (_, y_test) = load_mnist(cache_dir=cache, download=False)
    assert y_test[:3].tolist() == [7, 2, 1]


def test_nothing_found_without_download(tmp_path: Path, no_vendored: None) -> None:
    with pytest.raises(mnist.MnistNotFoundError, match="MNIST not found.*download=False") as info:
        load_mnist(cache_dir=tmp_path / "nothing", download=False)
    assert str(tmp_path / "nothing") in str(info.value)


def test_explicit_path_must_hold_the_files(tmp_path: Path) -> None:
    d = copy_mnist(tmp_path / "d")
    (d / NAMES[2]).unlink()
    with pytest.raises(FileNotFoundError, match=f"missing {NAMES[2]}"):
        load_mnist(d)  # no fallback to other copies and no download for an explicit path
    assert find_mnist(d) is None


@pytest.mark.parametrize("bad", [3, b"data/mnist", ["data/mnist"], 1.5])
def test_paths_that_are_not_text_paths_are_type_errors(tmp_path: Path, bad: Any) -> None:
    pattern = r"expected a (str or os.PathLike|text)"
    with pytest.raises(ArgumentTypeError, match=f"^path: {pattern}"):
        load_mnist(bad)
    with pytest.raises(ArgumentTypeError, match=f"^path: {pattern}"):
        find_mnist(bad)
    with pytest.raises(ArgumentTypeError, match=f"^cache_dir: {pattern}"):
        load_mnist(cache_dir=bad, download=False)
    with pytest.raises(ArgumentTypeError, match=f"^cache_dir: {pattern}"):
        find_mnist(cache_dir=bad)
    with pytest.raises(ArgumentTypeError, match=f"^directory: {pattern}"):
        mnist.download_mnist(bad, mirrors=[(tmp_path / "none").as_uri()], progress=False)


def test_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert mnist_cache_dir() == tmp_path / "funcnn" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # not absolute: ignored per XDG
    assert mnist_cache_dir() == Path.home() / ".cache" / "funcnn" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert mnist_cache_dir() == Path.home() / ".cache" / "funcnn" / "mnist"


# ----------------------------------------------------------------------------- verification


def test_recompressed_copy_is_verified_by_content(tmp_path: Path) -> None:
    d = copy_mnist(tmp_path / "d")
    raw = gzip.decompress((d / NAMES[3]).read_bytes())
    (d / NAMES[3]).write_bytes(gzip.compress(raw, compresslevel=1))
    _, (_, y_test) = load_mnist(d)
    assert y_test[:3].tolist() == [7, 2, 1]


def test_a_changed_pixel_fails_verification(tmp_path: Path) -> None:
    d = copy_mnist(tmp_path / "d")
    images = read_idx(d / NAMES[2])
    images[123, 14, 14] ^= 1  # still a well-formed file: only the checksum can tell
    (d / NAMES[2]).unlink()
    write_idx(d / NAMES[2].removesuffix(".gz"), images)
    with pytest.raises(DataFormatError, match="not the canonical MNIST t10k-images") as info:
        load_mnist(d)
    assert str(d / "t10k-images-idx3-ubyte") in str(info.value)
    _, (x_test, _) = load_mnist(d, verify=False)
    assert x_test[123, 14, 14] == images[123, 14, 14]


# ----------------------------------------------------------------------------- bad files


def write_small_mnist(directory: Path, n_train: int = 5, n_test: int = 3) -> Path:
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    for f, n in zip(MNIST_FILES, (n_train, n_train, n_test, n_test), strict=True):
        shape = (n, 28, 28) if len(f.shape) == 3 else (n,)
        high = 256 if len(shape) == 3 else 10
        write_idx(directory / f.name, rng.integers(0, high, size=shape, dtype=np.uint8))
    return directory


def test_small_data_in_mnist_layout_loads_with_verify_false(tmp_path: Path) -> None:
    d = write_small_mnist(tmp_path / "d")
    (x_train, _), (_, y_test) = load_mnist(d, verify=False)
    assert x_train.shape == (5, 28, 28) and y_test.shape == (3,)
    with pytest.raises(DataFormatError, match="not the canonical MNIST train-images"):
        load_mnist(d)


def _expect_error(directory: Path, bad_file: str, message: str) -> None:
    for verify in (True, False):  # structural errors come first, checksums or not
        with pytest.raises(DataFormatError, match=message) as info:
            load_mnist(directory, verify=verify)
        err = info.value
        assert isinstance(err, ValueError) and isinstance(err, FuncnnError)
        assert str(directory / bad_file) in str(err)


def test_counts_that_disagree(tmp_path: Path) -> None:
    d = write_small_mnist(tmp_path / "d")
    write_idx(d / NAMES[1], np.zeros(4, dtype=np.uint8))
    _expect_error(d, NAMES[1], "holds 5 images but .* holds 4 labels")


def test_labels_outside_0_to_9(tmp_path: Path) -> None:
    d = write_small_mnist(tmp_path / "d")
    write_idx(d / NAMES[3], np.array([1, 2, 10], dtype=np.uint8))
    _expect_error(d, NAMES[3], "labels must be digits 0-9, found 10 at index 2")


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((5, 28, 27), dtype=np.uint8), r"expected \(N, 28, 28\) uint8 images"),
        (np.zeros((5, 784), dtype=np.uint8), r"found shape \(5, 784\)"),
        (np.zeros((5, 28, 28), dtype=np.int8), "found shape .* int8"),
        (np.zeros((5, 28, 28), dtype=np.float32), "float32"),
    ],
)
def test_images_of_the_wrong_shape_or_type(tmp_path: Path, array: np.ndarray, message: str) -> None:
    d = write_small_mnist(tmp_path / "d")
    write_idx(d / NAMES[0], array)
    _expect_error(d, NAMES[0], message)


def test_labels_of_the_wrong_shape(tmp_path: Path) -> None:
    d = write_small_mnist(tmp_path / "d")
    write_idx(d / NAMES[1], np.zeros((5, 1), dtype=np.uint8))
    _expect_error(d, NAMES[1], r"expected \(N,\) uint8 labels")


VALID_LABELS = encode_idx(np.array([1, 2, 3], dtype=np.uint8))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (gzip.compress(b"\x00\x00\x08\x03" + VALID_LABELS[4:]), "truncated IDX header"),
        (gzip.compress(b"\x08\x03\x00\x00" + VALID_LABELS[4:]), "bad IDX magic number"),
        (gzip.compress(VALID_LABELS[:-1]), r"truncated payload: 2 bytes, 1 missing"),
        (gzip.compress(VALID_LABELS + b"\x00\x00"), "2 trailing bytes after the payload"),
        (VALID_LABELS, "not gzip data.*uncompressed IDX file"),
        (gzip.compress(VALID_LABELS)[:-3], "truncated gzip data"),
        (gzip.compress(VALID_LABELS) + b"\x01", "trailing bytes after the gzip stream"),
        (b"", "not gzip data"),
    ],
)
def test_malformed_files(tmp_path: Path, content: bytes, message: str) -> None:
    d = write_small_mnist(tmp_path / "d")
    (d / NAMES[3]).write_bytes(content)
    _expect_error(d, NAMES[3], message)


def _mnist_layout_oracle(contents: list[bytes]) -> list[np.ndarray] | None:
    """The four arrays a correct loader returns for these IDX contents, or None if invalid.

    Built on the independent struct-based decoder of the IDX tests.
    """
    arrays = [reference_decode(c) for c in contents]
    if any(a is None for a in arrays):
        return None
    decoded = cast(list[np.ndarray], arrays)
    for images, labels in (decoded[:2], decoded[2:]):
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
            return None
        if labels.dtype != np.uint8 or labels.ndim != 1 or len(labels) != len(images):
            return None
        if labels.size and labels.max() > 9:
            return None
    return decoded


@st.composite
def mutated_mnist_layouts(draw: st.DrawFn) -> tuple[list[bytes], list[bool]]:
    """The IDX contents of a tiny MNIST-layout data set, one file damaged, and which to gzip."""
    n_train, n_test = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    contents = []
    for f, n in zip(MNIST_FILES, (n_train, n_train, n_test, n_test), strict=True):
        shape = (n, 28, 28) if len(f.shape) == 3 else (n,)
        high = 256 if len(shape) == 3 else 10
        pixels = np.random.default_rng(n).integers(0, high, size=shape, dtype=np.uint8)
        contents.append(bytearray(encode_idx(pixels)))
    victim = contents[draw(st.integers(0, 3))]
    header_len = 4 + 4 * victim[3]
    for _ in range(draw(st.integers(0, 3))):
        i = draw(st.integers(0, len(victim) - 1 if draw(st.booleans()) else header_len - 1))
        victim[i] = draw(st.sampled_from([0, 1, 2, 3, 9, 10, 28, 0x08, 0x0D, 0xFF, victim[i] ^ 1]))
    action = draw(st.sampled_from(["none", "truncate", "append"]))
    if action == "truncate":
        del victim[draw(st.integers(0, len(victim))) :]
    elif action == "append":
        victim += draw(st.binary(min_size=1, max_size=8))
    gzipped = draw(st.lists(st.booleans(), min_size=4, max_size=4))
    return [bytes(c) for c in contents], gzipped


@settings(max_examples=80, deadline=None)
@given(mutated_mnist_layouts())
def test_fuzz_load_mnist_on_damaged_layouts(case: tuple[list[bytes], list[bool]]) -> None:
    """load_mnist returns exactly the oracle's arrays, or a DataFormatError naming a file."""
    contents, gzipped = case
    want = _mnist_layout_oracle(contents)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for f, content, gz in zip(MNIST_FILES, contents, gzipped, strict=True):
            if gz:
                (d / f.name).write_bytes(gzip.compress(content, mtime=0))
            else:
                (d / f.stem).write_bytes(content)
        try:
            (x_train, y_train), (x_test, y_test) = load_mnist(d, verify=False)
        except DataFormatError as exc:
            assert want is None, f"valid data rejected: {exc}"
            assert any(str(d / n) in str(exc) for f in MNIST_FILES for n in (f.name, f.stem))
            return
    assert want is not None, "invalid data accepted"
    for got, expected in zip((x_train, y_train, x_test, y_test), want, strict=True):
        assert got.dtype == np.uint8 and got.flags.writeable
        np.testing.assert_array_equal(got, expected, strict=True)


# ----------------------------------------------------------------------------- helpers


def test_flatten() -> None:
    x = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    flat = flatten(x)
    assert flat.shape == (2, 784) and flat.dtype == np.uint8
    assert np.shares_memory(flat, x)  # a view, no copy
    assert flat[1, 0] == x[1, 0, 0] and flat[0, 783] == x[0, 27, 27]
    assert flatten(flat).shape == (2, 784)
    with pytest.raises(InvalidArgumentError, match="x: expected a batch"):
        flatten(np.zeros(784, dtype=np.uint8))
    with pytest.raises(ArgumentTypeError, match="x: expected a numpy array"):
        flatten([[1, 2]])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("shape", "flat"), [((0, 28, 28), (0, 784)), ((0, 5), (0, 5)), ((3, 0, 2), (3, 0))]
)
def test_flatten_of_empty_arrays(shape: tuple[int, ...], flat: tuple[int, int]) -> None:
    x = np.zeros(shape, dtype=np.uint8)
    out = flatten(x)
    assert out.shape == flat and out.dtype == np.uint8


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scale(dtype: Any) -> None:
    x = np.array([[0, 1, 128, 255]], dtype=np.uint8)
    before = x.copy()
    s = scale(x, dtype=dtype)
    assert s.dtype == dtype and s.shape == x.shape
    np.testing.assert_array_equal(s, np.array([[0, 1, 128, 255]], dtype=dtype) / dtype(255))
    assert s[0, 0] == 0 and s[0, 3] == 1
    np.testing.assert_array_equal(x, before)
    assert scale(x).dtype == np.float64  # the library's default dtype


def test_scale_rejects() -> None:
    with pytest.raises(ArgumentTypeError, match="x: expected uint8 pixels"):
        scale(np.zeros(3, dtype=np.float32))
    with pytest.raises(ArgumentTypeError, match="dtype"):
        scale(np.zeros(3, dtype=np.uint8), dtype=np.int32)


def test_standardize_paths_agree() -> None:
    x = np.random.default_rng(0).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    before = x.copy()
    a = standardize(x)
    b = standardize(scale(x))
    assert a.dtype == b.dtype == np.float64
    np.testing.assert_allclose(a, (x / 255 - MNIST_MEAN) / MNIST_STD, rtol=1e-12)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(x, before)
    c = standardize(scale(x, dtype=np.float32))
    assert c.dtype == np.float32  # float input keeps its dtype
    assert standardize(x, dtype=np.float32).dtype == np.float32
    np.testing.assert_allclose(standardize(x, mean=0.5, std=0.5), 2 * scale(x) - 1, atol=1e-15)


def test_standardize_does_not_mutate_float_input() -> None:
    s = scale(np.arange(10, dtype=np.uint8))
    before = s.copy()
    standardize(s)
    np.testing.assert_array_equal(s, before)


def test_standardize_rejects() -> None:
    u8 = np.zeros(3, dtype=np.uint8)
    with pytest.raises(InvalidArgumentError, match=r"in \[0, 1\], found values in \[0.0, 2.0\]"):
        standardize(np.array([0.0, 2.0]))
    with pytest.raises(InvalidArgumentError, match="finite and in"):
        standardize(np.array([0.0, np.nan]))
    with pytest.raises(InvalidArgumentError, match="scale them first"):
        standardize(np.array([-0.5, 0.5], dtype=np.float32))
    with pytest.raises(InvalidArgumentError, match="std: expected a number > 0"):
        standardize(u8, std=0.0)
    with pytest.raises(InvalidArgumentError, match="mean: expected a finite"):
        standardize(u8, mean=np.inf)
    with pytest.raises(ArgumentTypeError, match="mean: expected a number"):
        standardize(u8, mean="0")  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError, match="uint8 pixels or float32/float64"):
        standardize(np.zeros(3, dtype=np.int64))
    with pytest.raises(ArgumentTypeError, match="dtype"):
        standardize(u8, dtype=np.int16)


@pytest.mark.parametrize(
    ("kwargs", "x"),
    [
        ({"std": 1e-320}, np.full(3, 255, np.uint8)),  # 0.87 / 1e-320 overflows float64
        ({"std": 1e-300, "dtype": np.float32}, np.full(3, 255, np.uint8)),  # std rounds to 0
        ({"mean": 1e300, "dtype": np.float32}, np.zeros(3, np.uint8)),  # mean beyond float32
        ({"std": 1e-320}, np.full(2, 0.5, np.float64)),
    ],
)
def test_standardize_whose_result_overflows_raises_non_finite_error(
    kwargs: dict[str, Any], x: np.ndarray
) -> None:
    # pytest turns warnings into errors: a RuntimeWarning escaping would fail differently.
    with pytest.raises(NonFiniteError, match=r"^std: \(x - mean\) / std is not representable"):
        standardize(x, **kwargs)


def test_standardize_with_extreme_but_representable_arguments() -> None:
    x = np.array([0, 255], dtype=np.uint8)
    np.testing.assert_allclose(standardize(x, mean=0.0, std=1e-300), [0.0, 1e300], rtol=1e-15)
    np.testing.assert_allclose(standardize(x, mean=1e300, std=1e300), [-1.0, -1.0])
    # A subnormal std is fine as long as the quotient stays finite.
    assert standardize(np.zeros(2, np.uint8), mean=0.0, std=5e-324).tolist() == [0.0, 0.0]
    assert standardize(np.zeros((0, 28, 28), np.uint8), std=1e-320).shape == (0, 28, 28)


def test_one_hot() -> None:
    y = np.array([5, 0, 9], dtype=np.uint8)
    h = one_hot(y)
    assert h.shape == (3, 10) and h.dtype == np.float64
    assert h[0, 5] == 1 and h[1, 0] == 1 and h[2, 9] == 1 and h.sum() == 3
    assert one_hot(y, dtype=np.float32).dtype == np.float32
    assert one_hot([0, 1], n_classes=2).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert one_hot(np.array([[1, 2]]), n_classes=3).shape == (1, 2, 3)
    assert one_hot(np.zeros(0, dtype=np.int64)).shape == (0, 10)


def test_one_hot_rejects() -> None:
    with pytest.raises(InvalidArgumentError, match=r"labels: must lie in \[0, 10\)") as info:
        one_hot(np.array([1, 10, 2]))
    assert "found 10 at index 1" in str(info.value)
    with pytest.raises(InvalidArgumentError, match="labels: .*found -1 at index 0"):
        one_hot(np.array([-1]))
    with pytest.raises(InvalidArgumentError, match=r"labels: must lie in \[0, 3\)"):
        one_hot(np.array([3]), n_classes=3)
    with pytest.raises(InvalidArgumentError, match=r"found 7 at index \(0, 1\)"):
        one_hot(np.array([[0, 7]]), n_classes=5)
    with pytest.raises(ArgumentTypeError, match="labels: expected integer class labels"):
        one_hot(np.array([1.0]))
    with pytest.raises(ArgumentTypeError, match="labels: expected integer"):
        one_hot(np.array([True]))
    with pytest.raises(InvalidArgumentError, match="n_classes"):
        one_hot(np.array([1]), n_classes=0)
    with pytest.raises(ArgumentTypeError, match="dtype: expected a numeric dtype"):
        one_hot(np.array([1]), dtype="U1")


@given(hnp.arrays(np.int64, st.integers(0, 20), elements=st.integers(0, 9)))
def test_one_hot_inverts_argmax(y: np.ndarray) -> None:
    h = one_hot(y)
    np.testing.assert_array_equal(h.argmax(axis=1), y)
    np.testing.assert_array_equal(h.sum(axis=1), np.ones(len(y)))


def test_train_validation_split() -> None:
    x = np.arange(100).reshape(50, 2)
    y = np.arange(50).astype(np.uint8)
    before = (x.copy(), y.copy())
    (xt, yt), (xv, yv) = train_validation_split(x, y, np.random.default_rng(0), n_validation=10)
    assert xt.shape == (40, 2) and xv.shape == (10, 2) and yt.shape == (40,)
    assert xt.dtype == x.dtype and yv.dtype == np.uint8
    assert sorted(yt.tolist() + yv.tolist()) == list(range(50))  # disjoint, nothing lost
    np.testing.assert_array_equal(xt[:, 0] // 2, yt)  # pairs stay together
    np.testing.assert_array_equal(xv[:, 0] // 2, yv)
    assert np.all(np.diff(yt) > 0) and np.all(np.diff(yv) > 0)  # original order kept
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(y, before[1])
    again = train_validation_split(x, y, np.random.default_rng(0), n_validation=10)
    np.testing.assert_array_equal(again[1][1], yv)  # same seed, same split
    other = train_validation_split(x, y, np.random.default_rng(1), n_validation=10)
    assert other[1][1].tolist() != yv.tolist()


def test_train_validation_split_on_mnist(data: MnistData) -> None:
    (x_train, y_train), _ = data
    (xt, yt), (xv, yv) = train_validation_split(x_train, y_train, np.random.default_rng(0))
    assert xt.shape == (50000, 28, 28) and xv.shape == (10000, 28, 28)
    assert yt.shape == (50000,) and yv.shape == (10000,)


def test_train_validation_split_rejects() -> None:
    x = np.zeros(5)
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidArgumentError, match="same number of samples"):
        train_validation_split(x, np.zeros(4), rng, n_validation=1)
    with pytest.raises(ArgumentTypeError, match="rng: expected a numpy.random.Generator"):
        train_validation_split(x, x, 0, n_validation=1)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="n_validation: must be less than .* 5"):
        train_validation_split(x, x, rng, n_validation=5)
    with pytest.raises(InvalidArgumentError, match="n_validation: must be less than"):
        train_validation_split(x, x, rng)  # the default 10,000 is more than 5 samples
    with pytest.raises(InvalidArgumentError, match="n_validation"):
        train_validation_split(x, x, rng, n_validation=0)
    with pytest.raises(ArgumentTypeError, match="n_validation"):
        train_validation_split(x, x, rng, n_validation=1.5)  # type: ignore[arg-type]
