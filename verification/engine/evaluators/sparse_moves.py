"""Sharing work between coordinate perturbations of one weight matrix.

A weight ``W[i, j]`` of a layer moves the pre-activation ``z[b, j]`` of only the samples
``b`` whose input ``a[b, i]`` is non-zero, by ``t * a[b, i]``. :func:`input_columns`
indexes a layer's input by column (CSR over the transposed input) so those samples are
found without scanning the batch, :func:`moved_samples` lists them for many weights at
once, and :func:`equal_moves` finds the moves that are bitwise equal (inputs whose
values repeat, such as MNIST pixels ``k/255``), so that each is evaluated once.
Used by :class:`verification.engine.evaluators.network_loss.NetworkLoss`.
"""

from __future__ import annotations

import numpy as np

from funcnn.typing import FloatArray, IntArray

__all__ = ["InputColumns", "equal_moves", "input_columns", "moved_samples"]

InputColumns = tuple[IntArray, IntArray, FloatArray, IntArray | None]
"""``(indptr, samples, values, value_ids)``, see :func:`input_columns`."""


def input_columns(inputs: FloatArray) -> InputColumns:
    """A layer's input ``inputs`` (B, n) by column: ``(indptr, samples, values, value_ids)``.

    The samples with ``inputs[b, i] != 0`` are ``samples[indptr[i]:indptr[i + 1]]``, with
    values ``values[...]``. ``value_ids`` numbers the distinct values when they repeat
    within samples, so that equal moves of different weights can be evaluated once; it
    is None when they hardly repeat.
    """
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
    return indptr, rows, values, ids


def moved_samples(columns: InputColumns, rows_i: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """For weights in input rows ``rows_i``: (perturbation, sample, CSR position) of every
    sample with ``a[b, i] != 0``, where ``columns`` is the layer's :func:`input_columns`."""
    indptr, samples, _, _ = columns
    counts = indptr[rows_i + 1] - indptr[rows_i]
    p_idx = np.repeat(np.arange(rows_i.size), counts)
    ends = np.cumsum(counts)
    pos = np.arange(int(ends[-1]) if ends.size else 0) + np.repeat(
        indptr[rows_i] - (ends - counts), counts
    )
    return p_idx, samples[pos], pos


def equal_moves(
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
