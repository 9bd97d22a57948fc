"""The gradient-check engine: analytic gradients against scipy finite differences.

Two entry points build on one comparison core:

- :func:`check_gradients` for any implementation: ``loss_fn(params) -> float`` and
  ``grad_fn(params) -> Params`` over any pytree of arrays;
- :func:`check_network` for a funcnn MLP, which uses the structured evaluator
  (:class:`~verification.engine.evaluators.network_loss.NetworkLoss`, full mode on 26k
  parameters in about a second) and the per-entry rounding model of the analytic
  gradient (:mod:`verification.engine.bounds.error_model`).

Modes: ``"full"`` compares every coordinate; ``"subset"`` a chosen or random subset
per tensor; ``"directional"`` compares ``grad . v`` with the numerical derivative of
``t -> L(theta + t v)`` for ``probes`` random unit directions *per tensor* (so a small
tensor's error cannot hide inside a large inner product), and a failing tensor is then
narrowed down by bisection (halving the support of the failing probe) and checked in
full mode on the remaining block, to name the worst entry.

Every numerical derivative comes from
:func:`verification.engine.derivatives.numeric.derivatives` (scipy), kinks are handled by
:mod:`verification.engine.derivatives.kinks`, the pass condition and constants are in
:mod:`verification.engine.bounds.tolerances`, and the result is a
:class:`~verification.reporting.report.Report` with one row per tensor.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np

from funcnn.core.pytree import tree_flatten, tree_leaves
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.typing import Array, FloatArray
from verification.engine.bounds.settings import (
    Settings,
    TolFactory,
    check_settings,
)
from verification.engine.bounds.tolerances import (
    EPS64,
    Tolerance,
)
from verification.engine.common.arguments import (
    check_callable,
    check_nonnegative_number,
    check_seed,
)
from verification.engine.common.layout import tensor_layout
from verification.engine.common.threads import single_threaded_blas
from verification.engine.evaluators.generic_loss import GenericLoss
from verification.engine.evaluators.parallel import ParallelLoss, check_n_jobs, workers
from verification.engine.evaluators.perturbed import PerturbedLoss
from verification.engine.modes.context import CheckContext
from verification.engine.modes.dispatch import flat_analytic, resolve_mode, run_mode
from verification.engine.modes.screen import SCREEN_STEP
from verification.engine.network_check import move_off_kinks, moved_params
from verification.reporting.report import CheckRow, Report

__all__ = ["check_gradients"]


@dataclass(frozen=True)
class _Request:
    """What ``check_gradients`` was asked, checked; the same request re-runs at a point
    moved off multiple kinks."""

    loss_fn: Callable[[Any], float]
    grad_fn: Callable[[Any], Any]
    mode: str
    probes: int
    subset: Any
    seed: int
    name: str
    batched_loss: Callable[[FloatArray], FloatArray] | None
    pattern_fn: Callable[[Any], Array] | None
    error_bound: Any
    noise_scale: float | None
    settings: Settings
    evaluator: Callable[[Any, bool], PerturbedLoss] | None = None
    kinks: bool = True
    n_jobs: int | None = None


def check_gradients(
    loss_fn: Callable[[Any], float],
    grad_fn: Callable[[Any], Any],
    params: Any,
    *,
    mode: str = "full",
    probes: int = 3,
    subset: Any = None,
    seed: int = 0,
    name: str = "check_gradients",
    batched_loss: Callable[[FloatArray], FloatArray] | None = None,
    pattern_fn: Callable[[Any], Array] | None = None,
    error_bound: Any = None,
    noise_scale: float | None = None,
    settings: Settings | None = None,
    evaluator: Callable[[Any, bool], PerturbedLoss] | None = None,
    n_jobs: int | None = None,
) -> Report:
    """Check ``grad_fn`` against finite differences of ``loss_fn`` at ``params``.

    ``params`` is any pytree of float arrays (lists, tuples, dicts); ``grad_fn(params)``
    must return a pytree of the same structure and shapes. ``loss_fn`` is called with
    float64 copies of ``params`` (the numerical reference is always float64; the analytic
    gradient may be float32, and is then held to float32 tolerances), so it must accept
    float64 leaves. ``batched_loss(thetas)``, if given, evaluates a ``(P, n)`` matrix of
    flat float64 parameter vectors (``funcnn.ravel`` order) in one call. ``pattern_fn``
    returns the activation pattern (e.g. relu masks) for kink detection. ``mode``:
    ``"full"``, ``"subset"`` (``subset`` = count per tensor, ``{tensor name: indices}``
    or flat indices) or ``"directional"`` (``probes`` >= 3 per tensor). ``error_bound``,
    a pytree like ``params``, bounds the rounding error of each analytic entry (``atol``
    is then :data:`~verification.engine.bounds.tolerances.MODEL_SAFETY` times it); without one,
    ``atol`` is ``sqrt(eps) * max |analytic|`` per tensor. ``noise_scale`` is the
    magnitude whose float64 rounding bounds one evaluation of ``loss_fn`` (default its
    value); give it when the loss is computed from much larger terms. ``n_jobs``
    spreads the ``loss_fn`` calls over joblib workers (``-1``: every core; ``None``:
    joblib's active ``parallel_config``, else serial), on the active joblib backend
    (Dask's for a cluster); the report is the serial one, bit for bit
    (:mod:`verification.engine.evaluators.parallel`).

    Returns a :class:`~verification.reporting.report.Report` with one row per tensor;
    ``report.passed`` is the verdict.

        >>> import numpy as np
        >>> params = {"w": np.array([1.0, -2.0, 0.5])}
        >>> def loss_fn(p):
        ...     return float(np.sum(np.sin(p["w"])))
        >>> check_gradients(loss_fn, lambda p: {"w": np.cos(p["w"])}, params).passed
        True
        >>> check_gradients(loss_fn, lambda p: {"w": -np.cos(p["w"])}, params).passed
        False
    """
    check_callable("loss_fn", loss_fn)
    check_callable("grad_fn", grad_fn)
    check_callable("batched_loss", batched_loss, optional=True)
    check_callable("pattern_fn", pattern_fn, optional=True)
    check_callable("evaluator", evaluator, optional=True)
    seed = check_seed(seed)
    if noise_scale is not None:
        noise_scale = check_nonnegative_number("noise_scale", noise_scale)
    if not isinstance(name, str):
        raise ArgumentTypeError(f"name: expected a str, got {type(name).__name__}")
    settings = check_settings(settings)
    n_jobs = check_n_jobs(n_jobs)
    if n_jobs is not None and evaluator is not None:
        raise InvalidArgumentError(
            "n_jobs: spreads the calls of loss_fn over workers; it cannot be combined "
            "with a custom evaluator"
        )
    request = _Request(loss_fn, grad_fn, mode, probes, subset, seed, name, batched_loss,
                       pattern_fn, error_bound, noise_scale, settings, evaluator,
                       n_jobs=n_jobs)
    with single_threaded_blas():
        return _check_gradients(request, params)


def _check_gradients(request: _Request, params: Any) -> Report:
    settings, seed, error_bound = request.settings, request.seed, request.error_bound
    grads = request.grad_fn(params)
    # The loss first: at non-finite params it is the loss that says so (the gradient's
    # NaN would only be a consequence).
    evaluator: PerturbedLoss = (
        GenericLoss(request.loss_fn, params, batched_loss=request.batched_loss,
                    pattern_fn=request.pattern_fn, noise_scale=request.noise_scale)
        if request.evaluator is None else request.evaluator(params, request.kinks))
    if isinstance(evaluator, GenericLoss) and workers(request.n_jobs) > 1:
        evaluator = ParallelLoss(evaluator, request.n_jobs)
    analytic = flat_analytic(grads, params, "grad_fn")
    leaves = tree_flatten(grads)[0]
    dtype = np.result_type(*[np.asarray(g).dtype for g in leaves]) if leaves else np.float64
    layout = tensor_layout(params)
    mode = resolve_mode(request.mode, evaluator.n, request.subset)
    leaves64 = [np.asarray(x, dtype=np.float64).reshape(-1) for x in tree_leaves(params)]
    flat = np.concatenate(leaves64) if leaves64 else np.zeros(0)
    steps_all = cache(lambda: settings.step_unit * np.maximum(1.0, np.abs(flat)))
    screen_steps = cache(lambda: SCREEN_STEP * np.maximum(1.0, np.abs(flat)))
    scales = [max(float(np.max(np.abs(a), initial=0.0)), EPS64) for a in analytic]

    def scale_tol(scale: float) -> TolFactory:
        return lambda local: Tolerance.for_scale(dtype, scale)

    tols = [scale_tol(s) for s in scales]
    if error_bound is not None:
        bounds = flat_analytic(error_bound, params, "error_bound")
        if any(np.any(b < 0) for b in bounds):
            raise InvalidArgumentError("error_bound: expected bounds >= 0")

        def model_tol(bound: FloatArray) -> TolFactory:
            return lambda local: Tolerance.for_model(dtype, bound[local])

        tols = [model_tol(b) for b in bounds]
    start = time.perf_counter()
    ctx = CheckContext(request.name, evaluator, analytic, layout, tols, dtype, settings, steps_all,
                       screen_steps if settings.screen else None)
    report = run_mode(ctx, mode, request.probes, request.subset, seed,
                      {"loss_value": evaluator.value})
    rows = list(report.rows)
    if request.kinks and evaluator.detects_kinks:

        def rerun() -> list[CheckRow]:
            moved = moved_params(params, seed)
            again = replace(request, mode=mode, pattern_fn=None, kinks=False)
            return list(_check_gradients(again, moved).rows)

        rows = move_off_kinks(rows, rerun, seed)
    return Report(tuple(rows), {**report.meta, "seconds": time.perf_counter() - start})


