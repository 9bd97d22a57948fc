"""Root-cause diagnosis of a dense MLP's backprop: the first wrong step, in words.

:func:`diagnose_mlp` probes an implementation of ``value_and_grad(params, x, y) ->
(loss, grads)`` (funcnn's layout; see :mod:`verification.external.adapters` for others) with a
few crafted single samples and one batch of them, and checks each step of the chain
on its own, from the implementation's own signals (:mod:`verification.external.diagnosis_chain`):

1. the loss value;
2. the output delta against the loss derivative;
3. per layer, from the last: the weight gradient as ``a^T delta`` (+ ``l2 W``), then
   the delta carried into the layer below through ``W^T`` and the activation
   derivative (evaluated at the pre-activation);
4. the batch reduction: the mean over samples, ``1/B``, for every tensor.

The :class:`Diagnosis` names the root cause (the first wrong step), lists any other
step that is wrong on its own, and marks each gradient tensor that is wrong only
because of an earlier step as inherited from it.

Code as people write it: the L2 term in the convention the loss values show
(:mod:`verification.external.diagnosis_l2`); a network without biases (an adapter with
``Layout(bias="none")``: each delta read off the weight gradient); no loss value (the
loss step is not checked); a training step that updates its weights (the update read
back by :func:`~verification.external.adapters.from_update`, whose ``lr`` also lets
the batch step recognise an update inside the per-sample loop).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import funcnn as fn
from funcnn.core.network import check_params
from funcnn.typing import Array, FloatArray, Params
from verification.engine.common.arguments import (
    check_callable,
    check_nonnegative_number,
    check_seed,
    check_spec,
)
from verification.external.adapters import Adapted
from verification.external.diagnosis_chain import (
    Finding,
    hidden_delta,
    output_delta,
    tensor_name,
    weight_gradient,
)
from verification.external.diagnosis_l2 import Penalty, read_penalty
from verification.external.diagnosis_match import close, rtol_of
from verification.external.diagnosis_probe import (
    Probe,
    deltas_from_weights,
    without_bias_penalty,
)
from verification.external.diagnosis_scale import Setup, ValueAndGrad, scaled_probes
from verification.external.diagnosis_totals import batch_step, loss_value

__all__ = ["Diagnosis", "Finding", "Penalty", "TensorVerdict", "diagnose_mlp"]


"""Probe samples; 5 so that a factor B is not mistaken for a width of the test nets."""


@dataclass(frozen=True)
class TensorVerdict:
    """One gradient tensor end to end: ``ok``, ``wrong`` (``cause`` is its own step that
    is wrong; empty when no step explains it) or ``inherited`` (its own steps are right,
    ``cause`` is the earlier step it is wrong because of)."""

    tensor: str
    status: str
    cause: str = ""


@dataclass(frozen=True)
class Diagnosis:
    """Every step's verdict, in chain order, and every tensor's.

    For example:

        >>> import funcnn as fn
        >>> spec = fn.MLP((4, 6, 3), activation="tanh")
        >>> diagnosis = diagnose_mlp(spec, lambda p, x, y: fn.value_and_grad(spec, p, x, y))
        >>> isinstance(diagnosis, Diagnosis), diagnosis.ok, len(diagnosis.tensors)
        (True, True, 4)
    """

    findings: tuple[Finding, ...]
    tensors: tuple[TensorVerdict, ...]
    meta: dict[str, Any]

    @property
    def ok(self) -> bool:
        """True when every step checked is right."""
        return all(f.ok or f.kind == "not-checked" for f in self.findings)

    @property
    def root_cause(self) -> Finding | None:
        """The first wrong step in chain order (None when all are right)."""
        return next(iter(self.wrong), None)

    @property
    def wrong(self) -> tuple[Finding, ...]:
        """Every step that is wrong on its own, root cause first."""
        return tuple(
            f for f in self.findings if not f.ok and f.kind not in ("unsure", "not-checked")
        )

    def __str__(self) -> str:
        root = self.root_cause
        meta = self.meta
        loss = str(meta.get("loss")) + (f", {meta['penalty']}" if meta.get("l2") else "")
        loss += f"; {meta['scale']}" if meta.get("scale") else ""
        head = f"diagnosis of {meta.get('name')} ({meta.get('spec')}, {loss})"
        unchecked = [f"NOT CHECKED {f.step}: {f.message}" for f in self.findings
                     if f.kind == "not-checked"]
        if root is None:
            return "\n".join([f"{head}: every step of backprop is right.", *unchecked])
        lines = [
            head,
            "(layer k is params[k-1], counted from the input; a layer's delta is dL/dz of "
            "its pre-activation z)",
            f"ROOT CAUSE  {root.step}: {root.message}",
        ]
        lines += [f"ALSO WRONG  {f.step}: {f.message}" for f in self.wrong[1:]]
        lines += [f"UNSURE      {f.step}: {f.message}" for f in self.findings if f.kind == "unsure"]
        lines += unchecked
        for verdict in self.tensors:
            if verdict.status == "inherited":
                lines.append(f"inherited   {verdict.tensor}: wrong because of the {verdict.cause}")
            elif verdict.status == "wrong" and verdict.cause:
                lines.append(f"wrong       {verdict.tensor}: made wrong by the {verdict.cause}")
            elif verdict.status == "wrong":
                lines.append(f"wrong       {verdict.tensor}: wrong, and no single step explains it")
        right = [f.step for f in self.findings if f.ok]
        if right:
            lines.append("right       " + ", ".join(right))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form, with the text as ``"text"``."""
        root = self.root_cause
        return {
            "ok": self.ok,
            "root_cause": None
            if root is None
            else {"step": root.step, "kind": root.kind, "message": root.message},
            "findings": [
                {"step": f.step, "kind": f.kind, "message": f.message, "feeds": list(f.feeds)}
                for f in self.findings
            ],
            "tensors": [
                {"tensor": t.tensor, "status": t.status, "cause": t.cause} for t in self.tensors
            ],
            "text": str(self),
        }


def _default_params(spec: fn.MLP, rng: np.random.Generator) -> Params:
    """funcnn's Glorot init with biases drawn too, so z and f(z) differ everywhere."""
    params = fn.init(spec, rng, scheme="glorot_normal")
    return [
        {"W": layer["W"] * 1.5, "b": rng.normal(0.0, 0.5, size=layer["b"].shape)}
        for layer in params
    ]


def _chain(
    singles: list[Probe], spec: fn.MLP, params: Params, loss: fn.Loss, l2: float, rtol: float
) -> list[Finding]:
    """Steps 2 and 3 of the module docstring, from the output down."""
    top = spec.n_layers - 1
    first, deltas = output_delta(singles, params, loss, l2, rtol)
    findings = [first]
    right: list[FloatArray] | None = [p.dlogits for p in singles]
    for layer in range(top, -1, -1):
        found, deltas = weight_gradient(singles, params, layer, deltas, right, l2, rtol)
        findings.append(found)
        if layer > 0:
            step, deltas, right = hidden_delta(
                singles, spec, params, layer - 1, deltas, loss, l2, rtol
            )
            findings.append(step)
    return _merge_l2(findings)


def _merge_l2(findings: list[Finding]) -> list[Finding]:
    """One finding for an L2 factor that is wrong the same way in several layers (one
    line of code adds it everywhere)."""
    l2_findings = [f for f in findings if f.kind.startswith("weight-l2")]
    same = [f for f in l2_findings if f.message == l2_findings[0].message]
    if len(same) < 2:
        return findings
    layers = ", ".join(f.step.split(" ")[1] for f in reversed(same))
    merged = Finding(
        f"L2 term of layers {layers}",
        same[0].kind,
        same[0].message,
        tuple(name for f in same for name in f.feeds),
    )
    out = [merged if f is same[0] else f for f in findings if f is same[0] or f not in same]
    return out


def _tensor_verdicts(
    findings: list[Finding],
    singles: list[Probe],
    batch: Probe,
    spec: fn.MLP,
    params: Params,
    loss: fn.Loss,
    penalty: Penalty,
    rtol: float,
    keys: tuple[str, ...],
) -> tuple[TensorVerdict, ...]:
    """Each tensor against funcnn's gradient, blamed on the first wrong step feeding it
    (bias gradients are compared without a bias penalty, which the probes took out)."""
    probes = [*singles, batch]
    references = [fn.value_and_grad(spec, params, p.x, p.y, loss)[1] for p in probes]
    verdicts = []
    for layer in range(spec.n_layers):
        for key in keys:
            name = tensor_name(layer, key)
            w = np.asarray(params[layer]["W"], dtype=np.float64)
            got = [p.got[layer][key] for p in probes]
            want = [
                np.asarray(r[layer][key], dtype=np.float64)
                + (penalty.coefficient(len(p.x)) * w if key == "W" else 0.0)
                for r, p in zip(references, probes, strict=True)
            ]
            flipped = key == "W" and any(layer in p.transposed for p in probes)
            if close(got, want, rtol) and not flipped:
                verdicts.append(TensorVerdict(name, "ok"))
                continue
            causes = [f for f in findings if not f.ok and name in f.feeds]
            if not causes:
                verdicts.append(TensorVerdict(name, "wrong"))
            elif causes[0].step.endswith("delta"):
                verdicts.append(TensorVerdict(name, "inherited", causes[0].step))
            else:
                verdicts.append(TensorVerdict(name, "wrong", causes[0].step))
    return tuple(verdicts)


def diagnose_mlp(
    spec: fn.MLP,
    value_and_grad: ValueAndGrad,
    loss: str | fn.Loss = "softmax_cross_entropy",
    *,
    params: Params | None = None,
    x: Array | None = None,
    l2: float | Penalty | None = None,
    seed: int = 0,
    name: str = "the implementation",
    rtol: float | None = None,
) -> Diagnosis:
    """Find the first wrong step of ``value_and_grad``'s backprop for ``spec``.

    ``value_and_grad(params, x, y) -> (mean loss, grads)`` in funcnn's layout (use
    :mod:`verification.external.adapters` for others), called on copies of ``params``
    (default: Glorot weights, random biases) with 5 single samples of ``x`` (default:
    standard normal rows) and with the 5 together; ``y`` are crafted labels (not the
    prediction) or random targets. ``loss``: a funcnn loss's name or any
    :class:`funcnn.Loss` (e.g. :func:`verification.external.heads.head`).

    ``l2``: the L2 term. ``None`` (default) reads it off the implementation's loss
    values: coefficient and convention (``l2/2`` or ``l2`` sum W^2, divided by the batch
    size or not, biases or not; :mod:`verification.external.diagnosis_l2`). A number is
    the coefficient (``0.0``: none), its convention read off the loss; a
    :class:`~verification.external.diagnosis_l2.Penalty` declares both (for code that
    returns no loss). The loss's scale is read off it too: a sum over the batch, or a
    multiple of funcnn's loss per sample (a sum over the outputs, a half), with the
    gradient of that same loss, is a convention, said in the first line and checked as
    such (:mod:`verification.external.diagnosis_scale`).
    ``rtol``: how close to a tensor's largest entry "equal" is (default 4096 eps of the
    params' dtype; raise it for an implementation that computes in a lower precision
    than its parameters, e.g. 1e-4 for float32 arithmetic on float64 parameters).

        >>> import funcnn as fn
        >>> spec = fn.MLP((4, 6, 3), activation="tanh")
        >>> diagnose_mlp(spec, lambda p, x, y: fn.value_and_grad(spec, p, x, y)).ok
        True
        >>> def forgets_the_mean(params, x, y):        # a bias gradient summed over the batch
        ...     value, grads = fn.value_and_grad(spec, params, x, y)
        ...     grads[0]["b"] = grads[0]["b"] * len(x)
        ...     return value, grads
        >>> diagnosis = diagnose_mlp(spec, forgets_the_mean)
        >>> diagnosis.ok, diagnosis.root_cause.step, diagnosis.root_cause.feeds
        (False, 'batch reduction', ("params[0]['b']",))
    """
    spec = check_spec(spec)
    check_callable("value_and_grad", value_and_grad)
    resolved = fn.get_loss(loss)
    if l2 is not None and not isinstance(l2, Penalty):
        l2 = check_nonnegative_number("l2", l2)
    rng = np.random.default_rng(check_seed(seed))
    if params is None:
        params = _default_params(spec, rng)
    dtype = check_params(spec, params)
    biases = not (isinstance(value_and_grad, Adapted) and not value_and_grad.layout.biases)
    rtol = rtol_of(dtype) if rtol is None else check_nonnegative_number("rtol", rtol)
    value_and_grad, scale, (params, xs, singles, batch) = scaled_probes(
        Setup(spec, params, dtype, x, resolved, name, biases), value_and_grad, rng, rtol
    )
    values = [abs(p.got_value) for p in [*singles, batch] if np.isfinite(p.got_value)]
    tol = 64 * float(np.finfo(dtype).eps) * max([1.0, *values]) + rtol * 1e-3
    penalty, source = read_penalty(l2, spec, value_and_grad, params, singles, batch, tol, name)
    singles, batch = _penalty_removed(singles, batch, params, penalty, biases, rtol)
    keys = ("W", "b") if biases else ("W",)
    findings = _chain(singles, spec, params, resolved, penalty.coefficient(1), rtol)
    findings.insert(0, loss_value(singles, params, resolved, penalty, rtol, findings[0].ok))
    if len(xs) > 1:
        findings.append(
            batch_step(value_and_grad, findings, singles, batch, params, penalty, rtol, keys)
        )
    verdicts = _tensor_verdicts(
        findings, singles, batch, spec, params, resolved, penalty, rtol, keys
    )
    penalty_words = penalty.words() + (f" (read off the {source})" if source else "")
    meta = {"name": name, "spec": f"sizes {spec.sizes}, {spec.activation}",
            "loss": resolved.name, "l2": penalty.l2, "penalty": penalty_words,
            "scale": "" if scale is None else scale.words(resolved.name, spec.n_out)}
    return Diagnosis(tuple(findings), verdicts, meta)


def _penalty_removed(
    singles: list[Probe], batch: Probe, params: Params, penalty: Penalty, biases: bool,
    rtol: float,
) -> tuple[list[Probe], Probe]:
    """The probes with a bias penalty taken out of their gradients, and a network
    without biases given the deltas its weight gradients imply."""
    if penalty.biases:
        singles = [without_bias_penalty(p, params, penalty.coefficient(1)) for p in singles]
        batch = without_bias_penalty(batch, params, penalty.coefficient(len(batch.inputs[0])))
    if not biases:
        singles = [
            deltas_from_weights(p, penalty.coefficient(1), params, rtol) for p in singles
        ]
    return singles, batch
