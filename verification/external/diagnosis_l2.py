"""The L2 penalty an implementation adds, in any of the conventions real code uses, and
its inference from the implementation's own loss values.

Code in the wild writes the same penalty four ways over: ``l2/2 sum W^2`` (gradient
``l2 W``) or ``l2 sum W^2`` (gradient ``2 l2 W``); added once per batch to the mean
loss and so divided by the batch size ``B`` (scikit-learn: ``alpha/(2B) sum W^2``) or
not; over the weight matrices only, or over the biases too. Each is right when the
gradient follows the loss. A :class:`Penalty` names one convention;
:func:`infer_penalty` finds the one an implementation's loss follows, from its loss on
single samples (``B = 1``) and on a batch, so the diagnosis checks the gradient
against the implementation's own convention instead of calling it a mistake.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import funcnn as fn
from funcnn.errors import InvalidArgumentError
from funcnn.typing import FloatArray, Params
from verification.external.diagnosis_match import close, ratio, rtol_of
from verification.external.diagnosis_probe import Probe, probe

__all__ = ["Penalty", "infer_penalty", "penalty_from_gradients", "read_penalty"]


@dataclass(frozen=True)
class Penalty:
    """An L2 penalty and its convention.

    The loss gets ``l2 / (2 if half else 1) / (B if per_batch else 1) * sum W^2``, the
    sum over every weight matrix (and bias vector when ``biases``); each penalised
    tensor's gradient gets ``coefficient(B) * W``.
    """

    l2: float = 0.0
    half: bool = True
    per_batch: bool = False
    biases: bool = False

    def __post_init__(self) -> None:
        if not (np.isfinite(self.l2) and self.l2 >= 0):
            raise InvalidArgumentError(f"l2: expected a number >= 0, got {self.l2!r}")

    def coefficient(self, batch: int) -> float:
        """The factor of ``W`` in a penalised tensor's gradient on a batch of ``batch``."""
        return self.l2 * (1.0 if self.half else 2.0) / (batch if self.per_batch else 1)

    def value(self, params: Params, batch: int) -> float:
        """The penalty's value at ``params`` on a batch of ``batch`` samples."""
        return 0.5 * self.coefficient(batch) * squares(params, self.biases)

    def keys(self) -> tuple[str, ...]:
        """The tensors of a layer the penalty covers."""
        return ("W", "b") if self.biases else ("W",)

    def words(self) -> str:
        """The convention in a formula: ``1e-04/(2B) sum W^2 (weights only)``."""
        if not self.l2:
            return "no L2 term"
        den = ("2" if self.half else "") + ("B" if self.per_batch else "")
        coef = f"{self.l2:.4g}" + (f"/({den})" if len(den) > 1 else f"/{den}" if den else "")
        over = "weights and biases" if self.biases else "weights only"
        return f"L2 {coef} sum W^2 ({over})"


def squares(params: Params, biases: bool) -> float:
    """``sum W^2`` over the weight matrices (and the biases when ``biases``)."""
    keys = ("W", "b") if biases else ("W",)
    return sum(
        float(np.sum(np.square(layer[k], dtype=np.float64))) for layer in params for k in keys
    )


def infer_penalty(
    l2: float | None,
    params: Params,
    excess: Sequence[float],
    batch_excess: float | None,
    batch: int,
    tol: float,
    moved: tuple[Params, float] | None = None,
) -> Penalty | None:
    """The convention the loss values follow, or None when the excess is not an L2 term
    of any convention.

    ``excess`` are the implementation's loss minus the data loss on single samples,
    ``batch_excess`` the same on a batch of ``batch``; ``tol`` is the rounding of a
    loss value. ``l2`` is the coefficient declared (``None``: inferred too, in the
    ``l2/2`` form, and ``moved``, the excess at other params with other biases, tells
    whether the biases are penalised).
    """
    values = np.asarray(excess, dtype=np.float64)
    if values.size == 0 or not np.all(np.isfinite(values)) or float(np.ptp(values)) > 2 * tol:
        return None  # each sample's loss carries the same penalty: no spread
    level = float(np.mean(values))
    found = None
    for biases in (False, True):
        total = squares(params, biases)
        for half in (True, False):
            coefficient = l2 if l2 is not None else (2 * level / total if total > 0 else 0.0)
            penalty = Penalty(max(coefficient, 0.0), half, False, biases)
            if abs(penalty.value(params, 1) - level) <= tol:
                found = found or penalty
        if l2 is None and found is not None and moved is not None and found.l2:
            other, other_excess = moved
            if abs(found.value(other, 1) - other_excess) > tol:
                found = None
                continue
        if found is not None:
            break
    if found is None or batch_excess is None or batch < 2 or not found.l2:
        return found
    per = Penalty(found.l2, found.half, True, found.biases)
    if abs(per.value(params, batch) - batch_excess) <= tol < abs(
        found.value(params, batch) - batch_excess
    ):
        return per
    return found


def penalty_from_gradients(
    params: Params, singles: Sequence[Probe], batch: Probe, rtol: float
) -> Penalty | None:
    """The weight penalty read off the last layer's weight gradients: on one sample it
    is ``a^T delta + k W`` with ``delta`` its bias gradient, and on the batch the mean
    of those data parts plus ``k W`` or ``k W / B``. Written in the ``l2/2`` form (the
    gradient cannot tell the two forms apart); None when no ``k`` fits."""
    last = len(params) - 1
    w = np.asarray(params[last]["W"], dtype=np.float64)
    data = [p.inputs[last].T @ p.got[last]["b"][None, :] for p in singles]
    rest: list[FloatArray] = [p.got[last]["W"] - d for p, d in zip(singles, data, strict=True)]
    k = ratio(rest, [w] * len(rest))
    if not (np.isfinite(k) and k > 0 and close(rest, [k * w] * len(rest), rtol)):
        return None
    extra = batch.got[last]["W"] - np.mean(data, axis=0)
    count = len(batch.x)
    per_batch = close([extra], [k / count * w], rtol) and count > 1
    return Penalty(k, True, per_batch, False)


def read_penalty(
    l2: float | Penalty | None,
    spec: fn.MLP,
    vag: Any,
    params: Params,
    singles: Sequence[Probe],
    batch: Probe,
    tol: float,
    name: str,
) -> tuple[Penalty, str]:
    """The L2 convention to check against, and what it was read off (``"loss values"``,
    ``"gradients"``, or ``""`` when declared or absent): a declared :class:`Penalty` is
    taken as it is; a number is the coefficient, its convention inferred; ``None``
    infers both."""
    if isinstance(l2, Penalty):
        return l2, ""
    excess = [p.got_value - p.value for p in singles]
    if not np.all(np.isfinite(excess)):  # no loss value: nothing to read
        return Penalty(l2 or 0.0), ""
    if l2 is None and abs(float(np.mean(excess))) <= tol:
        return Penalty(), ""  # the loss is the data loss up to rounding
    moved = None
    if l2 is None:
        other = [{"W": layer["W"], "b": 2 * layer["b"] + 0.5} for layer in params]
        one = probe(spec, vag, other, singles[0].x, singles[0].y, singles[0].loss, name)
        moved = (other, one.got_value - one.value)
    found = infer_penalty(
        l2, params, excess, batch.got_value - batch.value, len(batch.x), tol, moved
    )
    if found is not None:
        return found, "loss values" if l2 is None or found.l2 > 0 else ""
    if l2 is None:
        # A loss that is wrong besides (an eps in its log) hides its penalty: read the
        # penalty off the last layer's weight gradient instead.
        rtol = rtol_of(params[0]["W"].dtype)
        found = penalty_from_gradients(params, singles, batch, rtol)
        if found is not None:
            return found, "gradients"
    return Penalty(l2 or 0.0), ""
