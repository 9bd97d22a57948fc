"""Conformance: another MLP implementation against funcnn and both against finite
differences.

:func:`check_conformance` takes any ``value_and_grad(params, x, y) -> (loss, grads)``
for a network described by a funcnn :class:`~funcnn.MLP` spec (same parameter layout:
a list of ``{"W": (n_in, n_out), "b": (n_out,)}`` dicts, ``z = a W + b``) and reports:

- ``loss value``: the two losses agree within the float rounding of the forward pass;
- ``other vs funcnn``: each gradient tensor agrees with funcnn's within the sum of both
  implementations' rounding bounds (:mod:`verification.engine.bounds.error_model`);
- ``other vs numeric`` and ``funcnn vs numeric``: each checked on its own against
  finite differences (:func:`verification.engine.network_check.check_network`).

:func:`textbook_value_and_grad` is a second implementation written independently of
funcnn's code (per-sample outer products, its own activation derivatives and loss
gradients), used by the catalogue and as an example of the interface. Its formulas
(``_act``, ``_loss_and_dz``) are a deliberate oracle for funcnn's *built-in*
primitives, which is why they are written out here rather than taken from
``funcnn.ACTIVATIONS`` and ``funcnn.LOSSES``; for any other activation or loss it uses
the primitive's own definition (so its backprop is still independent, but not that
primitive's formula).

``check_conformance`` takes any :class:`~funcnn.Loss` (a registry name or a record of
your own): the rounding model of a loss it has no formula for is derived from the
loss's own gradient (:func:`verification.engine.bounds.error_model.derived_loss_error`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from funcnn.core.activations import get_activation
from funcnn.core.losses import Loss, get_loss
from funcnn.core.network import check_inputs, check_params
from funcnn.core.network import loss as funcnn_loss
from funcnn.core.network import value_and_grad as funcnn_value_and_grad
from funcnn.core.pytree import tree_leaves
from funcnn.core.spec import MLP
from funcnn.errors import ArgumentTypeError
from funcnn.typing import Array, FloatArray, Params
from verification.engine.bounds.error_model import gradient_error_bound
from verification.engine.bounds.tolerances import MODEL_SAFETY, eps_of, rtol_for
from verification.engine.common.arguments import check_callable, check_seed, check_spec
from verification.engine.common.layout import TensorInfo, tensor_layout
from verification.engine.common.reference import dense_targets, has_reference
from verification.engine.network_check import check_network
from verification.external.diagnosis import diagnose_mlp
from verification.external.diagnosis_probe import call_checked
from verification.reporting.report import CheckRow, Report

__all__ = ["OtherValueAndGrad", "check_conformance", "textbook_value_and_grad"]

OtherValueAndGrad = Callable[[Params, Array, Array], tuple[float, Params]]
"""``value_and_grad(params, x, y) -> (mean loss, grads shaped like params)``."""

_LEAKY = 0.01


def _act(name: str, z: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Activation and its derivative, written out independently of funcnn for the
    built-ins; any other registered activation's own ``fn`` and ``derivative``."""
    if name == "sigmoid":
        e = np.exp(-np.abs(z))
        a = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
        return a, a * (1 - a)
    if name == "tanh":
        a = np.tanh(z)
        return a, 1 - a * a
    if name == "relu":
        return np.maximum(z, 0), (z > 0).astype(z.dtype)
    if name == "leaky_relu":
        slope = z.dtype.type(_LEAKY)
        return np.where(z > 0, z, slope * z), np.where(z > 0, z.dtype.type(1), slope)
    if name == "softplus":
        e = np.exp(-np.abs(z))
        return np.maximum(z, 0) + np.log1p(e), np.where(z >= 0, 1 / (1 + e), e / (1 + e))
    if name == "identity":
        return z, np.ones_like(z)
    act = get_activation(name)  # not a built-in: its own definition
    a = act.fn(z)
    return a, act.derivative(z, a)


def _loss_and_dz(loss: Loss, z: FloatArray, t: FloatArray) -> tuple[float, FloatArray]:
    """Mean loss and d/dz for dense targets: per-sample formulas of funcnn's built-in
    losses, written out here; any other loss's own ``value_and_grad``."""
    if not has_reference(loss):
        return loss.value_and_grad(z, t)
    name = loss.name
    batch, width = z.shape
    m = np.max(z, axis=1, keepdims=True)
    if name in ("softmax_cross_entropy", "softmax_then_cross_entropy"):
        e = np.exp(z - m)
        total = np.sum(e, axis=1, keepdims=True)
        logp = z - m - np.log(total)
        value = float(-np.sum(t * logp) / batch)
        p = e / total
        return value, (p * np.sum(t, axis=1, keepdims=True) - t) / batch
    if name == "mse":
        d = z - t
        return float(np.sum(d * d) / (batch * width)), 2 * d / (batch * width)
    if name == "binary_cross_entropy":
        sp, s = _act("softplus", z)
        return float(np.sum(sp - t * z) / (batch * width)), (s - t) / (batch * width)
    if name == "softmax_binary_cross_entropy":
        e = np.exp(z - m)
        s = e / np.sum(e, axis=1, keepdims=True)
        info = np.finfo(z.dtype)
        p = np.clip(s, info.tiny, 1 - info.epsneg)
        n = batch * width
        value = float(-np.sum(t * np.log(p) + (1 - t) * np.log1p(-p)) / n)
        dp = (-t / p + (1 - t) / (1 - p)) / n
        # Per-sample Jacobian product, written as J^T dp with J = diag(s) - s s^T.
        dz = np.einsum("bi,bij->bj", dp, s[:, :, None] * (np.eye(width) - s[:, None, :]))
        return value, dz
    raise AssertionError(f"built-in loss {name!r} without a textbook formula")  # pragma: no cover


def textbook_value_and_grad(
    spec: MLP, loss: str | Loss = "softmax_cross_entropy"
) -> OtherValueAndGrad:
    """An independent implementation of ``value_and_grad`` for ``spec`` and ``loss``.

    Forward ``z = a W + b``; backward by per-sample outer products
    ``dW = sum_b outer(a_b, delta_b)`` (einsum), activations and loss gradients from
    their own formulas. Works in the dtype of ``params`` and ``x``.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec = fn.MLP((4, 6, 3), activation="relu")
        >>> rng = np.random.default_rng(0)
        >>> params, x = fn.init(spec, rng), rng.standard_normal((5, 4))
        >>> y = np.array([0, 1, 2, 1, 0])
        >>> value, grads = textbook_value_and_grad(spec)(params, x, y)
        >>> bool(np.isclose(value, fn.loss(spec, params, x, y)))
        True
    """
    acts = check_spec(spec).hidden_activations
    resolved = check_loss(loss)

    def value_and_grad(params: Params, x: Array, y: Array) -> tuple[float, Params]:
        a = np.asarray(x)
        a = a.reshape(-1, spec.n_in)
        inputs, derivs = [a], []
        for index, layer in enumerate(params):
            z = a @ layer["W"] + layer["b"]
            if index < len(acts):
                a, d = _act(acts[index], z)
                inputs.append(a)
                derivs.append(d)
        t = dense_targets(y, z.shape[0], spec.n_out).astype(z.dtype)
        value, delta = _loss_and_dz(resolved, z, t)
        grads: Params = [{} for _ in params]
        for index in range(len(params) - 1, -1, -1):
            grads[index] = {
                "W": np.einsum("bi,bj->ij", inputs[index], delta),
                "b": np.einsum("bj->j", delta),
            }
            if index:
                delta = np.einsum("bj,ij->bi", delta, params[index]["W"]) * derivs[index - 1]
        return value, grads

    return value_and_grad


def check_conformance(
    other: OtherValueAndGrad,
    spec: MLP,
    params: Params,
    x: Array,
    y: Array,
    loss: str | Loss = "softmax_cross_entropy",
    *,
    name: str = "conformance",
    mode: str = "auto",
    seed: int = 0,
    other_name: str = "other",
    diagnose: bool = True,
) -> Report:
    """Compare ``other`` with funcnn on the same parameters and batch, and both with
    finite differences. See the module docstring for the rows.

    When ``other`` fails and ``diagnose`` is true, the report's ``meta["diagnosis"]``
    holds :func:`verification.diagnose_mlp`'s finding (``to_dict()``, with the text
    under ``"text"``) for ``other`` on the same ``params`` and ``x``.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec = fn.MLP((4, 6, 3), activation="tanh")
        >>> rng = np.random.default_rng(0)
        >>> params, x = fn.init(spec, rng), rng.standard_normal((5, 4))
        >>> y = np.array([0, 1, 2, 1, 0])
        >>> check_conformance(textbook_value_and_grad(spec), spec, params, x, y).passed
        True
        >>> def no_mean(params, x, y):                    # a loss summed, not averaged
        ...     value, grads = fn.value_and_grad(spec, params, x, y)
        ...     return value * len(x), fn.tree_map(lambda g: g * len(x), grads)
        >>> check_conformance(no_mean, spec, params, x, y, diagnose=False).passed
        False
    """
    check_callable("other", other)
    dtype = check_params(spec, params)
    check_inputs(spec, x, dtype)
    seed = check_seed(seed)
    loss = check_loss(loss)
    start = time.perf_counter()
    value_f, grads_f = funcnn_value_and_grad(spec, params, x, y, loss)
    value_o, grads_o = call_checked(other, params, x, y, "other", other_name)
    forward = float(funcnn_loss(spec, params, x, y, loss))
    rows = [_loss_value_row(float(value_o), value_f, forward, spec, dtype, name, other_name, start)]
    bounds = tree_leaves(gradient_error_bound(spec, params, x, y, loss, dtype))
    for info, go, gf, bound in zip(
        tensor_layout(params), tree_leaves(grads_o), tree_leaves(grads_f), bounds, strict=True
    ):
        rows.append(_tensor_row(info, go, gf, bound, dtype, name, other_name))
    cross = Report(tuple(rows), {})
    vs_other = check_network(
        spec, params, x, y, loss, mode=mode, seed=seed, name=f"{name}: {other_name} vs numeric",
        grad_fn=lambda p: other(p, x, y)[1],
    )
    vs_funcnn = check_network(
        spec, params, x, y, loss, mode=mode, seed=seed, name=f"{name}: funcnn vs numeric"
    )
    report = Report.combine(
        [cross, _described(vs_other, other_name), _described(vs_funcnn, "funcnn")],
        {"conformance": other_name},
    )
    if diagnose and not (cross.passed and vs_other.passed):
        found = _diagnosis(other, spec, params, x, loss, seed, other_name)
        return Report(report.rows, {**report.meta, **found})
    return report


def _loss_value_row(
    value_o: float, value_f: float, forward: float, spec: MLP, dtype: np.dtype[Any],
    name: str, other_name: str, start: float,
) -> CheckRow:
    """The ``loss value`` row: ``other``'s loss ``value_o`` against funcnn's ``value_f``
    (``forward`` is funcnn's plain forward loss), within the rounding of the forward pass."""
    # Forward rounding: relative eps per operation on the largest per-sample term.
    scale = max(abs(value_f), abs(forward), 1.0)
    depth = sum(spec.sizes)
    loss_tol = MODEL_SAFETY * eps_of(dtype) * depth * scale
    diff = abs(value_o - value_f)
    return CheckRow(
        check=name, tensor="loss value", shape=(), mode="cross", dtype=str(dtype),
        verdict="pass" if diff <= loss_tol else "fail", n_checked=1, max_abs_error=diff,
        max_rel_error=diff / scale, tolerance=loss_tol, ratio=diff / loss_tol,
        worst_index=(), analytic=value_o, numeric=value_f,
        seconds=time.perf_counter() - start,
        note=f"a = {other_name}, n = funcnn (cross rows); tol = 2 eps sum(sizes) max(|L|, 1)",
    )


def _tensor_row(
    info: TensorInfo, go: Array, gf: Array, bound: Array, dtype: np.dtype[Any], name: str,
    other_name: str,
) -> CheckRow:
    """The cross row of one gradient tensor: ``other``'s ``go`` against funcnn's ``gf``,
    within the sum of both implementations' rounding bounds (``bound`` each)."""
    t0 = time.perf_counter()
    a = np.asarray(go, dtype=np.float64)
    n = np.asarray(gf, dtype=np.float64)
    # Both implementations round within the bound; allow the sum of the two.
    tol = 2 * MODEL_SAFETY * bound + rtol_for(dtype) * np.abs(n)
    d = np.abs(a - n)
    ratio = d / np.maximum(tol, np.finfo(np.float64).tiny)
    worst = int(np.argmax(ratio)) if ratio.size else 0
    index = tuple(int(i) for i in np.unravel_index(worst, info.shape)) if ratio.size else ()
    ok = bool(np.all(d <= tol)) and a.shape == n.shape
    scale_t = max(float(np.max(np.abs(n), initial=0.0)), np.finfo(np.float64).tiny)
    rel = d / np.maximum(np.maximum(np.abs(a), np.abs(n)), rtol_for(dtype) * scale_t)
    return CheckRow(
        check=name, tensor=info.name, shape=info.shape, mode="cross", dtype=str(dtype),
        verdict="pass" if ok else "fail", n_checked=int(a.size),
        max_abs_error=float(np.max(d, initial=0.0)),
        max_rel_error=float(np.max(rel, initial=0.0)),
        tolerance=float(tol.reshape(-1)[worst]) if tol.size else 0.0,
        ratio=float(ratio.reshape(-1)[worst]) if ratio.size else 0.0,
        worst_index=index, analytic=float(a.reshape(-1)[worst]) if a.size else np.nan,
        numeric=float(n.reshape(-1)[worst]) if n.size else np.nan,
        n_failed=int(np.sum(d > tol)), seconds=time.perf_counter() - t0,
        note=f"a = {other_name}, n = funcnn (cross rows)",
    )


def _diagnosis(
    other: OtherValueAndGrad, spec: MLP, params: Params, x: Array, loss: Loss, seed: int,
    who: str
) -> dict[str, Any]:
    """``{"diagnosis": ...}`` of a failing implementation, or ``{"diagnosis_error": ...}``
    when it cannot be probed with single samples (the report stands without it)."""
    try:
        found = diagnose_mlp(spec, other, loss, params=params, x=x, seed=seed, name=who)
    except Exception as exc:
        return {"diagnosis_error": f"{type(exc).__name__}: {exc}"}
    return {"diagnosis": found.to_dict()}


def _described(report: Report, who: str) -> Report:
    """The gradient rows of a "vs numeric" report, with what their columns hold."""
    text = (f"a = {who}'s gradient, n = finite differences of the float64 loss of the same "
            "network and batch (funcnn's reference evaluator)")
    rows = tuple(
        row if row.tensor == "loss value"
        else replace(row, note=text + (f"; {row.note}" if row.note else ""))
        for row in report.rows
    )
    return Report(rows, report.meta)



def check_loss(loss: Any) -> Loss:
    """``loss`` as a :class:`~funcnn.Loss`: a registered name or a record of your own; any
    other value is an error naming the argument."""
    if isinstance(loss, Loss):
        return loss
    if not isinstance(loss, str):
        raise ArgumentTypeError(
            f"loss: expected a loss name or a funcnn.Loss, got {type(loss).__name__}"
        )
    return get_loss(loss)
