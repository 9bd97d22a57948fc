"""The gradient-check engine: analytic gradients against scipy finite differences.

Two entry points build on one comparison core:

- :func:`check_gradients` for any implementation: ``loss_fn(params) -> float`` and
  ``grad_fn(params) -> Params`` over any pytree of arrays;
- :func:`check_network` for a funcnn MLP, which uses the structured evaluator
  (:class:`~verification.perturbed.NetworkLoss`, full mode on 26k parameters in about a
  second) and the per-entry rounding model of the analytic gradient
  (:mod:`verification.error_model`).

Modes: ``"full"`` compares every coordinate; ``"subset"`` a chosen or random subset
per tensor; ``"directional"`` compares ``grad . v`` with the numerical derivative of
``t -> L(theta + t v)`` for ``probes`` random unit directions *per tensor* (so a small
tensor's error cannot hide inside a large inner product), and a failing tensor is then
narrowed down by bisection (halving the support of the failing probe) and checked in
full mode on the remaining block, to name the worst entry.

Every numerical derivative comes from :func:`verification.numeric.derivatives` (scipy),
kinks are handled by :mod:`verification.kinks`, the pass condition and constants are in
:mod:`verification.tolerances`, and the result is a :class:`~verification.report.Report`
with one row per tensor.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from funcnn.core.losses import get_loss
from funcnn.core.network import check_params, value_and_grad
from funcnn.core.pytree import tree_flatten, tree_leaves, tree_structure, tree_unflatten
from funcnn.core.spec import MLP
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.typing import Array, FloatArray, IntArray, Params
from verification.arguments import (
    check_callable,
    check_float_dtype,
    check_nonnegative_number,
    check_seed,
    require_finite,
)
from verification.error_model import gradient_error_bound, reference_gradient
from verification.kinks import KinkResolution, resolve_kinks
from verification.numeric import Derivative, OffsetFunction, derivatives, stencil_rounding
from verification.perturbed import (
    Directions,
    GenericLoss,
    LogitsLoss,
    NetworkLoss,
    PerturbedLoss,
    TensorInfo,
    block_key,
    tensor_block,
    tensor_layout,
)
from verification.report import CheckRow, Report
from verification.threads import single_threaded_blas
from verification.tolerances import (
    EPS64,
    MAXITER,
    ORDER,
    STEP_FACTOR,
    STEP_UNIT,
    Tolerance,
    inconclusive,
    relative_floor,
)

__all__ = [
    "BISECT_LEAF",
    "FULL_MODE_LIMIT",
    "MOVE_SCALE",
    "RECHECK_FULL_LIMIT",
    "Settings",
    "check_gradients",
    "check_loss_gradient",
    "check_network",
    "check_problems",
    "check_settings",
    "compare_derivative",
]

BoolArray = NDArray[np.bool_]

FULL_MODE_LIMIT = 30_000
"""``mode="auto"`` uses full mode up to this many parameters, directional above."""

MOVE_SCALE = 1e-4
"""Relative size of the random move off a multiple kink (see :func:`_moved_params`)."""

RECHECK_FULL_LIMIT = 8192
"""A failing directional block of at most this many entries is re-checked in full."""

BISECT_LEAF = 512
"""Bisection of a larger failing block stops at this many entries, checked in full."""

MODES = ("full", "subset", "directional")

TolFactory = Callable[[IntArray], Tolerance]
"""The tolerance of a tensor's entries, given the tensor-local indices compared."""


@dataclass(frozen=True)
class Settings:
    """Numerical settings of a check (defaults from :mod:`verification.tolerances`).

    ``step_unit`` is the initial step in units of pre-activation change (structured
    evaluator) or of the parameter itself (generic loss, where it is scaled by
    ``max(1, |theta_i|)``).
    """

    order: int = ORDER
    maxiter: int = MAXITER
    step_factor: float = STEP_FACTOR
    step_unit: float = STEP_UNIT


def check_settings(settings: Any) -> Settings:
    """``settings`` (``None``: the defaults) if every field is usable by scipy.

    Checked by the entry points rather than in ``__post_init__`` so that a bad value is
    reported where it is used, naming the field. ``maxiter >= 2`` because the first
    iteration has no error estimate, and the pass condition needs one.
    """
    if settings is None:
        return Settings()
    if not isinstance(settings, Settings):
        raise ArgumentTypeError(
            f"settings: expected a verification.Settings, got {type(settings).__name__}"
        )
    for field_name, least in (("order", 1), ("maxiter", 2)):
        value = getattr(settings, field_name)
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
            raise InvalidArgumentError(
                f"settings.{field_name}: expected an int >= {least}, got {value!r}"
            )
    for field_name, above in (("step_factor", 1.0), ("step_unit", 0.0)):
        value = getattr(settings, field_name)
        number = isinstance(value, int | float | np.integer | np.floating) and not isinstance(
            value, bool
        )
        if not (number and math.isfinite(float(value)) and float(value) > above):
            raise InvalidArgumentError(
                f"settings.{field_name}: expected a finite number > {above:g}, got {value!r}"
            )
    return settings


# -- numerical derivatives with kink handling and a second opinion --------------------


@dataclass(frozen=True)
class _Numeric:
    """Numerical derivatives of a set of problems, kinks handled."""

    derivative: Derivative
    kinks: KinkResolution


def _numeric(
    fn: OffsetFunction, steps: FloatArray, noise: float | FloatArray, settings: Settings,
    rtol: float,
) -> _Numeric:
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
    return _Numeric(kinks.derivative, kinks)


def _second_opinion(
    fn: OffsetFunction, steps: FloatArray, noise: float | FloatArray, settings: Settings,
    rtol: float, members: IntArray, numeric: _Numeric,
) -> _Numeric:
    """Recompute ``members`` with a four times smaller step and one more iteration;
    keep, per entry, the estimate with the smaller error estimate."""
    if members.size == 0:
        return numeric
    finer = Settings(settings.order, settings.maxiter + 1, settings.step_factor,
                     settings.step_unit)
    sub_noise = noise if np.ndim(noise) == 0 else np.asarray(noise)[members]
    sub = _numeric(lambda k, t: fn(members[k], t), steps[members] / 4, sub_noise, finer, rtol)
    old = numeric.derivative.take(members)
    better = (sub.derivative.error < old.error) & ~sub.kinks.at_kink & ~numeric.kinks.at_kink[
        members
    ]
    chosen = members[better]
    derivative = numeric.derivative.put(chosen, sub.derivative.take(better))
    return _Numeric(derivative, numeric.kinks)


# -- comparison -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Comparison:
    """Per-entry outcome of comparing analytic values with numerical derivatives."""

    diff: FloatArray
    bound: FloatArray
    failed: BoolArray
    undecided: BoolArray
    subgradient: BoolArray
    scale: Any


def _compare(
    analytic: FloatArray, numeric: _Numeric, tol: Tolerance, where: IntArray | slice,
    scale: float | FloatArray,
) -> _Comparison:
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
    undecided = np.asarray(undecided, dtype=bool)
    failed = ~ok & ~undecided
    subgradient = ok & at_kink
    return _Comparison(diff, np.where(finite, bound, np.nan), failed, undecided, subgradient,
                       scale)


def _worst(cmp: _Comparison) -> int:
    """The entry closest to failing: largest ``diff / bound`` (non-finite bounds first)."""
    usable = np.isfinite(cmp.bound) & (cmp.bound > 0) & np.isfinite(cmp.diff)
    ratio = np.full(cmp.diff.shape, np.inf)
    np.divide(cmp.diff, cmp.bound, out=ratio, where=usable)
    ratio = np.where(np.isfinite(cmp.bound) & (cmp.bound == 0) & (cmp.diff == 0), 0.0, ratio)
    ratio = np.where(np.isnan(cmp.diff), -1.0, ratio)
    return int(np.argmax(ratio)) if ratio.size else -1


def _median(values: FloatArray) -> float:
    """``np.median`` of a non-empty array, without its overhead on a handful of entries."""
    flat = values.reshape(-1)
    lo, hi = (flat.size - 1) // 2, flat.size // 2
    part = np.partition(flat, [lo, hi])
    return float(0.5 * (part[lo] + part[hi]))


def _row(
    check: str, info: TensorInfo, mode: str, dtype: Any, entries: IntArray, analytic: FloatArray,
    numeric: _Numeric, cmp: _Comparison, where: IntArray | slice, seconds: float,
    probes: int = 0, note: str = "",
) -> CheckRow:
    """A report row for one tensor; ``entries`` are the tensor-local indices compared."""
    d = numeric.derivative.take(where) if not isinstance(where, slice) else numeric.derivative
    kinks = numeric.kinks
    count = int(analytic.size)
    if count == 0:
        return CheckRow(check, info.name, info.shape, mode, str(np.dtype(dtype)), "pass",
                        seconds=seconds, note=note or "empty tensor")
    worst = _worst(cmp)
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
    return CheckRow(
        check=check,
        tensor=info.name,
        shape=info.shape,
        mode=mode,
        dtype=str(np.dtype(dtype)),
        verdict=verdict,
        n_checked=count,
        step=_median(d.step),
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
    )


# -- modes ----------------------------------------------------------------------------


def _coordinate_fn(evaluator: PerturbedLoss, flat_index: IntArray) -> OffsetFunction:
    def fn(k: IntArray, t: FloatArray) -> tuple[FloatArray, BoolArray]:
        return evaluator.coordinates(flat_index[k], t)

    return fn


def _check_coordinates(
    check: str, evaluator: PerturbedLoss, analytic: Sequence[FloatArray],
    layout: Sequence[TensorInfo], tols: Sequence[TolFactory],
    dtype: Any, selections: Sequence[IntArray], mode: str, settings: Settings,
    steps_all: Callable[[], FloatArray], note: str = "",
) -> list[CheckRow]:
    """Full or subset mode: one scipy problem per selected coordinate, per tensor."""
    rows = []
    rtol = tols[0](np.zeros(0, dtype=np.int64)).rtol if tols else 0.0
    for info, a_flat, tol_of, local in zip(layout, analytic, tols, selections, strict=True):
        start = time.perf_counter()
        flat_index = info.offset + local
        fn = _coordinate_fn(evaluator, flat_index)
        steps = steps_all()[flat_index]
        numeric = _numeric(fn, steps, evaluator.noise_scale, settings, rtol)
        a_sel = a_flat[local]
        scale = float(np.max(np.abs(numeric.derivative.value), initial=0.0))
        tol = tol_of(local)
        cmp = _compare(a_sel, numeric, tol, slice(None), scale)
        doubtful = np.flatnonzero(cmp.failed | cmp.undecided)
        if doubtful.size:
            numeric = _second_opinion(fn, steps, evaluator.noise_scale, settings, rtol,
                                      doubtful, numeric)
            cmp = _compare(a_sel, numeric, tol, slice(None), scale)
        rows.append(_row(check, info, mode, dtype, local, a_sel, numeric, cmp, slice(None),
                         time.perf_counter() - start, note=note))
    return rows


def _unit_directions(
    layout: Sequence[TensorInfo], tensors: Sequence[int], probes: int, rng: np.random.Generator
) -> Directions:
    """``probes`` random unit vectors per tensor in ``tensors``: independent random signs
    scaled by ``1 / sqrt(size)`` (Rademacher probes; every entry weighs the same, so no
    entry can hide behind a small weight in every probe).

    The signs are the bits of ``rng.bytes``: one random bit per entry, drawn for all
    tensors at once (a directional check is meant to take milliseconds).
    """
    sizes = [layout[index].size for index in tensors]
    total = probes * sum(sizes)
    bits = np.unpackbits(np.frombuffer(rng.bytes(-(-total // 8)), dtype=np.uint8), count=total)
    signs = bits.astype(np.float64)
    signs *= 2.0
    signs -= 1.0
    which: list[int] = []
    values: list[FloatArray] = []
    blocks: dict[int, FloatArray] = {}
    start = 0
    for index, size in zip(tensors, sizes, strict=True):
        block = signs[start : start + probes * size].reshape(probes, size)
        block *= 1.0 / np.sqrt(size)
        start += probes * size
        which += [index] * probes
        values += list(block)
        blocks[index] = block
    dirs = Directions(tuple(which), tuple(values))
    for index, rows in blocks.items():
        dirs.cache[block_key(index)] = rows
    return dirs


def _direction_fn(evaluator: PerturbedLoss, dirs: Directions) -> OffsetFunction:
    def fn(k: IntArray, t: FloatArray) -> tuple[FloatArray, BoolArray]:
        return evaluator.directions(dirs, k, t)

    return fn


def _directional_numeric(
    evaluator: PerturbedLoss, dirs: Directions, settings: Settings, rtol: float
) -> _Numeric:
    steps = settings.step_unit / evaluator.direction_scale(dirs)
    return _numeric(_direction_fn(evaluator, dirs), steps, evaluator.noise_scale, settings, rtol)


def _project(
    dirs: Directions, analytic: Sequence[FloatArray], tols: Sequence[TolFactory]
) -> tuple[FloatArray, FloatArray]:
    """``grad . v`` and ``sum |v| atol`` per direction (one product per tensor)."""
    proj = np.empty(len(dirs))
    atol = np.empty(len(dirs))
    owner = np.asarray(dirs.tensor, dtype=np.int64)
    for index in dict.fromkeys(dirs.tensor):
        members = np.flatnonzero(owner == index)
        block = tensor_block(dirs, index, members)
        entry_atol = np.broadcast_to(tols[index](np.arange(block.shape[1])).atol,
                                     block.shape[1:])
        proj[members] = block @ analytic[index]
        atol[members] = np.abs(block) @ entry_atol
    return proj, atol


def _check_directional(
    check: str, evaluator: PerturbedLoss, analytic: Sequence[FloatArray],
    layout: Sequence[TensorInfo], tols: Sequence[TolFactory],
    dtype: Any, probes: int, rng: np.random.Generator, settings: Settings,
    steps_all: Callable[[], FloatArray],
) -> list[CheckRow]:
    """Directional mode: ``probes`` unit directions per tensor, failures localised."""
    start = time.perf_counter()
    tensors = [i for i, info in enumerate(layout) if info.size]
    dirs = _unit_directions(layout, tensors, probes, rng)
    rtol = tols[0](np.zeros(0, dtype=np.int64)).rtol if tols else 0.0
    numeric = _directional_numeric(evaluator, dirs, settings, rtol)
    proj, atol = _project(dirs, analytic, tols)
    owner = np.asarray(dirs.tensor)
    # One comparison for every probe; each probe's scale is its tensor's.
    scales = np.zeros(len(dirs))
    for index in tensors:
        members = np.flatnonzero(owner == index)
        scales[members] = np.max(np.abs(numeric.derivative.value[members]))
    every = _compare(proj, numeric, Tolerance(atol, rtol), slice(None), scales)
    shared = (time.perf_counter() - start) / max(len(tensors), 1)
    rows = []
    for index, info in enumerate(layout):
        members = np.flatnonzero(owner == index)
        if members.size == 0:
            rows.append(CheckRow(check, info.name, info.shape, "directional", str(np.dtype(dtype)),
                                 "pass", note="empty tensor"))
            continue
        cmp = _Comparison(every.diff[members], every.bound[members], every.failed[members],
                          every.undecided[members], every.subgradient[members],
                          float(scales[members[0]]))
        row = _row(check, info, "directional", dtype, np.arange(members.size), proj[members],
                   numeric, cmp, members, shared, probes=int(members.size),
                   note="worst_index is the probe number")
        if row.verdict == "fail":
            worst_probe = members[_worst(cmp)]
            row = _localise(check, evaluator, analytic, layout, tols, dtype, settings, index,
                            dirs.values[worst_probe], row, steps_all)
        rows.append(row)
    return rows


def _localise(
    check: str, evaluator: PerturbedLoss, analytic: Sequence[FloatArray],
    layout: Sequence[TensorInfo], tols: Sequence[TolFactory],
    dtype: Any, settings: Settings, index: int, v: FloatArray, probe_row: CheckRow,
    steps_all: Callable[[], FloatArray],
) -> CheckRow:
    """Name the worst entry of a tensor whose directional probe failed.

    Small tensors are re-checked in full. Larger ones are bisected: the failing probe's
    support is halved, each half probed (direction renormalised), the half with the
    larger ``|a - n| / tolerance`` kept, until :data:`BISECT_LEAF` entries remain, which
    are checked in full.
    """
    start = time.perf_counter()
    info = layout[index]
    support = np.arange(info.size)
    halvings = 0
    rtol = tols[index](np.zeros(0, dtype=np.int64)).rtol
    while support.size > RECHECK_FULL_LIMIT or (halvings and support.size > BISECT_LEAF):
        halves = np.array_split(support, 2)
        values = []
        for half in halves:
            w = np.zeros(info.size)
            w[half] = v[half]
            norm = float(np.linalg.norm(w))
            values.append(w / norm if norm > 0 else w)
        dirs = Directions((index, index), tuple(values))
        numeric = _directional_numeric(evaluator, dirs, settings, rtol)
        proj, atol = _project(dirs, analytic, tols)
        bound = Tolerance(atol, rtol).bound(numeric.derivative.value, numeric.derivative.error)
        ratio = np.abs(proj - numeric.derivative.value) / bound
        support = halves[int(np.nanargmax(ratio))]
        halvings += 1
    rows = _check_coordinates(
        check, evaluator, [analytic[index]], [info], [tols[index]], dtype, [support], "full",
        settings, steps_all,
    )
    full = rows[0]
    how = (
        f"full re-check of all {info.size} entries"
        if halvings == 0
        else f"bisected {halvings} times, full re-check of {support.size} entries"
    )
    note = (
        f"directional probe failed (|a-n|={probe_row.max_abs_error:.2e}, "
        f"a={probe_row.analytic:.6e}, n={probe_row.numeric:.6e}); {how}"
    )
    verdict = "fail" if full.verdict in ("pass", "subgradient") else full.verdict
    if full.verdict in ("pass", "subgradient"):
        note += "; no single entry fails on its own (error spread thinly over many entries)"
    return CheckRow(
        **{
            **full.__dict__,
            "mode": "directional",
            "verdict": verdict,
            "probes": probe_row.probes,
            "seconds": probe_row.seconds + time.perf_counter() - start,
            "note": note,
        }
    )


# -- elementwise problems and precomputed derivatives ----------------------------------


def _no_kinks(derivative: Derivative) -> KinkResolution:
    m = derivative.value.size
    none = np.zeros(m, dtype=bool)
    nan = np.full(m, np.nan)
    return KinkResolution(derivative, none, none, none, nan, nan, nan, nan)


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
    numeric = _numeric(fn, np.asarray(steps, dtype=np.float64), noise_scale, settings,
                       tolerance.rtol)
    scale = float(np.max(np.abs(numeric.derivative.value), initial=0.0))
    cmp = _compare(a, numeric, tolerance, slice(None), scale)
    doubtful = np.flatnonzero(cmp.failed | cmp.undecided)
    if doubtful.size:
        numeric = _second_opinion(fn, np.asarray(steps, dtype=np.float64), noise_scale,
                                  settings, tolerance.rtol, doubtful, numeric)
        cmp = _compare(a, numeric, tolerance, slice(None), scale)
    return _row(check, _single_tensor(tensor, shape), "full", dtype, np.arange(a.size), a,
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
    numeric = _Numeric(derivative, _no_kinks(derivative))
    scale = float(np.max(np.abs(derivative.value), initial=0.0))
    cmp = _compare(a, numeric, tolerance, slice(None), scale)
    return _row(check, _single_tensor(tensor, shape), "full", dtype, np.arange(a.size), a,
                numeric, cmp, slice(None), seconds, note=note)


# -- selections -----------------------------------------------------------------------


def _selections(
    layout: Sequence[TensorInfo], subset: Any, rng: np.random.Generator
) -> list[IntArray]:
    """Tensor-local indices to check: all, ``subset`` random ones per tensor, or given."""
    if subset is None:
        return [np.arange(info.size) for info in layout]
    if isinstance(subset, int | np.integer) and not isinstance(subset, bool):
        if subset <= 0:
            raise InvalidArgumentError(f"subset: expected a positive count, got {subset}")
        return [
            np.sort(rng.choice(info.size, size=min(int(subset), info.size), replace=False))
            if info.size
            else np.zeros(0, dtype=np.int64)
            for info in layout
        ]
    if isinstance(subset, Mapping):
        names = {info.name for info in layout}
        unknown = set(subset) - names
        if unknown:
            raise InvalidArgumentError(
                f"subset: unknown tensors {sorted(unknown)}; expected names from {sorted(names)}"
            )
        out = []
        for info in layout:
            raw = subset.get(info.name, [])
            local = np.asarray(raw, dtype=np.int64).reshape(-1) if info.shape == () else (
                _local_indices(info, raw)
            )
            if local.size and (local.min() < 0 or local.max() >= info.size):
                raise InvalidArgumentError(f"subset[{info.name!r}]: index out of range")
            out.append(np.unique(local))
        return out
    flat = np.asarray(subset)
    if flat.dtype.kind not in "iu" or flat.ndim != 1:
        raise ArgumentTypeError(
            "subset: expected None, a count, a {tensor name: indices} mapping or a 1-D "
            f"array of flat indices, got {type(subset).__name__}"
        )
    total = layout[-1].offset + layout[-1].size if layout else 0
    if flat.size and (flat.min() < 0 or flat.max() >= total):
        raise InvalidArgumentError(f"subset: flat indices must lie in [0, {total})")
    return [
        np.unique(flat[(flat >= info.offset) & (flat < info.offset + info.size)] - info.offset)
        for info in layout
    ]


def _local_indices(info: TensorInfo, raw: Any) -> IntArray:
    """Flat tensor-local indices from ints or index tuples."""
    arr = np.asarray(raw, dtype=np.int64)
    if arr.ndim == 2 and arr.shape[1] == len(info.shape):
        out: IntArray = np.ravel_multi_index(tuple(arr.T), info.shape)
        return out
    return arr.reshape(-1)


# -- public entry points --------------------------------------------------------------


def _flat_analytic(grads: Any, params: Any, name: str) -> list[FloatArray]:
    """The analytic gradient's leaves as flat float64 arrays, structure-checked."""
    out: list[FloatArray] = []
    if tree_structure(grads) != tree_structure(params):
        raise InvalidArgumentError(
            f"{name}: gradient structure {tree_structure(grads)} does not match params "
            f"{tree_structure(params)}"
        )
    for info, g in zip(tensor_layout(params), tree_leaves(grads), strict=True):
        arr = np.asarray(g)
        if arr.shape != info.shape:
            raise InvalidArgumentError(
                f"{name}: gradient of {info.name} has shape {arr.shape}, expected {info.shape}"
            )
        if arr.dtype.kind != "f":
            raise ArgumentTypeError(f"{name}: gradient of {info.name} has dtype {arr.dtype}")
        if not np.all(np.isfinite(arr)):
            # A NaN would otherwise reach nanmax/argmax in the report (a RuntimeWarning)
            # and could never be compared with anything.
            where = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
            raise InvalidArgumentError(
                f"{name}: expected finite values, found {arr[where]} in {info.name} at "
                f"index {where}"
            )
        out.append(arr.astype(np.float64).reshape(-1))
    return out


def _run(
    check: str, evaluator: PerturbedLoss, analytic: list[FloatArray], layout: Sequence[TensorInfo],
    tols: Sequence[TolFactory], dtype: Any, mode: str, probes: int,
    subset: Any, seed: int, settings: Settings, steps_all: Callable[[], FloatArray],
    meta: dict[str, Any],
) -> Report:
    rng = np.random.default_rng(seed)
    if mode == "directional":
        if not (isinstance(probes, int) and probes >= 3):
            raise InvalidArgumentError(f"probes: expected an int >= 3, got {probes!r}")
        rows = _check_directional(check, evaluator, analytic, layout, tols, dtype, probes, rng,
                                  settings, steps_all)
    else:
        selections = _selections(layout, subset if mode == "subset" else None, rng)
        rows = _check_coordinates(check, evaluator, analytic, layout, tols, dtype, selections,
                                  mode, settings, steps_all)
    return Report(tuple(rows), {**meta, "seed": seed})


def _resolve_mode(mode: str, n: int, subset: Any) -> str:
    if mode not in (*MODES, "auto"):
        raise InvalidArgumentError(f"mode: expected one of {[*MODES, 'auto']}, got {mode!r}")
    if mode == "auto":
        if subset is not None:
            return "subset"
        return "full" if n <= FULL_MODE_LIMIT else "directional"
    if mode == "subset" and subset is None:
        raise InvalidArgumentError(
            "subset: mode 'subset' needs a subset (count, mapping or indices)"
        )
    return mode


def check_gradients(
    loss_fn: Callable[[Any], float],
    grad_fn: Callable[[Any], Any],
    params: Any,
    *,
    mode: str = "full",
    probes: int = 3,
    subset: Any = None,
    seed: int = 0,
    name: str = "check_gradients",
    batched_loss: Callable[[FloatArray], FloatArray] | None = None,
    pattern_fn: Callable[[Any], Array] | None = None,
    error_bound: Any = None,
    noise_scale: float | None = None,
    settings: Settings | None = None,
) -> Report:
    """Check ``grad_fn`` against finite differences of ``loss_fn`` at ``params``.

    ``params`` is any pytree of float arrays (lists, tuples, dicts); ``grad_fn(params)``
    must return a pytree of the same structure and shapes. ``loss_fn`` is called with
    float64 copies of ``params`` (the numerical reference is always float64; the analytic
    gradient may be float32, and is then held to float32 tolerances), so it must accept
    float64 leaves. ``batched_loss(thetas)``, if given, evaluates a ``(P, n)`` matrix of
    flat float64 parameter vectors (``funcnn.ravel`` order) in one call. ``pattern_fn``
    returns the activation pattern (e.g. relu masks) for kink detection. ``mode``:
    ``"full"``, ``"subset"`` (``subset`` = count per tensor, ``{tensor name: indices}``
    or flat indices) or ``"directional"`` (``probes`` >= 3 per tensor). ``error_bound``,
    a pytree like ``params``, bounds the rounding error of each analytic entry (``atol``
    is then :data:`~verification.tolerances.MODEL_SAFETY` times it); without one,
    ``atol`` is ``sqrt(eps) * max |analytic|`` per tensor. ``noise_scale`` is the
    magnitude whose float64 rounding bounds one evaluation of ``loss_fn`` (default its
    value); give it when the loss is computed from much larger terms.

    Returns a :class:`~verification.report.Report` with one row per tensor;
    ``report.passed`` is the verdict.
    """
    check_callable("loss_fn", loss_fn)
    check_callable("grad_fn", grad_fn)
    check_callable("batched_loss", batched_loss, optional=True)
    check_callable("pattern_fn", pattern_fn, optional=True)
    seed = check_seed(seed)
    if noise_scale is not None:
        noise_scale = check_nonnegative_number("noise_scale", noise_scale)
    if not isinstance(name, str):
        raise ArgumentTypeError(f"name: expected a str, got {type(name).__name__}")
    settings = check_settings(settings)
    with single_threaded_blas():
        return _check_gradients(loss_fn, grad_fn, params, mode, probes, subset, seed, name,
                                batched_loss, pattern_fn, error_bound, noise_scale, settings)


def _check_gradients(
    loss_fn: Callable[[Any], float], grad_fn: Callable[[Any], Any], params: Any, mode: str,
    probes: int, subset: Any, seed: int, name: str,
    batched_loss: Callable[[FloatArray], FloatArray] | None,
    pattern_fn: Callable[[Any], Array] | None, error_bound: Any, noise_scale: float | None,
    settings: Settings,
) -> Report:
    grads = grad_fn(params)
    # The loss first: at non-finite params it is the loss that says so (the gradient's
    # NaN would only be a consequence).
    evaluator = GenericLoss(loss_fn, params, batched_loss=batched_loss, pattern_fn=pattern_fn,
                            noise_scale=noise_scale)
    analytic = _flat_analytic(grads, params, "grad_fn")
    leaves = tree_flatten(grads)[0]
    dtype = np.result_type(*[np.asarray(g).dtype for g in leaves]) if leaves else np.float64
    layout = tensor_layout(params)
    mode = _resolve_mode(mode, evaluator.n, subset)
    leaves64 = [np.asarray(x, dtype=np.float64).reshape(-1) for x in tree_leaves(params)]
    flat = np.concatenate(leaves64) if leaves64 else np.zeros(0)
    steps_all = cache(lambda: settings.step_unit * np.maximum(1.0, np.abs(flat)))
    scales = [max(float(np.max(np.abs(a), initial=0.0)), EPS64) for a in analytic]

    def scale_tol(scale: float) -> TolFactory:
        return lambda local: Tolerance.for_scale(dtype, scale)

    tols = [scale_tol(s) for s in scales]
    if error_bound is not None:
        bounds = _flat_analytic(error_bound, params, "error_bound")
        if any(np.any(b < 0) for b in bounds):
            raise InvalidArgumentError("error_bound: expected bounds >= 0")

        def model_tol(bound: FloatArray) -> TolFactory:
            return lambda local: Tolerance.for_model(dtype, bound[local])

        tols = [model_tol(b) for b in bounds]
    start = time.perf_counter()
    report = _run(name, evaluator, analytic, layout, tols, dtype, mode, probes, subset, seed,
                  settings, steps_all, {"loss_value": evaluator.value})
    rows = list(report.rows)
    if pattern_fn is not None:

        def rerun() -> list[CheckRow]:
            moved = _moved_params(params, seed)
            return list(_check_gradients(
                loss_fn, grad_fn, moved, mode, probes, subset, seed, name, batched_loss, None,
                error_bound, noise_scale, settings,
            ).rows)

        rows = _move_off_kinks(rows, rerun, seed)
    return Report(tuple(rows), {**report.meta, "seconds": time.perf_counter() - start})


def check_network(
    spec: MLP,
    params: Params,
    x: Array,
    y: Array,
    loss: str = "softmax_cross_entropy",
    *,
    mode: str = "auto",
    probes: int = 3,
    subset: Any = None,
    seed: int = 0,
    name: str | None = None,
    grad_fn: Callable[[Params], Params] | None = None,
    settings: Settings | None = None,
) -> Report:
    """Check a funcnn MLP's gradient of ``loss`` on the batch ``(x, y)``, per tensor.

    ``params`` (float32 or float64) and ``x`` share a dtype, as for
    :func:`funcnn.value_and_grad`, whose gradient is checked unless ``grad_fn(params)``
    provides another one (e.g. a deliberately broken one, to see the check fail). The
    numerical reference is float64 through the structured evaluator; tolerances come
    from the per-entry rounding model of a gradient computed in the params' dtype.
    ``mode="auto"``: full up to :data:`FULL_MODE_LIMIT` parameters, else directional.
    Returns a report with one row per tensor plus, first, a row confirming that the
    evaluator reproduces ``funcnn.loss``.
    """
    check_callable("grad_fn", grad_fn, optional=True)
    seed = check_seed(seed)
    if name is not None and not isinstance(name, str):
        raise ArgumentTypeError(f"name: expected a str or None, got {type(name).__name__}")
    settings = check_settings(settings)
    with single_threaded_blas():
        return _check_network(spec, params, x, y, loss, mode, probes, subset, seed, name,
                              grad_fn, settings)


def _check_network(
    spec: MLP, params: Params, x: Array, y: Array, loss: str, mode: str, probes: int,
    subset: Any, seed: int, name: str | None, grad_fn: Callable[[Params], Params] | None,
    settings: Settings,
) -> Report:
    dtype = check_params(spec, params)
    check = name or f"network {'-'.join(map(str, spec.sizes))} {loss} {dtype}"
    start = time.perf_counter()

    values: list[float] = []

    def run(at: Params) -> tuple[list[CheckRow], NetworkLoss]:
        evaluator = _network_loss(spec, at, x, y, loss)
        if grad_fn is None:
            value, grads = require_finite(
                f"params: funcnn.value_and_grad gives a non-finite loss or gradient in "
                f"{dtype} at these params and x (overflow); there is nothing to check",
                lambda: value_and_grad(spec, at, x, y, loss), _finite_value_and_grad,
            )
            values.append(value)
        else:
            grads = grad_fn(at)
        analytic = _flat_analytic(grads, at, "grad_fn")
        bounds = tree_leaves(
            gradient_error_bound(spec, at, x, y, loss, dtype, evaluator.forward_pass)
        )
        tols = [_model_tol(dtype, np.asarray(b, dtype=np.float64).reshape(-1)) for b in bounds]
        steps_all = cache(lambda: settings.step_unit / evaluator.coordinate_scale())
        resolved = _resolve_mode(mode, evaluator.n, subset)
        # A perturbed point of a finite problem may still overflow when the problem sits
        # near the float64 limit: its derivative is then non-finite and the entry is
        # reported inconclusive (see _compare), so numpy's warning carries nothing more.
        with np.errstate(over="ignore", invalid="ignore"):
            report = _run(check, evaluator, analytic, evaluator.layout, tols, dtype, resolved,
                          probes, subset, seed, settings, steps_all, {})
        return list(report.rows), evaluator

    rows, evaluator = run(params)
    rows = _move_off_kinks(rows, lambda: run(_moved_params(params, seed))[0], seed)
    # funcnn's own float64 loss, unless the value above was computed in float32.
    known = values[0] if values and dtype == np.float64 else None
    first = _consistency_row(check, spec, params, x, y, loss, evaluator, dtype, known)
    rows = [*rows, *_degenerate_rows(check, spec, params, x, y, loss)]
    return Report(
        (first, *rows),
        {"loss_value": evaluator.value, "seed": seed, "seconds": time.perf_counter() - start,
         "n_params": evaluator.n},
    )


def _degenerate_rows(check: str, spec: MLP, params: Params, x: Array, y: Array, loss: str
                     ) -> list[CheckRow]:
    """An inconclusive row when the exact gradient is identically zero (a softmax over one
    output): then a gradient of zeros passes, and the check proves nothing."""
    with np.errstate(all="ignore"):
        reference = tree_leaves(reference_gradient(spec, params, x, y, loss))
    if any(np.any(g != 0) for g in reference):
        return []
    return [CheckRow(check, "problem", (), "exact", str(np.dtype(check_params(spec, params))),
                     "inconclusive", note="the float64 gradient is identically zero on this "
                     "problem: any gradient of zeros would pass, so the check cannot fail")]


def _network_loss(spec: MLP, params: Params, x: Array, y: Array, loss: str) -> NetworkLoss:
    """The float64 evaluator at ``params``; :class:`NonFiniteError` if its forward pass
    overflows (finite but huge inputs or weights), which no finite difference survives."""

    def finite(evaluator: NetworkLoss) -> bool:
        inputs, pre = evaluator.forward_pass
        return bool(
            all(np.all(np.isfinite(t)) for t in (*inputs, *pre))
            and math.isfinite(evaluator.value)
            and math.isfinite(evaluator.noise_scale)
        )

    out: NetworkLoss = require_finite(
        "x: the float64 forward pass or loss at params and x is not finite (overflow); "
        "expected inputs and weights whose pre-activations and loss stay below 1e308",
        lambda: NetworkLoss(spec, params, x, y, loss), finite,
    )
    return out


def _finite_value_and_grad(result: tuple[float, Params]) -> bool:
    value, grads = result
    return math.isfinite(value) and all(np.all(np.isfinite(g)) for g in tree_leaves(grads))


def _model_tol(dtype: Any, bound: FloatArray) -> TolFactory:
    return lambda local: Tolerance.for_model(dtype, bound[local])


_KINK_STREAM = 0x6B696E6B
"""Second word of the seed of the move off a kink ("kink" in ASCII)."""


def _moved_params(params: Any, seed: int) -> Any:
    """``params`` moved by ``N(0, (MOVE_SCALE max(1, |p|))**2)`` per entry, drawn from
    ``default_rng([seed, _KINK_STREAM])``, in each leaf's dtype."""
    rng = np.random.default_rng([seed, _KINK_STREAM])
    leaves, treedef = tree_flatten(params)
    moved = []
    for leaf in leaves:
        arr = np.asarray(leaf)
        step = rng.standard_normal(arr.shape) * MOVE_SCALE * np.maximum(1.0, np.abs(arr))
        moved.append((arr + step).astype(arr.dtype))
    return tree_unflatten(treedef, moved)


def _move_off_kinks(
    rows: list[CheckRow], rerun: Callable[[], list[CheckRow]], seed: int
) -> list[CheckRow]:
    """Re-check, at a moved point, every tensor whose only failures sat on a kink.

    With several kinks crossing at the point (e.g. a sample whose pre-activations are
    all within 1e-12 of 0, so that the next layer's are too), the one-sided derivatives
    along a coordinate bracket the outer pieces only, while the analytic value is the
    gradient of a sliver around the point that no finite difference can resolve. Such
    entries are not failed on the spot: the whole check is repeated at ``params`` moved
    by :func:`_moved_params`, and the tensor's row there replaces the original, with the
    move and its seed in the note.
    """
    stuck = [
        i for i, row in enumerate(rows)
        if row.verdict == "fail" and row.n_failed and row.failed_at_kink == row.n_failed
    ]
    if not stuck:
        return rows
    again = {row.tensor: row for row in rerun()}
    out = list(rows)
    for i in stuck:
        old = rows[i]
        new = again[old.tensor]
        note = (
            f"{old.failed_at_kink} entries on several kinks at once fell outside the "
            f"one-sided derivatives; re-checked at params + N(0, ({MOVE_SCALE:g} "
            f"max(1,|p|))^2), seed [{seed}, {_KINK_STREAM:#x}]: {new.verdict}"
        )
        out[i] = replace(new, moved=old.failed_at_kink, kinks=old.kinks + new.kinks,
                         note=note + (f"; {new.note}" if new.note else ""))
    return out


def _consistency_row(
    check: str, spec: MLP, params: Params, x: Array, y: Array, loss: str,
    evaluator: NetworkLoss, dtype: Any, known: float | None = None,
) -> CheckRow:
    """The float64 evaluator must reproduce ``funcnn.loss`` at the float64 parameters
    (``known``: that value, when already computed)."""
    from funcnn.core.network import loss as funcnn_loss

    start = time.perf_counter()
    if known is None:
        p64 = [{k: np.asarray(v, dtype=np.float64) for k, v in layer.items()} for layer in params]
        x64 = np.asarray(x, dtype=np.float64)
        y_arr = np.asarray(y)
        y64 = y_arr.astype(np.float64) if y_arr.dtype.kind == "f" else y_arr
        # funcnn warns where it overflows; a non-finite value simply fails this row.
        with np.errstate(over="ignore", invalid="ignore"):
            reference = funcnn_loss(spec, p64, x64, y64, loss)  # type: ignore[arg-type]
    else:
        reference = known
    diff = abs(reference - evaluator.value)
    bound = 64 * EPS64 * max(evaluator.noise_scale, abs(reference), 1e-300)
    return CheckRow(
        check=check, tensor="loss value", shape=(), mode="exact", dtype="float64",
        verdict="pass" if diff <= bound else "fail", n_checked=1, max_abs_error=diff,
        max_rel_error=diff / max(abs(reference), EPS64), tolerance=bound,
        ratio=diff / bound, worst_index=(), analytic=reference, numeric=evaluator.value,
        seconds=time.perf_counter() - start,
        note="evaluator vs funcnn.loss (a = funcnn, n = evaluator)",
    )


def check_loss_gradient(
    loss: str,
    z: Array,
    y: Array,
    grad_fn: Callable[[FloatArray], FloatArray],
    *,
    name: str | None = None,
    tensor: str = "dL/dz",
    error_bound: FloatArray | None = None,
    settings: Settings | None = None,
) -> Report:
    """A loss gradient in the logits, ``grad_fn(z)`` (B, C), against finite differences
    of the loss in float64 (:class:`~verification.perturbed.LogitsLoss`, one row per
    perturbation), in full mode.

    ``z`` may be float32 (``grad_fn`` then runs in float32 and is held to float32
    tolerances); ``error_bound`` (B, C) bounds its rounding per entry. The first row
    confirms that the float64 reference reproduces ``funcnn``'s loss value.
    """
    from funcnn.core import losses as funcnn_losses

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
        rows = _check_coordinates(check, evaluator, analytic, [info], tols, dtype,
                                  [np.arange(evaluator.n)], "full", settings, steps_all)
        y_arr = np.asarray(y)
        y64 = y_arr.astype(np.float64) if y_arr.dtype.kind == "f" else y_arr
        reference = float(getattr(funcnn_losses, get_loss(loss).name)(
            z_arr.astype(np.float64), y64))
        diff = abs(reference - evaluator.value)
        bound_v = 64 * EPS64 * max(evaluator.noise_scale, abs(reference), 1e-300)
        consistency = CheckRow(
            check=check, tensor="loss value", shape=(), mode="exact", dtype="float64",
            verdict="pass" if diff <= bound_v else "fail", n_checked=1, max_abs_error=diff,
            tolerance=bound_v, ratio=diff / bound_v, worst_index=(), analytic=reference,
            numeric=evaluator.value, note="reference vs funcnn loss (a = funcnn, n = reference)",
        )
        return Report((consistency, *rows), {"seconds": time.perf_counter() - start})
