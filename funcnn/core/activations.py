"""Elementwise activation functions and their derivatives, each defined once.

Every built-in activation is defined by two in-place kernels, made into an
:class:`Activation` by :func:`elementwise` (the idea of ``stax.elementwise``):

- ``value_into(z, out)`` writes ``act(z)`` into ``out``;
- ``derivative_into(z, a, out)`` writes ``act'(z)`` into ``out``, given ``a = act(z)``
  (sigmoid and tanh reuse their forward output); ``out`` may be ``z`` itself.

The pure functions (``Activation.fn(z)``, ``Activation.derivative(z, a)`` and the
module-level ``sigmoid``, ``sigmoid_derivative``, ...) are those kernels run on fresh
outputs, and the backprop engine (:mod:`funcnn.core.engine`) runs the same kernels on
reused buffers, so every path computes the same bits. An activation built from pure
functions (``Activation(name, fn, derivative)``) works everywhere too: the engine then
copies its results into its buffers.

All functions preserve the input's floating dtype and never warn on overflow: sigmoid
is scipy's ``expit``, exact for any magnitude. At the kink of relu (z = 0) the derivative
is taken as 0, and for leaky relu as the negative slope, matching PyTorch and JAX.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from funcnn.core.validation import check_float_array
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.typing import FloatArray

__all__ = [
    "ACTIVATIONS",
    "LEAKY_RELU_SLOPE",
    "Activation",
    "elementwise",
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

ValueInto = Callable[[FloatArray, FloatArray], None]
DerivativeInto = Callable[[FloatArray, FloatArray, FloatArray], None]


@dataclass(frozen=True)
class Activation:
    """An elementwise activation: ``fn(z)`` and ``derivative(z, fn(z))``, both pure.

    ``kinks`` lists the inputs where the function is not differentiable (the
    verification suite treats perturbations across them specially).
    ``derivative_bounds`` = ``(sup |f'|, sup |f''|, jump of f' at a kink)``, the three
    constants the verification suite's rounding-error model needs; when left out it
    estimates them from ``fn`` and ``derivative`` on [-40, 40] with a margin. ``value_into(z, out)``
    and ``derivative_into(z, a, out)`` are in-place kernels (``out`` may be ``z``); the
    engine runs them as ``value_kernel`` / ``derivative_kernel``, which copy the pure
    results when no kernel is given (see :func:`elementwise` for the other way round).

    For example, one built from two pure functions:

        >>> import numpy as np
        >>> import funcnn as fn
        >>> cube = fn.Activation("cube", lambda z: z**3, lambda z, a: 3 * z**2)
        >>> z = np.array([-1.0, 2.0])
        >>> cube.fn(z), cube.derivative(z, cube.fn(z))
        (array([-1.,  8.]), array([ 3., 12.]))
    """

    name: str
    fn: Callable[[FloatArray], FloatArray]
    derivative: Callable[[FloatArray, FloatArray], FloatArray]
    kinks: tuple[float, ...] = ()
    value_into: ValueInto | None = field(default=None, repr=False, compare=False)
    derivative_into: DerivativeInto | None = field(default=None, repr=False, compare=False)
    derivative_bounds: tuple[float, float, float] | None = None
    # The kernels the engine runs: the ones given, else copies of the pure results.
    value_kernel: ValueInto = field(init=False, repr=False, compare=False)
    derivative_kernel: DerivativeInto = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fn, derivative = self.fn, self.derivative

        def value_copy(z: FloatArray, out: FloatArray) -> None:
            np.copyto(out, fn(z))

        def derivative_copy(z: FloatArray, a: FloatArray, out: FloatArray) -> None:
            np.copyto(out, derivative(z, a))

        object.__setattr__(self, "value_kernel", self.value_into or value_copy)
        object.__setattr__(self, "derivative_kernel", self.derivative_into or derivative_copy)


def elementwise(
    name: str,
    value_into: ValueInto,
    derivative_into: DerivativeInto,
    kinks: tuple[float, ...] = (),
    *,
    derivative_bounds: tuple[float, float, float] | None = None,
) -> Activation:
    """An :class:`Activation` defined by its two in-place kernels.

    The pure ``fn`` and ``derivative`` check their argument (a float32/float64 array),
    allocate the result and run the kernel, so they are the kernels' bits by
    construction. ``kinks`` and ``derivative_bounds`` as in :class:`Activation`.

    For example, ``z**2`` from its kernels; the pure functions keep the dtype:

        >>> import numpy as np
        >>> import funcnn as fn
        >>> def square_into(z, out): np.multiply(z, z, out=out)
        >>> def square_d_into(z, a, out): np.multiply(z, 2, out=out)
        >>> square = fn.elementwise("square", square_into, square_d_into)
        >>> z = np.array([-1.0, 3.0], dtype=np.float32)
        >>> square.fn(z), square.derivative(z, square.fn(z))
        (array([1., 9.], dtype=float32), array([-2.,  6.], dtype=float32))
    """
    if not isinstance(name, str) or not name:
        raise ArgumentTypeError(f"name: expected a non-empty str, got {name!r}")
    for arg, kernel in (("value_into", value_into), ("derivative_into", derivative_into)):
        if not callable(kernel):
            raise ArgumentTypeError(f"{arg}: expected a callable, got {type(kernel).__name__}")

    def fn(z: FloatArray) -> FloatArray:
        z = check_float_array("z", z)
        out = np.empty_like(z)
        value_into(z, out)
        return out

    def derivative(z: FloatArray, a: FloatArray) -> FloatArray:
        z = check_float_array("z", z)
        out = np.empty_like(z)
        derivative_into(z, a, out)
        return out

    fn.__name__, derivative.__name__ = name, f"{name}_derivative"
    return Activation(name, fn, derivative, kinks, value_into, derivative_into,
                      derivative_bounds)


# ---------------------------------------------------------------- the kernels, once each


@cache
def _expit() -> Any:
    # scipy.special takes about 0.3 s to import, two thirds of what ``import funcnn``
    # took: it is loaded by the first sigmoid or softplus derivative (issue 23).
    from scipy.special import expit

    return expit


def _sigmoid(z: FloatArray, out: FloatArray) -> None:
    _expit()(z, out=out)


def _sigmoid_d(z: FloatArray, a: FloatArray, out: FloatArray) -> None:
    np.subtract(1, a, out=out)
    out *= a


def _tanh(z: FloatArray, out: FloatArray) -> None:
    np.tanh(z, out=out)


def _tanh_d(z: FloatArray, a: FloatArray, out: FloatArray) -> None:
    np.multiply(a, a, out=out)
    np.subtract(1, out, out=out)


def _relu(z: FloatArray, out: FloatArray) -> None:
    np.maximum(z, 0, out=out)


def _relu_d(z: FloatArray, a: FloatArray, out: FloatArray) -> None:
    np.greater(z, 0, out=out)


def _leaky_relu(z: FloatArray, out: FloatArray) -> None:
    # max(z, s z) is z for z > 0 and s z otherwise, because 0 < s < 1.
    np.multiply(z, LEAKY_RELU_SLOPE, out=out)
    np.maximum(z, out, out=out)


def _leaky_relu_d(z: FloatArray, a: FloatArray, out: FloatArray) -> None:
    np.greater(z, 0, out=out)  # 1 or 0, then max(., s): exactly 1 or the dtype's s
    np.maximum(out, z.dtype.type(LEAKY_RELU_SLOPE), out=out)


def _identity(z: FloatArray, out: FloatArray) -> None:
    np.copyto(out, z)


def _identity_d(z: FloatArray, a: FloatArray, out: FloatArray) -> None:
    out.fill(1)


def _softplus(z: FloatArray, out: FloatArray) -> None:
    np.logaddexp(0, z, out=out)


def _softplus_d(z: FloatArray, a: FloatArray, out: FloatArray) -> None:
    _expit()(z, out=out)


ACTIVATIONS: dict[str, Activation] = {
    act.name: act
    for act in (
        # derivative_bounds: sup |f'|, sup |f''| (sigmoid: at z = -+log(2 + sqrt 3);
        # tanh: at z = -+atanh(1 / sqrt 3)), and the jump of f' at the kink.
        elementwise("sigmoid", _sigmoid, _sigmoid_d,
                    derivative_bounds=(0.25, 1 / (6 * 3**0.5), 0.0)),
        elementwise("tanh", _tanh, _tanh_d, derivative_bounds=(1.0, 4 / (3 * 3**0.5), 0.0)),
        elementwise("relu", _relu, _relu_d, kinks=(0.0,), derivative_bounds=(1.0, 0.0, 1.0)),
        elementwise("leaky_relu", _leaky_relu, _leaky_relu_d, kinks=(0.0,),
                    derivative_bounds=(1.0, 0.0, 1 - LEAKY_RELU_SLOPE)),
        elementwise("identity", _identity, _identity_d, derivative_bounds=(1.0, 0.0, 0.0)),
        elementwise("softplus", _softplus, _softplus_d, derivative_bounds=(1.0, 0.25, 0.0)),
    )
}
"""Every activation funcnn knows, by name. Adding one is one entry here: the pure API,
the training step and the verification catalogue all look activations up in this table.

For example:

    >>> import funcnn as fn
    >>> relu = fn.ACTIVATIONS["relu"]
    >>> relu.name, relu.kinks, "tanh" in fn.ACTIVATIONS
    ('relu', (0.0,), True)
"""


def get_activation(name: str) -> Activation:
    """Look up an activation by name; ``InvalidArgumentError`` lists the known names.

    For example:

        >>> import numpy as np
        >>> import funcnn as fn
        >>> relu = fn.get_activation("relu")
        >>> relu.name, relu.fn(np.array([-1.0, 2.0]))
        ('relu', array([0., 2.]))
    """
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise InvalidArgumentError(
            f"activation: unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}"
        ) from None


# Each built-in's value and derivative at z = [-1, 0, 2], rounded to 4 decimals, written
# out by hand: the example its docstrings show (tests/test_reference.py runs them).
_EXAMPLES = {
    "sigmoid": ("[0.2689, 0.5   , 0.8808]", "[0.1966, 0.25  , 0.105 ]"),
    "tanh": ("[-0.7616,  0.    ,  0.964 ]", "[0.42  , 1.    , 0.0707]"),
    "relu": ("[0., 0., 2.]", "[0., 0., 1.]"),
    "leaky_relu": ("[-0.01,  0.  ,  2.  ]", "[0.01, 0.01, 1.  ]"),
    "identity": ("[-1.,  0.,  2.]", "[1., 1., 1.]"),
    "softplus": ("[0.3133, 0.6931, 2.1269]", "[0.2689, 0.5   , 0.8808]"),
}

_DOC = """{summary}

    For example, at ``z = [-1, 0, 2]``:

        >>> import numpy as np
        >>> import funcnn as fn
        >>> z = np.array([-1.0, 0.0, 2.0])
        >>> a = fn.{name}(z)
        >>> np.round(a, 4), np.round(fn.{name}_derivative(z, a), 4)
        (array({value}), array({derivative}))
    """


def _pure(name: str) -> tuple[Callable[[FloatArray], FloatArray], Callable[..., FloatArray]]:
    act = ACTIVATIONS[name]
    value, derivative = _EXAMPLES[name]
    fields = {"name": name, "value": value, "derivative": derivative}
    act.fn.__doc__ = _DOC.format(
        summary=f"``{name}(z)``, elementwise; a new array of ``z``'s shape and dtype.", **fields
    )
    act.derivative.__doc__ = _DOC.format(
        summary=f"``{name}'(z)`` given ``a = {name}(z)``, elementwise; shape and dtype of ``z``.",
        **fields,
    )
    return act.fn, act.derivative


sigmoid, sigmoid_derivative = _pure("sigmoid")
tanh, tanh_derivative = _pure("tanh")
relu, relu_derivative = _pure("relu")
leaky_relu, leaky_relu_derivative = _pure("leaky_relu")
identity, identity_derivative = _pure("identity")
softplus, softplus_derivative = _pure("softplus")
