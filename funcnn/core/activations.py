"""Elementwise activation functions and their derivatives.

Each activation is an :class:`Activation` pair: ``fn(z)`` and ``derivative(z, a)``,
where ``a = fn(z)`` is passed in so that sigmoid and tanh reuse their forward output
instead of recomputing it. All functions preserve the input's floating dtype and never
warn on overflow: sigmoid is exact for ``|z|`` up to 1e4 and beyond.

At the kink of relu (z = 0) the derivative is taken as 0, and for leaky relu as the
negative slope, matching PyTorch and JAX.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

from funcnn.core.validation import check_float_array
from funcnn.errors import InvalidArgumentError
from funcnn.typing import FloatArray

__all__ = [
    "ACTIVATIONS",
    "LEAKY_RELU_SLOPE",
    "Activation",
    "get_activation",
    "identity",
    "identity_derivative",
    "leaky_relu",
    "leaky_relu_derivative",
    "relu",
    "relu_derivative",
    "sigmoid",
    "sigmoid_derivative",
    "softplus",
    "softplus_derivative",
    "tanh",
    "tanh_derivative",
]

LEAKY_RELU_SLOPE = 0.01
"""Slope of leaky relu for negative inputs."""


def sigmoid(z: FloatArray) -> FloatArray:
    """Logistic sigmoid ``1 / (1 + exp(-z))``, same shape and dtype as ``z``, no overflow."""
    z = check_float_array("z", z)
    out: FloatArray = special.expit(z)
    return out


def sigmoid_derivative(z: FloatArray, a: FloatArray) -> FloatArray:
    """``sigmoid'(z) = a * (1 - a)`` with ``a = sigmoid(z)``."""
    z = check_float_array("z", z)
    return a * (1 - a)


def tanh(z: FloatArray) -> FloatArray:
    """Hyperbolic tangent, same shape and dtype as ``z``."""
    z = check_float_array("z", z)
    return np.tanh(z)


def tanh_derivative(z: FloatArray, a: FloatArray) -> FloatArray:
    """``tanh'(z) = 1 - a**2`` with ``a = tanh(z)``."""
    z = check_float_array("z", z)
    return 1 - a * a


def relu(z: FloatArray) -> FloatArray:
    """``max(z, 0)``, same shape and dtype as ``z``."""
    z = check_float_array("z", z)
    return np.maximum(z, 0)


def relu_derivative(z: FloatArray, a: FloatArray) -> FloatArray:
    """1 where ``z > 0``, else 0 (0 at the kink), in ``z``'s dtype."""
    z = check_float_array("z", z)
    return (z > 0).astype(z.dtype)


def leaky_relu(z: FloatArray) -> FloatArray:
    """``z`` for ``z > 0``, else ``LEAKY_RELU_SLOPE * z``."""
    z = check_float_array("z", z)
    return np.where(z > 0, z, z * z.dtype.type(LEAKY_RELU_SLOPE))


def leaky_relu_derivative(z: FloatArray, a: FloatArray) -> FloatArray:
    """1 where ``z > 0``, else ``LEAKY_RELU_SLOPE`` (the slope at the kink)."""
    z = check_float_array("z", z)
    one = z.dtype.type(1)
    return np.where(z > 0, one, z.dtype.type(LEAKY_RELU_SLOPE))


def identity(z: FloatArray) -> FloatArray:
    """Returns ``z`` unchanged (the same array; callers never mutate it)."""
    z = check_float_array("z", z)
    return z


def identity_derivative(z: FloatArray, a: FloatArray) -> FloatArray:
    """Ones in the shape and dtype of ``z``."""
    z = check_float_array("z", z)
    return np.ones_like(z)


def softplus(z: FloatArray) -> FloatArray:
    """``log(1 + exp(z))`` computed without overflow, same shape and dtype as ``z``."""
    z = check_float_array("z", z)
    return np.logaddexp(z.dtype.type(0), z)


def softplus_derivative(z: FloatArray, a: FloatArray) -> FloatArray:
    """``softplus'(z) = sigmoid(z)``."""
    z = check_float_array("z", z)
    return sigmoid(z)


@dataclass(frozen=True)
class Activation:
    """An elementwise activation: ``fn(z)`` and ``derivative(z, fn(z))``.

    ``kinks`` lists the inputs where the function is not differentiable (the
    verification suite treats perturbations across them specially).
    """

    name: str
    fn: Callable[[FloatArray], FloatArray]
    derivative: Callable[[FloatArray, FloatArray], FloatArray]
    kinks: tuple[float, ...] = ()


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation("sigmoid", sigmoid, sigmoid_derivative),
    "tanh": Activation("tanh", tanh, tanh_derivative),
    "relu": Activation("relu", relu, relu_derivative, kinks=(0.0,)),
    "leaky_relu": Activation("leaky_relu", leaky_relu, leaky_relu_derivative, kinks=(0.0,)),
    "identity": Activation("identity", identity, identity_derivative),
    "softplus": Activation("softplus", softplus, softplus_derivative),
}
"""Every activation funcnn knows, by name."""


def get_activation(name: str) -> Activation:
    """Look up an activation by name; ``InvalidArgumentError`` lists the known names."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise InvalidArgumentError(
            f"activation: unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}"
        ) from None
