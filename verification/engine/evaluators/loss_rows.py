"""What the perturbed evaluators share: the loss of moved output rows and the kink flags
of a kinked loss (:class:`OutputRows`), and the properties of an evaluator that sits at
one point (:class:`AtOnePoint`), stepping in the units of its coordinates
(:class:`UnitSteps`).

:class:`OutputRows` is built once per evaluator from the loss and the unperturbed
logits. For a loss with per-sample values (a built-in's formula or a declared
``sample_loss``, see :func:`verification.engine.common.reference.sample_loss_of`) each
moved row is evaluated on its own, many per call. A loss with only ``value_and_grad``
gives nothing but the mean of a batch per call, and that is what its moves need: the
change of the batch loss at a perturbation is the change of the *sum* over the rows that
perturbation moved, so each perturbation's moved rows go to ``value_and_grad`` as one
batch (``n * mean`` is their sum), one call per perturbation instead of one per row;
a whole moved batch (a direction) is one call.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from funcnn.core.losses import Loss
from funcnn.typing import FloatArray, IntArray
from verification.engine.common.layout import Directions
from verification.engine.common.reference import (
    batched_sample_loss,
    loss_kink_side,
    sample_loss_of,
)
from verification.engine.common.threads import rowwise

__all__ = ["AtOnePoint", "OutputRows", "UnitSteps"]

BoolArray = NDArray[np.bool_]


class OutputRows:
    """The loss of output rows of a fixed batch, against its unperturbed rows.

    ``z0`` (B, C) are the unperturbed logits and ``t`` (B, C) the dense targets, both
    float64. ``base`` holds each sample's loss at ``z0``.
    """

    def __init__(self, loss: Loss, z0: FloatArray, t: FloatArray) -> None:
        self._loss = loss
        self._ell = sample_loss_of(loss)
        self.batched = batched_sample_loss(loss)
        """Whether rows are evaluated many per call (else one call per group of rows)."""
        self._t = t
        self.base: FloatArray = self._ell(z0, t)
        self._side = loss_kink_side(loss)
        self._side0 = None if self._side is None else self._side(z0, t)
        # Without per-sample values, a whole batch's loss is compared with one call's.
        self._batch0 = None if self.batched else self._mean(z0, t)

    @property
    def detects_kinks(self) -> bool:
        """Whether the loss declares kinks."""
        return self._side is not None

    def _mean(self, rows: FloatArray, t: FloatArray) -> float:
        with np.errstate(all="ignore"):
            return float(self._loss.value_and_grad(rows, t)[0])

    def crossed(self, rows: FloatArray, b: IntArray) -> BoolArray:
        """Per row (of samples ``b``): whether it lies across a loss kink from ``z0[b]``."""
        if self._side is None or self._side0 is None:
            return np.zeros(rows.shape[0], dtype=bool)
        out: BoolArray = np.any(self._side(rows, self._t[b]) != self._side0[b], axis=-1)
        return out

    def changes(self, rows: FloatArray, b: IntArray, groups: IntArray) -> FloatArray:
        """Per row: its loss minus its sample's at ``z0``, for rows ``rows`` (N, C) of
        samples ``b``, where ``groups`` (N,) says which perturbation moved each row.

        Only sums over a group are meant: without per-sample values a group's total
        stands on its first row and the others are 0.
        """
        if self.batched:
            out: FloatArray = rowwise(self._ell, rows, self._t[b]) - self.base[b]
            return out
        out = np.zeros(rows.shape[0])
        order = np.argsort(groups, kind="stable")
        cuts = np.flatnonzero(np.diff(groups[order])) + 1
        for members in np.split(order, cuts):
            if members.size:
                picked = b[members]
                total = members.size * self._mean(rows[members], self._t[picked])
                out[members[0]] = total - float(np.sum(self.base[picked]))
        return out

    def batch_changes(self, z: FloatArray) -> tuple[FloatArray, BoolArray]:
        """Per moved batch ``z[p]`` (P, B, C): the change of the mean loss from ``z0``,
        and whether any of its rows crossed a loss kink."""
        if self._batch0 is None:
            ell = self._ell(z, self._t[None])
            values: FloatArray = np.mean(ell - self.base, axis=-1)
        else:
            values = np.array([self._mean(batch, self._t) for batch in z]) - self._batch0
        flags = np.zeros(z.shape[0], dtype=bool)
        if self._side is not None and self._side0 is not None:
            flags = np.any(self._side(z, self._t[None]) != self._side0[None], axis=(1, 2))
        return values, flags


class AtOnePoint:
    """``n``, ``value`` and ``noise_scale`` of an evaluator that sits at one point; its
    ``__init__`` sets ``_n``, ``_value`` and ``_noise``."""

    _n: int
    _value: float
    _noise: float

    @property
    def n(self) -> int:
        """Number of coordinates."""
        return self._n

    @property
    def value(self) -> float:
        """The loss at the point."""
        return self._value

    @property
    def noise_scale(self) -> float:
        """What one evaluation's rounding scales with (see ``reference.noise_scale``)."""
        return self._noise


class UnitSteps(AtOnePoint):
    """An evaluator at one point that steps in units of its coordinates (a black box,
    or logits)."""

    def coordinate_scale(self) -> FloatArray:
        """All ones: a unit step moves a coordinate by one."""
        return np.ones(self._n)

    def direction_scale(self, dirs: Directions) -> FloatArray:
        """All ones."""
        return np.ones(len(dirs))
