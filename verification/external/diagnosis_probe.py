"""Probing a black-box ``value_and_grad``: crafted inputs, the implementation's answers
checked for form, and funcnn's own forward signals (pre-activations, activations,
loss derivative) for the same inputs.

The probes are a few single samples and one batch of them. Labels are crafted to
differ from the network's prediction, so that a loss derivative built from the
prediction instead of the label cannot agree with the right one by chance.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

import funcnn as fn
from funcnn.core.pytree import tree_leaves, tree_structure
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.typing import Array, FloatArray, Params
from verification.engine.common.arguments import check_loss_value
from verification.engine.evaluators.perturbed import tensor_layout

__all__ = [
    "Probe",
    "call_checked",
    "craft_inputs",
    "deltas_from_weights",
    "probe",
    "without_bias_penalty",
]

@dataclass(frozen=True)
class Probe:
    """One input batch through funcnn's forward pass, with the implementation's answer.

    ``inputs[l]`` is layer ``l``'s input activation (``inputs[0] = x``), ``pre[l]`` its
    pre-activation; ``dlogits`` is funcnn's loss derivative at the logits ``pre[-1]``;
    ``value`` funcnn's data loss. ``got_value`` and ``got`` are the implementation's
    loss (nan when it returns none) and gradients (``got[l]["W"]``, ``got[l]["b"]``);
    ``loss`` the loss they are checked against.
    """

    x: FloatArray
    y: Array
    inputs: tuple[FloatArray, ...]
    pre: tuple[FloatArray, ...]
    value: float
    dlogits: FloatArray
    got_value: float
    got: Params
    loss: fn.Loss
    transposed: frozenset[int] = frozenset()
    """Layers whose weight gradient came stored the other way round (transposed back
    in ``got``)."""


def call_checked(
    other: Any, params: Params, x: FloatArray, y: Array, name: str, who: str
) -> tuple[float, Params]:
    """Call ``other(params, x, y)`` on a copy of ``params`` (an implementation may update
    its weights in place) and check that it returns a finite ``(loss, grads)`` pair
    shaped like ``params``. Errors name the argument ``name`` and the implementation
    ``who``."""
    result = other(copy.deepcopy(params), x.copy(), y.copy())
    if not (isinstance(result, tuple) and len(result) == 2):
        raise InvalidArgumentError(
            f"{name}: expected to return a (loss, grads) pair, got {type(result).__name__}"
        )
    # None: an implementation that computes only gradients (see adapters' loss=False).
    value = float("nan") if result[0] is None else check_loss_value(name, result[0])
    grads = result[1]
    if tree_structure(grads) != tree_structure(params):
        raise InvalidArgumentError(
            f"{name}: {who}'s gradient structure {tree_structure(grads)} does not match params "
            f"{tree_structure(params)}"
        )
    for info, g in zip(tensor_layout(params), tree_leaves(grads), strict=True):
        if np.shape(g) != info.shape:
            raise InvalidArgumentError(
                f"{name}: {who}'s gradient of {info.name} has shape {np.shape(g)}, "
                f"expected {info.shape}"
            )
        arr = np.asarray(g)
        if arr.dtype.kind not in "iuf":
            raise ArgumentTypeError(
                f"{name}: {who}'s gradient of {info.name} has dtype {arr.dtype}, "
                "expected real numbers"
            )
        if not np.all(np.isfinite(arr)):
            where = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
            raise InvalidArgumentError(
                f"{name}: {who}'s gradient of {info.name} is not finite: {arr[where]} "
                f"at index {where}"
            )
    return value, grads


def _forward(
    spec: fn.MLP, params: Params, x: FloatArray
) -> tuple[list[FloatArray], list[FloatArray]]:
    acts = [fn.get_activation(name) for name in spec.hidden_activations]
    inputs, pre = [x], []
    for index, layer in enumerate(params):
        pre.append(fn.dense(layer, inputs[-1]))
        if index < len(acts):
            inputs.append(acts[index].fn(pre[-1]))
    return inputs, pre


def craft_inputs(
    spec: fn.MLP, params: Params, x: FloatArray, loss: fn.Loss, rng: np.random.Generator
) -> Array:
    """Targets for ``x``: labels other than the prediction for a loss over a softmax of
    the outputs (one that declares ``min_outputs=2``), the 0/1 label other than the
    prediction for a cross-entropy of one sigmoid output, else random targets of the
    loss's kind."""
    logits = fn.apply(spec, params, x)
    if loss.min_outputs > 1 and spec.n_out > 1:
        labels: Array = (np.argmax(logits, axis=1) + 1) % spec.n_out
        return labels
    if loss.output == "sigmoid" and loss.target_kind == "probability" and spec.n_out == 1:
        return (logits[:, 0] <= 0).astype(np.int64)
    if loss.target_kind == "real":
        return rng.normal(size=logits.shape).astype(logits.dtype)
    targets = rng.uniform(0.1, 0.9, size=logits.shape).astype(logits.dtype)
    if loss.target_kind == "distribution":
        rows: Array = targets / np.sum(targets, axis=1, keepdims=True)
        return rows
    return targets


def probe(
    spec: fn.MLP, other: Any, params: Params, x: FloatArray, y: Array, loss: fn.Loss, name: str
) -> Probe:
    """funcnn's forward signals for ``(x, y)`` and the implementation's answer."""
    inputs, pre = _forward(spec, params, x)
    value, dlogits = loss.value_and_grad(pre[-1], y)
    transposed: set[int] = set()

    def untransposed(p: Params, xs: FloatArray, ys: Array) -> Any:
        result = other(p, xs, ys)
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], list)):
            return result
        grads = [dict(g) if isinstance(g, dict) else g for g in result[1]]
        for index, (g, layer) in enumerate(zip(grads, params, strict=False)):
            want = layer["W"].shape
            if isinstance(g, dict) and "W" in g and np.shape(g["W"]) == want[::-1] != want:
                g["W"] = np.asarray(g["W"]).T
                transposed.add(index)
        return result[0], grads

    got_value, got = call_checked(untransposed, params, x, y, "value_and_grad", name)
    got64: Params = [
        {key: np.asarray(g, dtype=np.float64) for key, g in layer.items()} for layer in got
    ]
    return Probe(
        x, y, tuple(inputs), tuple(pre), value, dlogits, got_value, got64, loss,
        frozenset(transposed),
    )


def deltas_from_weights(
    found: Probe, coefficient: float, params: Params, rtol: float
) -> Probe:
    """A single-sample probe of a network without biases, with each layer's delta (its
    "bias gradient") read off the weight gradient: one sample's ``dW = a^T delta``
    (plus ``coefficient W``), so ``delta = a (dW - coefficient W) / (a a^T)``.

    When ``dW`` is not ``a^T`` of anything but is ``z^T`` of something, with ``z`` the
    pre-activation of the layer below (a weight gradient built on the wrong input), the
    delta is read through ``z``: the delta is right, the weight gradient is the mistake.
    """
    got: Params = []
    for index, (g, layer) in enumerate(zip(found.got, params, strict=True)):
        data = g["W"] - coefficient * np.asarray(layer["W"], dtype=np.float64)
        inputs = [found.inputs[index]] + ([found.pre[index - 1]] if index > 0 else [])
        delta = np.zeros(data.shape[1])
        for a in inputs:
            norm = float(np.sum(a * a))
            if norm == 0:
                continue
            delta = (a @ data)[0] / norm
            scale = max(float(np.max(np.abs(data), initial=0.0)), np.finfo(np.float64).tiny)
            if np.all(np.abs(a.T @ delta[None, :] - data) <= rtol * scale):
                break
        else:
            norm = float(np.sum(inputs[0] ** 2))
            delta = (inputs[0] @ data)[0] / norm if norm > 0 else np.zeros(data.shape[1])
        got.append({"W": g["W"], "b": delta})
    return replace(found, got=got)


def without_bias_penalty(found: Probe, params: Params, coefficient: float) -> Probe:
    """The probe with ``coefficient b`` taken out of each bias gradient (an L2 penalty on
    the biases), so that a single sample's bias gradient is again its layer's delta."""
    got: Params = [
        {"W": g["W"], "b": g["b"] - coefficient * np.asarray(layer["b"], dtype=np.float64)}
        for g, layer in zip(found.got, params, strict=True)
    ]
    return replace(found, got=got)
