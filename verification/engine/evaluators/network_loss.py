"""NetworkLoss: an MLP's loss at many perturbed parameter vectors, each perturbation
evaluated from the one column of pre-activations it changes."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from funcnn.core.activations import get_activation
from funcnn.core.losses import Loss, get_loss
from funcnn.core.network import check_inputs, check_params
from funcnn.core.spec import MLP
from funcnn.core.validation import check_targets
from funcnn.errors import InvalidArgumentError
from funcnn.typing import Array, FloatArray, IntArray, Params
from verification.engine.common.layout import (
    ROWS_PER_CHUNK,
    Directions,
    kink_side,
    tensor_block,
    tensor_layout,
)
from verification.engine.common.reference import (
    dense_targets,
    noise_scale,
    reference_activation,
)
from verification.engine.common.threads import rowwise
from verification.engine.evaluators.loss_rows import AtOnePoint, OutputRows
from verification.engine.evaluators.sparse_moves import (
    InputColumns,
    equal_moves,
    input_columns,
    moved_samples,
)

__all__ = ["NetworkLoss"]

BoolArray = NDArray[np.bool_]


class NetworkLoss(AtOnePoint):
    """An MLP's mean loss on a fixed batch, evaluated at perturbed parameters in float64.

    ``params`` may be float32 or float64 (they and ``x`` are up-cast exactly); ``loss``
    any :class:`~funcnn.Loss` (the loss of moved output rows and their kink flags from
    :class:`~verification.engine.evaluators.loss_rows.OutputRows`: a point where one of
    the loss's declared kinks was crossed at the outputs is flagged, like one where a
    hidden activation's was). Flat coordinates follow :func:`funcnn.core.pytree.ravel` order:
    ``W`` then ``b`` of each layer.
    """

    def __init__(self, spec: MLP, params: Params, x: Array, y: Array, loss: str | Loss
                 ) -> None:
        dtype = check_params(spec, params)
        batch_x = check_inputs(spec, x, dtype)
        resolved = get_loss(loss)
        targets = check_targets(
            y, batch_x.shape[0], spec.n_out, dtype, resolved.target_kind
        )
        self.spec = spec
        self.loss_name = resolved.name
        self._W = [np.asarray(layer["W"], dtype=np.float64) for layer in params]
        self._b = [np.asarray(layer["b"], dtype=np.float64) for layer in params]
        self._acts = [reference_activation(name) for name in spec.hidden_activations]
        # Per hidden layer its activation's kinks (empty: smooth), from the activation.
        self._kinked = [get_activation(name).kinks for name in spec.hidden_activations]
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
        self._sparse: dict[int, InputColumns] = {}
        self._out = OutputRows(resolved, z[-1], self._t)
        self.batched_rows = self._out.batched
        """Whether the loss's rows are evaluated many per call (see ``loss_rows``)."""
        self._value = float(np.mean(self._out.base))
        self._noise = noise_scale(resolved, z[-1], self._t)
        self._n = self.n_total()
        self.layout = tensor_layout(params)
        # Each flat tensor k belongs to layer k // 2; even k are W, odd k are b.
        self._offsets = np.array([info.offset for info in self.layout] + [self.n_total()])

    def n_total(self) -> int:
        """Number of parameters."""
        return int(sum(W.size + b.size for W, b in zip(self._W, self._b, strict=True)))

    @property
    def detects_kinks(self) -> bool:
        """True: the side of each kinked activation's kinks is compared at every point."""
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
                columns = self._sparse_inputs(layer)
                p_idx, b_idx, pos = moved_samples(columns, rows_i)
                _, _, entries, value_ids = columns
                dz = steps_k[p_idx] * entries[pos]
                if value_ids is not None and self.batched_rows:
                    unique = equal_moves(
                        b_idx, cols[p_idx], steps_k, p_idx, value_ids[pos],
                        self._W[layer].shape[1],
                    )
            values[sel], flags[sel] = self._column_moves(
                layer, sel.size, p_idx, b_idx, cols[p_idx], dz, unique
            )
        return values.reshape(shape), flags.reshape(shape)

    def _sparse_inputs(self, layer: int) -> InputColumns:
        """Layer ``layer``'s input by column
        (:func:`~verification.engine.evaluators.sparse_moves.input_columns`),
        built on first use."""
        if layer not in self._sparse:
            self._sparse[layer] = input_columns(self._a[layer])
        return self._sparse[layer]

    def _column_moves(
        self, layer: int, count: int, p_idx: IntArray, b_idx: IntArray, j_idx: IntArray,
        steps: FloatArray, unique: tuple[IntArray, IntArray] | None = None,
    ) -> tuple[FloatArray, BoolArray]:
        """Loss changes of ``count`` perturbations, given as (perturbation ``p``, sample
        ``b``, column ``j``, move ``dz``) quadruples: ``z[b, j] += dz`` in ``layer``.

        Pairs with ``dz == 0`` are never passed in. ``unique`` = (representatives,
        inverse) marks identical moves (see
        :func:`~verification.engine.evaluators.sparse_moves.equal_moves`),
        evaluated once (only for a loss with per-sample values: otherwise the rows of
        one perturbation go to the loss together).
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
        chunk = max(256, ROWS_PER_CHUNK * 32 // width)
        for start in range(0, b_eval.size, chunk):
            part = slice(start, start + chunk)
            d_ell[part], flip[part] = self._rows_after_column(
                layer, b_eval[part], j_eval[part], s_eval[part],
                p_idx[part] if inverse is None else np.arange(b_eval[part].size)
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
        self, layer: int, b: IntArray, j: IntArray, dz: FloatArray, groups: IntArray
    ) -> tuple[FloatArray, BoolArray]:
        """Per (sample, column) pair: loss change and kink flag after ``z[b, j] += dz``;
        ``groups``: the perturbation of each pair (only sums over one are meant, see
        :meth:`~verification.engine.evaluators.loss_rows.OutputRows.changes`)."""
        last = self.spec.n_layers - 1
        width = self._z[layer].shape[1]
        at = b * width + j
        z_old = self._z[layer].reshape(-1)[at]
        z_new = z_old + dz
        if layer == last:
            rows = self._z[last][b]
            rows.reshape(-1)[np.arange(b.size) * width + j] = z_new
            return self._out.changes(rows, b, groups), self._out.crossed(rows, b)
        flip = np.zeros(b.size, dtype=bool)
        if self._kinked[layer]:
            kinks = self._kinked[layer]
            flip = kink_side(z_new, kinks) != kink_side(z_old, kinks)
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
        d_ell[live] = self._out.changes(rows, b_live, groups[live])
        flip[live] |= self._out.crossed(rows, b_live)
        return d_ell, flip

    def _activate(self, layer: int, rows: FloatArray, b: IntArray) -> tuple[FloatArray, ...]:
        """Activation of pre-activation rows of ``layer`` (samples ``b``) and, for kinked
        activations, whether each row's mask differs from the sample's base mask."""
        if self._kinked[layer]:
            kinks = self._kinked[layer]
            changed = np.any(kink_side(rows, kinks) != kink_side(self._z[layer][b], kinks),
                             axis=1)
        else:
            changed = np.zeros(rows.shape[0], dtype=bool)
        return self._acts[layer](rows), changed

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
                kinks = self._kinked[layer]
                moved = kink_side(z, kinks) != kink_side(self._z[layer], kinks)
                flags[order[:done]] |= np.any(moved, axis=(1, 2))
            z = self._act(layer, z) @ self._W[layer + 1] + self._b[layer + 1]
        assert z is not None
        changes, crossed = self._out.batch_changes(z)
        flags[order] |= crossed
        values = np.empty(k.size)
        values[order] = changes
        return values, flags


