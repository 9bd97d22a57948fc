"""Crash safety: SIGKILL mid-write, flipped and truncated bytes, bit-exact resume after kills.

The kill tests use a zygote (``_writer``): one Python process that imported funcnn once
and forks a fresh writer per kill, so dozens of kills take seconds. Writers save
checkpoints whose every bit is a function of their number (``_writer.payload``), so
after each kill the file on disk is checked bit for bit, not just "loads".

``FUNCNN_RELIABILITY_KILLS`` sets the number of random kills (default 24; the soak run
uses 300), ``FUNCNN_RELIABILITY_SEED`` the seed of the kill points and positions. Each
of those kills is synchronised with its writer (it stops at the chosen point of a save
and says so first), so their outcome does not depend on timing or on the machine's load.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import funcnn as fn
from funcnn.training.checkpoint import Checkpoint, _seal, load_checkpoint, save_checkpoint
from funcnn.training.loop import History
from funcnn.training.optimizers import adam
from tests.reliability import _writer
from tests.reliability._tally import tally

ROOT = Path(__file__).resolve().parents[2]
SEED = int(os.environ.get("FUNCNN_RELIABILITY_SEED", "0"))
KILLS = int(os.environ.get("FUNCNN_RELIABILITY_KILLS", "24"))
TEMP_NAME = r"^\.{name}\..+\.tmp$"


class Zygote:
    """The ``_writer`` process: fork writers, kill them, read their reports."""

    def __init__(self) -> None:
        env = dict(os.environ)
        env.update(
            OPENBLAS_NUM_THREADS="1",
            OMP_NUM_THREADS="1",
            MKL_NUM_THREADS="1",
            FUNCNN_MNIST_MIRRORS="http://127.0.0.1:9/",  # never the network
            PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
        )
        env.pop("FUNCNN_DATA", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability._writer"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.pending: list[str] = []
        self.children: set[int] = set()
        self.writes = 0
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.expect("ready", timeout=120)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def expect(self, pattern: str, timeout: float = 300.0) -> str:
        """The first line matching ``pattern`` (``wrote`` reports are counted, not kept)."""
        regex = re.compile(pattern)
        for line in self.pending:
            if regex.match(line):
                self.pending.remove(line)
                return line
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"no line matching {pattern!r} within {timeout} s; pending {self.pending[-5:]}"
                )
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if regex.match(line):
                return line
            if line.startswith("wrote "):
                self.writes += 1
            else:
                self.pending.append(line)

    def fork(self, command: str) -> int:
        self.send(command)
        pid = int(self.expect(r"child \d+").split()[1])
        self.children.add(pid)
        return pid

    def kill(self, pid: int) -> None:
        os.kill(pid, signal.SIGKILL)
        self.reap(pid)

    def reap(self, pid: int) -> None:
        self.send(f"reap {pid}")
        self.expect(rf"reaped {pid}$")
        self.children.discard(pid)

    def drain(self) -> None:
        """Forget reports of children that are gone."""
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            self.writes += line.startswith("wrote ")
        self.pending.clear()

    def close(self) -> None:
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError, AssertionError):
                self.kill(pid)
        try:
            self.send("quit")
            self.proc.wait(timeout=30)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            assert self.proc.stdin is not None and self.proc.stdout is not None
            self.proc.stdin.close()
            self.reader.join(timeout=30)
            self.proc.stdout.close()


@pytest.fixture(scope="module")
def zygote() -> Iterator[Zygote]:
    z = Zygote()
    try:
        yield z
    finally:
        z.close()


def _assert_is_checkpoint(ckpt: Checkpoint, i: int) -> None:
    """``ckpt`` is checkpoint number ``i`` of ``_writer.payload``, bit for bit."""
    assert ckpt.metadata == {"i": i}
    got = fn.tree_leaves((ckpt.params, ckpt.opt_state))
    want = _writer.expected_leaves(i)
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()
    assert ckpt.rng_state == np.random.default_rng(i).bit_generator.state


def _leftovers(directory: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name not in keep)


def _assert_leftovers_are_hidden_temporaries(directory: Path, target: Path) -> list[str]:
    """Anything besides ``target`` is a hidden ``.NAME.*.tmp`` file: never a ``*.npz``."""
    rest = _leftovers(directory, {target.name})
    pattern = TEMP_NAME.format(name=re.escape(target.name))
    assert all(re.match(pattern, name) for name in rest), rest
    assert sorted(directory.glob("*.npz")) == [target]
    return rest


# --------------------------------------------------------------------------- kills


@pytest.mark.parametrize("phase", _writer.PHASES)
def test_sigkill_at_each_phase_of_a_write(zygote: Zygote, tmp_path: Path, phase: str) -> None:
    """Killed at a known point, the file holds the old checkpoint, or the new one once renamed."""
    target = tmp_path / "ckpt.npz"
    save_checkpoint(target, **_writer.payload(1))
    pid = zygote.fork(f"stop {target} 2 {phase}")
    zygote.expect(f"at {phase}$")
    zygote.kill(pid)
    _assert_is_checkpoint(load_checkpoint(target), 2 if phase == "dirsync" else 1)
    rest = _assert_leftovers_are_hidden_temporaries(tmp_path, target)
    if phase in ("write", "fsync", "replace"):
        assert len(rest) == 1  # the dead writer's temporary file
    else:
        assert rest == []
    tally("kills")
    tally("kills_mid_write", int(phase in ("write", "fsync", "replace")))
    tally("intact_loads")


def test_the_next_save_removes_a_killed_writers_temporary_file(
    zygote: Zygote, tmp_path: Path
) -> None:
    target = tmp_path / "ckpt.npz"
    save_checkpoint(target, **_writer.payload(1))
    pid = zygote.fork(f"stop {target} 2 write")
    zygote.expect("at write$")
    zygote.kill(pid)
    assert len(_leftovers(tmp_path, {target.name})) == 1
    save_checkpoint(target, **_writer.payload(3))
    _assert_is_checkpoint(load_checkpoint(target), 3)
    assert _leftovers(tmp_path, {target.name}) == [], "orphaned temporary files accumulate"


def kill_schedule(kills: int, seed: int) -> list[tuple[int, str, float]]:
    """Where each of ``kills`` writers is killed: ``(n, phase, fraction)``, at ``phase`` of
    its ``n``-th save (0-based; with ``write``, after ``fraction`` of the bytes), drawn
    from ``seed``. The phases are dealt in shuffled rounds, so any 5 consecutive kills
    cover all of :data:`_writer.PHASES` (mid-write and after a rename), and ``n`` is 1 or
    more for most kills, so writers get to finish saves before they die."""
    rng = np.random.default_rng(seed)
    phases: list[str] = []
    while len(phases) < kills:
        phases += [str(p) for p in rng.permutation(_writer.PHASES)]
    return [(int(rng.integers(0, 4)), phase, float(rng.uniform(0.0, 1.0)))
            for phase in phases[:kills]]


def run_kill_loop(zygote: Zygote, directory: Path, kills: int, seed: int) -> dict[str, int]:
    """Kill ``kills`` looping writers at seeded points of their saves; check the file after
    every kill.

    Each kill is synchronised with its writer: the writer stops at the chosen point and
    says so, and only then is it killed, so what is on disk afterwards is known exactly
    (which checkpoint, which temporary files), whatever the machine's load.
    """
    target = directory / "ckpt.npz"
    save_checkpoint(target, **_writer.payload(0))
    last = 0
    stats = {"kills": 0, "mid_write": 0, "advanced": 0}
    for k, (n, phase, fraction) in enumerate(kill_schedule(kills, seed), start=1):
        start = k * 10_000  # writer k saves checkpoints start, start + 1, ...
        pid = zygote.fork(f"loop {target} {start} {n} {phase} {fraction!r}")
        zygote.expect(f"at {phase}$")
        zygote.kill(pid)
        ckpt = load_checkpoint(target)  # never raises: the file is always complete
        renamed = phase == "dirsync"  # the rename of save n happened, then the kill
        mid_write = phase in ("write", "fsync", "replace")
        want = start + n if renamed else start + n - 1 if n else last
        assert int(ckpt.metadata["i"]) == want, (k, n, phase, ckpt.metadata, last)
        _assert_is_checkpoint(ckpt, want)
        rest = _assert_leftovers_are_hidden_temporaries(directory, target)
        # A writer's first save removes what killed writers left; the killed one leaves
        # its own temporary file exactly when it was killed between creating and renaming it.
        assert len(rest) == int(mid_write), (k, n, phase, rest)
        if mid_write:
            assert f".{target.name}.{pid}." in rest[0], (pid, rest)
        stats["kills"] += 1
        stats["advanced"] += want != last
        stats["mid_write"] += mid_write
        last = want
        zygote.drain()
    return stats


def test_random_sigkills_during_saves_never_lose_the_checkpoint(
    zygote: Zygote, tmp_path: Path
) -> None:
    stats = run_kill_loop(zygote, tmp_path, KILLS, SEED)
    tally("kills", stats["kills"])
    tally("kills_mid_write", stats["mid_write"])
    tally("intact_loads", stats["kills"])
    # The schedule puts some kills mid-write and some after completed saves.
    assert stats["advanced"] > 0, stats
    assert stats["mid_write"] > 0 or KILLS < 5, stats


# --------------------------------------------------------------------------- resume


def _same_run(a: Checkpoint, b: Checkpoint) -> None:
    """Bit-identical training state; histories equal except wall-clock epoch times."""
    for p, q in zip(
        fn.tree_leaves((a.params, a.opt_state)),
        fn.tree_leaves((b.params, b.opt_state)),
        strict=True,
    ):
        assert p.dtype == q.dtype and p.tobytes() == q.tobytes()
    assert a.rng_state == b.rng_state
    assert a.history is not None and b.history is not None
    for field in (
        "epoch_train_loss",
        "epoch_train_accuracy",
        "epoch_test_loss",
        "epoch_test_accuracy",
        "epoch_steps",
        "batch_losses",
        "batch_interval",
    ):
        assert getattr(a.history, field) == getattr(b.history, field), field


def test_training_killed_again_and_again_resumes_bit_for_bit(
    zygote: Zygote, tmp_path: Path
) -> None:
    """fit with a checkpoint per epoch, killed repeatedly, resumed each time: same bits."""
    epochs = 8
    rng = np.random.default_rng(SEED + 1)
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    reference.mkdir()
    killed.mkdir()
    pid = zygote.fork(f"train {reference} {epochs}")
    zygote.expect("done$", timeout=300)
    zygote.reap(pid)
    zygote.drain()

    kills = 0
    for attempt in range(6):
        done = 0
        if (killed / "ckpt.npz").exists():
            history = load_checkpoint(killed / "ckpt.npz").history
            done = 0 if history is None else history.epochs
        if done >= epochs - 2:
            break
        pid = zygote.fork(f"train {killed} {epochs}")
        if attempt % 2 == 0:
            # Right after the checkpoint of a chosen epoch: the next epoch is under way.
            zygote.expect(rf"saved {done + int(rng.integers(1, 3))}$|done$", timeout=300)
        else:
            time.sleep(float(rng.uniform(0.01, 0.08)))  # anywhere, even inside a save
        zygote.kill(pid)
        zygote.drain()
        kills += 1
        load_checkpoint(killed / "ckpt.npz")  # whatever is on disk is complete
    pid = zygote.fork(f"train {killed} {epochs}")
    zygote.expect("done$", timeout=300)
    zygote.reap(pid)
    zygote.drain()
    a, b = load_checkpoint(reference / "ckpt.npz"), load_checkpoint(killed / "ckpt.npz")
    assert b.history is not None and b.history.epochs == epochs
    _same_run(a, b)
    assert kills >= 2
    tally("kills_training", kills)
    tally("resumes_bit_exact")


def test_cli_run_killed_after_an_epoch_resumes_bit_for_bit(zygote: Zygote, tmp_path: Path) -> None:
    """``funcnn train`` SIGKILLed after its epoch-1 checkpoint, then ``--resume``d."""
    args = "train --limit 600 --batch-size 1 --sizes 784,32,10 --epochs 3 --no-plots -q"
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    ref_pid = zygote.fork(f"cli {args} --out {reference}")  # runs alongside
    pid = zygote.fork(f"cli {args} --out {killed}")
    checkpoint = killed / "checkpoint.npz"
    epochs_at_kill = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if checkpoint.exists():
            history = load_checkpoint(checkpoint).history
            epochs_at_kill = 0 if history is None else history.epochs
            if epochs_at_kill >= 1:
                break
        time.sleep(0.002)
    zygote.kill(pid)
    assert 1 <= epochs_at_kill < 3, "the run was not interrupted between epochs"
    zygote.expect(rf"exit {ref_pid} 0$", timeout=300)
    zygote.reap(ref_pid)
    resumed = zygote.fork(f"cli train --resume {checkpoint} --no-plots -q")
    zygote.expect(rf"exit {resumed} 0$", timeout=300)
    zygote.reap(resumed)
    zygote.drain()
    _same_run(load_checkpoint(reference / "checkpoint.npz"), load_checkpoint(checkpoint))
    tally("kills_training")
    tally("resumes_bit_exact")


def test_ctrl_c_during_training_exits_130_with_one_line_and_an_intact_checkpoint(
    zygote: Zygote, tmp_path: Path
) -> None:
    """SIGINT (Ctrl-C) in ``funcnn train``: exit status 130, one line, checkpoint complete."""
    out, err = tmp_path / "run", tmp_path / "stderr.txt"
    pid = zygote.fork(
        f"cli-stderr {err} train --limit 3000 --batch-size 1 --sizes 784,16,10 --epochs 50 "
        f"--no-plots -q --out {out}"
    )
    checkpoint = out / "checkpoint.npz"
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(pid, signal.SIGINT)
    zygote.expect(rf"exit {pid} 130$", timeout=60)
    zygote.reap(pid)
    assert err.read_text().splitlines() == [
        "funcnn train: interrupted; the last completed epoch is saved, continue with: "
        f"funcnn train --resume {checkpoint}"
    ]
    ckpt = load_checkpoint(checkpoint)
    assert ckpt.history is not None and 1 <= ckpt.history.epochs < 50
    history = out / "history.json"  # written just after the checkpoint: may lag by one
    if history.exists():
        epochs = len(History.from_json(history.read_text()).epoch_train_loss)
        assert ckpt.history.epochs - 1 <= epochs <= ckpt.history.epochs
    tally("intact_loads")


# --------------------------------------------------------------------------- corruption


def _small_checkpoint(directory: Path) -> Path:
    spec = fn.MLP((5, 7, 3), ("tanh",))
    params = fn.init(spec, np.random.default_rng(0), dtype=np.float32)
    opt = adam(1e-3)
    history = History((1.0, 0.5), (0.25, 0.5), (), (), (0.1, 0.1), (2, 2), (0.7,), 4)
    return save_checkpoint(
        directory / "small.npz",
        spec=spec,
        params=params,
        optimizer=opt,
        opt_state=opt.init(params),
        rng=np.random.default_rng(1),
        history=history,
        metadata={"note": "corruption target"},
    )


def _write_new(path: Path, data: bytes) -> None:
    # A new file each time: rewriting one in place makes ext4 flush it (auto_da_alloc),
    # which costs milliseconds per write.
    path.unlink(missing_ok=True)
    path.write_bytes(data)


def _assert_rejected(path: Path) -> None:
    with pytest.raises(fn.DataFormatError) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_every_flipped_byte_is_detected(tmp_path: Path) -> None:
    """A one-byte change anywhere in the file, any bit pattern: DataFormatError naming it."""
    data = _small_checkpoint(tmp_path).read_bytes()
    rng = np.random.default_rng(SEED + 2)
    bad = tmp_path / "flipped.npz"
    masks = rng.integers(1, 256, size=len(data))
    for position, mask in enumerate(masks):
        corrupted = bytearray(data)
        corrupted[position] ^= int(mask)
        _write_new(bad, bytes(corrupted))
        _assert_rejected(bad)
    tally("bytes_flipped", len(data))


def test_every_truncation_and_extension_is_detected(tmp_path: Path) -> None:
    data = _small_checkpoint(tmp_path).read_bytes()
    bad = tmp_path / "cut.npz"
    for length in range(len(data)):
        _write_new(bad, data[:length])
        _assert_rejected(bad)
    variants = [
        data + b"\x00",
        data + data,
        b"\x00" + data,
        data[:100] + data[101:],
        data[: len(data) // 2] + b"\x00" + data[len(data) // 2 :],
    ]
    for content in variants:
        _write_new(bad, content)
        _assert_rejected(bad)
    tally("truncations", len(data) + len(variants))


def test_flipped_bytes_in_a_large_checkpoint_are_detected(tmp_path: Path) -> None:
    target = tmp_path / "large.npz"
    save_checkpoint(target, **_writer.payload(5))
    data = target.read_bytes()
    rng = np.random.default_rng(SEED + 3)
    bad = tmp_path / "bad.npz"
    positions = rng.choice(len(data), size=20, replace=False)
    for position in positions:
        corrupted = bytearray(data)
        corrupted[int(position)] ^= 1 << int(rng.integers(0, 8))
        _write_new(bad, bytes(corrupted))
        _assert_rejected(bad)
    tally("bytes_flipped", len(positions))


def test_resealed_corruption_fails_cleanly_or_loads(tmp_path: Path) -> None:
    """Corruption the seal cannot see (seal recomputed): the decoder itself must hold."""
    data = _small_checkpoint(tmp_path).read_bytes()
    zipped = data[: -(2 + 14 + 64)] + b"\x00\x00"  # the zip without its seal comment
    rng = np.random.default_rng(SEED + 4)
    positions = rng.choice(len(zipped) - 22, size=300, replace=False)
    bad = tmp_path / "resealed.npz"
    loaded = 0
    for position in positions:
        corrupted = bytearray(zipped)
        corrupted[int(position)] ^= int(rng.integers(1, 256))
        _write_new(bad, _seal(bytes(corrupted)))
        try:
            ckpt = load_checkpoint(bad)
        except fn.DataFormatError as exc:
            assert str(bad) in str(exc)
        else:
            loaded += 1  # a change the format cannot tell from data (a weight, a date)
            fn.apply(ckpt.spec, ckpt.params, np.zeros(5, dtype=ckpt.params[0]["W"].dtype))
    assert loaded < len(positions)
    tally("crafted_files", len(positions))
