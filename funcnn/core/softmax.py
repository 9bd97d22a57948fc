"""Softmax over the last axis: values, log-values, the full Jacobian and its VJP.

The full Jacobian ``diag(s) - s s^T`` is what a from-scratch softmax layer
backpropagates through; :func:`softmax_vjp` computes the same product ``J^T g`` in
O(C) per sample instead of O(C^2). Both are kept so the verification suite can hold
one against the other.
"""

from __future__ import annotations

import numpy as np

from funcnn.core.validation import check_float_array
from funcnn.errors import InvalidArgumentError
from funcnn.typing import FloatArray

__all__ = ["log_softmax", "softmax", "softmax_into", "softmax_jacobian", "softmax_vjp"]


def _check_classes(name: str, z: object) -> FloatArray:
    """``z`` as a float array with at least one class on its last axis."""
    arr = check_float_array(name, z, min_ndim=1)
    if arr.shape[-1] == 0:
        raise InvalidArgumentError(
            f"{name}: expected at least one class on the last axis, got shape {arr.shape}"
        )
    return arr


def softmax_into(z: FloatArray, out: FloatArray) -> FloatArray:
    """The softmax kernel: shifts ``z`` in place by its row maxima, writes
    ``exp(z) / sum(exp(z))`` into ``out`` and returns the row sums ``(..., 1)`` of
    ``exp(z - max)`` (what log-sum-exp needs). No validation: the engine's form."""
    z -= np.maximum.reduce(z, axis=-1, keepdims=True)
    np.exp(z, out=out)
    sums: FloatArray = np.add.reduce(out, axis=-1, keepdims=True)
    out /= sums
    return sums


def softmax(z: FloatArray) -> FloatArray:
    """``exp(z) / sum(exp(z))`` over the last axis, shape and dtype of ``z``.

    Shifted by the row maximum first, so logits of any finite size are safe.

        >>> softmax(np.array([[0.0, np.log(3.0)], [1000.0, 1000.0]]))
        array([[0.25, 0.75],
               [0.5 , 0.5 ]])
    """
    z = _check_classes("z", z)
    out = np.empty_like(z)
    softmax_into(z.copy(), out)
    return out


def log_softmax(z: FloatArray) -> FloatArray:
    """``log(softmax(z))`` over the last axis via log-sum-exp; finite for finite ``z``.

    For example:

        >>> import numpy as np
        >>> out = log_softmax(np.array([[0.0, 0.0], [1000.0, 0.0]]))
        >>> bool(np.allclose(out, [[-np.log(2), -np.log(2)], [0.0, -1000.0]]))
        True
    """
    z = _check_classes("z", z)
    shifted = z.copy()
    sums = softmax_into(shifted, np.empty_like(z))
    shifted -= np.log(sums)
    return shifted


def softmax_jacobian(s: FloatArray) -> FloatArray:
    """Full Jacobian ``d softmax / d z`` from softmax outputs ``s``.

    ``s`` has shape ``(C,)`` or ``(B, C)``; the result has shape ``(C, C)`` or
    ``(B, C, C)`` with ``J[..., i, j] = s_i (delta_ij - s_j)``: symmetric, rows summing
    to 0.

        >>> import numpy as np
        >>> softmax_jacobian(softmax(np.array([0.0, 0.0])))   # diag(s) - s s^T, s = (1/2, 1/2)
        array([[ 0.25, -0.25],
               [-0.25,  0.25]])
    """
    s = _check_classes("s", s)
    outer = s[..., :, None] * s[..., None, :]
    diag = np.zeros_like(outer)
    idx = np.arange(s.shape[-1])
    diag[..., idx, idx] = s
    out: FloatArray = diag - outer
    return out


def softmax_vjp(s: FloatArray, g: FloatArray) -> FloatArray:
    """Vector-Jacobian product ``J^T g`` of softmax, given outputs ``s`` and upstream ``g``.

    ``s`` and ``g`` share shape ``(C,)`` or ``(B, C)``; returns that shape:
    ``s * (g - sum(s * g))`` per sample, without forming the Jacobian.

        >>> import numpy as np
        >>> s = softmax(np.array([0.0, 0.0]))
        >>> softmax_vjp(s, np.array([1.0, 0.0]))            # J^T g without forming J
        array([ 0.25, -0.25])
    """
    s = _check_classes("s", s)
    g = check_float_array("g", g)
    if g.shape != s.shape:
        raise InvalidArgumentError(f"g: expected the shape of s, {s.shape}, got {g.shape}")
    out: FloatArray = s * (g - np.sum(s * g, axis=-1, keepdims=True))
    return out
