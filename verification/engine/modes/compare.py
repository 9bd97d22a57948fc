"""Numerical derivatives with kinks handled and a second opinion, their comparison with
analytic values, and the report row of one tensor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from funcnn.typing import FloatArray, IntArray
from verification.engine.bounds.settings import (
    Settings,
)
from verification.engine.bounds.tolerances import (
    Tolerance,
    inconclusive,
    relative_floor,
)
from verification.engine.common.layout import TensorInfo
from verification.engine.derivatives.kinks import KinkResolution, resolve_kinks
from verification.engine.derivatives.numeric import (
    Derivative,
    OffsetFunction,
    derivatives,
    stencil_rounding,
)
from verification.reporting.patterns import failure_detail
from verification.reporting.report import CheckRow

__all__ = [
    "Comparison",
    "Numeric",
    "compare",
    "make_row",
    "median",
    "no_kinks",
    "numeric_derivatives",
    "second_opinion",
    "worst_entry",
]

BoolArray = NDArray[np.bool_]



@dataclass(frozen=True)
class Numeric:
    """Numerical derivatives of a set of problems, kinks handled."""

    derivative: Derivative
    kinks: KinkResolution


def numeric_derivatives(
    fn: OffsetFunction, steps: FloatArray, noise: float | FloatArray, settings: Settings,
    rtol: float,
) -> Numeric:
    rounding_floor = float(
        np.median(stencil_rounding(noise, steps / settings.step_factor, settings.order,
                                   settings.step_factor, False))
    ) if steps.size else 0.0
    common: dict[str, Any] = {
        "noise_scale": noise,
        "order": settings.order,
        "maxiter": settings.maxiter,
        "step_factor": settings.step_factor,
        # Refine only while the truncation error is large against what the check
        # can resolve: a small fraction of its relative tolerance, or float64 rounding.
        "atol": rounding_floor,
        "rtol": rtol / 16,
    }
    first = derivatives(fn, steps, **common)
    kinks = resolve_kinks(fn, steps, first, **common)
    return Numeric(kinks.derivative, kinks)


def second_opinion(
    fn: OffsetFunction, steps: FloatArray, noise: float | FloatArray, settings: Settings,
    rtol: float, members: IntArray, numeric: Numeric,
) -> Numeric:
    """Recompute ``members`` with a four times smaller step and one more iteration;
    keep, per entry, the estimate with the smaller error estimate."""
    if members.size == 0:
        return numeric
    finer = Settings(settings.order, settings.maxiter + 1, settings.step_factor,
                     settings.step_unit)
    sub_noise = noise if np.ndim(noise) == 0 else np.asarray(noise)[members]
    sub = numeric_derivatives(
        lambda k, t: fn(members[k], t), steps[members] / 4, sub_noise, finer, rtol
    )
    old = numeric.derivative.take(members)
    better = (sub.derivative.error < old.error) & ~sub.kinks.at_kink & ~numeric.kinks.at_kink[
        members
    ]
    chosen = members[better]
    derivative = numeric.derivative.put(chosen, sub.derivative.take(better))
    return Numeric(derivative, numeric.kinks)


# -- comparison -----------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """Per-entry outcome of comparing analytic values with numerical derivatives."""

    diff: FloatArray
    bound: FloatArray
    failed: BoolArray
    undecided: BoolArray
    subgradient: BoolArray
    scale: Any


def compare(
    analytic: FloatArray, numeric: Numeric, tol: Tolerance, where: IntArray | slice,
    scale: float | FloatArray,
) -> Comparison:
    """Compare ``analytic`` with the numerical entries ``where`` of ``numeric``."""
    d = numeric.derivative.take(where) if not isinstance(where, slice) else numeric.derivative
    kinks = numeric.kinks
    at_kink = kinks.at_kink[where]
    atol = tol.atol
    bound = Tolerance(atol, tol.rtol, tol.k).bound(d.value, d.error)
    diff = np.abs(analytic - d.value)
    # At a kink: distance from the interval between the one-sided derivatives.
    left, right = kinks.left[where], kinks.right[where]
    lo, hi = np.fmin(left, right), np.fmax(left, right)
    side_err = np.fmax(kinks.left_error[where], kinks.right_error[where])
    kink_bound = Tolerance(atol, tol.rtol, tol.k).bound(
        np.fmax(np.abs(lo), np.abs(hi)), side_err
    )
    outside = np.maximum(lo - analytic, analytic - hi)
    diff = np.where(at_kink, np.maximum(outside, 0.0), diff)
    bound = np.where(at_kink, kink_bound, bound)
    finite = np.isfinite(d.value) & np.isfinite(diff) & np.isfinite(bound)
    ok = finite & (diff <= bound)
    undecided = ~ok & (
        ~finite | (inconclusive(d.truncation, d.rounding, scale, tol.k) & ~at_kink)
    )
    # A NaN or infinite analytic value is wrong whatever the numerical one is: it fails,
    # and counts as infinitely far off so that the worst index points at it.
    broken = ~np.isfinite(analytic)
    diff = np.where(broken, np.inf, diff)
    undecided = np.asarray(undecided, dtype=bool) & ~broken
    failed = ~ok & ~undecided
    subgradient = ok & at_kink
    return Comparison(diff, np.where(finite, bound, np.nan), failed, undecided, subgradient,
                       scale)


def worst_entry(cmp: Comparison) -> int:
    """The entry closest to failing: largest ``diff / bound`` (non-finite bounds first)."""
    usable = np.isfinite(cmp.bound) & (cmp.bound > 0) & np.isfinite(cmp.diff)
    ratio = np.full(cmp.diff.shape, np.inf)
    np.divide(cmp.diff, cmp.bound, out=ratio, where=usable)
    ratio = np.where(np.isfinite(cmp.bound) & (cmp.bound == 0) & (cmp.diff == 0), 0.0, ratio)
    ratio = np.where(np.isnan(cmp.diff), -1.0, ratio)
    return int(np.argmax(ratio)) if ratio.size else -1


def median(values: FloatArray) -> float:
    """``np.median`` of a non-empty array, without its overhead on a handful of entries."""
    flat = values.reshape(-1)
    lo, hi = (flat.size - 1) // 2, flat.size // 2
    part = np.partition(flat, [lo, hi])
    return float(0.5 * (part[lo] + part[hi]))


def make_row(
    check: str, info: TensorInfo, mode: str, dtype: Any, entries: IntArray, analytic: FloatArray,
    numeric: Numeric, cmp: Comparison, where: IntArray | slice, seconds: float,
    probes: int = 0, note: str = "",
) -> CheckRow:
    """A report row for one tensor; ``entries`` are the tensor-local indices compared."""
    d = numeric.derivative.take(where) if not isinstance(where, slice) else numeric.derivative
    kinks = numeric.kinks
    count = int(analytic.size)
    if count == 0:
        return CheckRow(check, info.name, info.shape, mode, str(np.dtype(dtype)), "pass",
                        seconds=seconds, note=note or "empty tensor")
    worst = worst_entry(cmp)
    floor = relative_floor(dtype, cmp.scale)
    rel = cmp.diff / np.maximum(np.maximum(np.abs(analytic), np.abs(d.value)), floor)
    # count_nonzero and fmax.reduce: the cheapest counts and NaN-ignoring maxima (a
    # directional check builds its rows in microseconds).
    n_failed = int(np.count_nonzero(cmp.failed))
    n_undecided = int(np.count_nonzero(cmp.undecided))
    n_subgradient = int(np.count_nonzero(cmp.subgradient))
    if n_failed:
        verdict = "fail"
    elif n_undecided:
        verdict = "inconclusive"
    elif n_subgradient:
        verdict = "subgradient"
    else:
        verdict = "pass"
    index = info.unflat(info.offset + int(entries[worst])) if mode != "directional" else (
        int(entries[worst]),
    )
    ratio = cmp.diff[worst] / cmp.bound[worst] if cmp.bound[worst] > 0 else np.inf
    hint, errors = "", None
    if n_failed and mode != "directional":
        hint, errors = failure_detail(info.shape, entries, analytic, d.value, cmp.bound,
                                      cmp.failed, kinks.at_kink[where], floor)
    return CheckRow(
        check=check,
        tensor=info.name,
        shape=info.shape,
        mode=mode,
        dtype=str(np.dtype(dtype)),
        verdict=verdict,
        n_checked=count,
        step=median(d.step),
        max_abs_error=float(np.fmax.reduce(cmp.diff, axis=None)),
        max_rel_error=float(np.fmax.reduce(rel, axis=None)),
        error_estimate=float(d.error[worst]),
        tolerance=float(cmp.bound[worst]),
        ratio=float(ratio),
        worst_index=index,
        analytic=float(analytic[worst]),
        numeric=float(d.value[worst]),
        n_failed=n_failed,
        n_inconclusive=n_undecided,
        failed_at_kink=int(np.count_nonzero(cmp.failed & kinks.at_kink[where])),
        kinks=int(np.count_nonzero(kinks.flagged[where])),
        kinks_resolved=int(np.count_nonzero(kinks.resolved[where])),
        subgradient=n_subgradient,
        probes=probes,
        seconds=seconds,
        note=note,
        hint=hint,
        errors=errors,
    )


def no_kinks(derivative: Derivative) -> KinkResolution:
    m = derivative.value.size
    none = np.zeros(m, dtype=bool)
    nan = np.full(m, np.nan)
    return KinkResolution(derivative, none, none, none, nan, nan, nan, nan)


