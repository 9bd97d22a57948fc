"""The dense layer: forward ``x @ W + b`` and its vector-Jacobian product."""

from __future__ import annotations

from funcnn.typing import FloatArray, Layer

__all__ = ["dense", "dense_vjp"]


def dense(layer: Layer, x: FloatArray) -> FloatArray:
    """``x @ W + b`` for ``x`` of shape ``(B, n_in)``; returns ``(B, n_out)``."""
    out: FloatArray = x @ layer["W"]
    out += layer["b"]
    return out


def dense_vjp(layer: Layer, x: FloatArray, g: FloatArray) -> tuple[Layer, FloatArray]:
    """Backpropagate upstream gradient ``g`` (B, n_out) through :func:`dense`.

    Returns ``({"W": x^T g (n_in, n_out), "b": sum_B g (n_out,)}, g W^T (B, n_in))``.
    """
    grads: Layer = {"W": x.T @ g, "b": g.sum(axis=0)}
    return grads, g @ layer["W"].T
