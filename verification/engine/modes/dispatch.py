"""What the entry points share: the analytic gradient as flat arrays, the mode, and
the run of the chosen mode over every tensor."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from funcnn.core.pytree import tree_leaves, tree_structure
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.typing import FloatArray
from verification.engine.bounds.settings import FULL_MODE_LIMIT, MODES
from verification.engine.common.layout import tensor_layout
from verification.engine.modes.context import CheckContext
from verification.engine.modes.coordinates import check_coordinates, selections
from verification.engine.modes.directional import check_directional
from verification.reporting.report import Report

__all__ = ["flat_analytic", "resolve_mode", "run_mode"]

BoolArray = NDArray[np.bool_]

def flat_analytic(grads: Any, params: Any, name: str) -> list[FloatArray]:
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


def run_mode(
    ctx: CheckContext, mode: str, probes: int, subset: Any, seed: int, meta: dict[str, Any],
) -> Report:
    """Every tensor of ``ctx`` checked in ``mode``; ``ctx.screen_steps`` switches the
    three-evaluation screen on in full and subset mode (see :func:`check_coordinates`)."""
    rng = np.random.default_rng(seed)
    if mode == "directional":
        if not (isinstance(probes, int) and probes >= 3):
            raise InvalidArgumentError(f"probes: expected an int >= 3, got {probes!r}")
        rows = check_directional(ctx, probes, rng)
    else:
        chosen = selections(ctx.layout, subset if mode == "subset" else None, rng)
        rows = check_coordinates(ctx, chosen, mode)
    return Report(tuple(rows), {**meta, "seed": seed})


def resolve_mode(mode: str, n: int, subset: Any) -> str:
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


