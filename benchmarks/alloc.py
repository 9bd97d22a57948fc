"""What a fresh 400 KB gradient array per step costs against reusing one buffer.

The product is scenario A's largest weight gradient, ``X.T @ dZ1``: ``(784, 128)``
float32, 401,408 bytes, from a batch of 128. Three loops of the same number of steps:

- fresh: ``g = X.T @ dZ`` (numpy allocates the output every step; freed again when
  ``g`` is rebound). Above glibc's mmap threshold such a block can be handed back to
  the system on free, and the next step pays page faults to touch it again.
- reused: ``np.matmul(X.T, dZ, out=g)`` into one preallocated buffer.
- allocation alone: ``np.empty`` of the same shape, first-touched with ``fill(0)``.

The training loop is expected to reuse its buffers (``out=``) for this reason.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from benchmarks.harness import Quiet, Row, interleaved_times, median, minor_faults, ratio_row

__all__ = ["run_alloc"]


def run_alloc(
    reps: int, steps: int = 2000, batch: int = 128, quiet: Quiet | None = None
) -> list[Row]:
    """The three loops above, ``reps`` interleaved repetitions of ``steps`` steps each."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, 784), dtype=np.float32)
    dZ = rng.standard_normal((batch, 128), dtype=np.float32)
    out = np.empty((784, 128), dtype=np.float32)
    Xt = X.T

    def fresh(_: int) -> None:
        for _ in range(steps):
            g = Xt @ dZ
            del g

    def reused(_: int) -> None:
        matmul = np.matmul
        for _ in range(steps):
            matmul(Xt, dZ, out=out)

    def alloc_only(_: int) -> None:
        empty, f32 = np.empty, np.float32
        for _ in range(steps):
            g = empty((784, 128), dtype=f32)
            g.fill(0)
            del g

    t = interleaved_times(
        {"fresh": fresh, "reused": reused, "alloc": alloc_only}, reps, quiet=quiet
    )
    us = {name: [s / steps * 1e6 for s in seconds] for name, seconds in t.items()}
    faults = {
        name: minor_faults(partial(case, 0)) / steps
        for name, case in (("fresh", fresh), ("reused", reused))
    }
    return _rows(us, faults, batch)


def _rows(us: dict[str, list[float]], faults: dict[str, float], batch: int) -> list[Row]:
    """The loops' times (us per step), their ratio and the page faults per step."""
    note = f"X.T @ dZ, ({batch}, 784)^T @ ({batch}, 128) float32 -> 401,408 bytes"
    return [
        Row(
            "alloc",
            "alloc.fresh",
            "fresh 400 KB output per step",
            median(us["fresh"]),
            "us/step",
            None,
            note,
            tuple(us["fresh"]),
        ),
        Row(
            "alloc",
            "alloc.reused",
            "same product into a reused buffer (out=)",
            median(us["reused"]),
            "us/step",
            None,
            note,
            tuple(us["reused"]),
        ),
        Row(
            "alloc",
            "alloc.alloc_only",
            "np.empty + first touch, no product",
            median(us["alloc"]),
            "us/step",
            None,
            "",
            tuple(us["alloc"]),
        ),
        ratio_row("alloc", "alloc.fresh/reused", "fresh / reused", us["fresh"], us["reused"]),
        Row(
            "alloc",
            "alloc.faults_fresh",
            "minor page faults per step, fresh",
            faults["fresh"],
            "faults/step",
            None,
            "98 pages of 4 KB if every step's array came freshly from the system",
        ),
        Row(
            "alloc",
            "alloc.faults_reused",
            "minor page faults per step, reused",
            faults["reused"],
            "faults/step",
        ),
    ]
