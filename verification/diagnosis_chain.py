"""The backprop chain of a dense MLP, one step at a time, each checked on its own.

With one sample a layer's bias gradient *is* its delta (dL/dz), so every step can be
checked against the implementation's own upstream signals: the output delta against
the loss derivative, each weight gradient against ``a^T delta`` with that layer's
own delta, each hidden delta against ``(delta_next W_next^T) * f'(z)`` with the next
layer's own delta. A step that is right given what it was handed passes even when
what it was handed is wrong, so the first failing step is a root cause, and what
fails after it only because of it is inherited. Where a step fails, named candidate
mistakes are tried (:mod:`verification.diagnosis_match`); the loss derivatives and
activation derivatives are always funcnn's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import funcnn as fn
from funcnn.typing import FloatArray, Params
from verification.diagnosis_match import Candidate, close, first_match, hint, ratio
from verification.diagnosis_probe import Probe

__all__ = ["Finding", "hidden_delta", "output_delta", "tensor_name", "weight_gradient"]

_FORMULAS = {"sigmoid": "a (1 - a)", "tanh": "1 - a^2"}


@dataclass(frozen=True)
class Finding:
    """The verdict on one step of the chain.

    ``kind`` is ``"ok"`` or a short id of the mistake (``"derivative-at-activation"``,
    ``"output-prediction-one-hot"``, ...; ``"<step>-other"`` when no known mistake
    matches; ``"unsure"`` for a batch failure that an earlier wrong step can explain).
    ``message`` says what is wrong in words. ``feeds`` are the tensors that
    are wrong end to end when this step is wrong (the gradients computed from it).
    """

    step: str
    kind: str
    message: str = ""
    feeds: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the step is right given the implementation's own inputs to it."""
        return self.kind == "ok"


def tensor_name(layer: int, key: str) -> str:
    """The name of a gradient tensor, as in verification reports: ``params[0]['W']``."""
    return f"params[{layer}][{key!r}]"


def _layer_tensors(layers: range) -> tuple[str, ...]:
    return tuple(tensor_name(i, k) for i in layers for k in ("W", "b"))


def output_delta(
    singles: Sequence[Probe], params: Params, loss: fn.Loss, l2: float, rtol: float
) -> tuple[Finding, list[FloatArray]]:
    """The last layer's delta (its bias gradient) against funcnn's dL/dz."""
    n_layers = len(params)
    last = n_layers - 1
    got = [p.got[last]["b"][None, :] for p in singles]
    want = [p.dlogits for p in singles]
    step = "output delta"
    feeds = _layer_tensors(range(n_layers))
    if close(got, want, rtol) or _weights_carry(singles, params, last, want, l2, rtol):
        return Finding(step, "ok", feeds=feeds), got
    candidates = []
    labels = [p.y for p in singles]
    if all(np.asarray(y).dtype.kind in "iu" for y in labels):
        wrong_labels = [
            np.argmax(p.pre[-1], axis=1)
            if p.pre[-1].shape[1] > 1
            else (p.pre[-1][:, 0] > 0).astype(int)
            for p in singles
        ]
        candidates.append(
            Candidate(
                "output-prediction-one-hot",
                "uses the one-hot of the prediction argmax(z) where the one-hot of the label "
                "belongs",
                tuple(
                    loss.value_and_grad(p.pre[-1], w)[1]
                    for p, w in zip(singles, wrong_labels, strict=True)
                ),
            )
        )
    if "softmax" in loss.name:
        # diag(s) g differs from the full Jacobian product (diag(s) - s s^T) g by a
        # multiple of s: fit that multiple per sample.
        fitted = []
        for u, p, e in zip(got, singles, want, strict=True):
            s = fn.softmax(p.pre[-1])
            fitted.append(e + ratio([u - e], [s]) * s)
        candidates.append(
            Candidate(
                "output-softmax-jacobian",
                "backpropagates through the softmax Jacobian as diag(s), without its -s s^T term",
                tuple(fitted),
            )
        )
    found = first_match(got, want, candidates, rtol)
    n_out = want[0].shape[1]
    factors = {
        "C, the number of outputs: the gradient of a sum over the outputs where the loss "
        "is their mean?": n_out,
        "1/2: the gradient of (z - y)^2 / 2 where the loss is (z - y)^2?": 0.5,
        "C/2: the gradient of a half sum of squares where the loss is their mean?": n_out / 2,
        "2": 2.0,
    }
    message = f"is not dL/dz of {loss.name}: it {hint(got, want, rtol, factors)}"
    if found is not None:
        return Finding(step, found.kind, found.text, feeds), got
    return Finding(step, "output-delta-other", message, feeds), got


def weight_gradient(
    singles: Sequence[Probe],
    params: Params,
    layer: int,
    deltas: Sequence[FloatArray],
    right_deltas: Sequence[FloatArray] | None,
    l2: float,
    rtol: float,
) -> tuple[Finding, list[FloatArray]]:
    """Layer ``layer``'s weight gradient against ``a^T delta + l2 W`` with the layer's
    own delta; returns the finding and the deltas to pass on (the weight gradient's
    delta when only the bias gradient is off)."""
    w = np.asarray(params[layer]["W"], dtype=np.float64)
    a = [p.inputs[layer] for p in singles]
    got = [p.got[layer]["W"] for p in singles]
    base = [x.T @ d for x, d in zip(a, deltas, strict=True)]
    want = [g + l2 * w for g in base]
    step = f"layer {layer + 1} weight gradient"
    feeds = (tensor_name(layer, "W"),)
    if close(got, want, rtol):
        return Finding(step, "ok", feeds=feeds), list(deltas)
    candidates = _weight_candidates(singles, w, layer, deltas, right_deltas, base, got, l2)
    found = first_match(got, want, candidates, rtol)
    if found is not None and found.kind == "bias-gradient" and right_deltas is not None:
        got_b = [p.got[layer]["b"][None, :] for p in singles]
        text = "is not the layer's delta (the weight gradient uses the right delta): it " + hint(
            got_b, right_deltas, rtol, {"2": 2.0, "1/2": 0.5}
        )
        bias_step = f"layer {layer + 1} bias gradient"
        return Finding(bias_step, "bias-gradient", text, (tensor_name(layer, "b"),)), list(
            right_deltas
        )
    if found is not None:
        return Finding(step, found.kind, found.text, feeds), list(deltas)
    message = (
        "is not a^T delta" + (" + l2 W" if l2 else "") + ": it " + hint(got, want, rtol, {"2": 2.0})
    )
    return Finding(step, "weight-other", message, feeds), list(deltas)


def _weight_candidates(
    singles: Sequence[Probe],
    w: FloatArray,
    layer: int,
    deltas: Sequence[FloatArray],
    right_deltas: Sequence[FloatArray] | None,
    base: Sequence[FloatArray],
    got: Sequence[FloatArray],
    l2: float,
) -> list[Candidate]:
    """Classic mistakes in a weight gradient ``a^T delta + l2 W``."""
    a = [p.inputs[layer] for p in singles]
    candidates = []
    if w.shape[0] == w.shape[1]:
        candidates.append(
            Candidate(
                "weight-transposed",
                "is transposed: delta^T a where a^T delta belongs (the layer is square, so "
                "the shapes do not show it)",
                tuple(d.T @ x + l2 * w for x, d in zip(a, deltas, strict=True)),
            )
        )
    if layer > 0:
        candidates.append(
            Candidate(
                "weight-pre-activation",
                f"uses the pre-activation z of layer {layer} where its activation a = f(z) "
                "belongs (z^T delta instead of a^T delta)",
                tuple(
                    p.pre[layer - 1].T @ d + l2 * w for p, d in zip(singles, deltas, strict=True)
                ),
            )
        )
    k = ratio([g - b for g, b in zip(got, base, strict=True)], [w] * len(got))
    if np.isfinite(k) and l2 > 0:
        candidates.append(
            Candidate("weight-l2-factor", _l2_text(k / l2), tuple(b + k * w for b in base))
        )
    elif np.isfinite(k):
        candidates.append(
            Candidate(
                "weight-l2-unexpected",
                f"adds {k:.4g} W, the gradient of an L2 term, with l2 = 0 declared (pass "
                f"l2={k:.4g} if the loss has the term l2/2 sum W^2)",
                tuple(b + k * w for b in base),
            )
        )
    if right_deltas is not None:
        candidates.append(
            Candidate(
                "bias-gradient",
                "",
                tuple(x.T @ d + l2 * w for x, d in zip(a, right_deltas, strict=True)),
            )
        )
    return candidates


def _l2_text(factor: float) -> str:
    if abs(factor) < 1e-6:
        return "omits the L2 term's gradient l2 W"
    if np.isclose(factor, 2.0, rtol=1e-6):
        return (
            "adds 2 l2 W where l2 W belongs: that is the gradient of l2 sum W^2, while the "
            "loss has l2/2 sum W^2"
        )
    return f"adds {factor:.4g} l2 W where l2 W belongs (the gradient of the loss's l2/2 sum W^2)"


def hidden_delta(
    singles: Sequence[Probe],
    spec: fn.MLP,
    params: Params,
    layer: int,
    next_deltas: Sequence[FloatArray],
    loss: fn.Loss,
    l2: float,
    rtol: float,
) -> tuple[Finding, list[FloatArray], list[FloatArray]]:
    """Hidden layer ``layer``'s delta (its bias gradient) against ``(delta_next
    W_next^T) * f'(z)``. Returns the finding, the implementation's deltas, and the
    right deltas given the next layer's."""
    acts = [fn.get_activation(name) for name in spec.hidden_activations]
    act = acts[layer]
    w_next = np.asarray(params[layer + 1]["W"], dtype=np.float64)
    got = [p.got[layer]["b"][None, :] for p in singles]
    back = [d @ w_next.T for d in next_deltas]
    z = [p.pre[layer] for p in singles]
    a = [p.inputs[layer + 1] for p in singles]
    deriv = [act.derivative(zi, ai) for zi, ai in zip(z, a, strict=True)]
    want: list[FloatArray] = [e * f for e, f in zip(back, deriv, strict=True)]
    step = f"layer {layer + 1} delta"
    feeds = _layer_tensors(range(layer + 1))
    if close(got, want, rtol) or _weights_carry(singles, params, layer, want, l2, rtol):
        return Finding(step, "ok", feeds=feeds), got, want
    name = act.name
    candidates = [
        Candidate(
            "derivative-at-activation",
            f"evaluates the activation derivative at the activation a = {name}(z) instead "
            f"of the pre-activation z: {name}'(a) where {name}'(z) belongs",
            tuple(e * act.derivative(ai, act.fn(ai)) for e, ai in zip(back, a, strict=True)),
        ),
        Candidate(
            "derivative-formula-on-z",
            f"applies the {name} derivative's formula in terms of the activation "
            f"({_FORMULAS.get(name, 'f(a)')}) to the pre-activation z instead of a = {name}(z)",
            tuple(e * act.derivative(zi, zi) for e, zi in zip(back, z, strict=True)),
        ),
    ]
    if name == "tanh":
        candidates.append(
            Candidate(
                "derivative-no-square",
                "writes the tanh derivative as 1 - tanh(z) where 1 - tanh(z)^2 belongs (the "
                "square is missing)",
                tuple(e * (1 - ai) for e, ai in zip(back, a, strict=True)),
            )
        )
    candidates.append(
        Candidate(
            "derivative-missing",
            f"omits the activation derivative: delta W^T without the factor {name}'(z)",
            tuple(back),
        )
    )
    candidates += _other_derivatives(singles, acts, layer, back)
    candidates += _propagation_candidates(
        singles, spec, params, layer, next_deltas, deriv, want, loss
    )
    found = first_match(got, want, candidates, rtol)
    if found is not None:
        return Finding(step, found.kind, found.text, feeds), got, want
    message = f"is not (delta W^T) * {name}'(z) with layer {layer + 2}'s delta: it " + hint(
        got, want, rtol, {"2": 2.0, "1/2": 0.5}
    )
    return Finding(step, "delta-other", message, feeds), got, want


def _weights_carry(
    singles: Sequence[Probe],
    params: Params,
    layer: int,
    want: Sequence[FloatArray],
    l2: float,
    rtol: float,
) -> bool:
    """Whether the layer's weight gradient is built on the right delta (so a wrong bias
    gradient is the bias gradient's own mistake, found by :func:`weight_gradient`)."""
    w = np.asarray(params[layer]["W"], dtype=np.float64)
    got = [p.got[layer]["W"] for p in singles]
    built = [p.inputs[layer].T @ d + l2 * w for p, d in zip(singles, want, strict=True)]
    return close(got, built, rtol)


def _other_derivatives(
    singles: Sequence[Probe], acts: Sequence[fn.Activation], layer: int, back: Sequence[FloatArray]
) -> list[Candidate]:
    """Another layer's derivative (same width), or another activation's at this layer."""
    out = []
    name = acts[layer].name
    for k, other in enumerate(acts):
        if k != layer and singles[0].pre[k].shape == singles[0].pre[layer].shape:
            out.append(
                Candidate(
                    "derivative-other-layer",
                    f"uses layer {k + 1}'s activation derivative (at layer {k + 1}'s z) where "
                    f"layer {layer + 1}'s belongs",
                    tuple(
                        e * other.derivative(p.pre[k], p.inputs[k + 1])
                        for e, p in zip(back, singles, strict=True)
                    ),
                )
            )
    for other_name, other in fn.ACTIVATIONS.items():
        if other_name not in (name, "identity"):
            out.append(
                Candidate(
                    "derivative-other-activation",
                    f"uses the {other_name} derivative in a {name} layer",
                    tuple(
                        e * other.derivative(p.pre[layer], other.fn(p.pre[layer]))
                        for e, p in zip(back, singles, strict=True)
                    ),
                )
            )
    return out


def _propagation_candidates(
    singles: Sequence[Probe],
    spec: fn.MLP,
    params: Params,
    layer: int,
    next_deltas: Sequence[FloatArray],
    deriv: Sequence[FloatArray],
    want: Sequence[FloatArray],
    loss: fn.Loss,
) -> list[Candidate]:
    """Mistakes in carrying the next delta back through the next layer's weights."""
    w_next = np.asarray(params[layer + 1]["W"], dtype=np.float64)
    out = []
    # Updated before use: W - lr dW for the lr that fits best; only lr > 0 is this bug.
    q = [
        (d @ p.got[layer + 1]["W"].T) * f
        for d, p, f in zip(next_deltas, singles, deriv, strict=True)
    ]
    got = [p.got[layer]["b"][None, :] for p in singles]
    lr = -ratio([g - e for g, e in zip(got, want, strict=True)], q)
    if np.isfinite(lr) and lr > 0:
        out.append(
            Candidate(
                "propagation-updated-weights",
                f"backpropagates through layer {layer + 2}'s weights after their update "
                f"W - {lr:.4g} dW: the weights are updated before they are used to backpropagate",
                tuple(e - lr * qi for e, qi in zip(want, q, strict=True)),
            )
        )
    width = w_next.shape[1]
    if width in (1, w_next.shape[0]):
        outputs = []
        for p in singles:
            nxt = p.inputs[layer + 2] if layer + 2 < len(p.inputs) else p.pre[-1]
            outputs.append(nxt)
        names = ["output"]
        values = [outputs]
        if layer + 2 == spec.n_layers:
            link = fn.softmax if "softmax" in loss.name else fn.sigmoid
            names.append("prediction")
            values.append([link(p.pre[-1]) for p in singles])
        for what, vals in zip(names, values, strict=True):
            out.append(
                Candidate(
                    "propagation-next-output",
                    f"uses layer {layer + 2}'s {what} where its weights belong (delta * "
                    f"{what} instead of delta W^T)",
                    tuple((d * v) * f for d, v, f in zip(next_deltas, vals, deriv, strict=True)),
                )
            )
    if w_next.shape[0] == w_next.shape[1]:
        out.append(
            Candidate(
                "propagation-untransposed",
                f"multiplies by layer {layer + 2}'s W where W^T belongs",
                tuple((d @ w_next) * f for d, f in zip(next_deltas, deriv, strict=True)),
            )
        )
    return out
