"""Pattern hints: what the shape of a failing tensor's error says about its cause.

Given the analytic and numerical values of one failing tensor and the per-entry
tolerance, :func:`hints` looks for the patterns that the classic backprop mistakes leave:

- a uniform ratio ``analytic = k x numeric`` on every entry, with the likely causes of
  that ``k`` (-1: a sign flip; 2 or 1/2: an extra or missing factor 2; an integer ``m``
  or ``1/m``: a sum where the loss averages, or the reverse, over ``m`` samples or
  outputs);
- an all-zero analytic gradient where the numerical one is not zero;
- a transposed gradient (a square tensor whose analytic value matches the numerical
  one transposed);
- rows or columns in the wrong order (each analytic row matches a different numerical
  row);
- failures confined to one row or one column (one unit or one input);
- failures only at kinks (relu at 0).

Each hint is one sentence; a row's hints are joined with ``"; "``. Matching uses the
comparison's own bound, so a hint is only stated when the pattern explains every entry
within the same tolerance the check applies.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import NDArray

from funcnn.typing import FloatArray, IntArray

__all__ = ["failure_detail", "hints", "ratio_causes"]

BoolArray = NDArray[np.bool_]

_MAX_PERMUTED = 2048
"""Rows (or columns) beyond which the permutation search (quadratic) is skipped."""


def ratio_causes(k: float) -> str:
    """Likely causes of ``analytic = k x numeric``, in words."""
    if abs(k + 1) < 1e-6:
        return "a sign flip (e.g. y - p where p - y belongs, or a minus sign lost)"
    sign = "a sign flip and " if k < 0 else ""
    size = abs(k)
    frac = Fraction(size).limit_denominator(64)
    exact = abs(float(frac) - size) < 1e-6 * size
    if exact and frac == 2:
        cause = "an extra factor 2 (e.g. d(e^2) = 2e where the loss has 1/2 e^2)"
    elif exact and frac == Fraction(1, 2):
        cause = "a missing factor 2 (e.g. the 1/2 of 1/2 e^2 kept in the gradient)"
    elif exact and frac.denominator == 1:
        m = frac.numerator
        cause = (f"a sum where the loss takes the mean, over {m} terms (a batch of {m} "
                 f"samples, or {m} outputs), or a factor {m} applied twice")
    elif exact and frac.numerator == 1:
        m = frac.denominator
        cause = (f"a mean (1/{m}) where the loss takes the sum, over {m} terms (a batch of "
                 f"{m} samples, or {m} outputs)")
    else:
        shown = f" ({frac})" if exact else ""
        cause = (f"a factor {1 / size:.6g} missing, or a factor {size:.6g}{shown} too many "
                 "(a scale, a count or a parameter that multiplies this gradient in the "
                 "chain rule)")
    return sign + cause


def hints(
    analytic: FloatArray,
    numeric: FloatArray,
    bound: FloatArray,
    failed: BoolArray,
    *,
    at_kink: BoolArray | None = None,
) -> str:
    """The hints for one failing tensor (arrays of the tensor's shape), ``""`` if none."""
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numeric, dtype=np.float64)
    tol = np.where(np.isfinite(bound), bound, 0.0)
    if not failed.any():
        return ""
    if not np.all(np.isfinite(a)):
        bad = np.argwhere(~np.isfinite(a))
        return (f"the analytic value is NaN or infinite at {len(bad)} entries, first at "
                f"{[int(i) for i in bad[0]]} (an overflow, a division by zero or 0 * inf)")
    if not np.all(np.isfinite(n)):
        return ""
    out = []
    if at_kink is not None and np.all(at_kink[failed]):
        out.append("every failing entry sits on a kink (e.g. relu at 0): check the "
                   "derivative's value at exactly 0, or move the inputs off the kink")
    if not np.any(a) and np.any(n):
        out.append("the analytic gradient is all zeros (never written, or its delta "
                   "is lost before this tensor)")
        return "; ".join(out)
    k = _uniform_ratio(a, n, tol)
    if k is not None:
        out.append(f"analytic = {k:.6g} x numeric on every entry: likely "
                   + ratio_causes(k))
    elif a.ndim == 2 and a.shape[0] == a.shape[1] and _within(a, n.T, tol.T):
        out.append("analytic = numeric transposed: the gradient is laid out (out, in) "
                   "for an (in, out) weight, e.g. delta.T @ a instead of a.T @ delta")
    else:
        out.extend(_permutations(a, n, tol))
        if not out:
            out.extend(_confined(failed))
    return "; ".join(out)


def _within(a: FloatArray, n: FloatArray, tol: FloatArray) -> bool:
    return bool(np.all(np.abs(a - n) <= tol))


def _uniform_ratio(a: FloatArray, n: FloatArray, tol: FloatArray) -> float | None:
    """``k`` with ``a = k n`` within ``|k|`` times the tolerance, if one exists (k != 1).

    Only a pattern when at least two entries are clearly non-zero: any two single
    numbers are a multiple of each other, so one entry says nothing about a factor."""
    nn = float(np.vdot(n, n))
    if nn == 0.0 or int(np.count_nonzero(np.abs(n) > tol)) < 2:
        return None
    k = float(np.vdot(a, n)) / nn
    if k == 0.0 or abs(k - 1.0) < 1e-6:
        return None
    if np.all(np.abs(a - k * n) <= max(abs(k), 1.0) * tol + 1e-9 * np.max(np.abs(a))):
        return k
    return None


def _permutations(a: FloatArray, n: FloatArray, tol: FloatArray) -> list[str]:
    """A hint when the analytic rows (or columns) are the numerical ones reordered."""
    if a.ndim == 1:
        # Entry by entry, each within its own tolerance: a sort compared at the largest
        # tolerance would call nearly-equal entries in the same order "reordered".
        order = _matching(a[:, None], n[:, None], tol[:, None], 0) if a.size > 1 else None
        if order is not None:
            return ["the analytic entries are the numerical ones in another order"]
        return []
    if a.ndim != 2:
        return []
    out = []
    for axis, what in ((0, "rows"), (1, "columns")):
        order = _matching(a, n, tol, axis)
        if order is not None:
            moved = [f"{i}<-{j}" for i, j in enumerate(order) if i != j][:6]
            out.append(f"the analytic {what} are the numerical {what} in another order "
                       f"(analytic {what[:-1]} <- numerical {what[:-1]}: {', '.join(moved)})")
    return out


def _matching(a: FloatArray, n: FloatArray, tol: FloatArray, axis: int) -> list[int] | None:
    """For each analytic row (axis 0) or column (1), the numerical one it equals, if that
    is a non-identity permutation."""
    rows_a = a if axis == 0 else a.T
    rows_n = n if axis == 0 else n.T
    rows_t = tol if axis == 0 else tol.T
    if rows_a.shape[0] < 2 or rows_a.shape[0] > _MAX_PERMUTED:
        return None
    order = []
    for i in range(rows_a.shape[0]):
        hits = np.flatnonzero(np.all(np.abs(rows_n - rows_a[i]) <= rows_t[i], axis=1))
        if hits.size == 0:
            return None
        order.append(int(hits[0]) if i not in hits else i)
    if sorted(order) != list(range(len(order))) or order == list(range(len(order))):
        return None
    return order


def _confined(failed: BoolArray) -> list[str]:
    """A hint when the failures lie in one row or one column of a matrix (one of
    several: in a single column, such as an ``(n, 1)`` bias, every entry is in it)."""
    if failed.ndim != 2 or int(failed.sum()) < 2:
        return []
    rows = np.flatnonzero(failed.any(axis=1))
    cols = np.flatnonzero(failed.any(axis=0))
    if rows.size == 1 and failed.shape[0] > 1:
        return [f"only row {int(rows[0])} fails: the weights of input {int(rows[0])} (check "
                "that input's activation or its derivative)"]
    if cols.size == 1 and failed.shape[1] > 1:
        return [f"only column {int(cols[0])} fails: the weights into unit {int(cols[0])} "
                "(check that unit's delta)"]
    return []


def failure_detail(
    shape: tuple[int, ...], entries: IntArray, analytic: FloatArray,
    numeric: FloatArray, bound: FloatArray, failed: BoolArray, at_kink: BoolArray,
    floor: float,
) -> tuple[str, FloatArray]:
    """The hints of a failing tensor and its signed relative error
    ``sign(n) (a - n) / max(|a|, |n|, floor)`` laid out in the tensor's ``shape`` (``nan``
    where no entry was compared). Signed along ``n`` so that a uniform ratio shows as
    one colour: ``a = 2n`` gives 0.5 everywhere, ``a = n / 2`` -0.5, ``a = -n`` -2.
    ``entries`` are the tensor-local flat indices compared; the matrix patterns need
    them all, the others work on any subset."""
    size = int(np.prod(shape, dtype=np.int64))
    signed = np.full(size, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        direction = np.where(numeric < 0, -1.0, 1.0)
        signed[entries] = direction * (analytic - numeric) / np.maximum(
            np.maximum(np.abs(analytic), np.abs(numeric)), floor
        )
    if entries.size == size and size:
        def full(values: Any, fill: float | bool) -> Any:
            out = np.full(size, fill, dtype=values.dtype)
            out[entries] = values
            return out.reshape(shape)

        text = hints(full(analytic, 0.0), full(numeric, 0.0), full(bound, 0.0),
                     full(failed, False), at_kink=full(at_kink, False))
    else:
        text = hints(analytic, numeric, bound, failed, at_kink=at_kink)
    return text, signed.reshape(shape)
