"""Output heads as people write them: an output activation and a loss, as one
:class:`funcnn.Loss` on the last layer's pre-activation ``z``.

funcnn's networks end in logits and name a fused loss (``softmax_cross_entropy``,
``binary_cross_entropy``, ``mse``). Code written by hand applies an output activation
first and scores its result: a sigmoid output with the quadratic cost of a textbook, a
softmax then cross-entropy, a tanh output with half the sum of squares. :func:`head`
builds that pair as a :class:`Head`, a :class:`funcnn.Loss` whose gradient is ``dL/dz``
through the activation, so :func:`verification.diagnose_mlp` checks the output delta of
such code against it and knows the output activation it applies::

    >>> from verification.external.heads import head
    >>> quadratic = head("sigmoid", "squared", outputs="sum", half=True)
    >>> quadratic.name
    'sigmoid + 1/2 sum of squares'

Every loss is the mean over the batch of a per-sample loss (funcnn's convention; code
that sums over the batch says so to its adapter with ``reduction="sum"``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import funcnn as fn
from funcnn.errors import InvalidArgumentError
from funcnn.typing import Array, FloatArray

__all__ = ["OUTPUTS", "Head", "head"]

Pair = Callable[[FloatArray], tuple[FloatArray, FloatArray]]


def _registered(name: str) -> Pair:
    """``z -> (f(z), f'(z))`` of funcnn's activation ``name`` (its one definition)."""
    act = fn.get_activation(name)

    def pair(z: FloatArray) -> tuple[FloatArray, FloatArray]:
        a = act.fn(z)
        return a, act.derivative(z, a)

    return pair


def _softmax(z: FloatArray) -> tuple[FloatArray, FloatArray]:
    a = fn.softmax(z)
    # The Jacobian's diagonal only: the head's gradient goes through the full VJP.
    return a, np.diagonal(fn.softmax_jacobian(a), axis1=-2, axis2=-1)


OUTPUTS: dict[str, Pair] = {
    "identity": _registered("identity"),
    "sigmoid": _registered("sigmoid"),
    "tanh": _registered("tanh"),
    "softmax": _softmax,
}
"""Each output activation: ``z -> (f(z), f'(z))`` (for softmax the Jacobian's diagonal),
from funcnn's own definitions (:func:`funcnn.get_activation`, :func:`funcnn.softmax`)."""

@dataclass(frozen=True)
class Head(fn.Loss):
    """A :class:`funcnn.Loss` that applies the output activation ``output`` (the field
    every loss declares) to ``z``, and how :func:`head` composed it (``loss``,
    ``outputs``, ``half``)."""

    loss: str = "squared"
    outputs: str = "mean"
    half: bool = False

    def declaration(self) -> dict[str, Any]:
        """The arguments of :func:`head` that build it again (the foreign protocol's
        ``heads`` entry, a golden case's ``head``)."""
        return {"output": self.output, "loss": self.loss, "outputs": self.outputs,
                "half": self.half}


def _targets(z: FloatArray, y: Array) -> FloatArray:
    y = np.asarray(y)
    if y.ndim == 1 and y.dtype.kind in "iu":
        if z.shape[1] == 1:
            return y.reshape(-1, 1).astype(z.dtype)
        return fn.one_hot(y, z.shape[1], dtype=z.dtype)
    return np.asarray(y, dtype=z.dtype).reshape(z.shape)


def head(output: str, loss: str, *, outputs: str = "mean", half: bool = False,
         name: str | None = None) -> Head:
    """The head ``loss(output(z), y)`` as a :class:`Head`.

    ``output``: one of :data:`OUTPUTS`; ``loss``: ``"squared"`` (``(a - y)^2``) or
    ``"cross_entropy"`` (``-sum y log a`` for softmax, binary cross-entropy for
    sigmoid); ``outputs``: ``"mean"`` or ``"sum"`` over the outputs; ``half``: half of
    it (``1/2 sum (a - y)^2``, the textbook's quadratic cost); ``name``: the loss's name
    (by default one that spells the head out). The cross-entropies are funcnn's fused
    ``softmax_cross_entropy`` and ``binary_cross_entropy`` rescaled; a softmax head
    declares ``min_outputs=2``.
    """
    if output not in OUTPUTS:
        raise InvalidArgumentError(f"output: expected one of {sorted(OUTPUTS)}, got {output!r}")
    if loss not in ("squared", "cross_entropy"):
        raise InvalidArgumentError(
            f"loss: expected 'squared' or 'cross_entropy', got {loss!r}"
        )
    if loss == "cross_entropy" and output not in ("softmax", "sigmoid"):
        raise InvalidArgumentError(
            f"loss: cross_entropy needs a softmax or sigmoid output, got output={output!r}"
        )
    if outputs not in ("mean", "sum"):
        raise InvalidArgumentError(f"outputs: expected 'mean' or 'sum', got {outputs!r}")
    if not isinstance(half, bool):
        raise InvalidArgumentError(f"half: expected True or False, got {half!r}")
    scale = 0.5 if half else 1.0
    what = "squares" if loss == "squared" else "cross-entropy"
    if name is None:
        name = f"{output} + {'1/2 ' if half else ''}{outputs} of {what}"
    activation = OUTPUTS[output]
    # funcnn's fused cross-entropy of this output, and what it reduces over the outputs.
    fused = {"softmax": ("softmax_cross_entropy", "sum"),
             "sigmoid": ("binary_cross_entropy", "mean")}.get(output)

    def value_and_grad(z: FloatArray, y: Array) -> tuple[float, FloatArray]:
        t = _targets(z, y)
        width = z.shape[1]
        if loss == "cross_entropy" and fused is not None:
            value, grad = fn.get_loss(fused[0]).value_and_grad(z, t)
            factor = scale * ({"mean": 1.0, "sum": float(width)}[outputs] if fused[1] == "mean"
                              else {"mean": 1.0 / width, "sum": 1.0}[outputs])
            return float(factor * value), (factor * grad).astype(z.dtype)
        factor = scale / ((width if outputs == "mean" else 1) * z.shape[0])
        a, derivative = activation(z)
        value = np.sum((a - t) ** 2)
        da = 2 * (a - t)
        grad = fn.softmax_vjp(a, da) if output == "softmax" else da * derivative
        return float(factor * value), (factor * grad).astype(z.dtype)

    kind = "distribution" if output == "softmax" and loss == "cross_entropy" else "real"
    if output == "sigmoid" and loss == "cross_entropy":
        kind = "probability"
    return Head(name, value_and_grad, kind, min_outputs=2 if output == "softmax" else 1,
                output=output, loss=loss, outputs=outputs, half=half)
