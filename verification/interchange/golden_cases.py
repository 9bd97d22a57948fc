"""The elementwise golden cases (activations, softmax, losses, dense layer): inputs drawn
from the catalogue's fixed-seed problems, outputs from funcnn, as ``(fields, tensors)``
pairs for :func:`verification.interchange.golden_format.write_golden`."""

from __future__ import annotations

from typing import Any

import numpy as np

from funcnn.core import losses as funcnn_losses
from funcnn.core.activations import ACTIVATIONS
from funcnn.core.dense import dense, dense_vjp
from funcnn.core.softmax import softmax, softmax_jacobian, softmax_vjp
from funcnn.typing import Array, FloatArray
from verification.catalogue.suite import (
    DTYPES,
    activation_points,
    loss_logits,
    problem_rng,
    softmax_logits,
)

__all__ = ["elementwise_cases"]

Case = tuple[dict[str, Any], dict[str, Array]]

_TARGETS = {
    "distribution": ("labels", "onehot"),
    "probability": ("labels", "probability"),
    "real": ("labels", "real"),
}


def _activations(dn: str, dtype: Any) -> list[Case]:
    out = []
    for name, act in sorted(ACTIVATIONS.items()):
        z = activation_points(dtype)
        a = act.fn(z)
        fields = {"id": f"activation/{name}/{dn}", "kind": "activation", "dtype": dn,
                  "activation": name, "inputs": ["z"], "outputs": ["value", "derivative"]}
        out.append((fields, {"z": z, "value": a, "derivative": act.derivative(z, a)}))
    return out


def _softmax(dn: str, dtype: Any, seed: int) -> Case:
    case = f"softmax/{dn}"
    rng = problem_rng(seed, case)
    z = softmax_logits(rng, dtype)
    s = softmax(z)
    g: FloatArray = rng.standard_normal(z.shape).astype(dtype)
    fields = {"id": case, "kind": "softmax", "dtype": dn, "inputs": ["z", "g"],
              "outputs": ["s", "jacobian", "vjp"]}
    return fields, {"z": z, "g": g, "s": s, "jacobian": softmax_jacobian(s),
                    "vjp": softmax_vjp(s, g)}


def _losses(dn: str, dtype: Any, seed: int) -> list[Case]:
    rng = problem_rng(seed, f"loss/{dn}")
    z = loss_logits(rng, dtype)
    batch, width = z.shape
    labels = rng.integers(0, width, size=batch)
    targets = {
        "labels": labels,
        "onehot": np.eye(width, dtype=dtype)[labels],
        "real": rng.standard_normal(z.shape).astype(dtype),
        "probability": rng.random(z.shape).astype(dtype),
    }
    out = []
    for name in sorted(funcnn_losses.LOSSES):
        for tname in _TARGETS[funcnn_losses.LOSSES[name].target_kind]:
            y = targets[tname]
            value, grad = funcnn_losses.checked_value_and_grad(name, z, y)
            fields = {"id": f"loss/{name}/{tname}/{dn}", "kind": "loss", "dtype": dn,
                      "loss": name, "reduction": "mean", "targets": tname, "value": value,
                      "inputs": ["z", "y"], "outputs": ["value", "grad"]}
            out.append((fields, {"z": z, "y": y, "grad": grad}))
    return out


def _dense(dn: str, dtype: Any, seed: int) -> Case:
    case = f"dense/{dn}"
    rng = problem_rng(seed, case)
    layer: dict[str, FloatArray] = {"W": rng.standard_normal((7, 5)).astype(dtype),
                                     "b": rng.standard_normal(5).astype(dtype)}
    x: FloatArray = rng.standard_normal((6, 7)).astype(dtype)
    g: FloatArray = rng.standard_normal((6, 5)).astype(dtype)
    grads, dx = dense_vjp(layer, x, g)
    fields = {"id": case, "kind": "dense", "dtype": dn, "inputs": ["W", "b", "x", "g"],
              "outputs": ["out", "dW", "db", "dx"]}
    return fields, {"W": layer["W"], "b": layer["b"], "x": x, "g": g,
                    "out": dense(layer, x), "dW": grads["W"], "db": grads["b"], "dx": dx}


def elementwise_cases(seed: int) -> list[Case]:
    """Every non-network case, float64 then float32."""
    out: list[Case] = []
    for dtype in DTYPES:
        dn = str(np.dtype(dtype))
        out += [*_activations(dn, dtype), _softmax(dn, dtype, seed),
                *_losses(dn, dtype, seed), _dense(dn, dtype, seed)]
    return out
