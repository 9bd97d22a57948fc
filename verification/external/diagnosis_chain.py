"""The backprop chain of a dense MLP, one step at a time, each checked on its own.

With one sample a layer's bias gradient *is* its delta (dL/dz), so every step can be
checked against the implementation's own upstream signals: the output delta against
the loss derivative, each weight gradient against ``a^T delta`` with that layer's
own delta, each hidden delta against ``(delta_next W_next^T) * f'(z)`` with the next
layer's own delta. A step that is right given what it was handed passes even when
what it was handed is wrong, so the first failing step is a root cause, and what
fails after it only because of it is inherited. Where a step fails, named candidate
mistakes are tried (:mod:`verification.external.diagnosis_mistakes`); the loss derivatives and
activation derivatives are always funcnn's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import funcnn as fn
from funcnn.typing import FloatArray, Params
from verification.external.diagnosis_match import close, first_match, hint
from verification.external.diagnosis_mistakes import (
    derivative_candidates,
    output_candidates,
    propagation_candidates,
    weight_candidates,
)
from verification.external.diagnosis_probe import Probe

__all__ = ["Finding", "hidden_delta", "output_delta", "tensor_name", "weight_gradient"]


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
    candidates = output_candidates(singles, loss, got, want)
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
    if any(layer in p.transposed for p in singles):
        n_in, n_out = w.shape
        text = (
            f"is stored transposed, ({n_out}, {n_in}) where ({n_in}, {n_out}) belongs: "
            "delta^T a where a^T delta belongs"
            + ("" if close(got, want, rtol) else ", and its values are wrong besides")
        )
        return Finding(step, "weight-transposed", text, feeds), list(deltas)
    if close(got, want, rtol):
        return Finding(step, "ok", feeds=feeds), list(deltas)
    candidates = weight_candidates(singles, w, layer, deltas, right_deltas, base, got, l2)
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
    candidates = derivative_candidates(singles, acts, layer, back, loss.output)
    candidates += propagation_candidates(
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
