"""The softmax and dense-layer checks: softmax's Jacobian and VJP against
scipy.differentiate.jacobian, and the dense VJP against finite differences."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
from scipy.differentiate import jacobian as scipy_jacobian

from funcnn.core.dense import dense, dense_vjp
from funcnn.core.softmax import softmax, softmax_jacobian, softmax_vjp
from funcnn.typing import FloatArray
from verification.catalogue.data import dtype_name, problem_rng
from verification.catalogue.invariants import check_softmax_jacobian_invariants
from verification.engine.bounds.tolerances import (
    EPS64,
    MAXITER,
    MODEL_SAFETY,
    ORDER,
    STEP_FACTOR,
    STEP_UNIT,
    Tolerance,
    eps_of,
    rtol_for,
)
from verification.engine.common.arguments import check_callable, check_float_dtype, check_seed
from verification.engine.derivatives.numeric import Derivative, stencil_rounding
from verification.engine.gradients import check_gradients
from verification.engine.problems import compare_derivative
from verification.reporting.report import Report

__all__ = [
    "check_dense",
    "check_softmax",
    "softmax_logits",
]


def softmax_logits(rng: np.random.Generator, dtype: Any) -> FloatArray:
    """16 samples of 10 logits: scales from 0.1 to 30, ties, and one dominant logit."""
    scales = np.array([0.1, 0.5, 1, 1, 2, 3, 5, 8, 10, 15, 20, 30, 1, 1, 1, 1])[:, None]
    z = rng.standard_normal((16, 10)) * scales
    z[12] = 0.0
    z[13, :5] = 2.0
    z[14, 3] += 50.0
    z[15] = np.linspace(-40, 40, 10)
    out: FloatArray = z.astype(dtype)
    return out


def _softmax_axis0(x: FloatArray) -> FloatArray:
    e = np.exp(x - np.max(x, axis=0, keepdims=True))
    out: FloatArray = e / np.sum(e, axis=0, keepdims=True)
    return out


def _scipy_softmax_jacobian(z64: FloatArray) -> Derivative:
    """Numerical Jacobian of softmax per sample, (B, C, C) flattened, from scipy."""
    res = scipy_jacobian(
        _softmax_axis0, z64.T, initial_step=STEP_UNIT, order=ORDER, maxiter=MAXITER,
        step_factor=STEP_FACTOR, tolerances={"atol": 16 * EPS64, "rtol": 0.0},
    )
    value = np.transpose(res.df, (2, 0, 1)).reshape(-1)
    truncation = np.transpose(res.error, (2, 0, 1)).reshape(-1)
    nit = np.transpose(res.nit, (2, 0, 1)).reshape(-1)
    step = STEP_UNIT / STEP_FACTOR ** np.maximum(nit - 1, 0)
    rounding = stencil_rounding(1.0, step, ORDER, STEP_FACTOR, False)
    status = np.transpose(res.status, (2, 0, 1)).reshape(-1).astype(np.int32)
    nfev = np.transpose(res.nfev, (2, 0, 1)).reshape(-1).astype(np.int32)
    return Derivative(value, truncation + rounding, truncation, rounding, step, status, nfev,
                      np.zeros(value.size, dtype=bool))


def _softmax_rel_error(z: FloatArray, u: float) -> FloatArray:
    spread = np.abs(z - np.max(z, axis=-1, keepdims=True))
    out: FloatArray = u * (spread + np.log(z.shape[-1]) + 4)
    return out


def check_softmax(
    dtype: Any = np.float64,
    *,
    seed: int = 0,
    jacobian: Callable[[FloatArray], FloatArray] | None = None,
    vjp: Callable[[FloatArray, FloatArray], FloatArray] | None = None,
    check: str | None = None,
) -> Report:
    """The exact invariants of the softmax Jacobian (``jacobian(s)``, default funcnn's),
    then the Jacobian against ``scipy.differentiate.jacobian`` of softmax and the VJP
    (``vjp(s, g)``) against ``J^T g`` with the numerical and with the analytic ``J``.

        >>> check_softmax().summary()
        '5 rows: 5 pass -> PASSED'
    """
    dtype = check_float_dtype("dtype", dtype)
    seed = check_seed(seed)
    jac = check_callable("jacobian", jacobian, optional=True) or softmax_jacobian
    vjp_fn = check_callable("vjp", vjp, optional=True) or softmax_vjp
    check = check or f"softmax/{dtype_name(dtype)}"
    rng = problem_rng(seed, check)
    z = softmax_logits(rng, dtype)
    z64 = z.astype(np.float64)
    u = eps_of(dtype) / 2
    # The exact invariants first, before any finite difference: a Jacobian that is not
    # symmetric or whose rows do not sum to 0 is wrong whatever scipy says.
    invariants = check_softmax_jacobian_invariants(z, jacobian=jac, name=check)
    start = time.perf_counter()
    s = softmax(z)
    J = np.asarray(jac(s), dtype=np.float64)
    numeric = _scipy_softmax_jacobian(z64)
    seconds = time.perf_counter() - start
    s64 = softmax(z64)
    rel = _softmax_rel_error(z64, u)[:, :, None]
    eye = np.eye(z.shape[1])
    mag = s64[:, :, None] * (eye + s64[:, None, :])
    tiny = float(np.finfo(np.dtype(dtype)).tiny)
    atol = MODEL_SAFETY * (2 * rel * mag + 2 * u * mag) + tiny
    rows = [compare_derivative(check, "softmax_jacobian", J.shape, J, numeric,
                               Tolerance(atol.reshape(-1), rtol_for(dtype)), dtype, seconds,
                               "J[b, i, j] = ds_i/dz_j vs scipy.differentiate.jacobian")]
    g = rng.standard_normal(z.shape).astype(dtype)
    g64 = g.astype(np.float64)
    start = time.perf_counter()
    analytic = np.asarray(vjp_fn(s, g), dtype=np.float64)
    J_num = numeric.value.reshape(J.shape)
    err_num = numeric.error.reshape(J.shape)
    product = np.einsum("bij,bi->bj", J_num, g64)
    product_err = np.einsum("bij,bi->bj", err_num, np.abs(g64))
    trunc = np.einsum("bij,bi->bj", numeric.truncation.reshape(J.shape), np.abs(g64))
    vjp_num = Derivative(
        product.reshape(-1), product_err.reshape(-1), trunc.reshape(-1),
        (product_err - trunc).reshape(-1), np.full(product.size, numeric.step.max()),
        np.zeros(product.size, np.int32), np.zeros(product.size, np.int32),
        np.zeros(product.size, dtype=bool),
    )
    width = z.shape[1]
    sg = np.sum(s64 * np.abs(g64), axis=1, keepdims=True)
    mag_v = s64 * (np.abs(g64) + sg)
    atol_v = (MODEL_SAFETY * (2 * _softmax_rel_error(z64, u) * mag_v + u * (width + 3) * mag_v)
              + width * tiny)
    rows.append(compare_derivative(check, "softmax_vjp vs J^T g (scipy J)", analytic.shape,
                                   analytic, vjp_num,
                                   Tolerance(atol_v.reshape(-1), rtol_for(dtype)), dtype,
                                   time.perf_counter() - start))
    # The VJP against the analytic Jacobian: both are rounding-exact formulas.
    exact = np.einsum("bij,bi->bj", J, g64)
    cross = Derivative(
        exact.reshape(-1), np.zeros(exact.size), np.zeros(exact.size), np.zeros(exact.size),
        np.full(exact.size, np.nan), np.zeros(exact.size, np.int32),
        np.zeros(exact.size, np.int32), np.zeros(exact.size, dtype=bool),
    )
    atol_c = 2 * atol_v + MODEL_SAFETY * u * width * np.einsum("bij,bi->bj", mag, np.abs(g64))
    row = compare_derivative(check, "softmax_vjp vs J^T g (analytic J)", analytic.shape,
                             analytic, cross, Tolerance(atol_c.reshape(-1), rtol_for(dtype)),
                             dtype, note="a = vjp, n = einsum(J, g)")
    rows.append(replace(row, mode="cross"))
    return Report((*invariants.rows, *rows), {})



def check_dense(
    dtype: Any = np.float64,
    *,
    seed: int = 0,
    vjp: Callable[[dict[str, FloatArray], FloatArray, FloatArray], Any] | None = None,
    check: str | None = None,
) -> Report:
    """``dense_vjp`` (or ``vjp``) against finite differences of ``sum(dense(x) * g)``
    with respect to W, b and x.

        >>> check_dense().summary()
        '3 rows: 3 pass -> PASSED'
        >>> def forgets_the_bias_sum(layer, x, g):          # the bias gradient of one sample only
        ...     import funcnn as fn
        ...     grads, dx = fn.dense_vjp(layer, x, g)
        ...     return {"W": grads["W"], "b": g[0]}, dx
        >>> check_dense(vjp=forgets_the_bias_sum).passed
        False
    """
    dtype = check_float_dtype("dtype", dtype)
    seed = check_seed(seed)
    vjp_fn = check_callable("vjp", vjp, optional=True) or dense_vjp
    check = check or f"dense/{dtype_name(dtype)}"
    rng = problem_rng(seed, check)
    batch, n_in, n_out = 6, 7, 5
    params = {
        "W": rng.standard_normal((n_in, n_out)).astype(dtype),
        "b": rng.standard_normal(n_out).astype(dtype),
        "x": rng.standard_normal((batch, n_in)).astype(dtype),
    }
    g = rng.standard_normal((batch, n_out)).astype(dtype)
    g64 = g.astype(np.float64)

    def loss_fn(p: dict[str, FloatArray]) -> float:
        return float(np.sum(dense({"W": p["W"], "b": p["b"]}, p["x"]) * g64))

    def grad_fn(p: dict[str, FloatArray]) -> dict[str, FloatArray]:
        grads, dx = vjp_fn({"W": p["W"], "b": p["b"]}, p["x"], g)
        return {"W": grads["W"], "b": grads["b"], "x": dx}

    u = eps_of(dtype) / 2
    abs_x = np.abs(params["x"].astype(np.float64))
    abs_w = np.abs(params["W"].astype(np.float64))
    abs_g = np.abs(g64)
    # Running error bounds of the three products (see verification.engine.bounds.error_model).
    bound = {
        "W": u * (batch + 1) * (abs_x.T @ abs_g),
        "b": u * (batch + 1) * np.sum(abs_g, axis=0),
        "x": u * (n_out + 1) * (abs_g @ abs_w.T),
    }
    return check_gradients(loss_fn, grad_fn, params, name=check, error_bound=bound)


