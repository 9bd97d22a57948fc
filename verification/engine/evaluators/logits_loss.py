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
    dense_targets,
    loss_kink_side,
    noise_scale,
    sample_loss_of,
)

__all__ = ["LogitsLoss"]

BoolArray = NDArray[np.bool_]

class LogitsLoss:
    """A loss as a function of the logits ``z`` (B, C) themselves, in float64.

    Moving ``z[b, c]`` changes only sample ``b``'s loss, so each perturbation costs one
    row. Coordinates are ``z``'s entries in C order. Any :class:`~funcnn.Loss`: each
    sample's loss comes from
    :func:`verification.engine.common.reference.sample_loss_of`, and a loss that
    declares kinks has every point whose residual (its ``kink_coordinate``) crossed one
    flagged.
    """

    def __init__(self, loss: str | Loss, z: Array, y: Array) -> None:
        resolved = get_loss(loss)
        self.loss_name = resolved.name
        self._ell = sample_loss_of(resolved)
        self._side = loss_kink_side(resolved)
        self._z = np.asarray(z, dtype=np.float64)
        if self._z.ndim != 2:
            raise InvalidArgumentError(f"z: expected a (B, C) array, got shape {self._z.shape}")
        batch, width = self._z.shape
        self._t = dense_targets(np.asarray(y), batch, width)
        self._ell0 = self._ell(self._z, self._t)
        self._side0 = None if self._side is None else self._side(self._z, self._t)
        self._value = float(np.mean(self._ell0))
        self._noise = noise_scale(resolved, self._z, self._t)
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
        """Whether the loss declares kinks (the built-in losses are smooth)."""
        return self._side is not None

    def coordinate_scale(self) -> FloatArray:
        """All ones: a unit step moves one logit by one."""
        return np.ones(self.n)

    def coordinates(self, index: IntArray, t: FloatArray) -> tuple[FloatArray, BoolArray]:
        """``L(z + t e_index) - L(z)`` and kink flags, elementwise."""
        idx, steps = np.broadcast_arrays(np.asarray(index), np.asarray(t, dtype=np.float64))
        b, c = np.divmod(idx.reshape(-1).astype(np.int64), self._z.shape[1])
        rows = self._z[b]
        rows[np.arange(b.size), c] += steps.reshape(-1)
        ell = self._ell(rows, self._t[b])
        values = (ell - self._ell0[b]) / self._z.shape[0]
        flags = np.zeros(b.size, dtype=bool)
        if self._side is not None and self._side0 is not None:
            flags = np.any(self._side(rows, self._t[b]) != self._side0[b], axis=-1)
        return values.reshape(idx.shape), flags.reshape(idx.shape)

    def direction_scale(self, dirs: Directions) -> FloatArray:
        """All ones."""
        return np.ones(len(dirs))

    def directions(
        self, dirs: Directions, k: IntArray, t: FloatArray
    ) -> tuple[FloatArray, BoolArray]:
        """``L(z + t_p v_{k_p}) - L(z)`` and kink flags for points ``p``."""
        dense = dirs.dense(self.layout).reshape(len(dirs), *self._z.shape)
        k = np.asarray(k, dtype=np.int64).reshape(-1)
        t = np.asarray(t, dtype=np.float64).reshape(-1)
        moved = self._z[None] + t[:, None, None] * dense[k]
        ell = self._ell(moved, self._t[None])
        flags = np.zeros(k.size, dtype=bool)
        if self._side is not None and self._side0 is not None:
            flags = np.any(self._side(moved, self._t[None]) != self._side0[None], axis=(1, 2))
        return np.mean(ell - self._ell0, axis=-1), flags
