"""A loss evaluated at many perturbed parameter vectors at once.

The numerical derivatives need ``L(theta + t e_i)`` for every coordinate ``i`` and a few
steps ``t`` (full mode), or ``L(theta + t v)`` for a few directions ``v`` (directional
mode). Both evaluators here return the *change* ``L(theta + ...) - L(theta)``, which has
the same derivative as the loss and does not carry the rounding of ``L(theta)`` itself
into the finite differences, plus a flag per point saying whether the activation
pattern of a kinked activation (relu, leaky relu) differs from the one at ``theta``.

- :class:`NetworkLoss` knows it is an MLP and exploits the structure: moving ``W[i, j]``
  or ``b[j]`` of layer ``l`` changes only column ``j`` of that layer's pre-activations,
  by ``t * a[:, i]`` (or ``t``), and only for samples where that is non-zero. So each
  perturbation costs one column plus the layers above it, per affected sample, instead
  of a whole forward pass; 26,506 coordinates of a 784-32-32-10 network are a few
  hundred thousand cheap row evaluations.
- :class:`GenericLoss` wraps any ``loss_fn(params) -> float``: one call per perturbed
  vector, or one call per chunk when a vectorised ``batched_loss(thetas)`` is given.

Everything is float64: a float32 network is checked against the float64 evaluation of
the same function at the same (exactly up-cast) parameters and inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from funcnn.core.losses import Loss, get_loss
from funcnn.core.network import check_inputs, check_params
from funcnn.core.pytree import ravel, tree_leaves
from funcnn.core.spec import MLP
from funcnn.core.validation import check_targets
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.typing import Array, FloatArray, IntArray, Params
from verification.arguments import check_loss_value
from verification.reference import (
    REFERENCE_LOSSES,
    dense_targets,
    noise_scale,
    per_sample_loss,
    reference_activation,
)
from verification.threads import rowwise

__all__ = [
    "KINKED_ACTIVATIONS",
    "Directions",
    "GenericLoss",
    "LogitsLoss",
    "NetworkLoss",
    "PerturbedLoss",
    "TensorInfo",
    "block_key",
    "tensor_block",
    "tensor_layout",
]

BoolArray = NDArray[np.bool_]

KINKED_ACTIVATIONS = frozenset({"relu", "leaky_relu"})
"""Activations whose derivative jumps at 0; their ``z > 0`` masks are compared."""

_ROWS_PER_CHUNK = 1 << 14
"""Rows evaluated per block: large enough to amortise numpy's per-call cost, small
enough that a block of activations stays in cache (16k rows x 32 units = 4 MB)."""


@dataclass(frozen=True)
class TensorInfo:
    """One parameter tensor's place in the flat vector ``ravel(params)``.

    ``name`` is its path, e.g. ``"params[1]['W']"``; ``offset`` its first flat index.
    """

    name: str
    shape: tuple[int, ...]
    offset: int

    @property
    def size(self) -> int:
        """Number of entries."""
        return int(np.prod(self.shape, dtype=np.int64))

    def unflat(self, flat_index: int) -> tuple[int, ...]:
        """The entry's index inside the tensor for a flat index into the whole vector."""
        local = int(flat_index) - self.offset
        if self.shape == ():
            return ()
        return tuple(int(i) for i in np.unravel_index(local, self.shape))


def _paths(tree: Any, prefix: str) -> list[str]:
    """Leaf paths in :func:`funcnn.core.pytree.tree_flatten` order (dict keys sorted)."""
    if isinstance(tree, dict):
        return [p for k in sorted(tree) for p in _paths(tree[k], f"{prefix}[{k!r}]")]
    if isinstance(tree, list | tuple):
        return [p for i, c in enumerate(tree) for p in _paths(c, f"{prefix}[{i}]")]
    return [prefix]


def tensor_layout(params: Any, name: str = "params") -> tuple[TensorInfo, ...]:
    """Name, shape and flat offset of every leaf of a params pytree, in ravel order."""
    leaves = tree_leaves(params)
    paths = _paths(params, name)
    infos = []
    offset = 0
    for path, leaf in zip(paths, leaves, strict=True):
        shape = tuple(np.shape(leaf))
        infos.append(TensorInfo(path, shape, offset))
        offset += int(np.prod(shape, dtype=np.int64))
    return tuple(infos)


@dataclass(frozen=True)
class Directions:
    """``d`` unit directions in parameter space, each supported on one tensor.

    ``tensor[k]`` is the index (in :func:`tensor_layout` order) of direction ``k``'s
    tensor and ``values[k]`` its entries there, flattened (zeros elsewhere).
    """

    tensor: tuple[int, ...]
    values: tuple[FloatArray, ...]
    cache: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    """Evaluators keep per-direction quantities here (e.g. pre-activation slopes)."""

    def __len__(self) -> int:
        return len(self.tensor)

    def dense(self, layout: Sequence[TensorInfo]) -> FloatArray:
        """The directions as a dense ``(d, n)`` float64 matrix."""
        n = layout[-1].offset + layout[-1].size if layout else 0
        out = np.zeros((len(self), n))
        for k, (index, vals) in enumerate(zip(self.tensor, self.values, strict=True)):
            info = layout[index]
            out[k, info.offset : info.offset + info.size] = vals
        return out


def block_key(index: int) -> tuple[str, int]:
    """The :attr:`Directions.cache` key of tensor ``index``'s block of directions."""
    return ("block", index)


def tensor_block(dirs: Directions, index: int, members: IntArray) -> FloatArray:
    """The values of directions ``members`` (all in tensor ``index``) as the rows of one
    matrix: the block cached under :func:`block_key` when it holds exactly those rows
    (as the random probes of a directional check do), else a stacked copy."""
    block: FloatArray | None = dirs.cache.get(block_key(index))
    if block is not None and block.shape[0] == members.size and all(
        dirs.tensor[int(k)] == index
        and dirs.values[int(k)].shape == block.shape[1:]
        and dirs.values[int(k)].ctypes.data == block.ctypes.data + row * block.strides[0]
        for row, k in enumerate(members)
    ):
        return block
    return np.stack([dirs.values[int(k)] for k in members])


class PerturbedLoss(Protocol):
    """What the engine needs from a loss: changes at perturbed parameter vectors."""

    @property
    def n(self) -> int:
        """Number of scalar parameters (length of the flat vector)."""
        ...

    @property
    def value(self) -> float:
        """The loss at the unperturbed parameters."""
        ...

    @property
    def noise_scale(self) -> float:
        """Magnitude whose float64 rounding bounds the noise of one evaluation."""
        ...

    @property
    def detects_kinks(self) -> bool:
        """Whether the kink flags returned are meaningful."""
        ...

    def coordinate_scale(self) -> FloatArray:
        """Per coordinate, how strongly a unit step moves the function's inputs (> 0)."""
        ...

    def coordinates(self, index: IntArray, t: FloatArray) -> tuple[FloatArray, BoolArray]:
        """``L(theta + t e_index) - L(theta)`` and kink flags, elementwise.

        ``index`` and ``t`` broadcast together; both results have the broadcast shape.
        """
        ...

    def direction_scale(self, dirs: Directions) -> FloatArray:
        """Per direction, how strongly a unit step moves the function's inputs (> 0)."""
        ...

    def directions(
        self, dirs: Directions, k: IntArray, t: FloatArray
    ) -> tuple[FloatArray, BoolArray]:
        """``L(theta + t_p v_{k_p}) - L(theta)`` and kink flags for points ``p``.

        ``k`` and ``t`` are 1-D of equal length: direction number and step per point.
        """
        ...


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
        keep_dtype: bool = False,
        noise_scale: float | None = None,
    ) -> None:
        flat, unravel = _float64_leaves(params)
        self._flat = flat
        self._loss_fn = loss_fn
        self._batched = batched_loss
        self._pattern_fn = pattern_fn
        if keep_dtype:
            self._unravel = unravel
        else:
            leaves = tree_leaves(params)
            as64 = [np.asarray(leaf, dtype=np.float64) for leaf in leaves]
            self._unravel = ravel(_rebuild(params, as64))[1]
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
        step = max(1, _ROWS_PER_CHUNK // max(self.n, 1))
        for start in range(0, count, step):
            stop = min(count, start + step)
            values[start:stop], flags[start:stop] = self._eval_points(make(start, stop))
        return values, flags

    def coordinates(self, index: IntArray, t: FloatArray) -> tuple[FloatArray, BoolArray]:
        """``L(theta + t e_index) - L(theta)`` and kink flags, elementwise."""
        idx, steps = np.broadcast_arrays(np.asarray(index), np.asarray(t, dtype=np.float64))
        shape = idx.shape
        idx_flat, t_flat = idx.reshape(-1), steps.reshape(-1)

        def make(start: int, stop: int) -> FloatArray:
            thetas = np.repeat(self._flat[None, :], stop - start, axis=0)
            rows = np.arange(stop - start)
            thetas[rows, idx_flat[start:stop]] += t_flat[start:stop]
            return thetas

        values, flags = self._chunked(idx_flat.size, make)
        return values.reshape(shape), flags.reshape(shape)

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


def _equal_moves(
    b: IntArray, j: IntArray, t: FloatArray, p: IntArray, value_id: IntArray, width: int
) -> tuple[IntArray, IntArray]:
    """Representatives and inverse of the distinct moves ``(b, j, t[p] * value)``.

    Each move is keyed by integers (sample, column, step id, value id) and identical
    keys are found with a scatter table in O(n): every key's slot keeps the last index
    written to it, so an index is a representative exactly when its slot holds it.
    """
    t_values, t_id = np.unique(t, return_inverse=True)
    n_values = int(value_id.max()) + 1 if value_id.size else 1
    key = ((b * width + j) * t_values.size + t_id[p]) * n_values + value_id
    space = int(key.max()) + 1 if key.size else 1
    n = key.size
    if space > 1 << 24:
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        return first, inverse.reshape(-1)
    table = np.empty(space, dtype=np.int64)
    table[key] = np.arange(n)
    rep = table[key]
    first = np.flatnonzero(rep == np.arange(n))
    compact = np.empty(n, dtype=np.int64)
    compact[first] = np.arange(first.size)
    return first, compact[rep]


class NetworkLoss:
    """An MLP's mean loss on a fixed batch, evaluated at perturbed parameters in float64.

    ``params`` may be float32 or float64 (they and ``x`` are up-cast exactly); ``loss``
    must be one of :data:`verification.reference.REFERENCE_LOSSES`. Flat coordinates
    follow :func:`funcnn.core.pytree.ravel` order: ``W`` then ``b`` of each layer.
    """

    def __init__(self, spec: MLP, params: Params, x: Array, y: Array, loss: str) -> None:
        dtype = check_params(spec, params)
        batch_x = check_inputs(spec, x, dtype)
        resolved = get_loss(loss)
        if resolved.name not in REFERENCE_LOSSES:
            raise InvalidArgumentError(
                f"loss: {resolved.name!r} has no batched reference; use GenericLoss"
            )
        targets = check_targets(
            y, batch_x.shape[0], spec.n_out, dtype, resolved.target_kind
        )
        self.spec = spec
        self.loss_name = resolved.name
        self._W = [np.asarray(layer["W"], dtype=np.float64) for layer in params]
        self._b = [np.asarray(layer["b"], dtype=np.float64) for layer in params]
        self._acts = [reference_activation(name) for name in spec.hidden_activations]
        self._kinked = [name in KINKED_ACTIVATIONS for name in spec.hidden_activations]
        self._x = batch_x.astype(np.float64)
        self._t = dense_targets(targets, batch_x.shape[0], spec.n_out)
        self.batch = int(batch_x.shape[0])
        # Base forward pass: a[l] enters layer l (a[0] = x), z[l] leaves it.
        a: list[FloatArray] = [self._x]
        z: list[FloatArray] = []
        for index in range(spec.n_layers):
            zl = a[-1] @ self._W[index] + self._b[index]
            z.append(zl)
            if index < spec.n_layers - 1:
                a.append(self._acts[index](zl))
        self._a, self._z = a, z
        # Built on first use by coordinates(): per layer input, its non-zero entries by
        # column and whether its values repeat (see _sparse_inputs).
        self._sparse: dict[int, tuple[IntArray, IntArray, FloatArray, IntArray | None]] = {}
        self._ell0 = per_sample_loss(self.loss_name, z[-1], self._t)
        self._value = float(np.mean(self._ell0))
        self._noise = noise_scale(self.loss_name, z[-1], self._t)
        self.layout = tensor_layout(params)
        # Each flat tensor k belongs to layer k // 2; even k are W, odd k are b.
        self._offsets = np.array([info.offset for info in self.layout] + [self.n_total()])

    def n_total(self) -> int:
        """Number of parameters."""
        return int(sum(W.size + b.size for W, b in zip(self._W, self._b, strict=True)))

    @property
    def n(self) -> int:
        """Number of scalar parameters."""
        return self.n_total()

    @property
    def value(self) -> float:
        """Mean loss at the unperturbed parameters (float64)."""
        return self._value

    @property
    def noise_scale(self) -> float:
        """What one evaluation's rounding scales with (see ``reference.noise_scale``)."""
        return self._noise

    @property
    def detects_kinks(self) -> bool:
        """True: relu and leaky relu masks are compared at every evaluated point."""
        return True

    @property
    def forward_pass(self) -> tuple[tuple[FloatArray, ...], tuple[FloatArray, ...]]:
        """The float64 forward pass at the parameters: ``(inputs, pre)``, where
        ``inputs[l]`` (B, n_l) enters layer ``l`` (``inputs[0] = x``) and ``pre[l]`` is its
        pre-activation. Shared, not copied: do not modify."""
        return tuple(self._a), tuple(self._z)

    def coordinate_scale(self) -> FloatArray:
        """Per coordinate, how far a unit step moves a pre-activation: ``max_b |a[b, i]|``
        for ``W[i, j]``, 1 for ``b[j]``, rounded up to a power of two.

        Steps divided by it are sized in pre-activation units; the power of two keeps
        the steps exact and makes equal moves of different coordinates bitwise equal,
        so the evaluator can share them.
        """
        scales = []
        for layer, (W, b) in enumerate(zip(self._W, self._b, strict=True)):
            col = np.max(np.abs(self._a[layer]), axis=0)
            scales.append(np.repeat(col, W.shape[1]))
            scales.append(np.ones(b.size))
        out = np.concatenate(scales)
        out[~(out > 0)] = 1.0
        # Inputs that are all but zero (e.g. softplus far below 0) would ask for steps of
        # astronomical size; below 2**-30 the step stops growing.
        out = np.maximum(out, 2.0**-30)
        result: FloatArray = np.exp2(np.ceil(np.log2(out)))
        return result

    # -- coordinates -----------------------------------------------------------------

    def coordinates(self, index: IntArray, t: FloatArray) -> tuple[FloatArray, BoolArray]:
        """``L(theta + t e_index) - L(theta)`` and kink flags, elementwise."""
        idx, steps = np.broadcast_arrays(np.asarray(index), np.asarray(t, dtype=np.float64))
        shape = idx.shape
        idx_flat = idx.reshape(-1).astype(np.int64)
        t_flat = steps.reshape(-1)
        if idx_flat.size and (idx_flat.min() < 0 or idx_flat.max() >= self.n):
            raise InvalidArgumentError(f"index: flat indices must lie in [0, {self.n})")
        values = np.zeros(idx_flat.size)
        flags = np.zeros(idx_flat.size, dtype=bool)
        tensor = np.searchsorted(self._offsets, idx_flat, side="right") - 1
        for k in np.unique(tensor):
            sel = np.flatnonzero(tensor == k)
            local = idx_flat[sel] - self._offsets[k]
            layer, is_bias = int(k) // 2, bool(k % 2)
            steps_k = t_flat[sel]
            unique = None
            cols: IntArray
            p_idx: IntArray
            b_idx: IntArray
            if is_bias:
                p_idx = np.repeat(np.arange(sel.size), self.batch)
                b_idx = np.tile(np.arange(self.batch), sel.size)
                cols = local
                dz = steps_k[p_idx]
            else:
                rows_i, cols = np.divmod(local, self._W[layer].shape[1])
                p_idx, b_idx, pos = self._moved_samples(layer, rows_i)
                _, _, entries, value_ids = self._sparse_inputs(layer)
                dz = steps_k[p_idx] * entries[pos]
                if value_ids is not None:
                    unique = _equal_moves(
                        b_idx, cols[p_idx], steps_k, p_idx, value_ids[pos],
                        self._W[layer].shape[1],
                    )
            values[sel], flags[sel] = self._column_moves(
                layer, sel.size, p_idx, b_idx, cols[p_idx], dz, unique
            )
        return values.reshape(shape), flags.reshape(shape)

    def _sparse_inputs(
        self, layer: int
    ) -> tuple[IntArray, IntArray, FloatArray, IntArray | None]:
        """Layer ``layer``'s input by column: ``(indptr, samples, values, value_ids)``.

        A weight ``W[i, j]`` moves only the samples with ``a[b, i] != 0``: they are
        ``samples[indptr[i]:indptr[i + 1]]`` with values ``values[...]``. ``value_ids``
        numbers the distinct values when they repeat within samples (MNIST pixels are
        ``k/255``), so that equal moves of different weights are evaluated once; it is
        None when they hardly repeat.
        """
        if layer not in self._sparse:
            inputs = self._a[layer]
            cols, rows = np.nonzero(inputs.T)
            counts = np.bincount(cols, minlength=inputs.shape[1])
            indptr = np.concatenate(([0], np.cumsum(counts)))
            values = inputs.T[cols, rows]
            distinct = sum(np.unique(row[row != 0]).size for row in inputs)
            ids = (
                np.unique(values, return_inverse=True)[1].astype(np.int64).reshape(-1)
                if distinct < 0.75 * rows.size
                else None
            )
            self._sparse[layer] = (indptr, rows, values, ids)
        return self._sparse[layer]

    def _moved_samples(
        self, layer: int, rows_i: IntArray
    ) -> tuple[IntArray, IntArray, IntArray]:
        """For weights in input rows ``rows_i``: (perturbation, sample, CSR position)
        of every sample with ``a[b, i] != 0``."""
        indptr, samples, _, _ = self._sparse_inputs(layer)
        counts = indptr[rows_i + 1] - indptr[rows_i]
        p_idx = np.repeat(np.arange(rows_i.size), counts)
        ends = np.cumsum(counts)
        pos = np.arange(int(ends[-1]) if ends.size else 0) + np.repeat(
            indptr[rows_i] - (ends - counts), counts
        )
        return p_idx, samples[pos], pos

    def _column_moves(
        self, layer: int, count: int, p_idx: IntArray, b_idx: IntArray, j_idx: IntArray,
        steps: FloatArray, unique: tuple[IntArray, IntArray] | None = None,
    ) -> tuple[FloatArray, BoolArray]:
        """Loss changes of ``count`` perturbations, given as (perturbation ``p``, sample
        ``b``, column ``j``, move ``dz``) quadruples: ``z[b, j] += dz`` in ``layer``.

        Pairs with ``dz == 0`` are never passed in. ``unique`` = (representatives,
        inverse) marks identical moves (see :func:`_equal_moves`), evaluated once.
        """
        inverse = None
        if unique is not None:
            first, inverse = unique
            b_eval, j_eval, s_eval = b_idx[first], j_idx[first], steps[first]
        else:
            b_eval, j_eval, s_eval = b_idx, j_idx, steps
        d_ell = np.empty(b_eval.size)
        flip = np.zeros(b_eval.size, dtype=bool)
        width = max(self.spec.sizes[layer + 1 :])
        chunk = max(256, _ROWS_PER_CHUNK * 32 // width)
        for start in range(0, b_eval.size, chunk):
            part = slice(start, start + chunk)
            d_ell[part], flip[part] = self._rows_after_column(
                layer, b_eval[part], j_eval[part], s_eval[part]
            )
        if inverse is not None:
            d_ell, flip = d_ell[inverse], flip[inverse]
        delta = np.bincount(p_idx, weights=d_ell, minlength=count)
        flags = np.zeros(count, dtype=bool)
        flags[p_idx[flip]] = True
        return delta / self.batch, flags

    def _act(self, layer: int, z: FloatArray) -> FloatArray:
        out: FloatArray = rowwise(self._acts[layer], z)
        return out

    def _rows_after_column(
        self, layer: int, b: IntArray, j: IntArray, dz: FloatArray
    ) -> tuple[FloatArray, BoolArray]:
        """Per (sample, column) pair: loss change and kink flag after ``z[b, j] += dz``."""
        last = self.spec.n_layers - 1
        width = self._z[layer].shape[1]
        at = b * width + j
        z_old = self._z[layer].reshape(-1)[at]
        z_new = z_old + dz
        if layer == last:
            rows = self._z[last][b]
            rows.reshape(-1)[np.arange(b.size) * width + j] = z_new
            ell = self._loss_rows(rows, b)
            return ell - self._ell0[b], np.zeros(b.size, dtype=bool)
        flip = np.zeros(b.size, dtype=bool)
        if self._kinked[layer]:
            flip = (z_new > 0) != (z_old > 0)
        da = self._acts[layer](z_new) - self._a[layer + 1].reshape(-1)[at]
        live = np.flatnonzero(da)
        d_ell = np.zeros(b.size)
        if live.size == 0:
            return d_ell, flip
        b_live = b[live]
        nxt = layer + 1
        W_row, z_base = self._W[nxt], self._z[nxt]

        def moved(bl: IntArray, jl: IntArray, dl: FloatArray) -> FloatArray:
            rows = W_row[jl]
            rows *= dl[:, None]
            rows += z_base[bl]
            return rows

        if nxt == last:
            rows = rowwise(moved, b_live, j[live], da[live])
        else:
            rows, changed = rowwise(
                lambda bl, jl, dl: self._activate(nxt, moved(bl, jl, dl), bl),
                b_live, j[live], da[live],
            )
            while True:
                flip[live[changed]] = True
                rows = rows @ self._W[nxt + 1] + self._b[nxt + 1]
                nxt += 1
                if nxt == last:
                    break
                rows, changed = rowwise(
                    lambda r, bl, at_layer=nxt: self._activate(at_layer, r, bl), rows, b_live
                )
        d_ell[live] = self._loss_rows(rows, b_live) - self._ell0[b_live]
        return d_ell, flip

    def _activate(self, layer: int, rows: FloatArray, b: IntArray) -> tuple[FloatArray, ...]:
        """Activation of pre-activation rows of ``layer`` (samples ``b``) and, for kinked
        activations, whether each row's mask differs from the sample's base mask."""
        if self._kinked[layer]:
            changed = np.any((rows > 0) != (self._z[layer][b] > 0), axis=1)
        else:
            changed = np.zeros(rows.shape[0], dtype=bool)
        return self._acts[layer](rows), changed

    def _loss_rows(self, rows: FloatArray, b: IntArray) -> FloatArray:
        targets = self._t[b]
        out: FloatArray = rowwise(
            lambda z, t: per_sample_loss(self.loss_name, z, t), rows, targets
        )
        return out

    # -- directions ------------------------------------------------------------------

    def _slopes(self, dirs: Directions, layer: int) -> FloatArray:
        """``d z_layer / d t`` (len(dirs), B, n_out) for every direction, zero for those
        in other layers, so that points index it directly.

        Computed once per direction set (cached on ``dirs``) with one batched product.
        """
        key = (id(self), layer)
        if key not in dirs.cache:
            W = self._W[layer]
            slopes = np.zeros((len(dirs), self.batch, W.shape[1]))
            tensor = np.asarray(dirs.tensor)
            weights = np.flatnonzero(tensor == 2 * layer)
            if weights.size:
                stacked = tensor_block(dirs, 2 * layer, weights).reshape(weights.size, *W.shape)
                slopes[weights] = self._a[layer][None] @ stacked
            for k in np.flatnonzero(tensor == 2 * layer + 1):
                slopes[k] = dirs.values[k][None, :]
            dirs.cache[key] = slopes
        out: FloatArray = dirs.cache[key]
        return out

    def direction_scale(self, dirs: Directions) -> FloatArray:
        """Per direction, ``max |d z / d t|`` over the batch in the moved layer."""
        out = np.empty(len(dirs))
        layers = np.asarray(dirs.tensor) // 2
        for layer in np.unique(layers):
            members = np.flatnonzero(layers == layer)
            slopes = self._slopes(dirs, int(layer))[members]
            out[members] = np.max(np.abs(slopes), axis=(1, 2))
        out[~(out > 0)] = 1.0
        out = np.maximum(out, 2.0**-30)
        return out

    def directions(
        self, dirs: Directions, k: IntArray, t: FloatArray
    ) -> tuple[FloatArray, BoolArray]:
        """``L(theta + t_p v_{k_p}) - L(theta)`` and kink flags for points ``p``.

        In the moved layer the input is unperturbed, so its pre-activations are exactly
        ``z + t dz/dt``; the layers above run batched over the points.
        """
        k = np.asarray(k, dtype=np.int64).reshape(-1)
        t = np.asarray(t, dtype=np.float64).reshape(-1)
        flags = np.zeros(k.size, dtype=bool)
        layers = np.asarray(dirs.tensor, dtype=np.int64)[k] // 2
        # One pass up the network: the points of directions in layer l join the batch
        # of moving points at layer l, so each layer costs one activation and one product.
        order = np.argsort(layers, kind="stable")
        z: FloatArray | None = None
        for layer in range(self.spec.n_layers):
            joining = order[layers[order] == layer]
            if joining.size:
                fresh = self._slopes(dirs, layer)[k[joining]]
                fresh *= t[joining, None, None]
                fresh += self._z[layer][None]
                z = fresh if z is None else np.concatenate([z, fresh])
            if z is None or layer == self.spec.n_layers - 1:
                continue
            if self._kinked[layer]:
                done = z.shape[0]
                flags[order[:done]] |= np.any((z > 0) != (self._z[layer] > 0), axis=(1, 2))
            z = self._act(layer, z) @ self._W[layer + 1] + self._b[layer + 1]
        assert z is not None
        ell = per_sample_loss(self.loss_name, z, self._t[None])
        values = np.empty(k.size)
        values[order] = np.mean(ell - self._ell0, axis=-1)
        return values, flags


class LogitsLoss:
    """A loss as a function of the logits ``z`` (B, C) themselves, in float64.

    Moving ``z[b, c]`` changes only sample ``b``'s loss, so each perturbation costs one
    row. Coordinates are ``z``'s entries in C order. ``loss`` must be one of
    :data:`verification.reference.REFERENCE_LOSSES`.
    """

    def __init__(self, loss: str | Loss, z: Array, y: Array) -> None:
        name = get_loss(loss).name
        if name not in REFERENCE_LOSSES:
            raise InvalidArgumentError(f"loss: {name!r} has no batched reference")
        self.loss_name = name
        self._z = np.asarray(z, dtype=np.float64)
        if self._z.ndim != 2:
            raise InvalidArgumentError(f"z: expected a (B, C) array, got shape {self._z.shape}")
        batch, width = self._z.shape
        self._t = dense_targets(np.asarray(y), batch, width)
        self._ell0 = per_sample_loss(name, self._z, self._t)
        self._value = float(np.mean(self._ell0))
        self._noise = noise_scale(name, self._z, self._t)
        self.layout = (TensorInfo("dL/dz", self._z.shape, 0),)

    @property
    def n(self) -> int:
        """``B * C``."""
        return int(self._z.size)

    @property
    def value(self) -> float:
        """Mean loss at ``z``."""
        return self._value

    @property
    def noise_scale(self) -> float:
        """See :func:`verification.reference.noise_scale`."""
        return self._noise

    @property
    def detects_kinks(self) -> bool:
        """False: the losses are smooth in the logits."""
        return False

    def coordinate_scale(self) -> FloatArray:
        """All ones: a unit step moves one logit by one."""
        return np.ones(self.n)

    def coordinates(self, index: IntArray, t: FloatArray) -> tuple[FloatArray, BoolArray]:
        """``L(z + t e_index) - L(z)`` elementwise, no kinks."""
        idx, steps = np.broadcast_arrays(np.asarray(index), np.asarray(t, dtype=np.float64))
        b, c = np.divmod(idx.reshape(-1).astype(np.int64), self._z.shape[1])
        rows = self._z[b]
        rows[np.arange(b.size), c] += steps.reshape(-1)
        ell = per_sample_loss(self.loss_name, rows, self._t[b])
        values = (ell - self._ell0[b]) / self._z.shape[0]
        return values.reshape(idx.shape), np.zeros(idx.shape, dtype=bool)

    def direction_scale(self, dirs: Directions) -> FloatArray:
        """All ones."""
        return np.ones(len(dirs))

    def directions(
        self, dirs: Directions, k: IntArray, t: FloatArray
    ) -> tuple[FloatArray, BoolArray]:
        """``L(z + t_p v_{k_p}) - L(z)`` for points ``p``."""
        dense = dirs.dense(self.layout).reshape(len(dirs), *self._z.shape)
        k = np.asarray(k, dtype=np.int64).reshape(-1)
        t = np.asarray(t, dtype=np.float64).reshape(-1)
        moved = self._z[None] + t[:, None, None] * dense[k]
        ell = per_sample_loss(self.loss_name, moved, self._t[None])
        return np.mean(ell - self._ell0, axis=-1), np.zeros(k.size, dtype=bool)
