"""Checks of independent scalar problems (activations), precomputed derivatives
(Jacobians) and loss gradients in the logits."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from funcnn.core.losses import Loss, get_loss
from funcnn.errors import InvalidArgumentError
from funcnn.typing import Array, FloatArray
from verification.engine.bounds.settings import (
    Settings,
    TolFactory,
    check_settings,
)
from verification.engine.bounds.tolerances import (
    EPS64,
    Tolerance,
)
from verification.engine.common.arguments import (
    check_callable,
    check_float_dtype,
)
from verification.engine.common.layout import TensorInfo
from verification.engine.common.threads import single_threaded_blas
from verification.engine.derivatives.numeric import Derivative, OffsetFunction
from verification.engine.evaluators.logits_loss import LogitsLoss
from verification.engine.modes.compare import (
    Numeric,
    compare,
    make_row,
    no_kinks,
    numeric_derivatives,
    second_opinion,
)
from verification.engine.modes.context import CheckContext
from verification.engine.modes.coordinates import check_coordinates
from verification.reporting.report import CheckRow, Report

__all__ = ["check_loss_gradient", "check_problems", "compare_derivative"]

BoolArray = NDArray[np.bool_]

def _single_tensor(name: str, shape: tuple[int, ...]) -> TensorInfo:
    return TensorInfo(name, shape, 0)


def check_problems(
    check: str,
    tensor: str,
    shape: tuple[int, ...],
    analytic: FloatArray,
    fn: OffsetFunction,
    steps: FloatArray,
    noise_scale: float | FloatArray,
    tolerance: Tolerance,
    dtype: Any,
    settings: Settings | None = None,
) -> CheckRow:
    """One row for ``m`` independent scalar problems (e.g. an activation's derivative at
    ``m`` points): ``analytic`` (m,) against the derivatives at 0 of ``fn(k, .)``.

    ``fn(k, t)`` returns ``F_k(t) - F_k(0)`` and kink flags; ``steps`` are the initial
    steps, ``noise_scale`` the magnitude of ``F`` (scalar or (m,)), ``tolerance`` the
    pass condition (``atol`` scalar or (m,)). ``shape`` is how the ``m`` entries are laid
    out for the worst index.
    """
    settings = check_settings(settings)
    start = time.perf_counter()
    a = np.asarray(analytic, dtype=np.float64).reshape(-1)
    numeric = numeric_derivatives(fn, np.asarray(steps, dtype=np.float64), noise_scale, settings,
                       tolerance.rtol)
    scale = float(np.max(np.abs(numeric.derivative.value), initial=0.0))
    cmp = compare(a, numeric, tolerance, slice(None), scale)
    doubtful = np.flatnonzero(cmp.failed | cmp.undecided)
    if doubtful.size:
        numeric = second_opinion(fn, np.asarray(steps, dtype=np.float64), noise_scale,
                                  settings, tolerance.rtol, doubtful, numeric)
        cmp = compare(a, numeric, tolerance, slice(None), scale)
    return make_row(check, _single_tensor(tensor, shape), "full", dtype, np.arange(a.size), a,
                numeric, cmp, slice(None), time.perf_counter() - start)


def compare_derivative(
    check: str,
    tensor: str,
    shape: tuple[int, ...],
    analytic: FloatArray,
    derivative: Derivative,
    tolerance: Tolerance,
    dtype: Any,
    seconds: float = 0.0,
    note: str = "",
) -> CheckRow:
    """One row comparing ``analytic`` with already computed numerical derivatives
    (e.g. from ``scipy.differentiate.jacobian``), entries laid out as ``shape``."""
    a = np.asarray(analytic, dtype=np.float64).reshape(-1)
    numeric = Numeric(derivative, no_kinks(derivative))
    scale = float(np.max(np.abs(derivative.value), initial=0.0))
    cmp = compare(a, numeric, tolerance, slice(None), scale)
    return make_row(check, _single_tensor(tensor, shape), "full", dtype, np.arange(a.size), a,
                numeric, cmp, slice(None), seconds, note=note)


def check_loss_gradient(
    loss: str | Loss,
    z: Array,
    y: Array,
    grad_fn: Callable[[FloatArray], FloatArray],
    *,
    name: str | None = None,
    tensor: str = "dL/dz",
    error_bound: FloatArray | None = None,
    settings: Settings | None = None,
) -> Report:
    """A loss gradient in the logits, ``grad_fn(z)`` (B, C), against finite differences of
    the loss in float64 (:class:`~verification.engine.evaluators.perturbed.LogitsLoss`, one
    row per perturbation), in full mode.

    ``z`` may be float32 (``grad_fn`` then runs in float32 and is held to float32
    tolerances); ``error_bound`` (B, C) bounds its rounding per entry. The first row
    confirms that the float64 reference reproduces ``funcnn``'s loss value.
    """
    check_callable("grad_fn", grad_fn)
    settings = check_settings(settings)
    with single_threaded_blas():
        start = time.perf_counter()
        z_arr = np.asarray(z)
        dtype = check_float_dtype("z", z_arr.dtype)
        check = name or f"loss gradient {loss} {dtype}"
        evaluator = LogitsLoss(loss, z_arr, y)
        info = TensorInfo(tensor, tuple(z_arr.shape), 0)
        returned = np.asarray(grad_fn(z_arr))
        if returned.shape != z_arr.shape or returned.dtype.kind != "f":
            raise InvalidArgumentError(
                f"grad_fn: expected a float array of the logits' shape {z_arr.shape}, got "
                f"shape {returned.shape} and dtype {returned.dtype}"
            )
        if not np.all(np.isfinite(returned)):
            raise InvalidArgumentError("grad_fn: expected finite values, got NaN or infinity")
        analytic = [returned.astype(np.float64).reshape(-1)]
        if error_bound is not None:
            bound = np.asarray(error_bound, dtype=np.float64).reshape(-1)
            tols: list[TolFactory] = [lambda local: Tolerance.for_model(dtype, bound[local])]
        else:
            scale = max(float(np.max(np.abs(analytic[0]), initial=0.0)), EPS64)
            tols = [lambda local: Tolerance.for_scale(dtype, scale)]
        steps_all = cache(lambda: np.full(evaluator.n, settings.step_unit))
        ctx = CheckContext(check, evaluator, analytic, [info], tols, dtype, settings, steps_all)
        rows = check_coordinates(ctx, [np.arange(evaluator.n)], "full")
        y_arr = np.asarray(y)
        y64 = y_arr.astype(np.float64) if y_arr.dtype.kind == "f" else y_arr
        with np.errstate(all="ignore"):
            reference = float(get_loss(loss).value_and_grad(z_arr.astype(np.float64), y64)[0])
        diff = abs(reference - evaluator.value)
        bound_v = 64 * EPS64 * max(evaluator.noise_scale, abs(reference), 1e-300)
        consistency = CheckRow(
            check=check, tensor="loss value", shape=(), mode="exact", dtype="float64",
            verdict="pass" if diff <= bound_v else "fail", n_checked=1, max_abs_error=diff,
            tolerance=bound_v, ratio=diff / bound_v, worst_index=(), analytic=reference,
            numeric=evaluator.value, note="reference vs funcnn loss (a = funcnn, n = reference)",
        )
        return Report((consistency, *rows), {"seconds": time.perf_counter() - start})
