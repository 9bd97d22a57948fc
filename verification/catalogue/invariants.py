"""Invariants of backprop, checked exactly before any finite difference.

Each holds for any correct implementation regardless of the numbers, so each is checked
bit for bit where floating point allows it and within the rounding bound where it does
not:

- backward is linear in the upstream gradient: zero in gives exactly zero out, and
  scaling the upstream gradient by ``-1``, ``2**5`` or ``2**-3`` scales every gradient by
  exactly that (powers of two and negation commute with every rounding);
- running ``value_and_grad`` twice gives identical bits;
- no input (params, x, y) is modified by ``value_and_grad``, ``loss``, ``apply``,
  ``forward`` or ``backward``;
- the per-example gradients (one sample at a time) average to the batch gradient,
  within the per-entry rounding bound of :mod:`verification.engine.bounds.error_model`;
- the softmax Jacobian is exactly symmetric and its rows sum to 0 within ``2 C eps s_i``.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from funcnn.core import network
from funcnn.core.losses import get_loss
from funcnn.core.pytree import tree_leaves
from funcnn.core.softmax import softmax, softmax_jacobian
from funcnn.core.spec import MLP
from funcnn.core.validation import check_finite
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.typing import Array, FloatArray, Params
from verification.engine.bounds.error_model import gradient_error_bound
from verification.engine.bounds.tolerances import MODEL_SAFETY, eps_of
from verification.engine.common.arguments import check_callable, check_float_dtype
from verification.reporting.report import CheckRow, Report

__all__ = ["check_invariants", "check_softmax_jacobian_invariants"]

ValueAndGrad = Callable[[MLP, Params, Array, Array, str], tuple[float, Params]]


def _row(check: str, name: str, dtype: Any, ok: bool, seconds: float, note: str = "",
         error: float = 0.0, tolerance: float = 0.0, shape: tuple[int, ...] = ()) -> CheckRow:
    return CheckRow(
        check=check, tensor=name, shape=shape, mode="exact", dtype=str(np.dtype(dtype)),
        verdict="pass" if ok else "fail", n_checked=1, max_abs_error=error,
        tolerance=tolerance, ratio=error / tolerance if tolerance else float(not ok),
        seconds=seconds, note=note,
    )


def _same_bits(a: Any, b: Any) -> bool:
    la, lb = tree_leaves(a), tree_leaves(b)
    return len(la) == len(lb) and all(
        np.asarray(x).dtype == np.asarray(y).dtype
        and np.asarray(x).shape == np.asarray(y).shape
        and np.array_equal(np.asarray(x).view(np.uint8), np.asarray(y).view(np.uint8))
        for x, y in zip(la, lb, strict=True)
    )


def _max_abs(a: Any) -> float:
    return max((float(np.max(np.abs(x), initial=0.0)) for x in tree_leaves(a)), default=0.0)


def check_invariants(
    spec: MLP,
    params: Params,
    x: Array,
    y: Array,
    loss: str = "softmax_cross_entropy",
    *,
    name: str | None = None,
    value_and_grad_fn: ValueAndGrad | None = None,
    backward_fn: Callable[[MLP, Params, Any, FloatArray], Params] | None = None,
) -> Report:
    """Check the exact invariants of a network's backprop on one batch.

    ``value_and_grad_fn`` and ``backward_fn`` default to funcnn's; pass others (with the
    same signatures as :func:`funcnn.value_and_grad` and
    :func:`funcnn.core.network.backward`) to hold them to the same invariants.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> from verification import check_invariants
        >>> spec, rng = fn.MLP((3, 4, 2), activation="tanh"), np.random.default_rng(0)
        >>> params, x = fn.init(spec, rng), rng.standard_normal((5, 3))
        >>> y = np.array([0, 1, 1, 0, 1])
        >>> check_invariants(spec, params, x, y).passed
        True
    """
    vag: ValueAndGrad = (
        check_callable("value_and_grad_fn", value_and_grad_fn, optional=True)
        or network.value_and_grad
    )
    bwd = check_callable("backward_fn", backward_fn, optional=True) or network.backward
    get_loss(loss)
    dtype = network.check_params(spec, params)
    check = name or f"invariants {'-'.join(map(str, spec.sizes))} {loss} {dtype}"
    x2 = network.check_inputs(spec, x, dtype)
    rows: list[CheckRow] = []

    # Inputs untouched: snapshot everything, run every entry point, compare bits.
    start = time.perf_counter()
    snapshot = copy.deepcopy((params, x, y))
    first = vag(spec, params, x, y, loss)
    network.loss(spec, params, x, y, loss)
    network.apply(spec, params, x)
    trace = network.forward(spec, params, x2)
    upstream = get_loss(loss).value_and_grad(trace.logits, _targets(spec, x2, y, loss))[1]
    upstream_copy = upstream.copy()
    bwd(spec, params, trace, upstream)
    untouched = _same_bits(snapshot, (params, x, y)) and _same_bits(upstream, upstream_copy)
    rows.append(_row(check, "inputs not mutated", dtype, untouched, time.perf_counter() - start,
                     "params, x, y and the upstream gradient, bit for bit"))

    start = time.perf_counter()
    second = vag(spec, params, x, y, loss)
    same = first[0] == second[0] and _same_bits(first[1], second[1])
    rows.append(_row(check, "deterministic", dtype, same, time.perf_counter() - start,
                     "value_and_grad twice: identical bits"))

    start = time.perf_counter()
    zero = bwd(spec, params, trace, np.zeros_like(upstream))
    zero_ok = all(np.all(np.asarray(g) == 0) for g in tree_leaves(zero))
    rows.append(_row(check, "linear: zero upstream -> zero grads", dtype, zero_ok,
                     time.perf_counter() - start, error=_max_abs(zero)))

    start = time.perf_counter()
    base = bwd(spec, params, trace, upstream)
    scaled_ok = True
    worst = 0.0
    for factor in (-1.0, 2.0**5, 2.0**-3):
        scaled = bwd(spec, params, trace, upstream * upstream.dtype.type(factor))
        expected = [np.asarray(g) * np.asarray(g).dtype.type(factor) for g in tree_leaves(base)]
        for got, want in zip(tree_leaves(scaled), expected, strict=True):
            diff = float(np.max(np.abs(np.asarray(got) - want), initial=0.0))
            worst = max(worst, diff)
            scaled_ok &= bool(np.array_equal(got, want))
    rows.append(_row(check, "linear: upstream x (-1, 2^5, 2^-3) exact", dtype, scaled_ok,
                     time.perf_counter() - start, error=worst))

    start = time.perf_counter()
    rows.append(_per_example(check, spec, params, x2, y, loss, dtype, vag, first[1], start))
    return Report(tuple(rows), {})


def _targets(spec: MLP, x2: FloatArray, y: Array, loss: str) -> Array:
    from funcnn.core.validation import check_targets

    y_arr = np.asarray(y)
    return check_targets(y_arr, x2.shape[0], spec.n_out, x2.dtype, get_loss(loss).target_kind)


def _per_example(
    check: str, spec: MLP, params: Params, x2: FloatArray, y: Array, loss: str, dtype: Any,
    vag: ValueAndGrad, batch_grads: Params, start: float,
) -> CheckRow:
    """Mean of one-sample gradients vs the batch gradient, within the rounding model."""
    y_arr = np.asarray(y)
    batch = x2.shape[0]
    total = [np.zeros(np.shape(g), dtype=np.float64) for g in tree_leaves(batch_grads)]
    bound = [np.zeros_like(t) for t in total]
    for b in range(batch):
        _, grads = vag(spec, params, x2[b : b + 1], y_arr[b : b + 1], loss)
        for acc, g in zip(total, tree_leaves(grads), strict=True):
            acc += np.asarray(g, dtype=np.float64)
        one = gradient_error_bound(spec, params, x2[b : b + 1], y_arr[b : b + 1], loss, dtype)
        for acc, e in zip(bound, tree_leaves(one), strict=True):
            acc += e
    batch_bound = tree_leaves(gradient_error_bound(spec, params, x2, y_arr, loss, dtype))
    u = eps_of(dtype) / 2
    worst_ratio, worst_diff, worst_tol = 0.0, 0.0, 0.0
    for acc, e, eb, g in zip(total, bound, batch_bound, tree_leaves(batch_grads), strict=True):
        mean = acc / batch
        # Each side's rounding, plus the rounding of averaging B terms in float64.
        tol = MODEL_SAFETY * (e / batch + eb) + 4 * u * (batch + 1) * np.abs(mean)
        tol = np.maximum(tol, np.finfo(np.float64).tiny)
        diff = np.abs(mean - np.asarray(g, dtype=np.float64))
        ratio = float(np.max(diff / tol, initial=0.0))
        if ratio >= worst_ratio:
            index = int(np.argmax(diff / tol)) if diff.size else 0
            worst_ratio = ratio
            worst_diff = float(diff.reshape(-1)[index]) if diff.size else 0.0
            worst_tol = float(tol.reshape(-1)[index]) if diff.size else 0.0
    return _row(check, "per-example grads average to batch grad", dtype, worst_ratio <= 1.0,
                time.perf_counter() - start, f"{batch} one-sample calls", worst_diff, worst_tol)


def _logits(z: Any) -> FloatArray:
    """``z`` if it is a finite float32/float64 ``(B, C)`` array with ``B, C >= 1``."""
    if not isinstance(z, np.ndarray):
        raise ArgumentTypeError(f"z: expected a numpy array, got {type(z).__name__}")
    check_float_dtype("z", z.dtype)
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] == 0:
        raise InvalidArgumentError(
            f"z: expected logits of shape (B, C) with B, C >= 1, got shape {z.shape}"
        )
    check_finite("z", z)
    return z


def check_softmax_jacobian_invariants(
    z: FloatArray,
    *,
    jacobian: Callable[[FloatArray], FloatArray] | None = None,
    name: str = "softmax invariants",
) -> Report:
    """The softmax Jacobian of logits ``z`` (B, C) is symmetric and its rows sum to 0.

    ``jacobian(s)`` defaults to :func:`funcnn.softmax_jacobian` (called with
    ``softmax(z)``).

        >>> import numpy as np
        >>> from verification import check_softmax_jacobian_invariants
        >>> z = np.random.default_rng(0).standard_normal((4, 3))
        >>> check_softmax_jacobian_invariants(z).passed
        True
        >>> outer_only = lambda s: -s[:, :, None] * s[:, None, :]     # forgot diag(s)
        >>> check_softmax_jacobian_invariants(z, jacobian=outer_only).passed
        False
    """
    z = _logits(z)
    jac = check_callable("jacobian", jacobian, optional=True) or softmax_jacobian
    start = time.perf_counter()
    s = softmax(z)
    J = np.asarray(jac(s))
    symmetric = bool(np.array_equal(J, np.swapaxes(J, -1, -2)))
    asym = float(np.max(np.abs(J - np.swapaxes(J, -1, -2)), initial=0.0))
    rows = [_row(name, "jacobian symmetric (bitwise)", z.dtype, symmetric,
                 time.perf_counter() - start, error=asym, shape=J.shape)]
    start = time.perf_counter()
    width = z.shape[-1]
    row_sums = np.abs(np.sum(J.astype(np.float64), axis=-1))
    tol = 2 * width * eps_of(z.dtype) * s.astype(np.float64) + np.finfo(z.dtype).tiny
    ratio = row_sums / tol
    rows.append(_row(name, "jacobian rows sum to 0", z.dtype, bool(np.all(ratio <= 1)),
                     time.perf_counter() - start, "|sum_j J_ij| <= 2 C eps s_i",
                     float(np.max(row_sums)), float(tol.reshape(-1)[np.argmax(ratio)]),
                     shape=J.shape))
    return Report(tuple(rows), {})
