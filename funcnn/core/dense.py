"""The dense layer: forward ``x @ W + b`` and its vector-Jacobian product."""

from __future__ import annotations

from funcnn.core.validation import check_float_array
from funcnn.errors import InvalidArgumentError
from funcnn.typing import FloatArray, Layer

__all__ = ["dense", "dense_unchecked", "dense_vjp", "dense_vjp_unchecked"]


def dense(layer: Layer, x: FloatArray) -> FloatArray:
    """``x @ W + b`` for ``x`` of shape ``(B, n_in)``; returns ``(B, n_out)``."""
    x = check_float_array("x", x)
    n_in = layer["W"].shape[0]
    if x.ndim != 2 or x.shape[1] != n_in:
        raise InvalidArgumentError(f"x: expected shape (B, {n_in}), got {x.shape}")
    return dense_unchecked(layer, x)


def dense_unchecked(layer: Layer, x: FloatArray) -> FloatArray:
    """:func:`dense` for arguments already validated (the network's forward pass)."""
    out: FloatArray = x @ layer["W"]
    out += layer["b"]
    return out


def dense_vjp(layer: Layer, x: FloatArray, g: FloatArray) -> tuple[Layer, FloatArray]:
    """Backpropagate upstream gradient ``g`` (B, n_out) through :func:`dense`.

    Returns ``({"W": x^T g (n_in, n_out), "b": sum_B g (n_out,)}, g W^T (B, n_in))``.
    """
    x = check_float_array("x", x)
    g = check_float_array("g", g)
    n_in, n_out = layer["W"].shape
    if x.ndim != 2 or x.shape[1] != n_in:
        raise InvalidArgumentError(f"x: expected shape (B, {n_in}), got {x.shape}")
    if g.shape != (x.shape[0], n_out):
        raise InvalidArgumentError(f"g: expected shape ({x.shape[0]}, {n_out}), got {g.shape}")
    return dense_vjp_unchecked(layer, x, g)


def dense_vjp_unchecked(layer: Layer, x: FloatArray, g: FloatArray) -> tuple[Layer, FloatArray]:
    """:func:`dense_vjp` for arguments already validated (the network's backward pass)."""
    grads: Layer = {"W": x.T @ g, "b": g.sum(axis=0)}
    return grads, g @ layer["W"].T
