"""The elementwise golden cases (activations, softmax, losses, dense layer): inputs drawn
from the catalogue's fixed-seed problems, outputs from funcnn, as ``(fields, tensors)``
pairs for :func:`verification.interchange.golden_format.write_golden`.

Each case states the ``scale`` of every array output (the magnitude its absolute floor is
relative to, :func:`output_scale`); a loss case also stores ``tolerance/grad``, the
per-entry rounding bound of a loss gradient computed in the case's dtype
(:func:`verification.engine.bounds.error_model.loss_gradient_error` at the stored logits), since a
float32 reference can be far less accurate than ``eps`` where ``1 - p`` cancels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from funcnn.core import losses as funcnn_losses
from funcnn.core.activations import ACTIVATIONS
from funcnn.core.dense import dense, dense_vjp
from funcnn.core.losses import Loss
from funcnn.core.softmax import softmax, softmax_jacobian, softmax_vjp
from funcnn.typing import Array, FloatArray
from verification.catalogue.suite import (
    DTYPES,
    activation_points,
    loss_logits,
    problem_rng,
    softmax_logits,
)
from verification.engine.bounds.error_model import activation_bounds, loss_gradient_error
from verification.engine.common.reference import dense_targets
from verification.external.heads import Head

__all__ = ["elementwise_cases", "loss_fields", "output_scale"]

Case = tuple[dict[str, Any], dict[str, Array]]

_TARGETS = {
    "distribution": ("labels", "onehot"),
    "probability": ("labels", "probability"),
    "real": ("labels", "real"),
}


def output_scale(case: dict[str, Any], name: str, want: Array) -> float:
    """The ``scale`` of output ``name`` of an elementwise case: sup|f'| for an
    activation's derivative, 1 for its value, else the largest ``|want|``."""
    if case["kind"] == "activation":
        return activation_bounds(case["activation"])[0] if name == "derivative" else 1.0
    return float(np.max(np.abs(np.asarray(want, dtype=np.float64)), initial=0.0))


def _scaled(fields: dict[str, Any], tensors: dict[str, Array]) -> Case:
    """``fields`` with the ``scale`` of each of its array outputs."""
    scale = {name: output_scale(fields, name, tensors[name])
             for name in fields["outputs"] if name in tensors}
    return {**fields, "scale": scale}, tensors


def _loss_tolerance(name: Loss, z: FloatArray, y: Array, grad: FloatArray) -> FloatArray:
    """Rounding bound of ``name``'s gradient ``grad`` computed in ``z``'s dtype at exact
    ``z``; below float64 capped like a network's
    (:func:`~verification.engine.bounds.error_model.cap_by_measurement`): at most
    ``sqrt(eps)`` times the largest float64 gradient, but
    never below the error of ``grad`` itself against funcnn's float64 gradient."""
    info = np.finfo(z.dtype)
    z64 = np.asarray(z, dtype=np.float64)
    t = dense_targets(y, z64.shape[0], z64.shape[1])
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        _, err = loss_gradient_error(name, z64, np.zeros_like(z64), t, float(info.eps) / 2,
                                     float(info.tiny))
    err = np.where(np.isnan(err), np.inf, err)
    if info.eps > np.finfo(np.float64).eps:
        y64 = y if np.asarray(y).dtype.kind in "iu" else np.asarray(y, dtype=np.float64)
        exact = funcnn_losses.checked_value_and_grad(name, z64, y64)[1]
        measured = np.abs(np.asarray(grad, dtype=np.float64) - exact)
        scale = float(np.max(np.abs(exact), initial=0.0))
        err = np.minimum(err, np.maximum(np.sqrt(info.eps) * scale, measured))
    out: FloatArray = err
    return out


def _activations(dn: str, dtype: Any) -> list[Case]:
    out = []
    for name, act in sorted(ACTIVATIONS.items()):
        z = activation_points(dtype)
        a = act.fn(z)
        fields = {"id": f"activation/{name}/{dn}", "kind": "activation", "dtype": dn,
                  "activation": name, "inputs": ["z"], "outputs": ["value", "derivative"]}
        out.append(_scaled(fields, {"z": z, "value": a, "derivative": act.derivative(z, a)}))
    return out


def _softmax(dn: str, dtype: Any, seed: int) -> Case:
    case = f"softmax/{dn}"
    rng = problem_rng(seed, case)
    z = softmax_logits(rng, dtype)
    s = softmax(z)
    g: FloatArray = rng.standard_normal(z.shape).astype(dtype)
    fields = {"id": case, "kind": "softmax", "dtype": dn, "inputs": ["z", "g"],
              "outputs": ["s", "jacobian", "vjp"]}
    return _scaled(fields, {"z": z, "g": g, "s": s, "jacobian": softmax_jacobian(s),
                            "vjp": softmax_vjp(s, g)})


def loss_fields(loss: Loss) -> dict[str, Any]:
    """What a golden case says about its loss: the name, and a head's declaration (the
    arguments of :func:`verification.external.heads.head`) so another program can build
    it."""
    return {"loss": loss.name,
            **({"head": loss.declaration()} if isinstance(loss, Head) else {})}


def _losses(dn: str, dtype: Any, seed: int, extra: Sequence[Loss] = ()) -> list[Case]:
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
    every = [funcnn_losses.LOSSES[name] for name in sorted(funcnn_losses.LOSSES)]
    for loss in [*every, *extra]:
        for tname in _TARGETS[loss.target_kind]:
            y = targets[tname]
            value, grad = funcnn_losses.checked_value_and_grad(loss, z, y)
            fields = {"id": f"loss/{loss.name}/{tname}/{dn}", "kind": "loss", "dtype": dn,
                      **loss_fields(loss), "reduction": "mean", "targets": tname,
                      "value": value, "inputs": ["z", "y"], "outputs": ["value", "grad"]}
            out.append(_scaled(fields, {"z": z, "y": y, "grad": grad,
                                        "tolerance/grad": _loss_tolerance(loss, z, y, grad)}))
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
    return _scaled(fields, {"W": layer["W"], "b": layer["b"], "x": x, "g": g,
                            "out": dense(layer, x), "dW": grads["W"], "db": grads["b"],
                            "dx": dx})


def elementwise_cases(seed: int, extra: Sequence[Loss] = ()) -> list[Case]:
    """Every non-network case, float64 then float32; ``extra``: losses beyond the
    registry, each with the cases of a registry loss."""
    out: list[Case] = []
    for dtype in DTYPES:
        dn = str(np.dtype(dtype))
        out += [*_activations(dn, dtype), _softmax(dn, dtype, seed),
                *_losses(dn, dtype, seed, extra), _dense(dn, dtype, seed)]
    return out
