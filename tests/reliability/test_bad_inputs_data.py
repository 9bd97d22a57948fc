"""Catalogue of bad inputs, data side: MNIST helpers and loading, IDX files, metrics, plots.

Same row format as ``test_bad_inputs_core`` (see ``_catalogue``). Reading functions
document an ``OSError`` (``FileNotFoundError``...) for a path that cannot be read, and
writers let the filesystem's ``OSError`` through; those rows assert that exact type and
that the message names the path. No row touches the network: download rows fail on
their arguments or on a ``file://`` mirror.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import funcnn as fn
from funcnn.data import idx, mnist
from funcnn.reporting import plots
from funcnn.reporting.classification import ClassificationReport
from tests.reliability._catalogue import Case, check, rows, thunk, wrong

IAE = fn.InvalidArgumentError
ATE = fn.ArgumentTypeError
DFE = fn.DataFormatError
FINITE = "expected finite values"
VENDORED = Path(__file__).resolve().parents[2] / "data" / "mnist"

SPEC = fn.MLP((4, 5, 3))
P = fn.init(SPEC, np.random.default_rng(0))
X = np.random.default_rng(1).normal(size=(6, 4))


def _nan_at(a: np.ndarray, value: float = np.nan) -> np.ndarray:
    out = a.astype(np.float64)
    out.flat[out.size // 2] = value
    return out


# --------------------------------------------------------------------------- MNIST helpers


def _mnist_helper_cases() -> Iterator[Case]:
    pixels = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    rng = np.random.default_rng
    helpers: list[tuple[str, Callable[[], object], type[BaseException], str, str, str | None]] = [
        (
            "flatten/list",
            lambda: fn.flatten(wrong([[1, 2]])),
            ATE,
            "x",
            r"expected a numpy array",
            None,
        ),
        ("flatten/1d", lambda: fn.flatten(np.zeros(3)), IAE, "x", r"at least 2 dimensions", None),
        ("flatten/0d", lambda: fn.flatten(np.zeros(())), IAE, "x", r"at least 2 dimensions", None),
        (
            "scale/float",
            lambda: fn.scale(pixels.astype(np.float32)),
            ATE,
            "x",
            r"expected uint8 pixels 0-255",
            None,
        ),
        (
            "scale/int16",
            lambda: fn.scale(pixels.astype(np.int16)),
            ATE,
            "x",
            r"expected uint8",
            None,
        ),
        ("scale/list", lambda: fn.scale(wrong([1, 2])), ATE, "x", r"expected a numpy array", None),
        (
            "scale/dtype-int",
            lambda: fn.scale(pixels, dtype=np.int32),
            ATE,
            "dtype",
            r"expected float32 or float64",
            None,
        ),
        (
            "scale/dtype-float16",
            lambda: fn.scale(pixels, dtype=np.float16),
            ATE,
            "dtype",
            r"expected float32 or float64",
            None,
        ),
        (
            "standardize/std-zero",
            lambda: fn.standardize(pixels, std=0),
            IAE,
            "std",
            r"expected a number > 0",
            None,
        ),
        (
            "standardize/std-negative",
            lambda: fn.standardize(pixels, std=-1.0),
            IAE,
            "std",
            r"expected a number > 0",
            None,
        ),
        (
            "standardize/std-nan",
            lambda: fn.standardize(pixels, std=float("nan")),
            IAE,
            "std",
            r"expected a finite number",
            None,
        ),
        (
            "standardize/mean-inf",
            lambda: fn.standardize(pixels, mean=float("inf")),
            IAE,
            "mean",
            r"expected a finite number",
            None,
        ),
        (
            "standardize/mean-str",
            lambda: fn.standardize(pixels, mean=wrong("0.1")),
            ATE,
            "mean",
            r"expected a number",
            None,
        ),
        (
            "standardize/std-bool",
            lambda: fn.standardize(pixels, std=True),
            ATE,
            "std",
            r"expected a number",
            None,
        ),
        (
            "standardize/float-above-1",
            lambda: fn.standardize(pixels / 1.0),
            IAE,
            "x",
            r"float pixels must be finite and in \[0, 1\]",
            None,
        ),
        (
            "standardize/float-nan",
            lambda: fn.standardize(_nan_at(pixels / 255)),
            IAE,
            "x",
            r"must be finite and in \[0, 1\]",
            None,
        ),
        (
            "standardize/int16",
            lambda: fn.standardize(pixels.astype(np.int16)),
            ATE,
            "x",
            r"expected uint8 pixels or float32/float64",
            None,
        ),
        (
            "standardize/dtype-int",
            lambda: fn.standardize(pixels, dtype=np.int64),
            ATE,
            "dtype",
            r"expected float32 or float64",
            None,
        ),
        (
            "one_hot/float-labels",
            lambda: fn.one_hot(np.array([0.0, 1.0])),
            ATE,
            "labels",
            r"expected integer class labels",
            None,
        ),
        (
            "one_hot/bool-labels",
            lambda: fn.one_hot(np.array([True])),
            ATE,
            "labels",
            r"expected integer class labels",
            None,
        ),
        (
            "one_hot/label-10",
            lambda: fn.one_hot(np.array([3, 10])),
            IAE,
            "labels",
            r"must lie in \[0, 10\) for n_classes=10, found 10 at index 1",
            None,
        ),
        (
            "one_hot/label-negative",
            lambda: fn.one_hot(np.array([[0, -1]]), 3),
            IAE,
            "labels",
            r"found -1 at index \(0, 1\)",
            None,
        ),
        (
            "one_hot/n_classes-0",
            lambda: fn.one_hot([0], 0),
            IAE,
            "n_classes",
            r"expected a positive integer",
            None,
        ),
        (
            "one_hot/n_classes-float",
            lambda: fn.one_hot([0], wrong(2.0)),
            ATE,
            "n_classes",
            r"expected a positive integer",
            None,
        ),
        (
            "one_hot/dtype-bogus",
            lambda: fn.one_hot([0], 2, dtype="bogus"),
            ATE,
            "dtype",
            r"not a numpy dtype",
            None,
        ),
        (
            "one_hot/dtype-str",
            lambda: fn.one_hot([0], 2, dtype=str),
            ATE,
            "dtype",
            r"expected a numeric dtype",
            None,
        ),
        (
            "one_hot/ragged",
            lambda: fn.one_hot([[0], [0, 1]], 2),
            IAE,
            "labels",
            r"expected",
            None,
        ),
        (
            "train_validation_split/rng-seed",
            lambda: fn.train_validation_split(X, X[:, 0], wrong(0)),
            ATE,
            "rng",
            r"expected a numpy.random.Generator",
            None,
        ),
        (
            "train_validation_split/lengths",
            lambda: fn.train_validation_split(X, X[:5, 0], rng(0), n_validation=2),
            IAE,
            "x, y",
            r"expected the same number of samples",
            None,
        ),
        (
            "train_validation_split/y-0d",
            lambda: fn.train_validation_split(X, np.zeros(()), rng(0), n_validation=2),
            IAE,
            "x, y",
            r"expected the same number of samples",
            None,
        ),
        (
            "train_validation_split/x-list",
            lambda: fn.train_validation_split(X.tolist(), X[:, 0], rng(0)),
            ATE,
            "x",
            r"expected a numpy array",
            None,
        ),
        (
            "train_validation_split/n_validation-all",
            lambda: fn.train_validation_split(X, X[:, 0], rng(0), n_validation=6),
            IAE,
            "n_validation",
            r"must be less than the number of samples 6",
            None,
        ),
        (
            "train_validation_split/n_validation-0",
            lambda: fn.train_validation_split(X, X[:, 0], rng(0), n_validation=0),
            IAE,
            "n_validation",
            r"expected a positive integer",
            None,
        ),
        (
            "train_validation_split/n_validation-float",
            lambda: fn.train_validation_split(X, X[:, 0], rng(0), n_validation=wrong(0.5)),
            ATE,
            "n_validation",
            r"expected a positive integer",
            None,
        ),
    ]
    for fid, call, error, arg, expected, bug in helpers:
        yield Case(fid, call, error, arg, expected, bug)


def _mnist_io_cases(tmp: Path) -> Iterator[Case]:
    empty = tmp / "empty-dir"
    empty.mkdir()
    mirror = (tmp / "no-mirror").as_uri() + "/"
    # A directory with the vendored files, except that the test labels are corrupt.
    broken = tmp / "broken-mnist"
    broken.mkdir()
    for f in mnist.MNIST_FILES:
        (broken / f.name).symlink_to(VENDORED / f.name)
    labels = broken / "t10k-labels-idx1-ubyte.gz"
    labels.unlink()
    labels.write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x27\x10" + b"\x0b" * 10000))
    download = mnist.download_mnist
    io_cases: list[tuple[str, Callable[[], object], type[BaseException], str, str, str | None]] = [
        (
            "load_mnist/missing-dir",
            lambda: fn.load_mnist(tmp / "nowhere"),
            FileNotFoundError,
            str(tmp / "nowhere"),
            r"no MNIST data here: missing train-images",
            None,
        ),
        (
            "load_mnist/empty-dir",
            lambda: fn.load_mnist(empty),
            FileNotFoundError,
            str(empty),
            r"missing .*t10k-labels-idx1-ubyte.gz",
            None,
        ),
        (
            "load_mnist/labels-out-of-range",
            lambda: fn.load_mnist(broken),
            DFE,
            str(labels),
            r"labels must be digits 0-9, found 11 at index 0",
            None,
        ),
        (
            "load_mnist/path-int",
            lambda: fn.load_mnist(wrong(3)),
            ATE,
            "path",
            r"expected",
            None,
        ),
        (
            "load_mnist/cache_dir-bytes",
            lambda: fn.load_mnist(cache_dir=wrong(b"cache"), download=False),
            ATE,
            "cache_dir",
            r"expected a str or os.PathLike",
            None,
        ),
        (
            "download_mnist/directory-int",
            lambda: download(wrong(3), mirrors=[mirror], progress=False),
            ATE,
            "directory",
            r"expected a str or os.PathLike",
            None,
        ),
        (
            "find_mnist/path-int",
            lambda: fn.find_mnist(wrong(3)),
            ATE,
            "path",
            r"expected",
            None,
        ),
        (
            "download_mnist/timeout-0",
            lambda: download(empty, timeout=0),
            IAE,
            "timeout",
            r"expected a number of seconds > 0",
            None,
        ),
        (
            "download_mnist/timeout-nan",
            lambda: download(empty, timeout=float("nan")),
            IAE,
            "timeout",
            r"expected a number of seconds > 0",
            None,
        ),
        (
            "download_mnist/timeout-str",
            lambda: download(empty, timeout=wrong("30")),
            IAE,
            "timeout",
            r"expected a number of seconds > 0",
            None,
        ),
        (
            "download_mnist/mirrors-str",
            lambda: download(empty, mirrors="http://x/"),
            ATE,
            "mirrors",
            r"expected a sequence of URL strings",
            None,
        ),
        (
            "download_mnist/mirrors-empty",
            lambda: download(empty, mirrors=[]),
            IAE,
            "mirrors",
            r"no mirror to download from",
            None,
        ),
        (
            "download_mnist/mirrors-ftp",
            lambda: download(empty, mirrors=["ftp://x/"]),
            IAE,
            "mirrors",
            r"expected http\(s\):// or file:// URLs",
            None,
        ),
        (
            "download_mnist/mirrors-path",
            lambda: download(empty, mirrors=["/srv/mnist/"]),
            IAE,
            "mirrors",
            r"expected http\(s\):// or file:// URLs",
            None,
        ),
        (
            "download_mnist/mirrors-int",
            lambda: download(empty, mirrors=[wrong(3)]),
            ATE,
            "mirrors",
            r"expected URL strings",
            None,
        ),
        (
            "download_mnist/progress-int",
            lambda: download(empty, mirrors=[mirror], progress=wrong(3)),
            ATE,
            "progress",
            r"expected a bool or a callable",
            None,
        ),
        (
            "download_mnist/dead-mirror",
            lambda: download(empty, mirrors=[mirror], progress=False),
            mnist.DownloadError,
            "mirror(s)",
            r"could not download train-images-idx3-ubyte.gz",
            None,
        ),
    ]
    for fid, call, error, arg, expected, bug in io_cases:
        yield Case(fid, call, error, arg, expected, bug)


# --------------------------------------------------------------------------- IDX


def _idx_cases(tmp: Path) -> Iterator[Case]:
    (tmp / "junk.idx").write_bytes(b"\x08\x03\x00\x00junk")
    (tmp / "junk.gz").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07")
    (tmp / "short.idx").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    (tmp / "bad.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01")[:-6])
    good = gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07")
    u8 = np.zeros(3, np.uint8)
    cases: list[tuple[str, Callable[[], object], type[BaseException], str, str, str | None]] = [
        (
            "read_idx/missing",
            lambda: fn.read_idx(tmp / "nope.idx"),
            FileNotFoundError,
            str(tmp / "nope.idx"),
            r"No such file",
            None,
        ),
        (
            "read_idx/directory",
            lambda: fn.read_idx(tmp),
            IsADirectoryError,
            str(tmp),
            r"Is a directory",
            None,
        ),
        (
            "read_idx/bad-magic",
            lambda: fn.read_idx(tmp / "junk.idx"),
            DFE,
            str(tmp / "junk.idx"),
            r"bad IDX magic number",
            None,
        ),
        (
            "read_idx/not-gzip",
            lambda: fn.read_idx(tmp / "junk.gz"),
            DFE,
            str(tmp / "junk.gz"),
            r"not gzip data: expected the gzip magic 1f 8b",
            None,
        ),
        (
            "read_idx/truncated-gzip",
            lambda: fn.read_idx(tmp / "bad.gz"),
            DFE,
            str(tmp / "bad.gz"),
            r"truncated gzip data|corrupt gzip data",
            None,
        ),
        (
            "read_idx/truncated-payload",
            lambda: fn.read_idx(tmp / "short.idx"),
            DFE,
            str(tmp / "short.idx"),
            r"truncated payload: 3 bytes, 2 missing",
            None,
        ),
        ("read_idx/path-int", lambda: fn.read_idx(wrong(3)), ATE, "path", r"expected", None),
        (
            "write_idx/list",
            lambda: fn.write_idx(tmp / "a.idx", wrong([1, 2])),
            ATE,
            "array",
            r"expected a numpy array",
            None,
        ),
        (
            "write_idx/object",
            lambda: fn.write_idx(tmp / "a.idx", np.array([None])),
            ATE,
            "array",
            r"IDX cannot store dtype object",
            None,
        ),
        (
            "write_idx/int64",
            lambda: fn.write_idx(tmp / "a.idx", np.zeros(2, np.int64)),
            ATE,
            "array",
            r"IDX cannot store dtype int64",
            None,
        ),
        (
            "write_idx/bool",
            lambda: fn.write_idx(tmp / "a.idx", np.zeros(2, bool)),
            ATE,
            "array",
            r"IDX cannot store dtype bool",
            None,
        ),
        (
            "write_idx/0d",
            lambda: fn.write_idx(tmp / "a.idx", np.zeros((), np.uint8)),
            IAE,
            "array",
            r"IDX holds arrays of 1 to 255 dimensions",
            None,
        ),
        (
            "write_idx/compresslevel-10",
            lambda: fn.write_idx(tmp / "a.gz", u8, compresslevel=10),
            IAE,
            "compresslevel",
            r"expected an integer from 0 to 9",
            None,
        ),
        (
            "write_idx/compresslevel-bool",
            lambda: fn.write_idx(tmp / "a.gz", u8, compresslevel=True),
            IAE,
            "compresslevel",
            r"expected an integer from 0 to 9",
            None,
        ),
        (
            "write_idx/missing-dir",
            lambda: fn.write_idx(tmp / "no" / "a.idx", u8),
            FileNotFoundError,
            str(tmp / "no" / "a.idx"),
            r"No such file",
            None,
        ),
        (
            "encode_idx/list",
            lambda: idx.encode_idx(wrong([1])),
            ATE,
            "array",
            r"expected a numpy array",
            None,
        ),
        (
            "encode_idx/complex",
            lambda: idx.encode_idx(np.zeros(2, complex)),
            ATE,
            "array",
            r"IDX cannot store dtype complex128",
            None,
        ),
        (
            "idx_header/negative-dim",
            lambda: idx.idx_header(np.uint8, (-1,)),
            IAE,
            "array",
            r"dimension sizes must lie in \[0, 2\*\*32\)",
            None,
        ),
        (
            "idx_header/huge-dim",
            lambda: idx.idx_header(np.uint8, (2**32,), name="images"),
            IAE,
            "images",
            r"dimension sizes must lie in \[0, 2\*\*32\)",
            None,
        ),
        (
            "idx_header/no-dims",
            lambda: idx.idx_header(np.uint8, ()),
            IAE,
            "array",
            r"IDX holds arrays of 1 to 255 dimensions",
            None,
        ),
        (
            "idx_header/dtype-bogus",
            lambda: idx.idx_header("bogus", (1,)),
            ATE,
            "array",
            r"not a numpy dtype",
            None,
        ),
        (
            "decode_idx/empty",
            lambda: idx.decode_idx(b"", source="buf"),
            DFE,
            "buf",
            r"too short for an IDX file: 0 bytes",
            None,
        ),
        (
            "decode_idx/gzip-bytes",
            lambda: idx.decode_idx(good, source="buf"),
            DFE,
            "buf",
            r"it looks gzip-compressed",
            None,
        ),
        (
            "decode_idx/unknown-type",
            lambda: idx.decode_idx(b"\x00\x00\x0a\x01\x00\x00\x00\x00"),
            DFE,
            "<bytes>",
            r"unknown element type 0x0A",
            None,
        ),
        (
            "decode_idx/str",
            lambda: idx.decode_idx(wrong("\x00\x00\x08\x01")),
            ATE,
            "data",
            r"expected",
            None,
        ),
        (
            "gunzip/not-gzip",
            lambda: idx.gunzip(b"plain", source="buf"),
            DFE,
            "buf",
            r"not gzip data",
            None,
        ),
        (
            "gunzip/trailing-garbage",
            lambda: idx.gunzip(good + b"xx", source="buf"),
            DFE,
            "buf",
            r"2 trailing bytes after the gzip stream",
            None,
        ),
        (
            "gunzip/too-big",
            lambda: idx.gunzip(good, source="buf", max_size=4),
            DFE,
            "buf",
            r"decompresses to more than 4 bytes",
            None,
        ),
        (
            "gunzip/str",
            lambda: idx.gunzip(wrong("\x1f\x8b")),
            ATE,
            "data",
            r"expected",
            None,
        ),
        (
            "gunzip/max_size-negative",
            lambda: idx.gunzip(good, max_size=-1),
            IAE,
            "max_size",
            r"expected",
            None,
        ),
        (
            "gunzip/max_size-bool",
            lambda: idx.gunzip(good, max_size=wrong(True)),
            ATE,
            "max_size",
            r"expected None or an integer >= 0",
            None,
        ),
        (
            "gunzip/strided-view",
            lambda: idx.gunzip(memoryview(good)[::2]),
            ATE,
            "data",
            r"a contiguous buffer",
            None,
        ),
        (
            "decode_idx/source-int",
            lambda: idx.decode_idx(b"\x00\x00\x08\x01", source=wrong(3)),
            ATE,
            "source",
            r"expected a string",
            None,
        ),
    ]
    for fid, call, error, arg, expected, bug in cases:
        yield Case(fid, call, error, arg, expected, bug)


# --------------------------------------------------------------------------- metrics


def _metrics_cases() -> Iterator[Case]:
    y = np.array([0, 1, 2, 1])
    labels_int = r"expected integer class labels"
    report = fn.classification_report(y, y, 3)
    good = report.to_dict()
    cm = fn.confusion_matrix(y, y, 3)
    probs = np.full((4, 3), 1 / 3)
    cases: list[tuple[str, Callable[[], object], type[BaseException], str, str, str | None]] = [
        (
            "accuracy/empty",
            lambda: fn.accuracy([], []),
            IAE,
            "y_true",
            r"empty, expected at least one label",
            None,
        ),
        ("accuracy/float", lambda: fn.accuracy(y / 1.0, y), ATE, "y_true", labels_int, None),
        (
            "accuracy/logits",
            lambda: fn.accuracy(y, np.eye(3)[y]),
            ATE,
            "y_pred",
            r"take argmax\(axis=1\) first",
            None,
        ),
        (
            "accuracy/int-scores",
            lambda: fn.accuracy(y, np.eye(3, dtype=int)[y]),
            IAE,
            "y_pred",
            r"expected a 1-D array of labels \(N,\)",
            None,
        ),
        ("accuracy/bool", lambda: fn.accuracy(y > 0, y), ATE, "y_true", r"got bool", None),
        ("accuracy/str", lambda: fn.accuracy(y, y.astype(str)), ATE, "y_pred", labels_int, None),
        (
            "accuracy/negative",
            lambda: fn.accuracy(y - 1, y),
            IAE,
            "y_true",
            r"expected labels >= 0, found -1 at index 0",
            None,
        ),
        (
            "accuracy/lengths",
            lambda: fn.accuracy(y, y[:3]),
            IAE,
            "y_true and y_pred",
            r"expected equal lengths, got 4 and 3",
            None,
        ),
        (
            "accuracy/dict",
            lambda: fn.accuracy(wrong({"y": y}), y),
            ATE,
            "y_true",
            r"expected a numpy array",
            None,
        ),
        (
            "accuracy/ragged",
            lambda: fn.accuracy([[0], [0, 1]], [0, 1]),
            IAE,
            "y_true",
            r"expected",
            None,
        ),
        (
            "confusion_matrix/n_classes-0",
            lambda: fn.confusion_matrix(y, y, 0),
            IAE,
            "n_classes",
            r"expected a positive integer",
            None,
        ),
        (
            "confusion_matrix/n_classes-float",
            lambda: fn.confusion_matrix(y, y, wrong(3.0)),
            ATE,
            "n_classes",
            r"expected a positive integer",
            None,
        ),
        (
            "confusion_matrix/label-too-big",
            lambda: fn.confusion_matrix(y, y, 2),
            IAE,
            "y_true",
            r"expected labels in \[0, 2\), found 2 at index 2",
            None,
        ),
        (
            "confusion_matrix/pred-too-big",
            lambda: fn.confusion_matrix(y % 2, y, 2),
            IAE,
            "y_pred",
            r"expected labels in \[0, 2\)",
            None,
        ),
        (
            "classification_report/labels-count",
            lambda: fn.classification_report(y, y, 3, labels=["a", "b"]),
            IAE,
            "labels",
            r"expected 3 names \(one per class\), got 2",
            None,
        ),
        (
            "classification_report/labels-str",
            lambda: fn.classification_report(y, y, 3, labels="abc"),
            ATE,
            "labels",
            r"expected a sequence of 3 strings",
            None,
        ),
        (
            "classification_report/labels-int-item",
            lambda: fn.classification_report(y, y, 3, labels=["a", wrong(1), "c"]),
            ATE,
            "labels[1]",
            r"expected a string",
            None,
        ),
        (
            "ClassificationReport.from_confusion_matrix/float",
            lambda: ClassificationReport.from_confusion_matrix(cm / 1.0),
            ATE,
            "cm",
            r"expected integer counts",
            None,
        ),
        (
            "ClassificationReport.from_confusion_matrix/non-square",
            lambda: ClassificationReport.from_confusion_matrix(cm[:2]),
            IAE,
            "cm",
            r"expected a square \(C, C\) matrix, got \(2, 3\)",
            None,
        ),
        (
            "ClassificationReport.from_confusion_matrix/empty",
            lambda: ClassificationReport.from_confusion_matrix(np.zeros((0, 0), int)),
            IAE,
            "cm",
            r"expected a square \(C, C\) matrix",
            None,
        ),
        (
            "ClassificationReport.from_confusion_matrix/negative",
            lambda: ClassificationReport.from_confusion_matrix(cm - 1),
            IAE,
            "cm",
            r"expected non-negative counts",
            None,
        ),
        (
            "ClassificationReport.from_confusion_matrix/zero",
            lambda: ClassificationReport.from_confusion_matrix(cm * 0),
            IAE,
            "cm",
            r"all counts are zero",
            None,
        ),
        (
            "ClassificationReport.from_dict/list",
            lambda: ClassificationReport.from_dict(wrong([good])),
            ATE,
            "data",
            r"expected a mapping",
            None,
        ),
        (
            "ClassificationReport.from_dict/missing-key",
            lambda: ClassificationReport.from_dict({k: v for k, v in good.items() if k != "f1"}),
            IAE,
            "data",
            r"expected keys",
            None,
        ),
        (
            "ClassificationReport.from_dict/labels-int",
            lambda: ClassificationReport.from_dict({**good, "labels": [0, 1, 2]}),
            IAE,
            "data['labels']",
            r"expected a list of strings",
            None,
        ),
        (
            "ClassificationReport.from_dict/precision-above-1",
            lambda: ClassificationReport.from_dict({**good, "precision": [1.5, 1.0, 1.0]}),
            IAE,
            "data['precision']",
            r"expected a number in \[0, 1\], found 1.5",
            None,
        ),
        (
            "ClassificationReport.from_dict/recall-nan",
            lambda: ClassificationReport.from_dict({**good, "recall": [float("nan")] * 3}),
            IAE,
            "data['recall']",
            r"expected a number in \[0, 1\]",
            None,
        ),
        (
            "ClassificationReport.from_dict/support-negative",
            lambda: ClassificationReport.from_dict({**good, "support": [1, -2, 1]}),
            IAE,
            "data['support']",
            r"expected a non-negative integer, found -2",
            None,
        ),
        (
            "ClassificationReport.from_dict/lengths",
            lambda: ClassificationReport.from_dict({**good, "f1": [1.0]}),
            IAE,
            "f1",
            r"expected 3 entries \(one per label\), got 1",
            None,
        ),
        (
            "ClassificationReport.from_dict/average-keys",
            lambda: ClassificationReport.from_dict({**good, "macro_avg": {"f1": 1.0}}),
            IAE,
            "data['macro_avg']",
            r"expected a dict with keys",
            None,
        ),
        (
            "ClassificationReport.render/digits-negative",
            lambda: report.render(-1),
            IAE,
            "digits",
            r"expected an integer >= 0",
            None,
        ),
        (
            "ClassificationReport.render/digits-str",
            lambda: report.render(wrong("2")),
            IAE,
            "digits",
            r"expected an integer >= 0",
            None,
        ),
        (
            "top_misclassified/int",
            lambda: fn.top_misclassified(np.eye(3, dtype=int)[y], y, 1),
            ATE,
            "probs_or_logits",
            r"expected a float array of shape \(N, C\)",
            None,
        ),
        (
            "top_misclassified/one-class",
            lambda: fn.top_misclassified(probs[:, :1], y * 0, 1),
            IAE,
            "probs_or_logits",
            r"C >= 2",
            None,
        ),
        (
            "top_misclassified/no-rows",
            lambda: fn.top_misclassified(probs[:0], y[:0], 1),
            IAE,
            "probs_or_logits",
            r"N >= 1",
            None,
        ),
        (
            "top_misclassified/1d",
            lambda: fn.top_misclassified(probs[0], y[:1], 1),
            IAE,
            "probs_or_logits",
            r"expected shape \(N, C\)",
            None,
        ),
        (
            "top_misclassified/nan",
            lambda: fn.top_misclassified(_nan_at(probs), y, 1),
            IAE,
            "probs_or_logits",
            FINITE,
            None,
        ),
        (
            "top_misclassified/y-short",
            lambda: fn.top_misclassified(probs, y[:2], 1),
            IAE,
            "y_true",
            r"expected 4 labels \(one per row of probs_or_logits\), got 2",
            None,
        ),
        (
            "top_misclassified/y-out-of-range",
            lambda: fn.top_misclassified(probs, y + 1, 1),
            IAE,
            "y_true",
            r"expected labels in \[0, 3\)",
            None,
        ),
        (
            "top_misclassified/k-0",
            lambda: fn.top_misclassified(probs, y, 0),
            IAE,
            "k",
            r"expected a positive integer",
            None,
        ),
        (
            "top_misclassified/k-float",
            lambda: fn.top_misclassified(probs, y, wrong(1.0)),
            ATE,
            "k",
            r"expected a positive integer",
            None,
        ),
        (
            "top_misclassified/from_logits-str",
            lambda: fn.top_misclassified(probs, y, 1, from_logits=wrong("no")),
            ATE,
            "from_logits",
            r"expected True, False or None",
            None,
        ),
        (
            "top_misclassified/not-probabilities",
            lambda: fn.top_misclassified(probs * 2, y, 1, from_logits=False),
            IAE,
            "from_logits",
            r"the rows are not probability distributions",
            None,
        ),
        (
            "predict/batch_size-0",
            lambda: fn.predict(SPEC, P, X, 0),
            IAE,
            "batch_size",
            r"expected a positive integer",
            None,
        ),
        (
            "predict/batch_size-float",
            lambda: fn.predict(SPEC, P, X, wrong(2.5)),
            ATE,
            "batch_size",
            r"expected a positive integer",
            None,
        ),
        (
            "predict/x-wide",
            lambda: fn.predict(SPEC, P, np.ones((2, 5))),
            IAE,
            "x",
            r"expected shape \(B, 4\)",
            None,
        ),
        (
            "predict/x-f32",
            lambda: fn.predict(SPEC, P, X.astype(np.float32)),
            ATE,
            "x",
            r"does not match params' dtype",
            None,
        ),
        ("predict/x-empty", lambda: fn.predict(SPEC, P, X[:0]), IAE, "x", r"empty batch", None),
        (
            "predict/params-nan",
            lambda: fn.predict(SPEC, [P[0], {**P[1], "b": np.full(3, np.nan)}], X),
            IAE,
            "params[1]['b']",
            FINITE,
            None,
        ),
    ]
    for fid, call, error, arg, expected, bug in cases:
        yield Case(fid, call, error, arg, expected, bug)


# --------------------------------------------------------------------------- plots


def _plot_cases(tmp: Path) -> Iterator[Case]:
    png = tmp / "plot.png"
    (tmp / "a-file").write_text("x")
    cm = np.eye(3, dtype=int)
    images = np.zeros((4, 4, 4))
    y = np.array([0, 1, 2, 1])
    w = np.zeros((16, 3))
    functions: dict[str, Callable[..., object]] = {
        "plot_loss_curves": lambda path, **kw: plots.plot_loss_curves(
            path, **{"epoch_train_loss": [1.0, 0.5], **kw}
        ),
        "plot_accuracy_curves": lambda path, **kw: plots.plot_accuracy_curves(
            path, **{"epoch_train_accuracy": [0.5, 0.6], **kw}
        ),
        "plot_confusion_matrix": lambda path, **kw: plots.plot_confusion_matrix(
            path, **{"cm": cm, **kw}
        ),
        "plot_sample_grid": lambda path, **kw: plots.plot_sample_grid(
            path, **{"images": images, "y_true": y, "y_pred": y, **kw}
        ),
        "plot_first_layer_weights": lambda path, **kw: plots.plot_first_layer_weights(
            path, **{"W": w, **kw}
        ),
    }
    for name, f in functions.items():
        common: list[tuple[str, Callable[[], object], type[BaseException], str, str]] = [
            (
                "path-txt",
                thunk(f, tmp / "plot.txt"),
                IAE,
                "path",
                r"expected a file name ending in .png",
            ),
            ("path-directory", thunk(f, tmp / "dir.png"), IAE, "path", r"is a directory"),
            ("path-int", thunk(f, 3), ATE, "path", r"expected a str or os.PathLike"),
            ("dpi-0", thunk(f, png, dpi=0), IAE, "dpi", r"expected a positive integer"),
            ("dpi-huge", thunk(f, png, dpi=5000), IAE, "dpi", r"expected at most 1000"),
            ("dpi-float", thunk(f, png, dpi=72.0), ATE, "dpi", r"expected a positive integer"),
        ]
        if name == "plot_accuracy_curves":
            # Drawn before the write fails: one function is enough for the OSError path.
            common.append(
                (
                    "path-under-a-file",
                    thunk(f, tmp / "a-file" / "x.png"),
                    FileExistsError,
                    str(tmp / "a-file"),
                    r"File exists",
                )
            )
        if name != "plot_sample_grid" and name != "plot_first_layer_weights":
            common.append(
                ("title-int", thunk(f, png, title=3), ATE, "title", r"expected a string or None")
            )
        for fid, call, error, arg, expected in common:
            yield Case(f"{name}/{fid}", call, error, arg, expected)
    (tmp / "dir.png").mkdir()
    loss, acc = functions["plot_loss_curves"], functions["plot_accuracy_curves"]
    cmf, grid = functions["plot_confusion_matrix"], functions["plot_sample_grid"]
    wf = functions["plot_first_layer_weights"]
    specific: list[tuple[str, Callable[[], object], type[BaseException], str, str, str | None]] = [
        (
            "plot_loss_curves/empty",
            lambda: loss(png, epoch_train_loss=[]),
            IAE,
            "epoch_train_loss",
            r"empty, expected at least one epoch",
            None,
        ),
        (
            "plot_loss_curves/nan",
            lambda: loss(png, epoch_train_loss=[1.0, np.nan]),
            IAE,
            "epoch_train_loss",
            FINITE,
            None,
        ),
        (
            "plot_loss_curves/2d",
            lambda: loss(png, epoch_train_loss=[[1.0], [2.0]]),
            IAE,
            "epoch_train_loss",
            r"expected a 1-D sequence",
            None,
        ),
        (
            "plot_loss_curves/str",
            lambda: loss(png, epoch_train_loss=["1"]),
            ATE,
            "epoch_train_loss",
            r"expected a sequence of numbers",
            None,
        ),
        (
            "plot_loss_curves/bool",
            lambda: loss(png, epoch_train_loss=[True]),
            ATE,
            "epoch_train_loss",
            r"expected a sequence of numbers",
            None,
        ),
        (
            "plot_loss_curves/test-length",
            lambda: loss(png, epoch_test_loss=[1.0]),
            IAE,
            "epoch_test_loss",
            r"expected 2 values \(one per epoch",
            None,
        ),
        (
            "plot_loss_curves/batch-without-interval",
            lambda: loss(png, batch_losses=[1.0, 2.0]),
            IAE,
            "batch_interval",
            r"required with batch_losses",
            None,
        ),
        (
            "plot_loss_curves/batch_interval-0",
            lambda: loss(png, batch_losses=[1.0], batch_interval=0),
            IAE,
            "batch_interval",
            r"expected a positive integer",
            None,
        ),
        (
            "plot_loss_curves/epoch_steps-length",
            lambda: loss(png, epoch_steps=[3]),
            IAE,
            "epoch_steps",
            r"expected 2 batch counts \(one per epoch",
            None,
        ),
        (
            "plot_loss_curves/epoch_steps-float",
            lambda: loss(png, epoch_steps=[3.0, 3.0]),
            ATE,
            "epoch_steps",
            r"expected integer batch counts",
            None,
        ),
        (
            "plot_loss_curves/batch-inf",
            lambda: loss(png, batch_losses=[np.inf], batch_interval=1),
            IAE,
            "batch_losses",
            FINITE,
            None,
        ),
        (
            "plot_loss_curves/ragged",
            lambda: loss(png, epoch_train_loss=[[1.0], [1.0, 2.0]]),
            IAE,
            "epoch_train_loss",
            r"expected",
            None,
        ),
        (
            "plot_accuracy_curves/above-1",
            lambda: acc(png, epoch_train_accuracy=[0.5, 1.5]),
            IAE,
            "epoch_train_accuracy",
            r"expected fractions in \[0, 1\]",
            None,
        ),
        (
            "plot_accuracy_curves/test-negative",
            lambda: acc(png, epoch_test_accuracy=[0.1, -0.1]),
            IAE,
            "epoch_test_accuracy",
            r"expected fractions in \[0, 1\]",
            None,
        ),
        (
            "plot_accuracy_curves/empty",
            lambda: acc(png, epoch_train_accuracy=[]),
            IAE,
            "epoch_train_accuracy",
            r"expected at least one epoch",
            None,
        ),
        (
            "plot_confusion_matrix/non-square",
            lambda: cmf(png, cm=cm[:2]),
            IAE,
            "cm",
            r"expected a square \(C, C\) matrix, got shape \(2, 3\)",
            None,
        ),
        (
            "plot_confusion_matrix/negative",
            lambda: cmf(png, cm=cm - 1),
            IAE,
            "cm",
            r"expected non-negative values",
            None,
        ),
        (
            "plot_confusion_matrix/bool",
            lambda: cmf(png, cm=cm > 0),
            ATE,
            "cm",
            r"expected a numeric \(C, C\) array",
            None,
        ),
        ("plot_confusion_matrix/nan", lambda: cmf(png, cm=_nan_at(cm)), IAE, "cm", FINITE, None),
        (
            "plot_confusion_matrix/empty",
            lambda: cmf(png, cm=np.zeros((0, 0), int)),
            IAE,
            "cm",
            r"expected a square",
            None,
        ),
        (
            "plot_confusion_matrix/names-count",
            lambda: cmf(png, class_names=["a"]),
            IAE,
            "class_names",
            r"expected 3 names \(one per row of cm\), got 1",
            None,
        ),
        (
            "plot_confusion_matrix/names-str",
            lambda: cmf(png, class_names="abc"),
            ATE,
            "class_names",
            r"expected a sequence of 3 strings",
            None,
        ),
        (
            "plot_confusion_matrix/names-int-item",
            lambda: cmf(png, class_names=["a", 2, "c"]),
            ATE,
            "class_names[1]",
            r"expected a string",
            None,
        ),
        (
            "plot_sample_grid/str-images",
            lambda: grid(png, images=images.astype(str)),
            ATE,
            "images",
            r"expected a numeric array",
            None,
        ),
        (
            "plot_sample_grid/785-pixels",
            lambda: grid(png, images=np.zeros((4, 785))),
            IAE,
            "images",
            r"785 values per image is not a square number",
            None,
        ),
        (
            "plot_sample_grid/4d",
            lambda: grid(png, images=images[..., None]),
            IAE,
            "images",
            r"expected shape \(N, H, W\) or \(N, H\*W\)",
            None,
        ),
        (
            "plot_sample_grid/no-images",
            lambda: grid(png, images=images[:0], y_true=y[:0], y_pred=y[:0]),
            IAE,
            "images",
            r"with N >= 1",
            None,
        ),
        (
            "plot_sample_grid/nan",
            lambda: grid(png, images=_nan_at(images)),
            IAE,
            "images",
            FINITE,
            None,
        ),
        (
            "plot_sample_grid/y_true-short",
            lambda: grid(png, y_true=y[:3]),
            IAE,
            "y_true",
            r"expected 4 labels \(one per image\), got 3",
            None,
        ),
        (
            "plot_sample_grid/y_pred-float",
            lambda: grid(png, y_pred=y / 1.0),
            ATE,
            "y_pred",
            r"expected integer class labels",
            None,
        ),
        (
            "plot_sample_grid/n-0",
            lambda: grid(png, n=0),
            IAE,
            "n",
            r"expected a positive integer",
            None,
        ),
        (
            "plot_first_layer_weights/int",
            lambda: wf(png, W=w.astype(int)),
            ATE,
            "W",
            r"expected a float array \(n_in, H\)",
            None,
        ),
        (
            "plot_first_layer_weights/1d",
            lambda: wf(png, W=w[:, 0]),
            IAE,
            "W",
            r"expected a 2-D \(n_in, H\) weight matrix",
            None,
        ),
        (
            "plot_first_layer_weights/no-units",
            lambda: wf(png, W=w[:, :0]),
            IAE,
            "W",
            r"expected a 2-D \(n_in, H\) weight matrix",
            None,
        ),
        (
            "plot_first_layer_weights/not-square",
            lambda: wf(png, W=np.zeros((15, 2))),
            IAE,
            "W",
            r"15 values per image is not a square number",
            None,
        ),
        ("plot_first_layer_weights/nan", lambda: wf(png, W=_nan_at(w)), IAE, "W", FINITE, None),
        (
            "plot_first_layer_weights/n-0",
            lambda: wf(png, n=0),
            IAE,
            "n",
            r"expected a positive integer",
            None,
        ),
    ]
    for fid, call, error, arg, expected, bug in specific:
        yield Case(fid, call, error, arg, expected, bug)


# --------------------------------------------------------------------------- running


def _file_cases(tmp: Path) -> list[Case]:
    return [*_mnist_io_cases(tmp / "mnist"), *_idx_cases(tmp / "idx"), *_plot_cases(tmp / "p")]


def _mkdirs(tmp: Path) -> Path:
    for sub in ("mnist", "idx", "p"):
        (tmp / sub).mkdir()
    return tmp


CASES = [*_mnist_helper_cases(), *_metrics_cases()]


@pytest.mark.parametrize("case", rows(CASES))
def test_bad_input_is_rejected_clearly(case: Case) -> None:
    check(case)


def _file_rows() -> list[Any]:
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        cases = _file_cases(_mkdirs(Path(scratch)))
    return [
        pytest.param(case.id, id=case.id, marks=param.marks)
        for case, param in zip(cases, rows(cases), strict=True)
    ]


@pytest.fixture(scope="module")
def file_cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    """The rows that need files, built in a temporary directory, by id."""
    root = _mkdirs(tmp_path_factory.mktemp("data-catalogue"))
    return {case.id: case for case in _file_cases(root)}


@pytest.mark.parametrize("case_id", _file_rows())
def test_bad_file_input_is_rejected_clearly(
    case_id: str, file_cases: dict[str, Case], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing here may reach the network, whatever the environment says.
    monkeypatch.setenv("FUNCNN_MNIST_MIRRORS", "http://127.0.0.1:9/")
    check(file_cases[case_id])
