"""Directional mode: random unit probes per tensor, and the bisection that localises a
failing probe to its worst entry."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from funcnn.typing import FloatArray, IntArray
from verification.engine.bounds.tolerances import (
    Tolerance,
)
from verification.engine.common.layout import Directions, TensorInfo, block_key, tensor_block
from verification.engine.derivatives.numeric import OffsetFunction
from verification.engine.evaluators.perturbed import PerturbedLoss
from verification.engine.modes.compare import (
    Comparison,
    Numeric,
    compare,
    make_row,
    numeric_derivatives,
    worst_entry,
)
from verification.engine.modes.context import CheckContext
from verification.engine.modes.coordinates import check_coordinates
from verification.reporting.report import CheckRow

__all__ = ["check_directional", "unit_directions"]

BoolArray = NDArray[np.bool_]

def unit_directions(
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


def _directional_numeric(ctx: CheckContext, dirs: Directions) -> Numeric:
    evaluator = ctx.evaluator
    steps = ctx.settings.step_unit / evaluator.direction_scale(dirs)
    return numeric_derivatives(
        _direction_fn(evaluator, dirs), steps, evaluator.noise_scale, ctx.settings, ctx.rtol
    )


def _project(ctx: CheckContext, dirs: Directions) -> tuple[FloatArray, FloatArray]:
    """``grad . v`` and ``sum |v| atol`` per direction (one product per tensor)."""
    analytic, tols = ctx.analytic, ctx.tols
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


def check_directional(
    ctx: CheckContext, probes: int, rng: np.random.Generator
) -> list[CheckRow]:
    """Directional mode: ``probes`` unit directions per tensor, failures localised."""
    start = time.perf_counter()
    check, layout, dtype, rtol = ctx.check, ctx.layout, ctx.dtype, ctx.rtol
    tensors = [i for i, info in enumerate(layout) if info.size]
    dirs = unit_directions(layout, tensors, probes, rng)
    numeric = _directional_numeric(ctx, dirs)
    proj, atol = _project(ctx, dirs)
    owner = np.asarray(dirs.tensor)
    # One comparison for every probe; each probe's scale is its tensor's.
    scales = np.zeros(len(dirs))
    for index in tensors:
        members = np.flatnonzero(owner == index)
        scales[members] = np.max(np.abs(numeric.derivative.value[members]))
    every = compare(proj, numeric, Tolerance(atol, rtol), slice(None), scales)
    shared = (time.perf_counter() - start) / max(len(tensors), 1)
    rows = []
    for index, info in enumerate(layout):
        members = np.flatnonzero(owner == index)
        if members.size == 0:
            rows.append(CheckRow(check, info.name, info.shape, "directional", str(np.dtype(dtype)),
                                 "pass", note="empty tensor"))
            continue
        cmp = Comparison(every.diff[members], every.bound[members], every.failed[members],
                          every.undecided[members], every.subgradient[members],
                          float(scales[members[0]]))
        row = make_row(check, info, "directional", dtype, np.arange(members.size), proj[members],
                   numeric, cmp, members, shared, probes=int(members.size),
                   note="worst_index is the probe number")
        if row.verdict == "fail" and ctx.settings.localise:
            worst_probe = members[worst_entry(cmp)]
            row = _localise(ctx, index, dirs.values[worst_probe], row)
        elif row.verdict == "fail":
            row = replace(row, note=row.note + "; not localised (settings.localise=False)")
        rows.append(row)
    return rows


def _localise(ctx: CheckContext, index: int, v: FloatArray, probe_row: CheckRow) -> CheckRow:
    """Name the worst entry of a tensor whose directional probe failed.

    Tensors of at most ``settings.recheck_limit`` entries are re-checked in full. Larger
    ones are bisected: the failing probe's support is halved, each half probed (direction
    renormalised), the half with the larger ``|a - n| / tolerance`` kept, until
    ``settings.bisect_leaf`` entries remain, which are checked in full.
    """
    start = time.perf_counter()
    one = ctx.tensor(index)
    info = one.layout[0]
    support = np.arange(info.size)
    halvings = 0
    rtol = one.rtol
    limit, leaf = ctx.settings.recheck_limit, ctx.settings.bisect_leaf
    while support.size > limit or (halvings and support.size > leaf):
        halves = np.array_split(support, 2)
        values = []
        for half in halves:
            w = np.zeros(info.size)
            w[half] = v[half]
            norm = float(np.linalg.norm(w))
            values.append(w / norm if norm > 0 else w)
        dirs = Directions((index, index), tuple(values))
        numeric = _directional_numeric(one, dirs)
        proj, atol = _project(ctx, dirs)  # dirs name the tensor by its index in ctx
        bound = Tolerance(atol, rtol).bound(numeric.derivative.value, numeric.derivative.error)
        ratio = np.abs(proj - numeric.derivative.value) / bound
        support = halves[int(np.nanargmax(ratio))]
        halvings += 1
    full = check_coordinates(one, [support], "full")[0]
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


