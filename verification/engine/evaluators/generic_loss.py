"""GenericLoss: any loss_fn(params) -> float, perturbed one coordinate or direction at
a time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from funcnn.core.pytree import ravel, tree_flatten, tree_leaves, tree_unflatten
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.typing import Array, FloatArray, IntArray
from verification.engine.common.arguments import check_loss_value
from verification.engine.common.layout import (
    ROWS_PER_CHUNK,
    Directions,
    tensor_layout,
)

__all__ = ["GenericLoss"]

BoolArray = NDArray[np.bool_]

def _float64_leaves(params: Any) -> tuple[FloatArray, Callable[[Array], Any]]:
    flat, unravel = ravel(params)
    if flat.dtype.kind != "f":
        raise ArgumentTypeError(f"params: expected floating arrays, got dtype {flat.dtype}")
    return flat.astype(np.float64), unravel


class GenericLoss:
    """Any ``loss_fn(params) -> float``, perturbed one flat coordinate or direction at a time.

    ``loss_fn`` is called with a params pytree of ``params``' structure whose leaves are
    float64 (the reference precision) unless ``keep_dtype`` is set. When
    ``batched_loss(thetas)`` is given it receives a ``(P, n)`` float64 matrix of flat
    parameter vectors and must return the ``P`` losses; it is then used instead of
    ``loss_fn`` for the perturbed points. ``pattern_fn(params)`` may return any array
    (e.g. relu masks); a point whose pattern differs from the pattern at ``params`` is
    flagged as a possible kink. ``noise_scale`` is the magnitude whose float64 rounding
    bounds one evaluation's noise (default ``|L|``).
    """

    def __init__(
        self,
        loss_fn: Callable[[Any], float],
        params: Any,
        *,
        batched_loss: Callable[[FloatArray], FloatArray] | None = None,
        pattern_fn: Callable[[Any], Array] | None = None,
        noise_scale: float | None = None,
    ) -> None:
        flat, _ = _float64_leaves(params)
        self._flat = flat
        self._loss_fn = loss_fn
        self._batched = batched_loss
        self._pattern_fn = pattern_fn
        as64 = [np.asarray(leaf, dtype=np.float64) for leaf in tree_leaves(params)]
        tree64 = _rebuild(params, as64)
        self._unravel = ravel(tree64)[1]
        self._treedef = tree_flatten(tree64)[1]
        self._shapes = [leaf.shape for leaf in as64]
        self._layout = tensor_layout(params)
        self._value = check_loss_value("loss_fn", loss_fn(self._unravel(flat)))
        if not np.isfinite(self._value):
            raise InvalidArgumentError(f"loss_fn: returned {self._value} at params")
        self._pattern = None if pattern_fn is None else np.asarray(pattern_fn(self._unravel(flat)))
        self._noise = noise_scale

    @property
    def n(self) -> int:
        """Number of scalar parameters."""
        return int(self._flat.size)

    @property
    def value(self) -> float:
        """Loss at ``params`` (float64 evaluation)."""
        return self._value

    @property
    def noise_scale(self) -> float:
        """The ``noise_scale`` given, else ``|L|``: without insight into ``loss_fn``, its
        rounding is taken relative to its value."""
        if self._noise is not None:
            return self._noise
        return max(abs(self._value), float(np.finfo(np.float64).tiny))

    @property
    def detects_kinks(self) -> bool:
        """True when a ``pattern_fn`` was given."""
        return self._pattern_fn is not None

    @property
    def points_per_call(self) -> int:
        """Points evaluated together: the rows of one ``batched_loss`` call (1 without
        one). Splitting a batch of points on these boundaries gives the same numbers."""
        if self._batched is None:
            return 1
        return max(1, ROWS_PER_CHUNK // max(self.n, 1))

    def callables(self) -> dict[str, Callable[..., Any]]:
        """The user's functions by argument name (``loss_fn``, and ``batched_loss`` and
        ``pattern_fn`` when given)."""
        named = {"loss_fn": self._loss_fn, "batched_loss": self._batched,
                 "pattern_fn": self._pattern_fn}
        return {name: fn for name, fn in named.items() if fn is not None}

    def coordinate_scale(self) -> FloatArray:
        """All ones: a generic function gives no hint about per-coordinate scales."""
        return np.ones(self.n)

    def _eval_points(self, thetas: FloatArray) -> tuple[FloatArray, BoolArray]:
        count = thetas.shape[0]
        flags = np.zeros(count, dtype=bool)
        if self._batched is not None:
            raw = np.asarray(self._batched(thetas))
            if raw.shape not in ((count,), (count, 1)) or raw.dtype.kind not in "iuf":
                raise InvalidArgumentError(
                    f"batched_loss: expected {count} real losses for a ({count}, {self.n}) "
                    f"matrix of parameter vectors, got shape {raw.shape} and dtype {raw.dtype}"
                )
            values = raw.astype(np.float64).reshape(count)
        else:
            values = np.empty(count)
            for k in range(count):
                values[k] = check_loss_value("loss_fn", self._loss_fn(self._unravel(thetas[k])))
        if self._pattern_fn is not None:
            for k in range(count):
                pattern = np.asarray(self._pattern_fn(self._unravel(thetas[k])))
                flags[k] = not np.array_equal(pattern, np.asarray(self._pattern))
        return values - self._value, flags

    def _chunked(self, count: int, make: Callable[[int, int], FloatArray]) -> tuple[
        FloatArray, BoolArray
    ]:
        values = np.empty(count)
        flags = np.zeros(count, dtype=bool)
        step = self.points_per_call
        for start in range(0, count, step):
            stop = min(count, start + step)
            values[start:stop], flags[start:stop] = self._eval_points(make(start, stop))
        return values, flags

    def coordinates(self, index: IntArray, t: FloatArray) -> tuple[FloatArray, BoolArray]:
        """``L(theta + t e_index) - L(theta)`` and kink flags, elementwise."""
        idx, steps = np.broadcast_arrays(np.asarray(index), np.asarray(t, dtype=np.float64))
        shape = idx.shape
        idx_flat, t_flat = idx.reshape(-1), steps.reshape(-1)
        if self._batched is None:
            values, flags = self._one_at_a_time(idx_flat, t_flat)
            return values.reshape(shape), flags.reshape(shape)

        def make(start: int, stop: int) -> FloatArray:
            thetas = np.repeat(self._flat[None, :], stop - start, axis=0)
            rows = np.arange(stop - start)
            thetas[rows, idx_flat[start:stop]] += t_flat[start:stop]
            return thetas

        values, flags = self._chunked(idx_flat.size, make)
        return values.reshape(shape), flags.reshape(shape)

    def _one_at_a_time(self, idx: IntArray, t: FloatArray) -> tuple[FloatArray, BoolArray]:
        """The coordinate moves through ``loss_fn``, one call each, without copying the
        whole parameter vector per call: one working copy, each entry moved and put
        back (a full-mode check of a large network is one loss call per point, so a
        copy per call would be a large share of the time)."""
        work = self._flat.copy()
        stops = np.cumsum([int(np.prod(s, dtype=np.int64)) for s in self._shapes])
        starts = np.concatenate(([0], stops[:-1])).astype(np.int64)
        # The leaves handed to loss_fn are views of the working copy.
        leaves = [work[a:b].reshape(s) for a, b, s in zip(starts, stops, self._shapes, strict=True)]
        values = np.empty(idx.size)
        flags = np.zeros(idx.size, dtype=bool)
        for p in range(idx.size):
            i = int(idx[p])
            work[i] = self._flat[i] + t[p]
            tree = tree_unflatten(self._treedef, leaves)
            values[p] = check_loss_value("loss_fn", self._loss_fn(tree))
            if self._pattern_fn is not None:
                pattern = np.asarray(self._pattern_fn(tree))
                flags[p] = not np.array_equal(pattern, np.asarray(self._pattern))
            work[i] = self._flat[i]
        if not np.array_equal(work, self._flat):
            raise InvalidArgumentError(
                "loss_fn: changed the parameter arrays it was given; expected a function "
                "that leaves its argument unchanged (copy before updating in place)"
            )
        return values - self._value, flags

    def direction_scale(self, dirs: Directions) -> FloatArray:
        """All ones."""
        return np.ones(len(dirs))

    def directions(
        self, dirs: Directions, k: IntArray, t: FloatArray
    ) -> tuple[FloatArray, BoolArray]:
        """``L(theta + t_p v_{k_p}) - L(theta)`` and kink flags for points ``p``."""
        dense = dirs.dense(self._layout)
        k_flat = np.asarray(k, dtype=np.int64).reshape(-1)
        t_flat = np.asarray(t, dtype=np.float64).reshape(-1)

        def make(start: int, stop: int) -> FloatArray:
            out: FloatArray = (
                self._flat[None, :] + t_flat[start:stop, None] * dense[k_flat[start:stop]]
            )
            return out

        return self._chunked(k_flat.size, make)


def _rebuild(tree: Any, leaves: Sequence[Any]) -> Any:
    position = iter(leaves)

    def build(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: build(node[k]) for k in sorted(node)}
        if isinstance(node, list | tuple):
            children = [build(c) for c in node]
            return children if isinstance(node, list) else tuple(children)
        return next(position)

    return build(tree)


