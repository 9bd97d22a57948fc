"""A zygote process for the kill tests: imports funcnn once, then forks writers on command.

Starting Python and importing numpy takes about a second, far longer than one checkpoint
write, so ``test_crash_safety`` starts this process once and has it ``fork`` a fresh
writer for every kill (milliseconds). Run as ``python -m tests.reliability._writer``
with single-threaded BLAS (fork and BLAS thread pools do not mix). Commands, one per
line on stdin; replies and the children's reports are lines on stdout:

- ``loop TARGET START``: fork a child saving checkpoint ``START``, ``START + 1``, ...
  to ``TARGET`` until killed; replies ``child PID``; the child reports ``wrote I``.
  ``loop TARGET START N PHASE FRACTION``: the same, but the child stops for good at
  ``PHASE`` of its ``N``-th write (0-based, so checkpoint ``START + N``; with ``write``
  after ``FRACTION`` of the bytes) and reports ``at PHASE``: a kill synchronised with
  the writer, at a point chosen by the test rather than by timing.
- ``stop TARGET I PHASE``: fork a child saving checkpoint ``I`` once, which stops for
  good at ``PHASE`` of the write (see :data:`PHASES`) and reports ``at PHASE``.
- ``train DIR EPOCHS``: fork a child training a small network to ``EPOCHS`` epochs with
  a checkpoint ``DIR/ckpt.npz`` after every epoch, resuming from it if it exists;
  reports ``saved EPOCH`` after each checkpoint and ``done`` at the end.
- ``cli ARG...``: fork a child running ``funcnn.cli.main([ARG, ...])``; it reports
  ``exit PID STATUS`` when main returns. ``cli-stderr FILE ARG...`` does the same with
  the child's stderr redirected to ``FILE``.
- ``reap PID``: wait for child ``PID``; replies ``reaped PID``.
- ``quit``.

Checkpoint ``I`` (:func:`payload`) is a 784-512-256-10 float32 network with SGD momentum
state (4.3 MB) whose contents are a function of ``I``, so a loaded file can be checked
bit for bit (:func:`expected_leaves`).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import funcnn as fn
from funcnn.training import checkpoint
from funcnn.training.loop import EpochEnd, fit
from funcnn.training.optimizers import adam, sgd
from funcnn.training.schedules import Cosine

__all__ = ["PHASES", "TRAIN_SPEC", "expected_leaves", "main", "payload"]

SPEC = fn.MLP((784, 512, 256, 10), "relu")
OPTIMIZER = sgd(0.1, momentum=0.9)
PHASES = ("mkstemp", "write", "fsync", "replace", "dirsync")
"""Where a ``stop`` child halts: before the temporary file exists; half written; fully
written but not synced; synced but not renamed; renamed but the directory not synced."""

TRAIN_SPEC = fn.MLP((32, 64, 10), "tanh")
_BASE: list[fn.Params] = []


def _base() -> fn.Params:
    if not _BASE:
        _BASE.append(fn.init(SPEC, np.random.default_rng(0), dtype=np.float32))
    return _BASE[0]


def payload(i: int) -> dict[str, Any]:
    """Keyword arguments of ``save_checkpoint`` for checkpoint number ``i`` (< 2**24)."""
    params = [dict(layer) for layer in _base()]
    params[0]["b"] = np.full(512, i, dtype=np.float32)
    state = OPTIMIZER.init(params)
    state["count"] = np.array(i, dtype=np.int64)
    state["velocity"][2]["b"] = np.full(10, -i, dtype=np.float32)
    return {
        "spec": SPEC,
        "params": params,
        "optimizer": OPTIMIZER,
        "opt_state": state,
        "rng": np.random.default_rng(i),
        "history": fn.History(),
        "metadata": {"i": i},
    }


def expected_leaves(i: int) -> list[Any]:
    """The leaves of ``(params, opt_state)`` of checkpoint ``i``, for comparisons."""
    p = payload(i)
    return fn.tree_leaves((p["params"], p["opt_state"]))


def _say(message: str) -> None:
    os.write(1, (message + "\n").encode())


def _hang(phase: str) -> None:
    _say(f"at {phase}")
    while True:
        time.sleep(60)


def _stop_at(phase: str, fraction: float = 0.5, armed: Any = lambda: True) -> None:
    """Patch the functions checkpoint writing calls, so that the write halts at ``phase``
    (with ``write``: after ``fraction`` of the bytes), in the first write during which
    ``armed()`` is true; other writes run normally."""
    import tempfile

    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}")
    real_mkstemp, real_fdopen = tempfile.mkstemp, os.fdopen
    real_fsync, real_replace = os.fsync, os.replace

    def mkstemp(*args: Any, **kwargs: Any) -> Any:
        if phase == "mkstemp" and armed():
            _hang(phase)
        return real_mkstemp(*args, **kwargs)

    class PartWriter:
        def __init__(self, fd: int) -> None:
            self.file = real_fdopen(fd, "wb")

        def __enter__(self) -> PartWriter:
            return self

        def __exit__(self, *exc: object) -> None:
            self.file.close()

        def write(self, data: bytes) -> int:
            self.file.write(data[: int(len(data) * fraction)])
            self.file.flush()
            _hang(phase)
            return 0

    def fdopen(fd: int, *args: Any, **kwargs: Any) -> Any:
        if phase == "write" and armed():
            return PartWriter(fd)
        return real_fdopen(fd, *args, **kwargs)

    def fsync(fd: Any) -> None:
        if phase == "fsync" and armed():
            _hang(phase)
        real_fsync(fd)

    def replace(src: Any, dst: Any, **kwargs: Any) -> None:
        if phase == "replace" and armed():
            _hang(phase)
        real_replace(src, dst, **kwargs)
        if phase == "dirsync" and armed():
            _hang(phase)

    tempfile.mkstemp = mkstemp
    os.fdopen = fdopen
    os.fsync = fsync
    os.replace = replace


def _train_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(1200, 32)).astype(np.float32)
    y = (np.argmax(x[:, :10], axis=1) + (x[:, 10] > 0)) % 10
    return x, y.astype(np.int64)


def train(directory: Path, epochs: int) -> None:
    """Train to ``epochs`` epochs in total, checkpointing after each; resume if possible."""
    target = directory / "ckpt.npz"
    x, y = _train_data()
    optimizer = adam(Cosine(0.01, total_steps=epochs * 150, final_lr=1e-4), weight_decay=1e-4)
    if target.exists():
        ckpt = checkpoint.load_checkpoint(target)
        params, state, history, rng = ckpt.params, ckpt.opt_state, ckpt.history, ckpt.rng()
    else:
        params = fn.init(TRAIN_SPEC, np.random.default_rng(3), dtype=np.float32)
        state, history, rng = None, None, np.random.default_rng(4)
    done = 0 if history is None else history.epochs

    def save(event: object) -> None:
        if isinstance(event, EpochEnd):
            checkpoint.save_checkpoint(
                target,
                spec=TRAIN_SPEC,
                params=event.params,
                optimizer=optimizer,
                opt_state=event.opt_state,
                rng=rng,
                history=event.history,
            )
            _say(f"saved {event.epoch}")

    if done < epochs:
        fit(
            TRAIN_SPEC,
            params,
            optimizer,
            x,
            y,
            epochs=epochs - done,
            batch_size=8,
            rng=rng,
            opt_state=state,
            history=history,
            x_test=x[:200],
            y_test=y[:200],
            log_every=25,
            callback=save,
        )
    _say("done")


def _cli(*argv: str) -> None:
    from funcnn.cli import main as cli_main

    code = cli_main(list(argv))
    _say(f"exit {os.getpid()} {code}")


def _cli_stderr(path: str, *argv: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 2)
    os.close(fd)
    _cli(*argv)


def _child(run: Any, *args: Any) -> None:
    """In a forked child: run, then leave without touching the zygote's state."""
    try:
        run(*args)
    finally:
        os._exit(0)


def _loop(target: str, start: int, halt: tuple[int, str, float] | None = None) -> None:
    current = [start]
    if halt is not None:
        n, phase, fraction = halt
        _stop_at(phase, fraction, lambda: current[0] == start + n)
    while True:
        checkpoint.save_checkpoint(target, **payload(current[0]))
        _say(f"wrote {current[0]}")
        current[0] += 1


def _stop(target: str, i: int, phase: str) -> None:
    kwargs = payload(i)
    _stop_at(phase)
    checkpoint.save_checkpoint(target, **kwargs)
    _say("finished")  # not reached: the phase hangs


def main() -> None:
    _base()
    _say("ready")
    for line in sys.stdin:
        command, *args = line.split()
        if command == "quit":
            break
        if command == "reap":
            os.waitpid(int(args[0]), 0)
            _say(f"reaped {args[0]}")
            continue
        run: Any
        run_args: tuple[Any, ...]
        if command == "loop":
            halt = None if len(args) == 2 else (int(args[2]), args[3], float(args[4]))
            run, run_args = _loop, (args[0], int(args[1]), halt)
        elif command == "stop":
            run, run_args = _stop, (args[0], int(args[1]), args[2])
        elif command == "train":
            run, run_args = train, (Path(args[0]), int(args[1]))
        elif command == "cli":
            run, run_args = _cli, tuple(args)
        elif command == "cli-stderr":
            run, run_args = _cli_stderr, tuple(args)
        else:
            _say(f"error unknown command {command!r}")
            continue
        pid = os.fork()
        if pid == 0:
            _child(run, *run_args)
        _say(f"child {pid}")


if __name__ == "__main__":
    main()
