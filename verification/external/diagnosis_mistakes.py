"""The classic backprop mistakes, as candidates: for each step of the chain, the signal
each mistake would produce on the probe samples, and what to call it.

:mod:`verification.external.diagnosis_chain` tries them in order where a step fails; the first
that matches on every sample (and is not also the right answer there) is named.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

import funcnn as fn
from funcnn.core.loss_record import dense_targets_of
from funcnn.typing import FloatArray, Params
from verification.external.diagnosis_match import Candidate, ratio
from verification.external.diagnosis_probe import Probe
from verification.external.heads import OUTPUTS

__all__ = [
    "cancels",
    "derivative_candidates",
    "output_candidates",
    "propagation_candidates",
    "weight_candidates",
]

_FORMULAS = {"sigmoid": "a (1 - a)", "tanh": "1 - a^2"}


def output_candidates(
    singles: Sequence[Probe], loss: fn.Loss, got: Sequence[FloatArray], want: Sequence[FloatArray]
) -> list[Candidate]:
    """Mistakes in the output delta ``dL/dz``: the prediction's one-hot for the label's,
    and a softmax Jacobian without its ``-s s^T`` term."""
    candidates: list[Candidate] = []
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
    candidates += _derivative_again(singles, loss, want)
    if loss.output == "softmax":
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
    return candidates


def cancels(singles: Sequence[Probe], output: str, want: Sequence[FloatArray]) -> bool:
    """Whether ``dL/dz`` is ``f(z) - t`` times one positive factor on every probe, ``f``
    the declared ``output``: the output's derivative cancels, as with cross-entropy on a
    softmax or sigmoid output. Read off the loss's own gradient, not its name."""
    if output not in OUTPUTS:
        return False
    diffs = [OUTPUTS[output](p.pre[-1])[0] - dense_targets_of(p.pre[-1], np.asarray(p.y))
             for p in singles]
    norm = sum(float(np.vdot(d, d)) for d in diffs)
    if norm == 0:
        return False
    factor = sum(float(np.vdot(w, d)) for w, d in zip(want, diffs, strict=True)) / norm
    rtol = 64 * float(np.finfo(singles[0].pre[-1].dtype).eps)
    return factor > 0 and all(
        np.allclose(w, factor * d, rtol=rtol, atol=rtol * float(np.max(np.abs(w))))
        for w, d in zip(want, diffs, strict=True)
    )


def _derivative_again(
    singles: Sequence[Probe], loss: fn.Loss, want: Sequence[FloatArray]
) -> list[Candidate]:
    """The output activation's derivative multiplied into a dL/dz that already has it
    (or, for cross-entropy, where it cancels)."""
    output = loss.output
    if output not in OUTPUTS or output == "identity":
        return []
    derivative = [OUTPUTS[output](p.pre[-1])[1] for p in singles]
    cross_entropy = cancels(singles, output, want)
    if output == "softmax":
        kind = "output-softmax-derivative"
        text = (
            "multiplies the output delta by the softmax derivative written elementwise, "
            "s (1 - s)" + (": with cross-entropy dL/dz is already p - y" if cross_entropy else "")
        )
    elif cross_entropy:
        kind = "output-derivative-again"
        text = (
            f"multiplies the cross-entropy output delta p - y by {output}'(z) again: with a "
            f"{output} output and cross-entropy the derivative cancels, dL/dz = p - y"
        )
    else:
        kind = "output-derivative-twice"
        text = f"applies the output activation's derivative {output}'(z) twice"
    return [
        Candidate(kind, text, tuple(w * d for w, d in zip(want, derivative, strict=True)))
    ]


def weight_candidates(
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


def derivative_candidates(
    singles: Sequence[Probe],
    acts: Sequence[fn.Activation],
    layer: int,
    back: Sequence[FloatArray],
    output: str = "",
) -> list[Candidate]:
    """Mistakes in the activation derivative of hidden layer ``layer``, each times the
    right backpropagated signal ``back = delta_next W_next^T``."""
    act = acts[layer]
    name = act.name
    z = [p.pre[layer] for p in singles]
    a = [p.inputs[layer + 1] for p in singles]
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
    return (
        candidates
        + _other_derivatives(singles, acts, layer, back)
        + _output_derivatives(singles, acts, layer, back, output)
    )


def _output_derivatives(
    singles: Sequence[Probe], acts: Sequence[fn.Activation], layer: int, back: Sequence[FloatArray],
    output: str,
) -> list[Candidate]:
    """The last hidden layer's delta with the derivative of the layer above, the output
    layer, at the output's z (numpy broadcasts a single output)."""
    z_out, z = singles[0].pre[-1], singles[0].pre[layer]
    if layer != len(singles[0].pre) - 2 or z_out.shape[1] not in (1, z.shape[1]):
        return []
    formulas: dict[str, Callable[[FloatArray], FloatArray]] = {}
    if output in OUTPUTS:
        formulas[output] = lambda zo: OUTPUTS[output](zo)[1]
    act = acts[layer]
    formulas.setdefault(act.name, lambda zo: act.derivative(zo, act.fn(zo)))
    return [
        Candidate(
            "derivative-other-layer",
            f"uses the output layer's activation derivative ({name}'(z) at the output's z) "
            f"where layer {layer + 1}'s belongs: the derivative of the layer above",
            tuple(e * f(p.pre[-1]) for e, p in zip(back, singles, strict=True)),
        )
        for name, f in formulas.items()
    ]


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


def propagation_candidates(
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
    for k, other in enumerate(params):
        w_other = np.asarray(other["W"], dtype=np.float64)
        if k != layer + 1 and w_other.shape == w_next.shape:
            out.append(
                Candidate(
                    "propagation-wrong-layer",
                    f"backpropagates through layer {k + 1}'s weights where layer {layer + 2}'s "
                    "belong (an index off by one: W[l-1] for W[l])",
                    tuple((d @ w_other.T) * f for d, f in zip(next_deltas, deriv, strict=True)),
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
