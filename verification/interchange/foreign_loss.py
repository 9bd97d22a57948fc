"""A foreign program's loss at perturbed parameters, for the finite differences
(protocol version 2, ``docs/foreign-protocol.md``).

The program is sent the problem once (``problem``: spec, ``x``, ``y`` and the
parameters, kept by the program) and then only the moves: each ``moves`` message carries
sparse directions and, per point, a direction number and a step, so a point costs 12
bytes on the wire instead of every parameter and ``x`` again. :class:`ForeignLoss` is a
:class:`~verification.engine.evaluators.perturbed.PerturbedLoss` like funcnn's own
evaluators, so the engine screens and refines exactly as it does for any black box; its
kink flags come from funcnn's float64 evaluator of the same network
(:class:`~verification.engine.evaluators.network_loss.NetworkLoss`), which computes them
from the one column of pre-activations a move changes instead of a forward pass per point.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

import numpy as np
from numpy.typing import NDArray

from funcnn.core.activations import get_activation
from funcnn.core.losses import Loss, get_loss
from funcnn.core.pytree import ravel
from funcnn.core.spec import MLP
from funcnn.typing import Array, FloatArray, IntArray, Params
from verification.engine.common.layout import Directions, tensor_layout
from verification.engine.evaluators.loss_rows import UnitSteps
from verification.engine.evaluators.network_loss import NetworkLoss
from verification.interchange.foreign_protocol import ForeignProgram

__all__ = ["MOVES_PER_MESSAGE", "ForeignLoss", "Progress", "foreign_evaluator"]

BoolArray = NDArray[np.bool_]

MOVES_PER_MESSAGE = 1024
"""At most this many points per ``moves`` message (about 16 kB of base64 plus the
directions used): few enough messages that the pipe costs little, few enough points
that one answer comes well within the timeout when each costs a forward pass."""


class Progress:
    """Lines on ``stream`` (stderr by default; ``None``: silent) while a check runs: one
    when a problem starts and ends, and at most one every ``every`` seconds in between
    with the loss evaluations asked of the program so far."""

    def __init__(self, stream: TextIO | None = sys.stderr, every: float = 5.0) -> None:
        self.stream = stream
        self.every = every
        self._start = self._last = time.perf_counter()
        self._name = ""

    def say(self, text: str) -> None:
        """One line, as is."""
        if self.stream is not None:
            print(text, file=self.stream, flush=True)

    def begin(self, name: str) -> None:
        """A problem starts."""
        self._name = name
        self._start = self._last = time.perf_counter()

    def tick(self, program: ForeignProgram) -> None:
        """After a message: a line if ``every`` seconds passed since the last one."""
        now = time.perf_counter()
        if now - self._last >= self.every:
            self._last = now
            self.say(f"  {self._name}: {program.evaluations:,} loss evaluations in "
                     f"{program.requests:,} messages so far, {now - self._start:.0f} s")


class ForeignLoss(UnitSteps):
    """The program's loss at ``params`` moved along coordinates or directions.

    Built at ``params`` (any dtype; sent in ``dtype``, the precision the program is to
    compute the loss in), on the batch ``x``, ``y`` (float64; ``y`` int labels or
    targets). ``noise_scale`` bounds one evaluation's rounding (as a float64 multiple,
    see :func:`verification.interchange.foreign.loss_precision`). ``kinks``: flag the
    points where a kinked activation (relu) or a kinked loss (one that declares
    ``kinks``, e.g. Huber) changes side, from funcnn's evaluator. ``value`` is the
    program's answer to ``problem``.
    """

    def __init__(self, program: ForeignProgram, spec: MLP, params: Params, x: Array, y: Array,
                 loss: str | Loss, dtype: str, noise_scale: float, *, kinks: bool = True,
                 progress: Progress | None = None) -> None:
        params64: Params = [{k: np.asarray(v, dtype=np.float64) for k, v in layer.items()}
                            for layer in params]
        self._program = program
        self._n = int(ravel(params64)[0].size)
        self._layout = tensor_layout(params64)
        self._noise = float(noise_scale)
        self._progress = progress
        self._value = program.set_problem(spec, params64, x, y, loss, dtype)
        kinked = bool(get_loss(loss).kinks) or any(
            get_activation(a).kinks for a in spec.hidden_activations)
        self._kinks: NetworkLoss | None = (
            NetworkLoss(spec, params64, x, y, loss) if kinks and kinked else None)

    @property
    def detects_kinks(self) -> bool:
        """Whether points that cross a kink are flagged."""
        return self._kinks is not None

    def coordinates(self, index: IntArray, t: FloatArray) -> tuple[FloatArray, BoolArray]:
        """``L(theta + t e_index) - L(theta)`` and kink flags, elementwise: one unit
        direction per distinct coordinate."""
        idx, steps = np.broadcast_arrays(np.asarray(index, dtype=np.int64),
                                         np.asarray(t, dtype=np.float64))
        shape = idx.shape
        flat_idx, flat_t = idx.reshape(-1), steps.reshape(-1)
        rows, which = np.unique(flat_idx, return_inverse=True)
        offsets = np.arange(rows.size + 1)
        values = self._send(offsets, rows, np.ones(rows.size), which.reshape(-1), flat_t)
        return values.reshape(shape), self._flags(lambda e: e.coordinates(flat_idx, flat_t)[1],
                                                  flat_idx.size).reshape(shape)

    def directions(self, dirs: Directions, k: IntArray, t: FloatArray
                   ) -> tuple[FloatArray, BoolArray]:
        """``L(theta + t_p v_{k_p}) - L(theta)`` and kink flags for points ``p``; each
        direction travels as its non-zero entries."""
        flat_k = np.asarray(k, dtype=np.int64).reshape(-1)
        flat_t = np.asarray(t, dtype=np.float64).reshape(-1)
        used, which = np.unique(flat_k, return_inverse=True)
        index, value, counts = [], [], []
        for d in used:
            info = self._layout[dirs.tensor[int(d)]]
            entries = np.asarray(dirs.values[int(d)], dtype=np.float64).reshape(-1)
            nonzero = np.flatnonzero(entries)
            index.append(info.offset + nonzero)
            value.append(entries[nonzero])
            counts.append(nonzero.size)
        offsets = np.concatenate(([0], np.cumsum(counts, dtype=np.int64)))
        values = self._send(offsets, _joined(index), _joined(value), which.reshape(-1), flat_t)
        return values, self._flags(lambda e: e.directions(dirs, flat_k, flat_t)[1],
                                   flat_k.size)

    def _flags(self, flagged: Callable[[NetworkLoss], BoolArray], count: int) -> BoolArray:
        """Kink flags of the points from funcnn's evaluator, or none."""
        if self._kinks is None:
            return np.zeros(count, dtype=bool)
        return flagged(self._kinks)

    def _send(self, offsets: IntArray, index: IntArray, value: FloatArray, which: IntArray,
              step: FloatArray) -> FloatArray:
        """The changes of the loss at the points, in messages of at most
        :data:`MOVES_PER_MESSAGE` points, each carrying only the directions it uses."""
        out = np.empty(which.size)
        for start in range(0, which.size, MOVES_PER_MESSAGE):
            part = slice(start, start + MOVES_PER_MESSAGE)
            rows, local = np.unique(which[part], return_inverse=True)
            counts = offsets[rows + 1] - offsets[rows]
            picked = _ranges(offsets[rows], counts)
            sub_offsets = np.concatenate(([0], np.cumsum(counts)))
            out[part] = self._program.moves(sub_offsets, index[picked], value[picked],
                                            local.reshape(-1), step[part])
            if self._progress is not None:
                self._progress.tick(self._program)
        return out - self._value


def foreign_evaluator(program: ForeignProgram, spec: MLP, x: Array, y: Array,
                      loss: str | Loss,
                      dtype: str, noise_scale: float, progress: Progress | None
                      ) -> Callable[[Params, bool], ForeignLoss]:
    """``evaluator(params, kinks)`` for
    :func:`~verification.engine.gradients.check_gradients`: a :class:`ForeignLoss` of the
    program at ``params``."""

    def build(params: Params, kinks: bool) -> ForeignLoss:
        return ForeignLoss(program, spec, params, x, y, loss, dtype, noise_scale, kinks=kinks,
                           progress=progress)

    return build


def _joined(parts: list[Array]) -> Array:
    return np.concatenate(parts) if parts else np.zeros(0)


def _ranges(starts: IntArray, counts: IntArray) -> IntArray:
    """The concatenation of ``arange(s, s + c)`` for each start ``s`` and count ``c``."""
    total = int(np.sum(counts))
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    out: IntArray = np.arange(total) - np.repeat(ends - counts, counts) + np.repeat(starts,
                                                                                   counts)
    return out
