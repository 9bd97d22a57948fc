"""The loss checks: cross-entropy (fused, explicit and composed paths), MSE and the
binary cross-entropies, and every other entry of ``funcnn.LOSSES``, as gradients in the
logits against finite differences of the loss.

The built-in losses are checked against independent formulas
(:mod:`verification.engine.common.reference`); a loss registered beyond them is checked
against its own value, for targets of its ``target_kind``, with its declared kinks
resolved and a rounding bound derived from its own gradient
(:func:`verification.engine.bounds.error_model.derived_loss_error`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from funcnn.core import losses as funcnn_losses
from funcnn.core.losses import Loss
from funcnn.core.softmax import softmax, softmax_jacobian
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.typing import Array, FloatArray
from verification.catalogue.data import dtype_name, problem_rng
from verification.engine.bounds.error_model import loss_gradient_error
from verification.engine.bounds.tolerances import (
    MODEL_SAFETY,
    Tolerance,
    eps_of,
    rtol_for,
)
from verification.engine.common.arguments import check_callable, check_float_dtype, check_seed
from verification.engine.common.reference import dense_targets
from verification.engine.derivatives.numeric import Derivative
from verification.engine.gradients import check_gradients
from verification.engine.problems import check_loss_gradient, compare_derivative
from verification.reporting.report import Report

__all__ = [
    "check_cross_entropy",
    "check_losses",
    "loss_logits",
]


def loss_logits(
    rng: np.random.Generator, dtype: Any, batch: int = 16, width: int = 10
) -> FloatArray:
    scales = np.geomspace(0.3, 12.0, batch)[:, None]
    out: FloatArray = (rng.standard_normal((batch, width)) * scales).astype(dtype)
    return out


def _loss_row(
    check: str, tensor: str, loss: str | Loss, z: FloatArray, y: Array, dtype: Any,
    grad_fn: Callable[[FloatArray], FloatArray],
) -> Report:
    """A loss gradient in ``dtype`` against finite differences of the float64 loss,
    with the loss gradient's rounding model as ``atol``."""
    t = dense_targets(y, *z.shape)
    info = np.finfo(np.dtype(dtype))
    bound = loss_gradient_error(loss, z.astype(np.float64), np.zeros(z.shape), t,
                                float(info.eps) / 2, float(info.tiny))[1]
    report = check_loss_gradient(loss, z, y, grad_fn, name=check, tensor=tensor,
                                 error_bound=bound)
    rows = tuple(
        replace(row, tensor=f"{tensor}: loss value") if row.tensor == "loss value" else row
        for row in report.rows
    )
    return Report(rows, report.meta)


def check_cross_entropy(
    dtype: Any = np.float64,
    targets: str = "labels",
    *,
    seed: int = 0,
    jacobian: Callable[[FloatArray], FloatArray] | None = None,
    check: str | None = None,
    loss: Loss | None = None,
) -> Report:
    """Cross-entropy gradients in the logits, with integer ``labels`` or ``onehot``
    float targets: fused, funcnn's explicit path, an explicit path composed from
    ``-y/p`` and ``jacobian`` (default funcnn's softmax Jacobian), each against finite
    differences of the loss, and explicit against fused.

    With ``loss`` (a :class:`funcnn.Loss` of your own: ``value_and_grad(z, y) ->
    (value, dL/dz)``) only that loss is checked, its gradient against finite
    differences of its own value, on the same logits and targets.

        >>> import numpy as np
        >>> from verification import check_cross_entropy
        >>> check_cross_entropy().passed, check_cross_entropy(np.float32, "onehot").passed
        (True, True)
    """
    dtype = check_float_dtype("dtype", dtype)
    if targets not in ("labels", "onehot"):
        raise InvalidArgumentError(f"targets: expected 'labels' or 'onehot', got {targets!r}")
    seed = check_seed(seed)
    jac = check_callable("jacobian", jacobian, optional=True) or softmax_jacobian
    check = check or f"cross_entropy/{targets}/{dtype_name(dtype)}"
    rng = problem_rng(seed, check)
    z = loss_logits(rng, dtype)
    batch, width = z.shape
    labels = np.asarray(rng.integers(0, width, size=batch))
    y: Array = labels if targets == "labels" else np.eye(width, dtype=dtype)[labels]
    if loss is not None:
        return _user_loss(check, _check_loss(loss), z, [(targets, y)])
    t = dense_targets(y, batch, width)

    def composed(zz: FloatArray) -> FloatArray:
        p = softmax(zz)
        dp = -t.astype(zz.dtype) / np.maximum(p, np.finfo(zz.dtype).tiny) / batch
        out: FloatArray = np.einsum("bij,bi->bj", jac(p), dp)
        return out

    fused = _loss_row(check, "dL/dz fused (softmax_cross_entropy_grad)",
                      "softmax_cross_entropy", z, y, dtype,
                      lambda zz: funcnn_losses.softmax_cross_entropy_grad(zz, y))
    explicit = _loss_row(check, "dL/dz explicit (softmax_then_cross_entropy_grad)",
                         "softmax_then_cross_entropy", z, y, dtype,
                         lambda zz: funcnn_losses.softmax_then_cross_entropy_grad(zz, y))
    built = _loss_row(check, "dL/dz explicit composed (-y/p through softmax_jacobian)",
                      "softmax_then_cross_entropy", z, y, dtype, composed)
    # Explicit against fused, entry by entry, within both rounding bounds.
    u = eps_of(dtype) / 2
    tiny = float(np.finfo(np.dtype(dtype)).tiny)
    z64 = z.astype(np.float64)
    b_fused = loss_gradient_error("softmax_cross_entropy", z64, np.zeros(z.shape), t, u, tiny)[1]
    b_expl = loss_gradient_error("softmax_then_cross_entropy", z64, np.zeros(z.shape), t, u,
                                 tiny)[1]
    g_f = np.asarray(funcnn_losses.softmax_cross_entropy_grad(z, y), dtype=np.float64)
    g_e = np.asarray(composed(z), dtype=np.float64)
    exact = Derivative(
        g_f.reshape(-1), np.zeros(g_f.size), np.zeros(g_f.size), np.zeros(g_f.size),
        np.full(g_f.size, np.nan), np.zeros(g_f.size, np.int32), np.zeros(g_f.size, np.int32),
        np.zeros(g_f.size, dtype=bool),
    )
    cross = compare_derivative(
        check, "explicit composed vs fused", z.shape, g_e, exact,
        Tolerance(MODEL_SAFETY * (b_fused + b_expl).reshape(-1), rtol_for(dtype)), dtype,
        note="a = explicit (composed), n = fused",
    )
    return Report.combine([fused, explicit, built, Report((replace(cross, mode="cross"),))])


def check_losses(
    dtype: Any = np.float64, *, seed: int = 0, check: str | None = None,
    loss: Loss | None = None,
) -> Report:
    """MSE (real targets), binary cross-entropy (probability targets and labels) and
    softmax binary cross-entropy (one-hot labels) gradients against finite differences.

    With ``loss`` (a :class:`funcnn.Loss` of your own) only that loss is checked: its
    ``value_and_grad(z, y)[1]`` against finite differences of its own value, for
    targets of its ``target_kind`` (``"distribution"``: integer labels and one-hot
    rows; ``"probability"``: probabilities in [0, 1]; ``"real"``: any reals).

        >>> check_losses().passed
        True
    """
    dtype = check_float_dtype("dtype", dtype)
    seed = check_seed(seed)
    check = check or f"losses/{dtype_name(dtype)}"
    rng = problem_rng(seed, check)
    z = loss_logits(rng, dtype)
    batch, width = z.shape
    if loss is not None:
        user = _check_loss(loss)
        return _user_loss(check, user, z, _targets_of(user.target_kind, rng, dtype, batch,
                                                      width))
    cases: list[tuple[str, str, Array]] = [
        ("mse", "real targets", rng.standard_normal((batch, width)).astype(dtype)),
        ("binary_cross_entropy", "probability targets", rng.random((batch, width)).astype(dtype)),
        ("binary_cross_entropy", "labels", np.asarray(rng.integers(0, width, size=batch))),
        ("softmax_binary_cross_entropy", "labels", np.asarray(rng.integers(0, width, size=batch))),
    ]
    reports = []
    for name, kind, y in cases:
        grad: Callable[[FloatArray, Array], FloatArray] = getattr(funcnn_losses, f"{name}_grad")
        reports.append(_loss_row(check, f"dL/dz {name} ({kind})", name, z, y, dtype,
                                 _bind(grad, y)))
    # Every other registry entry (a loss added to funcnn.LOSSES), never skipped.
    covered = {name for name, _, _ in cases} | set(CROSS_ENTROPIES)
    for name in sorted(set(funcnn_losses.LOSSES) - covered):
        entry = funcnn_losses.LOSSES[name]
        for kind, y in _targets_of(entry.target_kind, rng, dtype, batch, width):
            reports.append(_loss_row(check, f"dL/dz {name} ({kind})", entry, z, y, dtype,
                                     _own_grad(entry, y)))
    return Report.combine(reports)


CROSS_ENTROPIES = ("softmax_cross_entropy", "softmax_then_cross_entropy")
"""The losses :func:`check_cross_entropy` checks (and :func:`check_losses` does not)."""


def _targets_of(
    kind: str, rng: np.random.Generator, dtype: Any, batch: int, width: int
) -> list[tuple[str, Array]]:
    """Targets of a loss's ``target_kind`` (``"distribution"``: integer labels and one-hot
    rows; ``"probability"``: probabilities in [0, 1]; ``"real"``: any reals)."""
    if kind == "distribution":
        labels = np.asarray(rng.integers(0, width, size=batch))
        return [("labels", labels), ("one-hot", np.eye(width, dtype=dtype)[labels])]
    if kind == "probability":
        return [("probability targets", rng.random((batch, width)).astype(dtype))]
    return [("real targets", rng.standard_normal((batch, width)).astype(dtype))]


def _own_grad(loss: Loss, y: Array) -> Callable[[FloatArray], FloatArray]:
    """``z -> dL/dz`` of a registered loss, through its own ``value_and_grad``."""
    def grad(z: FloatArray) -> FloatArray:
        with np.errstate(all="ignore"):
            return loss.value_and_grad(z, y)[1]

    return grad


def _bind(
    grad: Callable[[FloatArray, Array], FloatArray], y: Array
) -> Callable[[FloatArray], FloatArray]:
    return lambda zz: grad(zz, y)




def _check_loss(loss: Any) -> Loss:
    if not isinstance(loss, Loss):
        raise ArgumentTypeError(
            f"loss: expected a funcnn.Loss (name, value_and_grad, target_kind) or None, got "
            f"{type(loss).__name__}"
        )
    check_callable("loss.value_and_grad", loss.value_and_grad)
    return loss


def _user_loss(check: str, loss: Loss, z: FloatArray, cases: list[tuple[str, Array]]) -> Report:
    """A user's loss gradient against finite differences of its own value, per target
    kind (the analytic gradient in ``z``'s dtype, the loss in float64)."""
    reports = []
    for kind, y in cases:
        value, grad = _halves(loss, y)
        report = check_gradients(value, grad, z, name=check)
        reports.append(Report(tuple(
            replace(row, tensor=f"dL/dz {loss.name} ({kind})",
                    note="a = your value_and_grad's gradient, n = finite differences of "
                         "its value")
            for row in report.rows
        ), report.meta))
    return Report.combine(reports)


def _halves(
    loss: Loss, y: Array
) -> tuple[Callable[[FloatArray], float], Callable[[FloatArray], FloatArray]]:
    def value(z: FloatArray) -> float:
        return loss.value_and_grad(z, y)[0]

    def grad(z: FloatArray) -> FloatArray:
        return loss.value_and_grad(z, y)[1]

    return value, grad
