"""Measure the two constants of the pass condition on correct code.

The tolerance of :mod:`verification.engine.bounds.tolerances` rests on two estimates, and
this module measures how good they are on random networks, so that the figures quoted for
them are reproducible (``python -m verification.engine.calibration``):

- the float32 rounding model: ``|g32 - g64| / bound`` per entry, where ``g32`` is
  funcnn's float32 gradient, ``g64`` its float64 gradient at the same (float32) values
  and ``bound`` the first-order running error bound of
  :func:`verification.engine.bounds.error_model.gradient_error_bound` (before the safety factor
  ``MODEL_SAFETY``). Above 1 the model missed a rounding path.
- the numerical error estimate ``e``: ``|a - n| / e`` per entry in float64, where ``a``
  is funcnn's float64 gradient (exact to rounding) and ``n`` the scipy derivative with
  estimate ``e``. Entries whose stencil crossed a relu kink are left out (they are judged
  against one-sided derivatives instead).

The networks are drawn from one seed: 1 to 3 hidden layers of width 1 to 12, every
activation and loss funcnn has, weights scaled by 0.1 to 8 (the large scales saturate
sigmoid and tanh), batches of 1 to 8.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

import funcnn as fn
from funcnn.core.activations import ACTIVATIONS
from funcnn.core.losses import LOSSES
from funcnn.core.pytree import tree_leaves
from funcnn.errors import InvalidArgumentError, NonFiniteError
from funcnn.typing import Array, FloatArray, Params
from verification.engine.bounds.error_model import gradient_error_bound
from verification.engine.bounds.settings import Settings
from verification.engine.bounds.tolerances import rtol_for
from verification.engine.common.reference import REFERENCE_LOSSES
from verification.engine.evaluators.network_loss import NetworkLoss
from verification.engine.modes.compare import numeric_derivatives

__all__ = ["Calibration", "Case", "GradFn", "calibrate", "error_estimate_ratio",
           "float32_model_ratio", "random_case"]


@dataclass(frozen=True)
class Case:
    """One random network problem, float32 params and inputs."""

    spec: fn.MLP
    params: Params
    x: FloatArray
    y: Array
    loss: str


def random_case(rng: np.random.Generator) -> Case:
    """A random small network, activation, loss, weight scale and batch (float32)."""
    loss = str(rng.choice(sorted(name for name in LOSSES if name in REFERENCE_LOSSES)))
    declared = LOSSES[loss]
    activation = str(rng.choice(sorted(ACTIVATIONS)))
    n_out = int(rng.integers(declared.min_outputs, 6))
    hidden = tuple(int(w) for w in rng.integers(1, 13, size=int(rng.integers(1, 4))))
    spec = fn.MLP((int(rng.integers(1, 13)), *hidden, n_out), activation=activation)
    scale = float(np.exp(rng.uniform(np.log(0.1), np.log(8.0))))
    params = [
        {"W": (scale * rng.standard_normal(layer["W"].shape)).astype(np.float32),
         "b": (scale * rng.standard_normal(layer["b"].shape)).astype(np.float32)}
        for layer in fn.init(spec, rng, dtype=np.float32)
    ]
    batch = int(rng.integers(1, 9))
    x = rng.standard_normal((batch, spec.n_in)).astype(np.float32)
    y: Array
    if declared.min_outputs > 1 or declared.target_kind == "distribution":
        y = rng.integers(0, n_out, size=batch)  # labels: one-hot targets
    elif declared.target_kind == "probability":
        y = rng.integers(0, 2, size=(batch, n_out)).astype(np.float32)
    else:
        y = rng.standard_normal((batch, n_out)).astype(np.float32)
    return Case(spec, params, x, y, loss)


def _as64(case: Case) -> tuple[Params, FloatArray, Array]:
    """``case``'s params, inputs and (float) targets cast to float64; labels as they are."""
    params: Params = [{k: np.asarray(v, dtype=np.float64) for k, v in layer.items()}
                      for layer in case.params]
    y = case.y.astype(np.float64) if case.y.dtype.kind == "f" else case.y
    return params, case.x.astype(np.float64), y


GradFn = Callable[[fn.MLP, Params, FloatArray, Array, str], Params]
"""``(spec, params, x, y, loss) -> grads``, like ``funcnn.value_and_grad``'s gradient."""


def _funcnn_grad(spec: fn.MLP, params: Params, x: FloatArray, y: Array, loss: str) -> Params:
    return fn.value_and_grad(spec, params, x, y, loss)[1]


def float32_model_ratio(case: Case, grad_fn: GradFn = _funcnn_grad) -> float:
    """``max |g32 - g64| / bound`` over the entries of ``case`` (0 where both are 0);
    ``g32 = grad_fn(...)`` at the float32 values (funcnn's by default)."""
    g32 = grad_fn(case.spec, case.params, case.x, case.y, case.loss)
    _, g64 = fn.value_and_grad(case.spec, *_as64(case), case.loss)
    bounds = gradient_error_bound(case.spec, case.params, case.x, case.y, case.loss, np.float32)
    worst = 0.0
    for a, b, bound in zip(tree_leaves(g32), tree_leaves(g64), tree_leaves(bounds), strict=True):
        diff = np.abs(np.asarray(a, dtype=np.float64) - b)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(diff == 0, 0.0, diff / bound)
        worst = max(worst, float(np.max(ratio)))
    return worst


def error_estimate_ratio(
    case: Case, settings: Settings | None = None, grad_fn: GradFn = _funcnn_grad
) -> float:
    """``max |a - n| / e`` over the float64 entries of ``case`` off kinks (0 if none);
    ``a = grad_fn(...)`` at the float64 values (funcnn's by default)."""
    settings = settings or Settings()
    params, x, y = _as64(case)
    grads = grad_fn(case.spec, params, x, y, case.loss)
    analytic = np.concatenate([np.asarray(g).reshape(-1) for g in tree_leaves(grads)])
    evaluator = NetworkLoss(case.spec, params, x, y, case.loss)
    steps = settings.step_unit / evaluator.coordinate_scale()
    numeric = numeric_derivatives(evaluator.coordinates, steps, evaluator.noise_scale, settings,
                       rtol_for(np.float64))
    d = numeric.derivative
    usable = ~numeric.kinks.flagged & np.isfinite(d.value)
    diff = np.abs(analytic - d.value)[usable]
    error = d.error[usable]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(diff == 0, 0.0, diff / error)
    return float(np.max(ratio)) if ratio.size else 0.0


@dataclass(frozen=True)
class Calibration:
    """Per network: the two worst ratios (see the module docstring)."""

    float32_model: FloatArray
    error_estimate: FloatArray

    def summary(self) -> str:
        """Counts, maxima and 99th percentiles of both ratios."""
        lines = [f"{self.float32_model.size} random networks"]
        for label, values in (("|g32 - g64| / float32 bound", self.float32_model),
                              ("|a - n| / error estimate (float64)", self.error_estimate)):
            lines.append(
                f"  {label:36s} max {np.max(values):.6f}, 99th percentile "
                f"{np.percentile(values, 99):.3g}, median {np.median(values):.3g}; "
                f">= 0.5 in {int(np.sum(values >= 0.5))}, > 1 in {int(np.sum(values > 1))}"
            )
        return "\n".join(lines)


def calibrate(networks: int, seed: int = 0) -> Calibration:
    """Both ratios for ``networks`` random cases drawn from ``default_rng(seed)``."""
    if not isinstance(networks, int) or networks < 1:
        raise InvalidArgumentError(f"networks: expected an int >= 1, got {networks!r}")
    rng = np.random.default_rng(seed)
    model: list[float] = []
    estimate: list[float] = []
    while len(model) < networks:
        case = random_case(rng)
        try:
            ratios = float32_model_ratio(case), error_estimate_ratio(case)
        except NonFiniteError:
            # A loss that overflows float32 has no gradient to measure: draw another.
            continue
        model.append(ratios[0])
        estimate.append(ratios[1])
    return Calibration(np.array(model), np.array(estimate))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m verification.engine.calibration [--networks N] [--seed S]``."""
    parser = argparse.ArgumentParser(prog="python -m verification.engine.calibration",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(calibrate(args.networks, args.seed).summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
