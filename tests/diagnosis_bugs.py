"""Classic backprop bugs, planted one line at a time in a textbook implementation.

:func:`buggy` returns ``value_and_grad(params, x, y)`` for a dense MLP written the
way notebooks write it (``z = a W + b``, deltas carried down layer by layer), with
the named bugs switched on. The right lines call funcnn's own activations and loss
derivatives; only the planted lines are written out, as a notebook would write them.
:data:`BUGS` maps each bug to the spec and loss it shows on and the kind of root cause
:func:`verification.diagnose_mlp` must name.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np

import funcnn as fn
from funcnn.typing import Array, Params

__all__ = ["BUGS", "Bug", "buggy"]

ValueAndGrad = Callable[[Params, Array, Array], tuple[float, Params]]

LR = 0.5
"""Learning rate of the bug that updates weights inside backward."""

L2 = 1e-2
"""L2 coefficient of the bug with a wrong L2 factor."""


@dataclass(frozen=True)
class Bug:
    """Where a bug shows: the net, the loss, the planted layer, and the root cause kind."""

    sizes: tuple[int, ...]
    activation: str | tuple[str, ...]
    loss: str
    kind: str
    step: str
    l2: float = 0.0


_NET = ((4, 6, 5, 3), "tanh")

BUGS: dict[str, Bug] = {
    "prediction-one-hot": Bug(
        *_NET, "softmax_cross_entropy", "output-prediction-one-hot", "output delta"
    ),
    "derivative-at-activation": Bug(
        (4, 6, 5, 3),
        "sigmoid",
        "softmax_cross_entropy",
        "derivative-at-activation",
        "layer 1 delta",
    ),
    "next-output": Bug(
        (2, 3, 1), "sigmoid", "binary_cross_entropy", "propagation-next-output", "layer 1 delta"
    ),
    "updated-weights": Bug(
        *_NET, "softmax_cross_entropy", "propagation-updated-weights", "layer 1 delta"
    ),
    "missing-mean": Bug(*_NET, "softmax_cross_entropy", "batch-sum", "batch reduction"),
    "bias-sum": Bug(*_NET, "softmax_cross_entropy", "bias-sum", "batch reduction"),
    "transposed": Bug(
        (4, 5, 5, 3),
        "tanh",
        "softmax_cross_entropy",
        "weight-transposed",
        "layer 2 weight gradient",
    ),
    "softmax-jacobian": Bug(
        *_NET, "softmax_then_cross_entropy", "output-softmax-jacobian", "output delta"
    ),
    "ce-eps": Bug(*_NET, "softmax_cross_entropy", "loss-eps", "loss value"),
    "other-layer-derivative": Bug(
        (4, 5, 5, 3), "tanh", "softmax_cross_entropy", "derivative-other-layer", "layer 1 delta"
    ),
    "sigmoid-from-z": Bug(
        (4, 6, 5, 3), "sigmoid", "softmax_cross_entropy", "derivative-formula-on-z", "layer 1 delta"
    ),
    "tanh-no-square": Bug(*_NET, "softmax_cross_entropy", "derivative-no-square", "layer 1 delta"),
    "l2-factor": Bug(
        *_NET, "softmax_cross_entropy", "weight-l2-factor", "L2 term of layers 1, 2, 3", L2
    ),
    "pre-activation": Bug(
        *_NET, "softmax_cross_entropy", "weight-pre-activation", "layer 3 weight gradient"
    ),
    "other-activation": Bug(
        (4, 6, 5, 3),
        ("sigmoid", "relu"),
        "softmax_cross_entropy",
        "derivative-other-activation",
        "layer 1 delta",
    ),
    "output-bias-sign": Bug(
        *_NET, "softmax_cross_entropy", "bias-gradient", "layer 3 bias gradient"
    ),
    "bias-sign": Bug(*_NET, "softmax_cross_entropy", "bias-gradient", "layer 2 bias gradient"),
}
"""Every planted bug: the net it is planted in and the root cause the diagnosis names."""


def _output_delta(
    bugs: Collection[str], loss: str | fn.Loss, z: Array, y: Array
) -> tuple[float, Array]:
    value, delta = fn.get_loss(loss).value_and_grad(z, y)
    batch = len(z)
    p = fn.softmax(z)
    if "prediction-one-hot" in bugs:
        delta = (p - fn.one_hot(np.argmax(z, axis=1), z.shape[1])) / batch
    if "softmax-jacobian" in bugs:
        dp = -fn.one_hot(y, z.shape[1]) / p / batch
        delta = p * dp
    if "ce-eps" in bugs:
        value = float(np.mean(-np.log(p[np.arange(batch), y] + 1e-7)))
    if "missing-mean" in bugs:
        delta = delta * batch
    return value, delta


def _derivative(
    bugs: Collection[str], spec: fn.MLP, layer: int, z: list[Array], a: list[Array]
) -> Array:
    """f'(z) of hidden layer ``layer`` (0-based), or its planted mistake at layer 0."""
    act = fn.get_activation(spec.hidden_activations[layer])
    if layer == 0 and "derivative-at-activation" in bugs:
        return act.derivative(a[1], act.fn(a[1]))
    if layer == 0 and "sigmoid-from-z" in bugs:
        from_z: Array = z[0] * (1 - z[0])
        return from_z
    if layer == 0 and "tanh-no-square" in bugs:
        no_square: Array = 1 - np.tanh(z[0])
        return no_square
    if layer == 0 and "other-layer-derivative" in bugs:
        return fn.get_activation(spec.hidden_activations[1]).derivative(z[1], a[2])
    if layer == 0 and "other-activation" in bugs:
        return fn.relu_derivative(z[0], a[1])
    return act.derivative(z[layer], a[layer + 1])


def buggy(
    spec: fn.MLP, loss: str | fn.Loss, bugs: Collection[str] = (), l2: float = 0.0
) -> ValueAndGrad:
    """A textbook ``value_and_grad`` for ``spec`` with the named bugs planted."""
    unknown = set(bugs) - set(BUGS)
    if unknown:
        raise KeyError(f"unknown bugs {sorted(unknown)}")

    def value_and_grad(params: Params, x: Array, y: Array) -> tuple[float, Params]:
        a, z = [x], []
        for index, layer in enumerate(params):
            z.append(a[-1] @ layer["W"] + layer["b"])
            if index < spec.n_layers - 1:
                a.append(fn.get_activation(spec.hidden_activations[index]).fn(z[-1]))
        value, delta = _output_delta(bugs, loss, z[-1], y)
        batch = len(x)
        grads: Params = [{} for _ in params]
        for index in range(spec.n_layers - 1, -1, -1):
            w = params[index]["W"]
            d_w = a[index].T @ delta
            if "transposed" in bugs and index == 1:
                d_w = delta.T @ a[index]
            if "pre-activation" in bugs and index == spec.n_layers - 1:
                d_w = z[index - 1].T @ delta
            d_b = np.sum(delta * batch, axis=0) if "bias-sum" in bugs else np.sum(delta, axis=0)
            if ("bias-sign" in bugs and index == 1) or ("output-bias-sign" in bugs and index == 2):
                d_b = -d_b
            value += 0.5 * l2 * float(np.sum(w * w))
            d_w = d_w + (2 * l2 if "l2-factor" in bugs else l2) * w
            grads[index] = {"W": d_w, "b": d_b}
            if index == 0:
                break
            if "updated-weights" in bugs and index == 1:
                w = w - LR * d_w
            back = delta @ w.T
            if "next-output" in bugs:
                back = delta * fn.sigmoid(z[-1])
            delta = back * _derivative(bugs, spec, index - 1, z, a)
        return value, grads

    return value_and_grad
