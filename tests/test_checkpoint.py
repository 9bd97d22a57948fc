"""Tests for funcnn.training.checkpoint: round trips, exact resume, atomic writes, corruption."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import funcnn as fn
from funcnn.training.checkpoint import Checkpoint, _seal, load_checkpoint, save_checkpoint
from funcnn.training.loop import fit
from funcnn.training.optimizers import adam, sgd
from funcnn.training.schedules import Cosine

SPEC = fn.MLP((5, 7, 3), "sigmoid")


def _data(n: int = 30) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 5)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)


def _trained(tmp_path: Path) -> tuple[Path, Any]:
    x, y = _data()
    opt = adam(Cosine(0.01, total_steps=50), weight_decay=0.01)
    rng = np.random.default_rng(5)
    params, state, history = fit(
        SPEC,
        fn.init(SPEC, np.random.default_rng(0), dtype=np.float32),
        opt,
        x,
        y,
        epochs=2,
        batch_size=7,
        rng=rng,
        log_every=2,
    )
    path = save_checkpoint(
        tmp_path / "ckpt.npz",
        spec=SPEC,
        params=params,
        optimizer=opt,
        opt_state=state,
        rng=rng,
        history=history,
        metadata={"run": "test", "epoch": 2, "nested": [1, {"a": None}]},
    )
    return path, (params, opt, state, rng, history)


def _equal_trees(a: Any, b: Any) -> None:
    assert fn.tree_structure(a) == fn.tree_structure(b)
    for p, q in zip(fn.tree_leaves(a), fn.tree_leaves(b), strict=True):
        assert p.dtype == q.dtype
        np.testing.assert_array_equal(p, q)


def test_round_trip_everything(tmp_path: Path) -> None:
    path, (params, opt, state, rng, history) = _trained(tmp_path)
    ckpt = load_checkpoint(path)
    assert isinstance(ckpt, Checkpoint)
    assert ckpt.spec == SPEC
    _equal_trees(ckpt.params, params)
    assert ckpt.optimizer == opt
    assert ckpt.opt_state is not None
    _equal_trees(ckpt.opt_state, state)
    assert ckpt.history == history
    assert ckpt.metadata == {"run": "test", "epoch": 2, "nested": [1, {"a": None}]}
    restored = ckpt.rng()
    assert restored.bit_generator.state == rng.bit_generator.state
    np.testing.assert_array_equal(restored.permutation(100), rng.permutation(100))
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz"]  # no temporary files left


def test_the_file_holds_exactly_the_members_the_format_defines(tmp_path: Path) -> None:
    # numpy 2.0/2.1's np.savez(..., allow_pickle=False) stored a stray "allow_pickle"
    # member; the CI floor job runs this on numpy 2.0.
    path, (params, _, state, _, _) = _trained(tmp_path)
    n_params, n_state = len(fn.tree_leaves(params)), len(fn.tree_leaves(state))
    expected = {"meta.npy"}
    expected |= {f"params.{i:04d}.npy" for i in range(n_params)}
    expected |= {f"opt_state.{i:04d}.npy" for i in range(n_state)}
    with zipfile.ZipFile(path) as archive:
        assert set(archive.namelist()) == expected
        assert len(archive.namelist()) == len(expected)  # no duplicate member either
    with np.load(path, allow_pickle=False) as npz:  # plain .npy members, nothing pickled
        assert all(npz[name].dtype != object for name in npz.files)


def test_minimal_checkpoint_and_per_layer_activations(tmp_path: Path) -> None:
    spec = fn.MLP((3, 4, 4, 2), ("relu", "tanh"))
    params = fn.init(spec, np.random.default_rng(0))
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "m.npz", spec=spec, params=params))
    assert ckpt.spec == spec and ckpt.optimizer is None and ckpt.opt_state is None
    assert ckpt.history is None and ckpt.rng_state is None and ckpt.metadata == {}
    _equal_trees(ckpt.params, params)
    with pytest.raises(fn.InvalidArgumentError, match="no rng state"):
        ckpt.rng()


@pytest.mark.parametrize("bit_generator", ["PCG64", "MT19937", "Philox", "SFC64", "PCG64DXSM"])
def test_rng_state_of_every_bit_generator(tmp_path: Path, bit_generator: str) -> None:
    rng = np.random.Generator(getattr(np.random, bit_generator)(42))
    rng.random(3)
    params = fn.init(SPEC, np.random.default_rng(0))
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "r.npz", spec=SPEC, params=params, rng=rng))
    np.testing.assert_array_equal(ckpt.rng().random(5), rng.random(5))


def test_resume_from_checkpoint_is_bit_identical(tmp_path: Path) -> None:
    x, y = _data()
    opt = sgd(0.1, momentum=0.9)
    p0 = fn.init(SPEC, np.random.default_rng(0), dtype=np.float32)
    kw: dict[str, Any] = {"batch_size": 4, "x_test": x[:9], "y_test": y[:9], "log_every": 3}
    straight = fit(SPEC, p0, opt, x, y, epochs=5, rng=np.random.default_rng(9), **kw)

    # Interrupted after epoch 2, with the checkpoint written by the epoch-end callback.
    def save(event: Any) -> None:
        if isinstance(event, fn.EpochEnd) and event.epoch == 2:
            save_checkpoint(
                tmp_path / "c.npz",
                spec=SPEC,
                params=event.params,
                optimizer=opt,
                opt_state=event.opt_state,
                rng=rng,
                history=event.history,
            )

    rng = np.random.default_rng(9)
    fit(SPEC, p0, opt, x, y, epochs=3, rng=rng, callback=save, **kw)
    ckpt = load_checkpoint(tmp_path / "c.npz")
    assert ckpt.optimizer is not None and ckpt.history is not None
    resumed = fit(
        SPEC,
        ckpt.params,
        ckpt.optimizer,
        x,
        y,
        epochs=3,
        rng=ckpt.rng(),
        opt_state=ckpt.opt_state,
        history=ckpt.history,
        **kw,
    )
    _equal_trees(resumed[0], straight[0])
    _equal_trees(resumed[1], straight[1])
    assert resumed[2].epoch_train_loss == straight[2].epoch_train_loss
    assert resumed[2].batch_losses == straight[2].batch_losses
    assert resumed[2].epoch_test_accuracy == straight[2].epoch_test_accuracy


def test_files_get_the_umask_permissions(tmp_path: Path) -> None:
    params = fn.init(SPEC, np.random.default_rng(0))
    old = os.umask(0o027)
    try:
        path = save_checkpoint(tmp_path / "p.npz", spec=SPEC, params=params)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640


def test_failed_save_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch: Any) -> None:
    path, _ = _trained(tmp_path)
    before = path.read_bytes()
    params = fn.init(SPEC, np.random.default_rng(1))
    with pytest.raises(fn.InvalidArgumentError, match="metadata: not JSON-serialisable"):
        save_checkpoint(path, spec=SPEC, params=params, metadata={"x": object()})

    def crash(src: Any, dst: Any) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk on fire"):
        save_checkpoint(path, spec=SPEC, params=params)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz"]


_WRITER = """
import sys, numpy as np, funcnn as fn
from funcnn.training.checkpoint import save_checkpoint
spec = fn.MLP((784, 64, 10))
params = fn.init(spec, np.random.default_rng(0), dtype=np.float32)
i = 0
print("ready", flush=True)
while True:
    i += 1
    save_checkpoint(sys.argv[1], spec=spec, params=params, metadata={"i": i})
"""


def test_sigkill_during_saves_never_leaves_a_broken_checkpoint(tmp_path: Path) -> None:
    target = tmp_path / "k.npz"
    spec = fn.MLP((784, 64, 10))
    save_checkpoint(
        target, spec=spec, params=fn.init(spec, np.random.default_rng(0), dtype=np.float32)
    )
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(target)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0.02, 0.15)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        ckpt = load_checkpoint(target)  # always a complete checkpoint
        seen.add(ckpt.metadata.get("i"))
    assert len(seen) > 1  # the writer really was overwriting the file


def _corrupt_cases(data: bytes) -> list[tuple[str, bytes]]:
    cases = [("empty", b""), ("truncated", data[: len(data) // 2]), ("tail cut", data[:-1])]
    for pos in (0, 10, 200, len(data) // 2, len(data) - 100, len(data) - 70, len(data) - 1):
        flipped = bytearray(data)
        flipped[pos] ^= 0x20
        cases.append((f"flip {pos}", bytes(flipped)))
    return cases


def test_corrupt_or_truncated_files_fail_clearly(tmp_path: Path) -> None:
    path, _ = _trained(tmp_path)
    data = path.read_bytes()
    bad = tmp_path / "bad.npz"
    for name, content in _corrupt_cases(data):
        bad.write_bytes(content)
        with pytest.raises(fn.DataFormatError, match=str(bad)) as info:
            load_checkpoint(bad)
        assert isinstance(info.value, ValueError), name


def test_other_files_are_rejected(tmp_path: Path) -> None:
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.zeros(3))
    with pytest.raises(fn.DataFormatError, match="not a funcnn checkpoint"):
        load_checkpoint(plain)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(fn.DataFormatError, match="text.npz"):
        load_checkpoint(text)
    with pytest.raises(fn.InvalidArgumentError, match="cannot read checkpoint .*missing.npz"):
        load_checkpoint(tmp_path / "missing.npz")
    with pytest.raises(fn.InvalidArgumentError, match="cannot read checkpoint"):
        load_checkpoint(tmp_path)


def _sealed(tmp_path: Path, **arrays: Any) -> Path:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path = tmp_path / "crafted.npz"
    path.write_bytes(_seal(buffer.getvalue()))
    return path


def test_pickled_or_inconsistent_content_is_rejected(tmp_path: Path) -> None:
    # A correctly sealed file must still never unpickle anything.
    path = _sealed(tmp_path, meta=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(fn.DataFormatError, match="crafted.npz"):
        load_checkpoint(path)
    good, _ = _trained(tmp_path)
    with np.load(good) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = bytes(arrays["meta"]).decode()
    for old, new, match in [
        ('"version": 1', '"version": 99', "format version 99"),
        ('"sizes": [5, 7, 3]', '"sizes": [5, 8, 3]', r"expected shape \(5, 8\)"),
        ('"name": "adam"', '"name": "sgd"', "bad arguments for optimizer 'sgd'"),
    ]:
        changed = dict(arrays, meta=np.frombuffer(meta.replace(old, new).encode(), dtype=np.uint8))
        with pytest.raises(fn.DataFormatError, match=match):
            load_checkpoint(_sealed(tmp_path, **changed))
    missing = {k: v for k, v in arrays.items() if k != "params.0001"}
    with pytest.raises(fn.DataFormatError, match="params.0001"):
        load_checkpoint(_sealed(tmp_path, **missing))
    nan = dict(arrays)
    nan["params.0000"] = np.full_like(arrays["params.0000"], np.nan)
    with pytest.raises(fn.DataFormatError, match="expected finite values"):
        load_checkpoint(_sealed(tmp_path, **nan))


def test_a_killed_writers_temporary_file_is_removed_by_the_next_save(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    orphan = tmp_path / f".c.npz.{int(dead.stdout)}.abcd.tmp"
    orphan.write_bytes(b"partial")
    alive = tmp_path / f".c.npz.{os.getppid()}.efgh.tmp"  # a live writer's file stays
    alive.write_bytes(b"in progress")
    unrelated = tmp_path / ".other.npz.1.x.tmp"
    unrelated.write_bytes(b"")
    save_checkpoint(tmp_path / "c.npz", spec=SPEC, params=fn.init(SPEC, np.random.default_rng(0)))
    assert not orphan.exists()
    assert alive.exists() and unrelated.exists()


def test_path_types_and_crafted_json(tmp_path: Path) -> None:
    params = fn.init(SPEC, np.random.default_rng(0))
    for bad in (3, None):
        with pytest.raises(fn.ArgumentTypeError, match="path: expected a str or os.PathLike"):
            save_checkpoint(bad, spec=SPEC, params=params)  # type: ignore[arg-type]
        with pytest.raises(fn.ArgumentTypeError, match="path: expected a str or os.PathLike"):
            load_checkpoint(bad)  # type: ignore[arg-type]
    deep = np.frombuffer(("[" * 100_000 + "]" * 100_000).encode(), dtype=np.uint8)
    with pytest.raises(fn.DataFormatError, match="invalid checkpoint"):
        load_checkpoint(_sealed(tmp_path, meta=deep))


def test_bad_save_arguments(tmp_path: Path) -> None:
    params = fn.init(SPEC, np.random.default_rng(0))
    opt = sgd(0.1, momentum=0.9)
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"opt_state": opt.init(params)}, ValueError, "opt_state: saving an optimizer state needs"),
        (
            {"optimizer": opt, "opt_state": sgd(0.1).init(params)},
            ValueError,
            "state: expected keys",
        ),
        ({"optimizer": "sgd"}, TypeError, "optimizer: expected a funcnn Optimizer"),
        ({"rng": 3}, TypeError, "rng: expected a numpy.random.Generator"),
        ({"history": {}}, TypeError, "history: expected a History"),
        ({"metadata": [1]}, TypeError, "metadata: expected a dict"),
        ({"params": params[:1]}, ValueError, "params: spec"),
    ]
    for change, error, match in cases:
        kwargs: dict[str, Any] = {"spec": SPEC, "params": params, **change}
        with pytest.raises(error, match=match):
            save_checkpoint(tmp_path / "x.npz", **kwargs)
    with pytest.raises(fn.InvalidArgumentError, match="path: directory .* does not exist"):
        save_checkpoint(tmp_path / "no" / "x.npz", spec=SPEC, params=params)
    with pytest.raises(fn.InvalidArgumentError, match="is a directory"):
        save_checkpoint(tmp_path, spec=SPEC, params=params)
    assert not (tmp_path / "x.npz").exists()
