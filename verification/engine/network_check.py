"""check_network: a funcnn MLP checked through the structured evaluator, with the
rounding model of its gradient, the move off multiple kinks and the consistency row."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from functools import cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from funcnn.core.losses import Loss, get_loss
from funcnn.core.network import check_params, value_and_grad
from funcnn.core.pytree import tree_flatten, tree_leaves, tree_unflatten
from funcnn.core.spec import MLP
from funcnn.errors import ArgumentTypeError
from funcnn.typing import Array, FloatArray, Params
from verification.engine.bounds.error_model import gradient_error_bound, reference_gradient
from verification.engine.bounds.settings import (
    MOVE_SCALE,
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
    check_seed,
    require_finite,
)
from verification.engine.common.threads import single_threaded_blas
from verification.engine.evaluators.network_loss import NetworkLoss
from verification.engine.modes.context import CheckContext
from verification.engine.modes.dispatch import flat_analytic, resolve_mode, run_mode
from verification.reporting.report import CheckRow, Report

__all__ = ["ROW_BY_ROW_COST", "check_network", "move_off_kinks", "moved_params"]

ROW_BY_ROW_COST = 3
"""How many times its size a network counts for ``mode="auto"`` when its loss has no
per-sample values (``Loss.sample_loss``) and is evaluated one ``value_and_grad`` call
per perturbation: full mode then stops at 1/3 of its usual parameter count. Measured:
full mode over 10-32-16-4 (32 samples) and 64-128-10 (128 samples) with log-cosh took
2.4-2.5 times as long from ``value_and_grad`` as from its ``sample_loss``."""

BoolArray = NDArray[np.bool_]

def check_network(
    spec: MLP,
    params: Params,
    x: Array,
    y: Array,
    loss: str | Loss = "softmax_cross_entropy",
    *,
    mode: str = "auto",
    probes: int = 3,
    subset: Any = None,
    seed: int = 0,
    name: str | None = None,
    grad_fn: Callable[[Params], Params] | None = None,
    settings: Settings | None = None,
) -> Report:
    """Check a funcnn MLP's gradient of ``loss`` on the batch ``(x, y)``, per tensor.

    ``params`` (float32 or float64) and ``x`` share a dtype, as for
    :func:`funcnn.value_and_grad`, whose gradient is checked unless ``grad_fn(params)``
    provides another one (e.g. a deliberately broken one, to see the check fail). The
    numerical reference is float64 through the structured evaluator; tolerances come
    from the per-entry rounding model of a gradient computed in the params' dtype.
    ``mode="auto"``: full up to
    :data:`~verification.engine.bounds.settings.FULL_MODE_LIMIT` parameters (divided by
    :data:`ROW_BY_ROW_COST` for a loss without ``sample_loss``), else directional.
    ``loss``: a registry name or any :class:`~funcnn.Loss`. Returns a report with one
    row per tensor plus, first, a row confirming that the evaluator reproduces
    ``funcnn.loss``.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec = fn.MLP((4, 6, 3), activation="tanh")
        >>> rng = np.random.default_rng(0)
        >>> params = fn.init(spec, rng)
        >>> x, y = rng.standard_normal((5, 4)), np.array([0, 1, 2, 1, 0])
        >>> check_network(spec, params, x, y).summary()
        '5 rows: 5 pass -> PASSED'
        >>> doubled = lambda p: fn.tree_map(lambda g: 2 * g, fn.grad(spec, p, x, y))
        >>> check_network(spec, params, x, y, grad_fn=doubled).passed
        False
    """
    check_callable("grad_fn", grad_fn, optional=True)
    seed = check_seed(seed)
    if name is not None and not isinstance(name, str):
        raise ArgumentTypeError(f"name: expected a str or None, got {type(name).__name__}")
    settings = check_settings(settings)
    with single_threaded_blas():
        return _check_network(spec, params, x, y, loss, mode, probes, subset, seed, name,
                              grad_fn, settings)


def _check_network(
    spec: MLP, params: Params, x: Array, y: Array, loss: str | Loss, mode: str, probes: int,
    subset: Any, seed: int, name: str | None, grad_fn: Callable[[Params], Params] | None,
    settings: Settings,
) -> Report:
    dtype = check_params(spec, params)
    check = name or f"network {'-'.join(map(str, spec.sizes))} {get_loss(loss).name} {dtype}"
    start = time.perf_counter()

    values: list[float] = []

    def run(at: Params) -> tuple[list[CheckRow], NetworkLoss]:
        evaluator = _network_loss(spec, at, x, y, loss)
        if grad_fn is None:
            value, grads = require_finite(
                f"params: funcnn.value_and_grad gives a non-finite loss or gradient in "
                f"{dtype} at these params and x (overflow); there is nothing to check",
                lambda: value_and_grad(spec, at, x, y, loss), _finite_value_and_grad,
            )
            values.append(value)
        else:
            grads = grad_fn(at)
        analytic = flat_analytic(grads, at, "grad_fn")
        bounds = tree_leaves(
            gradient_error_bound(spec, at, x, y, loss, dtype, evaluator.forward_pass)
        )
        tols = [_model_tol(dtype, np.asarray(b, dtype=np.float64).reshape(-1)) for b in bounds]
        steps_all = cache(lambda: settings.step_unit / evaluator.coordinate_scale())
        # A loss without per-sample values costs a value_and_grad call per perturbation.
        size = evaluator.n if evaluator.batched_rows else evaluator.n * ROW_BY_ROW_COST
        resolved = resolve_mode(mode, size, subset)
        # A perturbed point of a finite problem may still overflow when the problem sits
        # near the float64 limit: its derivative is then non-finite and the entry is
        # reported inconclusive (see compare), so numpy's warning carries nothing more.
        with np.errstate(over="ignore", invalid="ignore"):
            ctx = CheckContext(check, evaluator, analytic, evaluator.layout, tols, dtype,
                               settings, steps_all)
            report = run_mode(ctx, resolved, probes, subset, seed, {})
        return list(report.rows), evaluator

    rows, evaluator = run(params)
    rows = move_off_kinks(rows, lambda: run(moved_params(params, seed))[0], seed)
    # funcnn's own float64 loss, unless the value above was computed in float32.
    known = values[0] if values and dtype == np.float64 else None
    first = _consistency_row(check, spec, params, x, y, loss, evaluator, dtype, known)
    rows = [*rows, *_degenerate_rows(check, spec, params, x, y, loss)]
    return Report(
        (first, *rows),
        {"loss_value": evaluator.value, "seed": seed, "seconds": time.perf_counter() - start,
         "n_params": evaluator.n},
    )


def _degenerate_rows(check: str, spec: MLP, params: Params, x: Array, y: Array,
                     loss: str | Loss
                     ) -> list[CheckRow]:
    """An inconclusive row when the exact gradient is identically zero (a softmax over one
    output): then a gradient of zeros passes, and the check proves nothing."""
    with np.errstate(all="ignore"):
        reference = tree_leaves(reference_gradient(spec, params, x, y, loss))
    if any(np.any(g != 0) for g in reference):
        return []
    return [CheckRow(check, "problem", (), "exact", str(np.dtype(check_params(spec, params))),
                     "inconclusive", note="the float64 gradient is identically zero on this "
                     "problem: any gradient of zeros would pass, so the check cannot fail")]


def _network_loss(spec: MLP, params: Params, x: Array, y: Array, loss: str | Loss
                  ) -> NetworkLoss:
    """The float64 evaluator at ``params``; :class:`NonFiniteError` if its forward pass
    overflows (finite but huge inputs or weights), which no finite difference survives."""

    def finite(evaluator: NetworkLoss) -> bool:
        inputs, pre = evaluator.forward_pass
        return bool(
            all(np.all(np.isfinite(t)) for t in (*inputs, *pre))
            and math.isfinite(evaluator.value)
            and math.isfinite(evaluator.noise_scale)
        )

    out: NetworkLoss = require_finite(
        "x: the float64 forward pass or loss at params and x is not finite (overflow); "
        "expected inputs and weights whose pre-activations and loss stay below 1e308",
        lambda: NetworkLoss(spec, params, x, y, loss), finite,
    )
    return out


def _finite_value_and_grad(result: tuple[float, Params]) -> bool:
    value, grads = result
    return math.isfinite(value) and all(np.all(np.isfinite(g)) for g in tree_leaves(grads))


def _model_tol(dtype: Any, bound: FloatArray) -> TolFactory:
    return lambda local: Tolerance.for_model(dtype, bound[local])


_KINK_STREAM = 0x6B696E6B
"""Second word of the seed of the move off a kink ("kink" in ASCII)."""


def moved_params(params: Any, seed: int) -> Any:
    """``params`` moved by ``N(0, (MOVE_SCALE max(1, |p|))**2)`` per entry, drawn from
    ``default_rng([seed, _KINK_STREAM])``, in each leaf's dtype."""
    rng = np.random.default_rng([seed, _KINK_STREAM])
    leaves, treedef = tree_flatten(params)
    moved = []
    for leaf in leaves:
        arr = np.asarray(leaf)
        step = rng.standard_normal(arr.shape) * MOVE_SCALE * np.maximum(1.0, np.abs(arr))
        moved.append((arr + step).astype(arr.dtype))
    return tree_unflatten(treedef, moved)


def move_off_kinks(
    rows: list[CheckRow], rerun: Callable[[], list[CheckRow]], seed: int
) -> list[CheckRow]:
    """Re-check, at a moved point, every tensor whose only failures sat on a kink.

    With several kinks crossing at the point (e.g. a sample whose pre-activations are
    all within 1e-12 of 0, so that the next layer's are too), the one-sided derivatives
    along a coordinate bracket the outer pieces only, while the analytic value is the
    gradient of a sliver around the point that no finite difference can resolve. Such
    entries are not failed on the spot: the whole check is repeated at ``params`` moved
    by :func:`moved_params`, and the tensor's row there replaces the original, with the
    move and its seed in the note.
    """
    stuck = [
        i for i, row in enumerate(rows)
        if row.verdict == "fail" and row.n_failed and row.failed_at_kink == row.n_failed
    ]
    if not stuck:
        return rows
    again = {row.tensor: row for row in rerun()}
    out = list(rows)
    for i in stuck:
        old = rows[i]
        new = again[old.tensor]
        note = (
            f"{old.failed_at_kink} entries on several kinks at once fell outside the "
            f"one-sided derivatives; re-checked at params + N(0, ({MOVE_SCALE:g} "
            f"max(1,|p|))^2), seed [{seed}, {_KINK_STREAM:#x}]: {new.verdict}"
        )
        out[i] = replace(new, moved=old.failed_at_kink, kinks=old.kinks + new.kinks,
                         note=note + (f"; {new.note}" if new.note else ""))
    return out


def _consistency_row(
    check: str, spec: MLP, params: Params, x: Array, y: Array, loss: str | Loss,
    evaluator: NetworkLoss, dtype: Any, known: float | None = None,
) -> CheckRow:
    """The float64 evaluator must reproduce ``funcnn.loss`` at the float64 parameters
    (``known``: that value, when already computed)."""
    from funcnn.core.network import loss as funcnn_loss

    start = time.perf_counter()
    if known is None:
        p64 = [{k: np.asarray(v, dtype=np.float64) for k, v in layer.items()} for layer in params]
        x64 = np.asarray(x, dtype=np.float64)
        y_arr = np.asarray(y)
        y64 = y_arr.astype(np.float64) if y_arr.dtype.kind == "f" else y_arr
        # funcnn warns where it overflows; a non-finite value simply fails this row.
        with np.errstate(over="ignore", invalid="ignore"):
            reference = funcnn_loss(spec, p64, x64, y64, loss)  # type: ignore[arg-type]
    else:
        reference = known
    diff = abs(reference - evaluator.value)
    bound = 64 * EPS64 * max(evaluator.noise_scale, abs(reference), 1e-300)
    return CheckRow(
        check=check, tensor="loss value", shape=(), mode="exact", dtype="float64",
        verdict="pass" if diff <= bound else "fail", n_checked=1, max_abs_error=diff,
        max_rel_error=diff / max(abs(reference), EPS64), tolerance=bound,
        ratio=diff / bound, worst_index=(), analytic=reference, numeric=evaluator.value,
        seconds=time.perf_counter() - start,
        note="evaluator vs funcnn.loss (a = funcnn, n = evaluator)",
    )


