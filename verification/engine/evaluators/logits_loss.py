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
from verification.engine.common.reference import (
    REFERENCE_LOSSES,
    dense_targets,
    noise_scale,
    per_sample_loss,
)

__all__ = ["LogitsLoss"]

BoolArray = NDArray[np.bool_]

class LogitsLoss:
    """A loss as a function of the logits ``z`` (B, C) themselves, in float64.

    Moving ``z[b, c]`` changes only sample ``b``'s loss, so each perturbation costs one
    row. Coordinates are ``z``'s entries in C order. ``loss`` must be one of
    :data:`verification.engine.common.reference.REFERENCE_LOSSES`.
    """

    def __init__(self, loss: str | Loss, z: Array, y: Array) -> None:
        name = get_loss(loss).name
        if name not in REFERENCE_LOSSES:
            raise InvalidArgumentError(f"loss: {name!r} has no batched reference")
        self.loss_name = name
        self._z = np.asarray(z, dtype=np.float64)
        if self._z.ndim != 2:
            raise InvalidArgumentError(f"z: expected a (B, C) array, got shape {self._z.shape}")
        batch, width = self._z.shape
        self._t = dense_targets(np.asarray(y), batch, width)
        self._ell0 = per_sample_loss(name, self._z, self._t)
        self._value = float(np.mean(self._ell0))
        self._noise = noise_scale(name, self._z, self._t)
        self.layout = (TensorInfo("dL/dz", self._z.shape, 0),)

    @property
    def n(self) -> int:
        """``B * C``."""
        return int(self._z.size)

    @property
    def value(self) -> float:
        """Mean loss at ``z``."""
        return self._value

    @property
    def noise_scale(self) -> float:
        """See :func:`verification.engine.common.reference.noise_scale`."""
        return self._noise

    @property
    def detects_kinks(self) -> bool:
        """False: the losses are smooth in the logits."""
        return False

    def coordinate_scale(self) -> FloatArray:
        """All ones: a unit step moves one logit by one."""
        return np.ones(self.n)

    def coordinates(self, index: IntArray, t: FloatArray) -> tuple[FloatArray, BoolArray]:
        """``L(z + t e_index) - L(z)`` elementwise, no kinks."""
        idx, steps = np.broadcast_arrays(np.asarray(index), np.asarray(t, dtype=np.float64))
        b, c = np.divmod(idx.reshape(-1).astype(np.int64), self._z.shape[1])
        rows = self._z[b]
        rows[np.arange(b.size), c] += steps.reshape(-1)
        ell = per_sample_loss(self.loss_name, rows, self._t[b])
        values = (ell - self._ell0[b]) / self._z.shape[0]
        return values.reshape(idx.shape), np.zeros(idx.shape, dtype=bool)

    def direction_scale(self, dirs: Directions) -> FloatArray:
        """All ones."""
        return np.ones(len(dirs))

    def directions(
        self, dirs: Directions, k: IntArray, t: FloatArray
    ) -> tuple[FloatArray, BoolArray]:
        """``L(z + t_p v_{k_p}) - L(z)`` for points ``p``."""
        dense = dirs.dense(self.layout).reshape(len(dirs), *self._z.shape)
        k = np.asarray(k, dtype=np.int64).reshape(-1)
        t = np.asarray(t, dtype=np.float64).reshape(-1)
        moved = self._z[None] + t[:, None, None] * dense[k]
        ell = per_sample_loss(self.loss_name, moved, self._t[None])
        return np.mean(ell - self._ell0, axis=-1), np.zeros(k.size, dtype=bool)
