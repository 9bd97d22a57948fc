"""Full and subset mode: one numerical derivative per selected coordinate, per tensor,
and the selection of the coordinates."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.typing import FloatArray, IntArray
from verification.engine.bounds.tolerances import Tolerance
from verification.engine.common.layout import TensorInfo
from verification.engine.derivatives.numeric import OffsetFunction
from verification.engine.evaluators.perturbed import PerturbedLoss
from verification.engine.modes.compare import (
    Numeric,
    compare,
    make_row,
    numeric_derivatives,
    second_opinion,
)
from verification.engine.modes.context import CheckContext
from verification.engine.modes.screen import decided, merge, screen
from verification.reporting.report import CheckRow

__all__ = ["check_coordinates", "selections"]

BoolArray = NDArray[np.bool_]

def _coordinate_fn(evaluator: PerturbedLoss, flat_index: IntArray) -> OffsetFunction:
    def fn(k: IntArray, t: FloatArray) -> tuple[FloatArray, BoolArray]:
        return evaluator.coordinates(flat_index[k], t)

    return fn


def check_coordinates(
    ctx: CheckContext, selections: Sequence[IntArray], mode: str
) -> list[CheckRow]:
    """Full or subset mode: one numerical derivative per selected coordinate, per tensor.

    With ``ctx.screen_steps`` (the screen's step per coordinate) every entry is first
    screened with three evaluations (:mod:`verification.engine.modes.screen`) and only
    the entries the screen leaves undecided get scipy's refinement.
    """
    rows = []
    evaluator = ctx.evaluator
    for info, a_flat, tol_of, local in zip(ctx.layout, ctx.analytic, ctx.tols, selections,
                                           strict=True):
        start = time.perf_counter()
        flat_index = info.offset + local
        fn = _coordinate_fn(evaluator, flat_index)
        a_sel = a_flat[local]
        tol = tol_of(local)
        steps = ctx.steps_all()[flat_index]
        if ctx.screen_steps is None:
            numeric = _refined(ctx, fn, steps, a_sel, tol)
        else:
            first = screen(fn, ctx.screen_steps()[flat_index], evaluator.noise_scale)
            members = np.flatnonzero(~decided(a_sel, first, tol))
            refined = _refined(ctx, _restricted(fn, members), steps[members], a_sel[members],
                               _take(tol, members))
            numeric = merge(first, members, refined)
        scale = float(np.max(np.abs(numeric.derivative.value), initial=0.0))
        cmp = compare(a_sel, numeric, tol, slice(None), scale)
        rows.append(make_row(ctx.check, info, mode, ctx.dtype, local, a_sel, numeric, cmp,
                             slice(None), time.perf_counter() - start))
    return rows


def _restricted(fn: OffsetFunction, members: IntArray) -> OffsetFunction:
    def sub(k: IntArray, t: FloatArray) -> tuple[FloatArray, BoolArray]:
        return fn(members[k], t)

    return sub


def _take(tol: Tolerance, members: IntArray) -> Tolerance:
    atol = tol.atol if np.ndim(tol.atol) == 0 else np.asarray(tol.atol)[members]
    return Tolerance(atol, tol.rtol, tol.k)


def _refined(
    ctx: CheckContext, fn: OffsetFunction, steps: FloatArray, analytic: FloatArray,
    tol: Tolerance,
) -> Numeric:
    """scipy's derivatives with kinks handled, and a second opinion on every entry that
    fails or cannot decide."""
    noise, settings, rtol = ctx.evaluator.noise_scale, ctx.settings, ctx.rtol
    numeric = numeric_derivatives(fn, steps, noise, settings, rtol)
    scale = float(np.max(np.abs(numeric.derivative.value), initial=0.0))
    cmp = compare(analytic, numeric, tol, slice(None), scale)
    doubtful = np.flatnonzero(cmp.failed | cmp.undecided)
    if doubtful.size:
        numeric = second_opinion(fn, steps, noise, settings, rtol, doubtful, numeric)
    return numeric


# -- selections -----------------------------------------------------------------------


def selections(
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


