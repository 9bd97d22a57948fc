"""Security: no pickle on load paths, downloads verified before use, no path escapes, umask.

- Loading never unpickles: a source scan (every ``np.load`` passes ``allow_pickle=False``,
  no pickle-family imports), and loads of files carrying a live pickle payload, with
  ``pickle`` itself booby-trapped.
- Downloads: a corrupt or oversized file is rejected by its SHA-256 (or size) before any
  IDX parsing and before anything is written; redirects to ``file://`` are refused.
- Names of files written come from the caller, never from data: temporary files live
  next to their target, zip member names and gzip header names are never used as paths,
  and command-line values cannot steer the default output directory outside ``runs/``.
- Every file written gets ``0o666 & ~umask``, like ``open()`` would give it.
"""

from __future__ import annotations

import ast
import contextlib
import gzip
import io
import os
import pickle
import stat
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import funcnn as fn
from funcnn.cli import main
from funcnn.data import files, idx, mnist
from funcnn.data.mnist import MNIST_FILES, DownloadError, download_mnist
from funcnn.reporting import plots
from funcnn.training.checkpoint import _seal, load_checkpoint, save_checkpoint
from tests.reliability._tally import tally
from verification import load_golden

ROOT = Path(__file__).resolve().parents[2]
VENDORED = ROOT / "data" / "mnist"
LABELS = MNIST_FILES[3]  # t10k-labels-idx1-ubyte.gz: 4.5 kB, the cheapest to download
SOURCES = [ROOT / name for name in ("funcnn", "verification", "benchmarks", "examples")]
PICKLE_MODULES = {
    "pickle",
    "cPickle",
    "_pickle",
    "dill",
    "cloudpickle",
    "shelve",
    "marshal",
    "joblib",
    "jsonpickle",
    "copyreg",
}


# --------------------------------------------------------------------------- no pickle


def pickle_violations(source: str, where: str = "<source>") -> list[str]:
    """Places in ``source`` that could unpickle: imports, np.load without allow_pickle=False."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
            for module in modules:
                if module.split(".")[0] in PICKLE_MODULES:
                    found.append(f"{where}:{node.lineno}: imports {module}")
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg == "allow_pickle" and not (
                    isinstance(kw.value, ast.Constant) and kw.value.value is False
                ):
                    found.append(f"{where}:{node.lineno}: allow_pickle is not False")
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "load":
                owner = func.value
                name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
                if name in ("np", "numpy") and not any(
                    kw.arg == "allow_pickle" for kw in node.keywords
                ):
                    found.append(f"{where}:{node.lineno}: np.load without allow_pickle=False")
                if name in ("torch", *PICKLE_MODULES):
                    found.append(f"{where}:{node.lineno}: {name}.load")
            if isinstance(func, ast.Name) and func.id in ("eval", "exec"):
                found.append(f"{where}:{node.lineno}: {func.id}()")
    return found


def test_the_scanner_finds_what_it_looks_for() -> None:
    bad = (
        "import pickle\nfrom joblib import load\nimport numpy as np\n"
        "np.load('a.npz')\nnp.load('a', allow_pickle=True)\nnp.save('a', x, allow_pickle=flag)\n"
        "torch.load('m.pt')\neval('1')\n"
    )
    assert len(pickle_violations(bad)) == 7
    assert pickle_violations("import numpy as np\nnp.load(f, allow_pickle=False)\n") == []


# Modules that import joblib to run the user's own functions on the user's own workers
# (check_gradients(n_jobs=...)): they send a pickled loss to processes the user started
# and read back arrays, and never load a file; every other rule still applies to them.
SENDS_TO_WORKERS = {
    "verification/engine/evaluators/parallel.py": {"joblib", "cloudpickle", "joblib.externals"},
    "benchmarks/distributed.py": {"joblib"},
}


def test_no_pickle_anywhere_in_the_sources() -> None:
    files = [p for root in SOURCES if root.is_dir() for p in sorted(root.rglob("*.py"))]
    assert len(files) > 20
    violations = []
    for path in files:
        allowed = SENDS_TO_WORKERS.get(path.relative_to(ROOT).as_posix(), set())
        violations += [v for v in pickle_violations(path.read_text(), str(path))
                       if v.rpartition(": imports ")[2] not in allowed]
    assert violations == []
    for name, modules in SENDS_TO_WORKERS.items():  # no stale exception
        found = pickle_violations((ROOT / name).read_text())
        assert {v.rpartition(": imports ")[2] for v in found} == modules, name


class _Trap:
    """Unpickling makes this create a file: the proof that a payload ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (Path.touch, (self.marker,))


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("something tried to unpickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)


def _valid_checkpoint(path: Path) -> Path:
    spec = fn.MLP((3, 4, 2))
    params = fn.init(spec, np.random.default_rng(0))
    opt = fn.sgd(0.1, momentum=0.5)
    return save_checkpoint(
        path, spec=spec, params=params, optimizer=opt, opt_state=opt.init(params)
    )


def test_live_pickle_payloads_are_never_run(tmp_path: Path, no_unpickling: None) -> None:
    good = _valid_checkpoint(tmp_path / "good.npz")
    load_checkpoint(good)  # the normal path needs no pickle at all
    with np.load(good, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    marker = tmp_path / "PAYLOAD-RAN"
    evil = np.array([_Trap(str(marker))], dtype=object)
    for member in ("meta", "params.0000", "params.0003", "opt_state.0001", "extra"):
        buffer = io.BytesIO()
        np.savez(buffer, **{**arrays, member: evil})  # savez pickles objects by default
        path = tmp_path / f"evil-{member}.npz"
        path.write_bytes(_seal(buffer.getvalue()))
        with pytest.raises(fn.DataFormatError, match=str(path)):
            load_checkpoint(path)
        assert not marker.exists()
    golden = tmp_path / "golden"  # JSON and raw bytes: nothing in it can run code
    golden.mkdir()
    (golden / "manifest.json").write_bytes(b"\x80\x04\x95" + pickle_free_payload())
    with pytest.raises(fn.DataFormatError, match="cannot read its manifest"):
        load_golden(golden)
    assert not marker.exists()
    tally("crafted_files", 6)


def pickle_free_payload() -> bytes:
    """Bytes shaped like a pickle stream: a golden manifest is only ever parsed as JSON."""
    return b"cposix\nsystem\n(S'touch PAYLOAD-RAN'\ntR."


# --------------------------------------------------------------------------- downloads


def _labels_bytes() -> bytes:
    return (VENDORED / LABELS.name).read_bytes()


def _recompressed_with_one_label_changed() -> bytes:
    content = bytearray(gzip.decompress(_labels_bytes()))
    content[-1] = (content[-1] + 1) % 10  # still a valid IDX file of digits
    return gzip.compress(bytes(content), mtime=0)


def _cache_missing_labels(directory: Path) -> Path:
    directory.mkdir(parents=True)
    for f in MNIST_FILES:
        if f is not LABELS:
            (directory / f.name).symlink_to(VENDORED / f.name)
    return directory


@pytest.fixture
def parse_spy(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every IDX decode (the parse that must wait for verification)."""
    calls: list[str] = []
    real = idx.decode_idx

    def spy(data: Any, *, source: str = "<bytes>") -> Any:
        calls.append(source)
        return real(data, source=source)

    monkeypatch.setattr(idx, "decode_idx", spy)
    monkeypatch.setattr(mnist, "decode_idx", spy)
    return calls


@pytest.mark.parametrize("content", ["changed-label", "truncated", "not-gzip", "bomb"])
def test_a_bad_download_is_rejected_before_parsing_or_writing(
    tmp_path: Path, parse_spy: list[str], monkeypatch: pytest.MonkeyPatch, content: str
) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    makers: dict[str, Callable[[], bytes]] = {
        "changed-label": _recompressed_with_one_label_changed,
        "truncated": lambda: _labels_bytes()[:-100],
        "not-gzip": lambda: gzip.decompress(_labels_bytes()),
        # ~10 MB of zeros in ~10 kB: under the size cap, far over the content size.
        "bomb": lambda: gzip.compress(b"\x00" * 10_000_000, compresslevel=9),
    }
    body = makers[content]()
    (mirror / LABELS.name).write_bytes(body)
    sizes: list[int | None] = []
    real_gunzip = idx.gunzip

    def gunzip_spy(data: Any, **kwargs: Any) -> Any:
        sizes.append(kwargs.get("max_size"))
        return real_gunzip(data, **kwargs)

    monkeypatch.setattr(files, "gunzip", gunzip_spy)  # what the verification decompresses with
    cache = _cache_missing_labels(tmp_path / "cache")
    before = sorted(p.name for p in cache.iterdir())
    started = time.perf_counter()
    with pytest.raises(DownloadError, match="could not download t10k-labels-idx1-ubyte.gz"):
        download_mnist(cache, mirrors=[mirror.as_uri()], progress=False)
    assert time.perf_counter() - started < 5
    assert parse_spy == [], "IDX content was parsed before its SHA-256 was verified"
    assert all(size == LABELS.nbytes for size in sizes), "decompression was not bounded"
    assert sorted(p.name for p in cache.iterdir()) == before  # nothing written, no .part
    tally("crafted_files")


def test_a_good_download_is_verified_then_written_then_parsed_on_load(
    tmp_path: Path, parse_spy: list[str]
) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / LABELS.name).write_bytes(_labels_bytes())
    cache = _cache_missing_labels(tmp_path / "cache")
    download_mnist(cache, mirrors=[mirror.as_uri()], progress=False)
    assert parse_spy == []
    assert (cache / LABELS.name).read_bytes() == _labels_bytes()
    (_, _), (_, y_test) = fn.load_mnist(cache)
    assert y_test.shape == (10000,) and len(parse_spy) == 4


class _Server:
    """HTTP on 127.0.0.1: a redirect to a local file, and a good file under a hostile name."""

    def __init__(self, target_file: Path, body: bytes) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/redirect/"):
                    self.send_response(302)
                    self.send_header("Location", target_file.as_uri())
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Disposition", 'attachment; filename="../../evil.gz"')
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}
        )
        self.port = self.httpd.server_address[1]
        del server

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def test_redirects_to_local_files_and_hostile_file_names_are_ignored(tmp_path: Path) -> None:
    local = tmp_path / "secret" / LABELS.name
    local.parent.mkdir()
    local.write_bytes(_labels_bytes())  # a valid copy: following the redirect would "work"
    cache = _cache_missing_labels(tmp_path / "work" / "cache")
    with _Server(local, _labels_bytes()) as server:
        with pytest.raises(DownloadError, match="redirect"):
            download_mnist(
                cache, mirrors=[f"http://127.0.0.1:{server.port}/redirect/"], progress=False
            )
        assert not (cache / LABELS.name).exists()
        download_mnist(cache, mirrors=[f"http://127.0.0.1:{server.port}/good/"], progress=False)
    assert (cache / LABELS.name).read_bytes() == _labels_bytes()
    assert sorted(p.name for p in (tmp_path / "work").rglob("*") if "evil" in p.name) == []
    assert not (tmp_path / "evil.gz").exists() and not (tmp_path.parent / "evil.gz").exists()


# --------------------------------------------------------------------------- paths


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def test_temporary_files_live_next_to_their_target_and_are_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moves: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def recording_replace(src: Any, dst: Any, **kwargs: Any) -> None:
        moves.append((Path(src), Path(dst)))
        real_replace(src, dst, **kwargs)

    monkeypatch.setattr(os, "replace", recording_replace)
    monkeypatch.setenv("FUNCNN_MNIST_MIRRORS", "http://127.0.0.1:9/")
    monkeypatch.delenv("FUNCNN_DATA", raising=False)
    _valid_checkpoint(tmp_path / "ckpt.npz")
    plots.plot_accuracy_curves(tmp_path / "new" / "dir" / "acc.png", epoch_train_accuracy=[0.5])
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / LABELS.name).write_bytes(_labels_bytes())
    download_mnist(
        _cache_missing_labels(tmp_path / "cache"), mirrors=[mirror.as_uri()], progress=False
    )
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "--limit",
            "100",
            "--batch-size",
            "50",
            "--epochs",
            "1",
            "--sizes",
            "784,8,10",
            "--no-plots",
            "-q",
            "--out",
            str(out),
        ],
        out=io.StringIO(),
    )
    assert code == 0
    targets = {dst.name for _, dst in moves}
    assert {
        "ckpt.npz",
        "acc.png",
        LABELS.name,
        "checkpoint.npz",
        "history.json",
        "metrics.json",
        "report.txt",
    } <= targets
    for src, dst in moves:
        assert src.parent == dst.parent, (src, dst)
        assert src.name.startswith(f".{dst.name}."), src


def test_archive_member_names_are_never_used_as_paths(tmp_path: Path) -> None:
    good = _valid_checkpoint(tmp_path / "good.npz")
    with np.load(good, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    escape = tmp_path / "escaped"
    names = ["../../escaped-member", str(escape / "absolute"), "params.0000/../../x"]
    buffer = io.BytesIO()
    members: dict[str, Any] = {**arrays, **{name: np.zeros(2) for name in names}}
    np.savez(buffer, **members)
    crafted = tmp_path / "sub" / "crafted.npz"
    crafted.parent.mkdir()
    crafted.write_bytes(_seal(buffer.getvalue()))
    before = _tree(tmp_path.parent)
    with contextlib.suppress(fn.DataFormatError):
        load_checkpoint(crafted)
    # A gzip header may carry a file name too (FNAME); it must be ignored as well.
    named = tmp_path / "sub" / "named.idx.gz"
    payload = idx.encode_idx(np.arange(5, dtype=np.uint8))
    stream = io.BytesIO()
    with gzip.GzipFile(filename="../../escaped-gzip.idx", mode="wb", fileobj=stream, mtime=0) as g:
        g.write(payload)
    named.write_bytes(stream.getvalue())
    before |= {str(named.relative_to(tmp_path.parent))}
    assert fn.read_idx(named).tolist() == [0, 1, 2, 3, 4]
    assert _tree(tmp_path.parent) == before
    assert not escape.exists()


@pytest.mark.parametrize(
    "flags",
    [
        ["--activation", "../../../escaped"],
        ["--sizes", "784,../../escaped,10"],
        ["--optimizer", "../../escaped"],
        ["--activation", "/tmp/escaped-abs"],
    ],
    ids=["activation", "sizes", "optimizer", "absolute"],
)
def test_flag_values_cannot_steer_the_default_output_directory(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    work = tmp_path / "a" / "b" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setenv("FUNCNN_MNIST_MIRRORS", "http://127.0.0.1:9/")
    before = _tree(tmp_path)
    code = main(
        ["train", "--limit", "100", "--epochs", "1", "--no-plots", "-q", *flags], out=io.StringIO()
    )
    assert code == 2, capsys.readouterr().err
    assert _tree(tmp_path) == before
    assert not Path("/tmp/escaped-abs").exists()


# --------------------------------------------------------------------------- umask


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask() -> Iterator[Any]:
    """Set the process umask for the test, restoring the original afterwards."""
    original = os.umask(0o022)
    os.umask(original)

    def use(mask: int) -> None:
        os.umask(mask)

    try:
        yield use
    finally:
        os.umask(original)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002, 0o027], ids=oct)
def test_library_writers_use_the_umask(
    tmp_path: Path, umask: Any, mask: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    umask(mask)
    files = [
        _valid_checkpoint(tmp_path / "ckpt.npz"),
        plots.plot_accuracy_curves(tmp_path / "plots" / "acc.png", epoch_train_accuracy=[0.5]),
    ]
    fn.write_idx(tmp_path / "a.idx.gz", np.arange(3, dtype=np.uint8))
    files.append(tmp_path / "a.idx.gz")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / LABELS.name).write_bytes(_labels_bytes())
    cache = _cache_missing_labels(tmp_path / "cache")
    monkeypatch.setenv("FUNCNN_MNIST_MIRRORS", "http://127.0.0.1:9/")
    download_mnist(cache, mirrors=[mirror.as_uri()], progress=False)
    files.append(cache / LABELS.name)
    for path in files:
        assert _mode(path) == 0o666 & ~mask, f"{path}: {oct(_mode(path))} with umask {oct(mask)}"
    assert _mode(tmp_path / "plots") == 0o777 & ~mask  # created by the plot function


def test_command_line_outputs_use_the_umask(
    tmp_path: Path, umask: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FUNCNN_MNIST_MIRRORS", "http://127.0.0.1:9/")
    monkeypatch.delenv("FUNCNN_DATA", raising=False)
    mask = 0o027
    umask(mask)
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "--limit",
            "60",
            "--batch-size",
            "30",
            "--epochs",
            "1",
            "--sizes",
            "784,4,10",
            "-q",
            "--no-plots",
            "--out",
            str(out),
        ],
        out=io.StringIO(),
    )
    assert code == 0  # the plots are written by funcnn.reporting.plots, checked above
    written = sorted(out.iterdir())
    names = {p.name for p in written}
    assert names == {"checkpoint.npz", "history.json", "metrics.json", "report.txt"}
    for path in written:
        assert _mode(path) == 0o666 & ~mask, f"{path.name}: {oct(_mode(path))}"
    assert _mode(out) == 0o777 & ~mask
