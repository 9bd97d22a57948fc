"""The two steps outside the per-sample chain: the loss value, and the reduction of
per-sample gradients over a batch (the mean, so ``1/B`` on every tensor).

The batch step compares the implementation with itself: its gradient on a batch must
be the mean of its gradients on the batch's samples one at a time, whatever those are.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

import funcnn as fn
from funcnn.typing import FloatArray, Params
from verification.external.adapters import Adapted
from verification.external.diagnosis_chain import Finding, tensor_name
from verification.external.diagnosis_l2 import Penalty
from verification.external.diagnosis_match import Candidate, close, first_match, hint
from verification.external.diagnosis_probe import Probe, call_checked

__all__ = ["batch_reduction", "batch_step", "l2_value", "loss_value", "updated_per_sample"]

def l2_value(params: Params, l2: float) -> float:
    """The regularisation term ``l2/2 sum W^2`` over every weight matrix (not biases)."""
    return Penalty(l2).value(params, 1)


def _label_probabilities(singles: Sequence[Probe], loss: fn.Loss) -> list[float]:
    """Each probe's softmax probability of its label, when the loss is the cross-entropy
    ``-log p_y`` of a declared softmax output (read off the loss's values, not its
    name); else none."""
    if loss.output != "softmax" or not all(np.asarray(p.y).dtype.kind in "iu" for p in singles):
        return []
    probs = [float(fn.softmax(p.pre[-1])[0, int(p.y[0])]) for p in singles]
    if not all(q > 0 and close([np.array(p.value)], [np.array(-np.log(q))], 1e-3)
               for p, q in zip(singles, probs, strict=True)):
        return []
    return probs


def loss_value(
    singles: Sequence[Probe],
    params: Params,
    loss: fn.Loss,
    penalty: Penalty,
    rtol: float,
    delta_ok: bool,
) -> Finding:
    """The implementation's loss on one sample against funcnn's (plus the L2 term)."""
    reg = penalty.value(params, 1)
    l2 = penalty.coefficient(1)
    got = [np.array(p.got_value) for p in singles]
    want = [np.array(p.value + reg) for p in singles]
    step = "loss value"
    if not all(np.isfinite(g) for g in got):
        return Finding(step, "not-checked", "not given: the implementation returns no loss")
    if close(got, want, rtol):
        return Finding(step, "ok", feeds=("loss",))
    candidates = []
    probs = _label_probabilities(singles, loss)
    if probs:
        # -log(p + eps) = L solves to eps = exp(-L) - p: one eps for every sample is this bug.
        eps = [float(np.exp(-(float(g) - reg))) - q for g, q in zip(got, probs, strict=True)]
        if all(e > 0 for e in eps) and np.ptp(eps) <= 1e-3 * max(eps) and max(eps) < 0.01:
            value = float(np.mean(eps))
            tail = (
                "; the gradient is that of the exact cross-entropy, so the loss printed is not "
                "the loss the gradient belongs to"
                if delta_ok
                else ""
            )
            candidates.append(
                Candidate(
                    "loss-eps",
                    f"computes -log(p + {value:.3g}) where -log(p) belongs: an eps inside the log "
                    f"that the gradient ignores{tail}",
                    tuple(np.array(-np.log(q + value) + reg) for q in probs),
                )
            )
    candidates.append(_l2_candidate(singles, params, l2, got))
    # The eps is solved from a log of a difference: its own rounding is larger.
    found = first_match(got, want, candidates[:-1], rtol * 1e3) or first_match(
        got, want, candidates[-1:], rtol
    )
    if found is not None:
        return Finding(step, found.kind, found.text, ("loss",))
    n_out = singles[0].pre[-1].shape[1]
    message = (
        f"is not {loss.name}"
        + (f" + {penalty.words()}" if l2 else "")
        + ": it "
        + hint(got, want, rtol, {"C, the number of outputs": n_out, "2": 2.0, "1/2": 0.5})
    )
    if delta_ok:
        message += (
            f"; the gradient is that of {loss.name}: the loss is not the one the gradient "
            "belongs to"
        )
    return Finding(step, "loss-other", message, ("loss",))


def _l2_candidate(
    singles: Sequence[Probe], params: Params, l2: float, got: Sequence[FloatArray]
) -> Candidate:
    """The loss plus ``c/2 sum W^2`` for the ``c`` that fits best."""
    half_norm = l2_value(params, 1.0)
    c = float(np.mean([float(g) - p.value for g, p in zip(got, singles, strict=True)])) / max(
        half_norm, np.finfo(np.float64).tiny
    )
    if l2 > 0:
        text = f"adds {c:.4g}/2 sum W^2 where l2/2 sum W^2 = {l2:.4g}/2 sum W^2 belongs"
    else:
        text = f"adds {c:.4g}/2 sum W^2, an L2 term (pass l2={c:.4g} to check its gradient)"
    values = tuple(np.array(p.value + c * half_norm) for p in singles)
    return Candidate("loss-l2-unexpected" if l2 == 0 else "loss-l2-factor", text, values)


def _reduction_words(kind: str, count: int) -> str:
    if kind == "sum":
        return f"the sum over the batch where the mean belongs (B = {count} x; missing 1/B)"
    return f"divided by B twice (1/B = 1/{count} x the mean)"


def batch_reduction(
    singles: Sequence[Probe],
    batch: Probe,
    params: Params,
    penalty: Penalty,
    rtol: float,
    keys: tuple[str, ...] = ("W", "b"),
) -> Finding:
    """The batch gradient against the mean of the same implementation's per-sample ones,
    each without its L2 term (``penalty``'s, for its own batch size; bias penalties are
    already out of the probes)."""
    count = len(singles)
    status: dict[str, str] = {}
    for index, layer in enumerate(batch.got):
        w = np.asarray(params[index]["W"], dtype=np.float64)
        for key in keys:
            g = layer[key]
            per = [p.got[index][key] for p in singles]
            if key == "W":
                per = [q - penalty.coefficient(1) * w for q in per]
                g = g - penalty.coefficient(count) * w
            # An L2 term is added once per call, so it is in each per-sample gradient and
            # once in the batch's: compare the parts that depend on the data.
            const = (
                per[0] - singles[0].inputs[index].T @ singles[0].got[index]["b"][None, :]
                if key == "W"
                else 0.0
            )
            mean: FloatArray = np.mean(per, axis=0)
            name = tensor_name(index, key)
            if close([g], [mean], rtol):
                status[name] = "ok"
                continue
            status[name] = _reduction(g, mean, const, count, rtol, per)
    got_loss = [np.array(batch.got_value - penalty.value(params, count))]
    want_loss = [np.array(np.mean([p.got_value for p in singles]) - penalty.value(params, 1))]
    loss_words = (
        ""
        if not np.isfinite(batch.got_value) or close(got_loss, want_loss, rtol)
        else (
            "; the loss value "
            + hint(got_loss, want_loss, rtol, {"B": count})
            + " (the mean of its per-sample losses)"
        )
    )
    return _batch_finding(status, count, loss_words)


def _reduction(
    g: FloatArray,
    mean: FloatArray,
    const: FloatArray | float,
    count: int,
    rtol: float,
    per: Sequence[FloatArray],
) -> str:
    """``sum``, ``twice`` (divided by B twice), ``one:<i>`` (sample i's gradient alone,
    or its B-th) or ``other:<hint>``; the sum is tried with and without the L2 term
    (added once per call, not per sample)."""
    for c in (0.0, const):
        if close([g - c], [count * (mean - c)], rtol):
            return "sum"
        if close([g - c], [(mean - c) / count], rtol):
            return "twice"
    for i, q in enumerate(per):
        for scale in (1.0, 1.0 / count):
            if close([g], [scale * q], rtol):
                return f"one:{i}"
    return "other:" + hint([g], [mean], rtol, {"B": count})


def _plural(thing: str, unit: str, numbers: list[int]) -> str:
    """``the bias gradient of layer 3`` or ``the bias gradients of layers 1, 2``."""
    if len(numbers) == 1:
        return f"{thing} of {unit} {numbers[0]}"
    return f"{thing}s of {unit}s {', '.join(map(str, numbers))}"


def _batch_finding(status: dict[str, str], count: int, loss_words: str) -> Finding:
    step = "batch reduction"
    wrong = {name: s for name, s in status.items() if s != "ok"}
    feeds = tuple(wrong)
    if not wrong:
        if loss_words:
            return Finding(
                step,
                "batch-loss",
                "the gradients are the batch mean of the per-sample ones, but"
                + loss_words.removeprefix(";"),
                ("loss",),
            )
        return Finding(step, "ok")
    biases = {n for n in status if n.endswith("['b']")}
    kinds = set(wrong.values())
    if all(k.startswith("one:") for k in kinds):
        samples = ", ".join(str(int(k[4:]) + 1) for k in sorted(kinds))
        return Finding(
            step,
            "one-sample",
            f"the gradient of {', '.join(wrong)} is that of one sample of the batch (sample "
            f"{samples}) where the mean over every sample belongs: not summed over the "
            f"batch, or not accumulated in the loop over it{loss_words}",
            feeds,
        )
    if len(kinds) == 1 and (kind := next(iter(kinds))) in ("sum", "twice"):
        words = _reduction_words(kind, count)
        if set(wrong) == set(status):
            return Finding(step, f"batch-{kind}", f"every gradient is {words}{loss_words}", feeds)
        if set(wrong) <= biases or not set(wrong) & biases:
            what, other = ("bias", "weight") if set(wrong) <= biases else ("weight", "bias")
            layers = sorted(int(n.split("]")[0].split("[")[1]) + 1 for n in wrong)
            which = _plural(f"{what} gradient", "layer", layers)
            verb = "is" if len(layers) == 1 else "are"
            return Finding(
                step,
                f"{what}-{kind}",
                f"the {which} {verb} {words}, while the {other} gradients are the mean{loss_words}",
                feeds,
            )
    parts = [
        f"{name} " + (f"is {_reduction_words(s, count)}" if s in ("sum", "twice") else s[6:])
        if not s.startswith("one:")
        else f"{name} is that of sample {int(s[4:]) + 1} alone"
        for name, s in wrong.items()
    ]
    return Finding(
        step,
        "batch-other",
        "the batch gradient is not the mean of the per-sample gradients: " + "; ".join(parts),
        feeds,
    )


def updated_per_sample(
    other: Any, lr: float, params: Params, singles: Sequence[Probe], batch: Probe, rtol: float
) -> Finding | None:
    """The batch gradient of a training step that updates the weights after each sample
    (read back by an adapter with learning rate ``lr``): the sum of the per-sample
    gradients, each at the weights the samples before it left, scaled by 1 or 1/B and
    stepped by ``lr`` or ``lr / B``. None when that is not what it is."""
    count = len(singles)
    want = [np.concatenate([np.ravel(t) for t in layer.values()]) for layer in batch.got]
    for step in (1.0, 1.0 / count):
        current = copy.deepcopy(params)
        total = [np.zeros_like(w) for w in want]
        for p in singles:
            _, grads = call_checked(other, current, p.x, p.y, "value_and_grad", "")
            flat = [np.concatenate([np.ravel(g[k]) for k in ("W", "b")]) for g in grads]
            total = [t + np.asarray(f, dtype=np.float64) for t, f in zip(total, flat, strict=True)]
            current = [
                {k: layer[k] - layer[k].dtype.type(lr * step) * g[k] for k in ("W", "b")}
                for layer, g in zip(current, grads, strict=True)
            ]
        for scale in (step, step / count):
            if close(want, [scale * t for t in total], rtol):
                return Finding(
                    "batch reduction",
                    "update-per-sample",
                    "updates the weights after each sample, inside the loop over the batch: "
                    "each sample's gradient is taken at the weights the samples before it "
                    "left, where one update with the batch's mean gradient belongs",
                    tuple(tensor_name(i, k) for i in range(len(params)) for k in ("W", "b")),
                )
    return None


def batch_step(
    value_and_grad: Any,
    findings: Sequence[Finding],
    singles: Sequence[Probe],
    batch: Probe,
    params: Params,
    penalty: Penalty,
    rtol: float,
    keys: tuple[str, ...],
) -> Finding:
    """The batch step after the chain's ``findings``: the reduction, an update inside the
    per-sample loop (for :func:`~verification.external.adapters.from_update`), and
    UNSURE for a failure only in tensors an earlier wrong step feeds."""
    reduction = batch_reduction(singles, batch, params, penalty, rtol, keys)
    lr = value_and_grad.lr if isinstance(value_and_grad, Adapted) else None
    if not reduction.ok and lr is not None:
        per_sample = updated_per_sample(value_and_grad, lr, params, singles, batch, rtol)
        reduction = per_sample or reduction
    fed = {t for f in findings if f.kind not in ("ok", "not-checked") for t in f.feeds}
    if reduction.kind == "batch-other" and set(reduction.feeds) <= fed:
        # An earlier wrong step can make the batch gradient of the tensors it feeds
        # depend on the batch in other ways (weights updated by the batch's own
        # gradient): not a cause of its own.
        reduction = replace(
            reduction,
            kind="unsure",
            message=reduction.message + " (this may follow from the root cause)",
        )
    return reduction
