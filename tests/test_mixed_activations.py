"""A network with a different activation in every hidden layer (tanh, then relu, then
sigmoid), checked at fixed values against a reference written out here in plain numpy:
the logits and the loss against the reference's, and the gradient against central
differences of the reference's loss.

The reference names each layer's activation itself rather than reading it from the
spec, so a network that applies its activations in another order (reversed, say) fails
on its value, and a backward pass that takes another layer's derivative fails on its
gradient, deterministically (the hypothesis tests draw such networks only sometimes).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import funcnn as fn
from funcnn.typing import Array, Params

SIZES = (3, 5, 4, 4, 3)
ACTIVATIONS = ("tanh", "relu", "sigmoid")
LOSS = "softmax_cross_entropy"

REFERENCE: tuple[Callable[[Array], Array], ...] = (
    np.tanh,
    lambda z: np.maximum(z, 0.0),
    lambda z: 1.0 / (1.0 + np.exp(-z)),
)

STEP = 1e-5
"""Central-difference step: truncation ~ STEP**2 |f'''| ~ 1e-10 and rounding
~ eps |L| / STEP ~ 1e-11, both far inside :data:`RTOL`."""

RTOL = 1e-7
"""Gradient agreement, relative to the tensor's largest entry. The wrong order of
activations changes entries by 1e-2 or more of that."""

KINK_MARGIN = 1e-3
"""Every relu pre-activation stays this far from 0, so no central-difference stencil
(which moves a pre-activation by at most ~STEP * 10) crosses the kink."""


def _problem() -> tuple[fn.MLP, Params, Array, Array]:
    spec = fn.MLP(SIZES, ACTIVATIONS)
    rng = np.random.default_rng(20231)
    params = fn.init(spec, rng)
    params = [{"W": layer["W"], "b": rng.normal(scale=0.5, size=layer["b"].shape)}
              for layer in params]
    x = rng.normal(size=(6, SIZES[0]))
    y = np.array([0, 1, 2, 2, 1, 0])
    return spec, params, x, y


def _reference(params: Params, x: Array, y: Array) -> tuple[float, Array, list[Array]]:
    """(mean softmax cross-entropy, logits, pre-activations), plain numpy."""
    a, pre = x, []
    for layer, act in zip(params[:-1], REFERENCE, strict=True):
        z = a @ layer["W"] + layer["b"]
        pre.append(z)
        a = act(z)
    logits = a @ params[-1]["W"] + params[-1]["b"]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(-np.mean(log_p[np.arange(len(y)), y])), logits, pre


def test_the_problem_is_away_from_the_relu_kink() -> None:
    _, params, x, y = _problem()
    relu_in = _reference(params, x, y)[2][1]
    assert np.min(np.abs(relu_in)) > KINK_MARGIN
    # ... and not degenerate: the relu layer has both signs, sigmoid is not saturated.
    assert np.any(relu_in > 0) and np.any(relu_in < 0)


def test_logits_and_loss_match_the_reference() -> None:
    spec, params, x, y = _problem()
    value, logits, _ = _reference(params, x, y)
    np.testing.assert_allclose(fn.apply(spec, params, x), logits, rtol=1e-12, atol=1e-12)
    assert abs(fn.loss(spec, params, x, y, LOSS) - value) <= 1e-12 * abs(value)
    assert abs(fn.value_and_grad(spec, params, x, y, LOSS)[0] - value) <= 1e-12 * abs(value)


def test_the_gradient_matches_central_differences_of_the_reference() -> None:
    spec, params, x, y = _problem()
    _, grads = fn.value_and_grad(spec, params, x, y, LOSS)
    for index, layer in enumerate(params):
        for key, value in layer.items():
            numeric = np.zeros_like(value)
            for entry in np.ndindex(value.shape):
                shifted = []
                for sign in (1.0, -1.0):
                    moved = [dict(p) for p in params]
                    moved[index][key] = value.copy()
                    moved[index][key][entry] += sign * STEP
                    shifted.append(_reference(moved, x, y)[0])
                numeric[entry] = (shifted[0] - shifted[1]) / (2 * STEP)
            scale = float(np.max(np.abs(numeric)))
            assert scale > 1e-4, (index, key)  # every tensor carries signal
            np.testing.assert_allclose(grads[index][key], numeric, rtol=0, atol=RTOL * scale,
                                       err_msg=f"params[{index}][{key!r}]")
