"""Float64 per-sample loss values, batched over any leading axes, and the hidden
activations the perturbed evaluators run.

The gradient checks evaluate a network's loss at many perturbed parameter vectors at
once, so they need each sample's loss, not only the batch mean that
:mod:`funcnn.core.losses` returns. :func:`sample_loss_of` says where it comes from:

- for funcnn's built-in losses, independent formulas (:func:`per_sample_loss`, the
  names in :data:`REFERENCE_LOSSES`), written from the formulas in that module's
  docstring, not by calling it, so a slip in funcnn's loss value cannot hide in the
  reference: they are a deliberate second implementation, an oracle;
- for any other :class:`~funcnn.core.losses.Loss` (a new registry entry, a user's own
  loss), the loss's own definition: its ``sample_loss`` when it declares one, else its
  ``value_and_grad`` called one row at a time (the same numbers, slower; the
  evaluators avoid it for moved rows, see
  :mod:`verification.engine.evaluators.loss_rows`). Its gradient is then checked
  against finite differences of its own value.

Either way the batch mean is compared with the loss's own value (the "loss value" rows)
before any check trusts it. :func:`loss_kink_side` is where the perturbed evaluators
learn a loss's kinks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from funcnn.core.activations import get_activation
from funcnn.core.losses import LOSSES, Loss, get_loss
from funcnn.errors import InvalidArgumentError
from funcnn.typing import Array, FloatArray
from verification.engine.common.layout import kink_side

__all__ = [
    "REFERENCE_LOSSES",
    "SampleLossFn",
    "batch_loss",
    "batched_sample_loss",
    "dense_targets",
    "has_reference",
    "loss_kink_side",
    "noise_scale",
    "per_sample_loss",
    "reference_activation",
    "sample_loss_of",
    "sigmoid64",
]

REFERENCE_LOSSES = (
    "binary_cross_entropy",
    "mse",
    "softmax_binary_cross_entropy",
    "softmax_cross_entropy",
    "softmax_then_cross_entropy",
)
"""funcnn loss names this module has an independent per-sample formula for."""

SampleLossFn = Callable[[FloatArray, FloatArray], FloatArray]
"""``ell(z, t) -> (...)``: each sample's float64 loss, logits and dense targets (..., C)."""

_TINY = np.finfo(np.float64).tiny
_EPSNEG = np.finfo(np.float64).epsneg


def sigmoid64(z: FloatArray) -> FloatArray:
    """Logistic sigmoid ``1 / (1 + exp(-z))`` of a float64 array, as a new array.

    numpy's vectorised ``exp`` makes this about 3x faster than ``scipy.special.expit``
    (funcnn's sigmoid), which matters when a check evaluates the sigmoid on millions of
    perturbed pre-activations; it is within a few ulps of ``expit``. ``exp(-z)`` overflows
    to ``inf`` only for ``z < -709``, where the result, 0, is the sigmoid rounded to
    float64's normal range.
    """
    with np.errstate(over="ignore"):
        out: FloatArray = np.exp(np.negative(z))
    out += 1.0
    np.reciprocal(out, out=out)
    return out


def reference_activation(name: str) -> Callable[[FloatArray], FloatArray]:
    """The float64 hidden activation ``name`` as the evaluators compute it: funcnn's own
    function, except the sigmoid, for which :func:`sigmoid64` is faster."""
    if name == "sigmoid":
        return sigmoid64
    fn: Callable[[FloatArray], FloatArray] = get_activation(name).fn
    return fn


def dense_targets(y: Array, batch: int, n_out: int) -> FloatArray:
    """float64 targets ``(batch, n_out)``: one-hot for integer labels, else ``y`` cast.

    With ``n_out == 1`` integer labels are the 0/1 target itself, as in funcnn.
    """
    arr = np.asarray(y)
    if arr.dtype.kind in "iu":
        if n_out == 1:
            return arr.astype(np.float64).reshape(batch, 1)
        onehot = np.zeros((batch, n_out), dtype=np.float64)
        onehot[np.arange(batch), arr] = 1.0
        return onehot
    out: FloatArray = arr.astype(np.float64).reshape(batch, n_out)
    return out


def _log_softmax(z: FloatArray) -> FloatArray:
    shifted = z - np.max(z, axis=-1, keepdims=True)
    out: FloatArray = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
    return out


def per_sample_loss(name: str, z: FloatArray, t: FloatArray) -> FloatArray:
    """Each sample's loss for logits ``z`` (..., C) and dense targets ``t`` (..., C).

    Returns shape ``z.shape[:-1]`` in float64; the batch loss is the mean over the batch
    axis. ``name`` is one of :data:`REFERENCE_LOSSES`.
    """
    if name in ("softmax_cross_entropy", "softmax_then_cross_entropy"):
        logp = _log_softmax(z)
        if name == "softmax_then_cross_entropy":
            # funcnn clips p at the smallest normal number on the explicit path.
            logp = np.maximum(logp, np.log(_TINY))
        out: FloatArray = -np.sum(t * logp, axis=-1)
        return out
    if name == "mse":
        diff = z - t
        out = np.mean(diff * diff, axis=-1)
        return out
    if name == "binary_cross_entropy":
        out = np.mean(np.logaddexp(0.0, z) - t * z, axis=-1)
        return out
    if name == "softmax_binary_cross_entropy":
        p = np.clip(np.exp(_log_softmax(z)), _TINY, 1 - _EPSNEG)
        out = -np.mean(t * np.log(p) + (1 - t) * np.log1p(-p), axis=-1)
        return out
    raise InvalidArgumentError(
        f"loss: no reference formula for {name!r}; expected one of {list(REFERENCE_LOSSES)}"
    )


def has_reference(loss: str | Loss) -> bool:
    """Whether ``loss`` is a built-in with an independent formula here: the registry's own
    entry (not merely one with the same name: a user's half-MSE called "mse" is checked
    against its own value) among :data:`REFERENCE_LOSSES`."""
    resolved = get_loss(loss)
    return resolved.name in REFERENCE_LOSSES and LOSSES.get(resolved.name) is resolved


def batched_sample_loss(loss: str | Loss) -> bool:
    """Whether :func:`sample_loss_of` evaluates many rows per call (a built-in or a loss
    with a ``sample_loss``), rather than one ``value_and_grad`` call per row."""
    return has_reference(loss) or get_loss(loss).sample_loss is not None


def sample_loss_of(loss: str | Loss) -> SampleLossFn:
    """Each sample's float64 loss as the evaluators compute it (see the module docstring):
    the independent formula of a built-in, else the loss's ``sample_loss``, else its
    ``value_and_grad`` one row at a time."""
    resolved = get_loss(loss)
    if has_reference(resolved):
        name = resolved.name
        return lambda z, t: per_sample_loss(name, z, t)
    own = resolved.sample_loss
    if own is not None:
        declared = own

        def declared_loss(z: FloatArray, t: FloatArray) -> FloatArray:
            out: FloatArray = np.asarray(
                declared(z, np.broadcast_to(t, z.shape)), dtype=np.float64)
            if out.shape != z.shape[:-1]:
                raise InvalidArgumentError(
                    f"loss: {resolved.name!r}'s sample_loss returned shape {out.shape} for "
                    f"logits {z.shape}; expected {z.shape[:-1]} (one value per sample)")
            return out

        return declared_loss
    return _row_by_row(resolved)


def _row_by_row(loss: Loss) -> SampleLossFn:
    """``loss.value_and_grad`` on one-sample batches: each value is that sample's loss."""

    def ell(z: FloatArray, t: FloatArray) -> FloatArray:
        width = z.shape[-1]
        rows = z.reshape(-1, width)
        targets = np.broadcast_to(t, z.shape).reshape(-1, width)
        out = np.empty(rows.shape[0])
        with np.errstate(all="ignore"):
            for i in range(rows.shape[0]):  # no per-sample values without a sample_loss
                out[i] = loss.value_and_grad(rows[i : i + 1], targets[i : i + 1])[0]
        return out.reshape(z.shape[:-1])

    return ell


def loss_kink_side(loss: str | Loss) -> SampleLossFn | None:
    """``side(z, t)`` (..., C): which side of the loss's kinks each entry lies on, so that
    two points whose sides differ have a kink between them; ``None`` for a smooth loss
    (every built-in one)."""
    resolved = get_loss(loss)
    if not resolved.kinks:
        return None
    kinks = tuple(float(k) for k in resolved.kinks)

    def side(z: FloatArray, t: FloatArray) -> FloatArray:
        coordinate = resolved.kink_coordinates(z, np.broadcast_to(t, z.shape))
        out: FloatArray = np.asarray(kink_side(coordinate, kinks))
        return out

    return side


def batch_loss(name: str | Loss, z: FloatArray, y: Any) -> float:
    """Mean loss over the batch for logits ``z`` (B, C) and labels or targets ``y``."""
    batch, n_out = z.shape
    t = dense_targets(y, batch, n_out)
    return float(np.mean(sample_loss_of(name)(z.astype(np.float64), t)))


def noise_scale(name: str | Loss, z: FloatArray, t: FloatArray) -> float:
    """The magnitude whose float64 rounding bounds the noise of one batch-loss evaluation.

    ``mean_b(|loss_b| + max_c |z_bc|)``: each sample's loss is computed from its logits
    with a few roundings relative to both (plus ``max_c |t_bc|`` for a loss without an
    independent formula here). Softmax binary cross-entropy adds
    ``mean((1 - t) p / (1 - p))``: ``log(1 - p)`` for ``p`` near 1 inherits the rounding
    of ``p`` magnified by ``p / (1 - p)``, which can hide a whole derivative.
    """
    z64 = np.asarray(z, dtype=np.float64)
    ell = sample_loss_of(name)(z64, t)
    scale = float(np.mean(np.abs(ell) + np.max(np.abs(z64), axis=-1)))
    if not has_reference(name):  # a formula we have not read may round relative to t too
        scale += float(np.mean(np.max(np.abs(t), axis=-1)))
    elif get_loss(name).name == "softmax_binary_cross_entropy":
        p = np.clip(np.exp(_log_softmax(z64)), _TINY, 1 - _EPSNEG)
        scale += float(np.mean((1 - t) * p / (1 - p)))
    return scale
