"""The probes of an implementation, at the scale its own loss follows.

:func:`scaled_probes` calls the code on each probe sample alone and on them together.

Code written by hand often scores a batch by the **sum** of its per-sample losses where
funcnn takes their mean, or scores a sample by a multiple of funcnn's loss: a sum over
the outputs where ``mse`` takes their mean (``C`` times), half the sum of squares. Such
code is right when its gradient is that of its own loss. :func:`read_scale` fits the
implementation's loss on the probes to ``k`` times funcnn's (plus a constant, the L2
term) and its output-layer weight gradient to ``k`` times funcnn's (plus a multiple of
``W``); when both agree on one ``k``, and the batch on the mean or the sum, the code
follows that convention and is checked as such (:class:`Rescaled`). When they disagree
(a loss summed over the outputs with the gradient of their mean, a gradient summed over
the batch with the loss averaged) nothing is inferred, and the diagnosis names the step
that is wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import funcnn as fn
from funcnn.core.network import check_inputs
from funcnn.typing import Array, FloatArray, Params
from verification.external.diagnosis_probe import Probe, craft_inputs, probe

__all__ = ["Rescaled", "Scale", "Setup", "probes", "read_scale", "scaled_probes"]

ValueAndGrad = Callable[[Params, Array, Array], tuple[float | None, Params]]
BATCH = 5
"""Samples probed: each alone, then together."""


@dataclass(frozen=True)
class Scale:
    """``factor``: the implementation's per-sample loss over funcnn's; ``batch_sum``: its
    batch loss is the sum of the per-sample losses, not their mean."""

    factor: float = 1.0
    batch_sum: bool = False

    def words(self, loss: str, width: int) -> str:
        """The convention in words, e.g. ``the loss is summed over the batch, 3 x mse per
        sample (= C, ...); checked as such``."""
        parts = []
        if self.batch_sum:
            parts.append("summed over the batch")
        if not np.isclose(self.factor, 1.0):
            named = {float(width): " (= C, the number of outputs: a sum over them)",
                     0.5: " (a half)", width / 2: " (= C/2: half a sum over the outputs)"}
            why = next((v for k, v in named.items() if np.isclose(self.factor, k)), "")
            parts.append(f"{self.factor:.4g} x {loss} per sample{why}")
        return "the loss is " + ", ".join(parts) + "; checked as such"


class Rescaled:
    """``value_and_grad`` with its loss and gradients divided by its :class:`Scale`, so
    that a sum over the batch (or ``k`` times funcnn's loss) reads as funcnn's mean."""

    def __init__(self, value_and_grad: Any, scale: Scale) -> None:
        self.inner = value_and_grad
        self.scale = scale

    def __call__(self, params: Params, x: Array, y: Array) -> tuple[float, Params]:
        value, grads = self.inner(params, x, y)
        d = self.scale.factor * (len(x) if self.scale.batch_sum else 1)
        return float(value) / d, [{k: np.asarray(g) / d for k, g in layer.items()}
                                  for layer in grads]


def _fit(targets: Sequence[FloatArray], columns: Sequence[Sequence[FloatArray]],
         rtol: float) -> FloatArray | None:
    """Least-squares coefficients of ``targets ~ sum_j c_j columns[j]`` over every entry,
    or None when the fit leaves more than ``rtol`` of the largest target unexplained."""
    t = np.concatenate([np.ravel(v) for v in targets]).astype(np.float64)
    a = np.stack([np.concatenate([np.ravel(v) for v in col]) for col in columns], axis=1)
    if not np.all(np.isfinite(t)) or not np.all(np.isfinite(a)):
        return None
    coef, *_ = np.linalg.lstsq(a.astype(np.float64), t, rcond=None)
    if np.max(np.abs(a @ coef - t), initial=0.0) > rtol * max(np.max(np.abs(t)), 1e-300):
        return None
    out: FloatArray = coef
    return out


def _gradient_factor(probes: Sequence[Probe], w: FloatArray, rtol: float) -> float | None:
    """``k`` in ``got dW = k a^T dL/dz + c W`` on the output layer, over ``probes``."""
    got = [p.got[-1]["W"] for p in probes]
    want = [p.inputs[-1].T @ p.dlogits for p in probes]
    coef = _fit(got, [want, [w] * len(probes)], rtol)
    return None if coef is None else float(coef[0])


def read_scale(
    singles: Sequence[Probe], batch: Probe, params: Params, rtol: float
) -> Scale | None:
    """The :class:`Scale` the implementation's loss and gradients agree on, None when
    it returns no loss, they disagree, or it is funcnn's own (``k = 1``, the mean)."""
    values = [p.got_value for p in singles]
    if not all(np.isfinite(values)) or not np.isfinite(batch.got_value):
        return None
    loose = max(64 * rtol, 1e-9)
    ones = [np.ones(1)] * len(singles)
    loss_fit = _fit([np.array(v) for v in values],
                    [[np.array(p.value) for p in singles], ones], loose)
    w = params[-1]["W"]
    k = _gradient_factor(singles, w, loose)
    if loss_fit is None or k is None or k <= 0:
        return None
    size = len(batch.inputs[0])
    kb = _gradient_factor([batch], w, loose)
    if kb is None:
        return None
    summed = size > 1 and np.isclose(kb, k * size, rtol=1e-4)
    if not (summed or np.isclose(kb, k, rtol=1e-4)):
        return None
    # The batch's loss must be that multiple of funcnn's too, up to its L2 term (read
    # off the singles as the constant c: once, divided by the batch size, or per sample).
    rest = batch.got_value - kb * batch.value
    c = float(loss_fit[1])
    tol = loose * max(abs(batch.got_value), abs(c), 1.0)
    if not any(abs(rest - term) <= tol for term in (c, c / size, c * size)):
        return None
    scale = Scale(float(k), bool(summed))
    if np.isclose(scale.factor, 1.0, rtol=1e-4) and not scale.batch_sum:
        return None
    return scale


@dataclass(frozen=True)
class Setup:
    """What the probes run: ``spec`` and its ``params`` in ``dtype``, the inputs ``x``
    (None: standard normal rows), the ``loss``, the implementation's ``name``, and
    whether it has biases."""

    spec: fn.MLP
    params: Params
    dtype: np.dtype[Any]
    x: Array | None
    loss: fn.Loss
    name: str
    biases: bool


def probes(
    at: Setup, value_and_grad: ValueAndGrad, rng: np.random.Generator
) -> tuple[Params, FloatArray, list[Probe], Probe]:
    """The params probed, the inputs, and the implementation on each single sample and
    on the batch. Without biases (an adapter that says so) funcnn's ``b`` are zero, and
    the deltas are read off the weight gradients later."""
    spec, params, loss, name = at.spec, at.params, at.loss, at.name
    if not at.biases:
        params = [{"W": layer["W"], "b": np.zeros_like(layer["b"])} for layer in params]
    x = rng.normal(size=(BATCH, spec.n_in)).astype(at.dtype) if at.x is None else at.x
    xs = check_inputs(spec, x, at.dtype)[:BATCH]
    y = craft_inputs(spec, params, xs, loss, rng)
    singles = [
        probe(spec, value_and_grad, params, xs[i : i + 1], y[i : i + 1], loss, name)
        for i in range(len(xs))
    ]
    return params, xs, singles, probe(spec, value_and_grad, params, xs, y, loss, name)


def scaled_probes(
    at: Setup, value_and_grad: ValueAndGrad, rng: np.random.Generator, rtol: float
) -> tuple[ValueAndGrad, Scale | None, tuple[Params, FloatArray, list[Probe], Probe]]:
    """:func:`probes` of the code, divided by the scale its own loss follows (a sum over
    the batch, a multiple of funcnn's loss) when it follows one, on the same samples."""
    state = rng.bit_generator.state
    probed = probes(at, value_and_grad, rng)
    scale = read_scale(probed[2], probed[3], probed[0], rtol)
    if scale is not None:
        value_and_grad = Rescaled(value_and_grad, scale)
        rng.bit_generator.state = state
        probed = probes(at, value_and_grad, rng)
    return value_and_grad, scale, probed
