"""LogitsLoss: a loss as a function of the logits themselves, one row per perturbation."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from funcnn.core.losses import Loss, get_loss
from funcnn.errors import InvalidArgumentError
from funcnn.typing import Array, FloatArray, IntArray
from verification.engine.common.layout import (
    Directions,
    TensorInfo,
)
from verification.engine.common.reference import dense_targets, noise_scale
from verification.engine.evaluators.loss_rows import OutputRows, UnitSteps

__all__ = ["LogitsLoss"]

BoolArray = NDArray[np.bool_]


class LogitsLoss(UnitSteps):
    """A loss as a function of the logits ``z`` (B, C) themselves, in float64.

    Moving ``z[b, c]`` changes only sample ``b``'s loss, so each perturbation costs one
    row. Coordinates are ``z``'s entries in C order. Any :class:`~funcnn.Loss`: each
    row's loss and kink flag come from
    :class:`~verification.engine.evaluators.loss_rows.OutputRows` (a loss that declares
    kinks has every point whose residual, its ``kink_coordinate``, crossed one flagged).
    """

    def __init__(self, loss: str | Loss, z: Array, y: Array) -> None:
        resolved = get_loss(loss)
        self.loss_name = resolved.name
        self._z = np.asarray(z, dtype=np.float64)
        if self._z.ndim != 2:
            raise InvalidArgumentError(f"z: expected a (B, C) array, got shape {self._z.shape}")
        batch, width = self._z.shape
        self._t = dense_targets(np.asarray(y), batch, width)
        self._rows = OutputRows(resolved, self._z, self._t)
        self._n = int(self._z.size)
        self._value = float(np.mean(self._rows.base))
        self._noise = noise_scale(resolved, self._z, self._t)
        self.layout = (TensorInfo("dL/dz", self._z.shape, 0),)

    @property
    def detects_kinks(self) -> bool:
        """Whether the loss declares kinks (the built-in losses are smooth)."""
        return self._rows.detects_kinks

    def coordinates(self, index: IntArray, t: FloatArray) -> tuple[FloatArray, BoolArray]:
        """``L(z + t e_index) - L(z)`` and kink flags, elementwise."""
        idx, steps = np.broadcast_arrays(np.asarray(index), np.asarray(t, dtype=np.float64))
        b, c = np.divmod(idx.reshape(-1).astype(np.int64), self._z.shape[1])
        rows = self._z[b]
        rows[np.arange(b.size), c] += steps.reshape(-1)
        values = self._rows.changes(rows, b, np.arange(b.size)) / self._z.shape[0]
        flags = self._rows.crossed(rows, b)
        return values.reshape(idx.shape), flags.reshape(idx.shape)

    def directions(
        self, dirs: Directions, k: IntArray, t: FloatArray
    ) -> tuple[FloatArray, BoolArray]:
        """``L(z + t_p v_{k_p}) - L(z)`` and kink flags for points ``p``."""
        dense = dirs.dense(self.layout).reshape(len(dirs), *self._z.shape)
        k = np.asarray(k, dtype=np.int64).reshape(-1)
        t = np.asarray(t, dtype=np.float64).reshape(-1)
        return self._rows.batch_changes(self._z[None] + t[:, None, None] * dense[k])
