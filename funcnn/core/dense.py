"""The dense layer ``x @ W + b`` and its vector-Jacobian product, defined once.

The ``*_into`` kernels write into given buffers and check nothing: the engine
(:mod:`funcnn.core.engine`) runs them on reused or fresh buffers. :func:`dense` and
:func:`dense_vjp` are the public, validating forms, built on the same kernels.
"""

from __future__ import annotations

import numpy as np

from funcnn.core.validation import check_float_array
from funcnn.errors import InvalidArgumentError
from funcnn.typing import FloatArray, Layer

__all__ = [
    "bias_grad_into",
    "dense",
    "dense_into",
    "dense_vjp",
    "input_grad_into",
    "weight_grad_into",
]


def dense_into(W: FloatArray, b: FloatArray, x: FloatArray, out: FloatArray) -> None:
    """``out = x @ W + b`` for ``x`` (B, n_in), ``W`` (n_in, n_out), ``out`` (B, n_out)."""
    np.matmul(x, W, out=out)
    out += b


def weight_grad_into(x: FloatArray, g: FloatArray, out: FloatArray) -> None:
    """``out = x^T g``: the weight gradient (n_in, n_out) given the upstream ``g``."""
    if x.shape[0] == 1:
        # A (n_in, 1) @ (1, n_out) product is an outer product: the same bits, without
        # BLAS's overhead for an inner dimension of 1 (per-sample SGD).
        np.multiply(x.T, g, out=out)
    else:
        np.matmul(x.T, g, out=out)


def bias_grad_into(g: FloatArray, out: FloatArray) -> None:
    """``out = sum_B g``: the bias gradient (n_out,)."""
    np.add.reduce(g, axis=0, out=out)


def input_grad_into(W: FloatArray, g: FloatArray, out: FloatArray) -> None:
    """``out = g W^T``: the gradient with respect to the layer's input (B, n_in)."""
    np.matmul(g, W.T, out=out)


def _check_x(layer: Layer, x: object) -> FloatArray:
    arr = check_float_array("x", x)
    n_in = layer["W"].shape[0]
    if arr.ndim != 2 or arr.shape[1] != n_in:
        raise InvalidArgumentError(f"x: expected shape (B, {n_in}), got {arr.shape}")
    return arr


def dense(layer: Layer, x: FloatArray) -> FloatArray:
    """``x @ W + b`` for ``x`` of shape ``(B, n_in)``; returns ``(B, n_out)``.

    For example:

        >>> import numpy as np
        >>> layer = {"W": np.array([[1.0, 2.0], [3.0, 4.0]]), "b": np.array([0.5, -0.5])}
        >>> dense(layer, np.array([[1.0, 1.0]]))
        array([[4.5, 5.5]])
    """
    x = _check_x(layer, x)
    out = np.empty((x.shape[0], layer["W"].shape[1]), dtype=np.result_type(x, layer["W"]))
    dense_into(layer["W"], layer["b"], x, out)
    return out


def dense_vjp(layer: Layer, x: FloatArray, g: FloatArray) -> tuple[Layer, FloatArray]:
    """Backpropagate upstream gradient ``g`` (B, n_out) through :func:`dense`.

    Returns ``({"W": x^T g (n_in, n_out), "b": sum_B g (n_out,)}, g W^T (B, n_in))``.

        >>> import numpy as np
        >>> layer = {"W": np.array([[1.0, 2.0], [3.0, 4.0]]), "b": np.array([0.5, -0.5])}
        >>> grads, dx = dense_vjp(layer, np.array([[1.0, 1.0]]), np.array([[1.0, 0.0]]))
        >>> grads["W"], grads["b"], dx
        (array([[1., 0.],
               [1., 0.]]), array([1., 0.]), array([[1., 3.]]))
    """
    x = _check_x(layer, x)
    g = check_float_array("g", g)
    W = layer["W"]
    if g.shape != (x.shape[0], W.shape[1]):
        raise InvalidArgumentError(f"g: expected shape ({x.shape[0]}, {W.shape[1]}), got {g.shape}")
    dtype = np.result_type(x, g, W)
    grads: Layer = {"W": np.empty(W.shape, dtype=dtype), "b": np.empty(W.shape[1], dtype=dtype)}
    weight_grad_into(x, g, grads["W"])
    bias_grad_into(g, grads["b"])
    dx = np.empty(x.shape, dtype=dtype)
    input_grad_into(W, g, dx)
    return grads, dx
