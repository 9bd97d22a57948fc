"""How tight the verifier is, pinned from both sides.

The pass condition (:mod:`verification.engine.bounds.tolerances`, documented in
docs/verification.md) is
``|a - n| <= atol + rtol |n| + k e`` with ``k = K_ERROR = 2`` on the numerical error
estimate ``e``, ``rtol = sqrt(eps)``, and ``atol = MODEL_SAFETY * bound = 2 * bound``
where an analytic rounding bound is known (``sqrt(eps) * max |a|`` of the tensor where
not). Each test here makes one term dominate and moves the analytic gradient by a
multiple of that term, read from the verifier's own report:

- ``e`` dominating (a loss computed from large terms, declared by ``noise_scale``): off
  by 1.5 e passes, off by 3 e fails;
- the analytic bound dominating (``error_bound`` given): off by 1.5 bound passes, 3 fails;
- an exact smooth loss: a float64 gradient off by 3 sqrt(eps) relative fails, 1.5 passes;
- a 1-1-1 network whose per-entry rounding bound is computed by hand below, from the
  formulas of :mod:`verification.engine.bounds.error_model`'s docstring, and compared with
  ``gradient_error_bound`` and with the tolerance ``check_network`` reports.

So a verifier that is looser (or stricter) than it says in any of its terms fails here,
not through a constant printed in a docs page.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import funcnn as fn
from verification import CheckRow, Report, check_gradients, check_network, gradient_error_bound

EPS64 = float(np.finfo(np.float64).eps)
SQRT_EPS64 = math.sqrt(EPS64)

POINT = [np.array([0.3]), np.array([0.9]), np.array([1.4])]
"""Three one-entry tensors: each is its own report row, so the row's ``numeric``,
``error_estimate`` and ``tolerance`` (given at the row's worst entry) are its entry's."""


def smooth(p: list[np.ndarray]) -> float:
    a, b, c = (float(t[0]) for t in p)
    return math.sin(a) * math.exp(b / 3) + c**3 / 10 + a * b * c / 5


def smooth_grad(p: list[np.ndarray]) -> list[np.ndarray]:
    a, b, c = (float(t[0]) for t in p)
    return [
        np.array([math.cos(a) * math.exp(b / 3) + b * c / 5]),
        np.array([math.sin(a) * math.exp(b / 3) / 3 + a * c / 5]),
        np.array([3 * c**2 / 10 + a * b / 5]),
    ]


def _constant(grads: list[np.ndarray]) -> Callable[[Any], list[np.ndarray]]:
    return lambda params: grads


def _rows(report: Report) -> list[CheckRow]:
    names = [row.tensor for row in report.rows]
    assert names == ["params[0]", "params[1]", "params[2]"], report.table()
    return list(report.rows)


# --------------------------------------------------------------------------- k * e

OFFSET = 1e7
"""The loss is computed as ``(OFFSET + smooth) - OFFSET``: each evaluation carries a real
rounding error of about ``eps * OFFSET`` (2e-9), declared with ``noise_scale=OFFSET``, so
the numerical derivatives' error estimates (~1e-6) dwarf ``sqrt(eps) |n|`` (~2e-8)."""


def noisy(p: list[np.ndarray]) -> float:
    return (OFFSET + smooth(p)) - OFFSET


def test_off_by_one_and_a_half_error_estimates_passes_and_by_three_fails() -> None:
    exact = check_gradients(noisy, smooth_grad, POINT, noise_scale=OFFSET)
    assert exact.passed, exact.table()
    rows = _rows(exact)
    numeric = [row.numeric for row in rows]
    error = [row.error_estimate for row in rows]
    for n, e in zip(numeric, error, strict=True):
        # The regime: everything but k e in the tolerance is below 5% of e.
        assert 2 * SQRT_EPS64 * 1.1 * abs(n) < 0.05 * e, (n, e)
    for factor, passes in [(1.5, True), (-1.5, True), (3.0, False), (-3.0, False)]:
        moved = [np.array([n + factor * e]) for n, e in zip(numeric, error, strict=True)]
        report = check_gradients(noisy, _constant(moved), POINT, noise_scale=OFFSET)
        shown = report.table(["tensor", "verdict", "error_estimate", "tolerance", "ratio"])
        for row, n, e in zip(_rows(report), numeric, error, strict=True):
            # The same numerical derivative is the reference each time.
            assert (row.numeric, row.error_estimate) == (n, e)
            assert row.verdict == ("pass" if passes else "fail"), (factor, shown)


# --------------------------------------------------------------------------- MODEL_SAFETY

BOUND = 1e-5
"""A declared rounding bound per entry that dwarfs ``sqrt(eps) |n|`` (~2e-8) and ``e`` (~2e-9)."""


def test_off_by_one_and_a_half_declared_bounds_passes_and_by_three_fails() -> None:
    bound = [np.array([BOUND]) for _ in POINT]
    exact = check_gradients(smooth, smooth_grad, POINT, error_bound=bound)
    assert exact.passed, exact.table()
    numeric = [row.numeric for row in _rows(exact)]
    for row in exact.rows:
        assert 2 * SQRT_EPS64 * abs(row.numeric) + 3 * row.error_estimate < 0.05 * BOUND
    for factor, passes in [(1.5, True), (-1.5, True), (3.0, False), (-3.0, False)]:
        moved = [np.array([n + factor * BOUND]) for n in numeric]
        report = check_gradients(smooth, _constant(moved), POINT, error_bound=bound)
        verdicts = [row.verdict for row in _rows(report)]
        assert verdicts == ["pass" if passes else "fail"] * 3, (factor, report.table())


# --------------------------------------------------------------------------- rtol


@pytest.mark.parametrize(("relative", "passes"), [(3.0, False), (-3.0, False),
                                                  (1.5, True), (-1.5, True)])
def test_a_float64_gradient_off_by_three_sqrt_eps_fails(relative: float, passes: bool) -> None:
    """Without a rounding model the tolerance is ``sqrt(eps) max|a| + sqrt(eps) |n| + 2 e``,
    about 2 sqrt(eps) |g| on one entry: 3 sqrt(eps) relative is outside, 1.5 inside."""
    assert check_gradients(smooth, smooth_grad, POINT).passed
    off = [g * (1 + relative * SQRT_EPS64) for g in smooth_grad(POINT)]
    report = check_gradients(smooth, lambda p: off, POINT)
    verdicts = [row.verdict for row in _rows(report)]
    assert verdicts == ["pass" if passes else "fail"] * 3, report.table()
    if not passes:  # decided by the rtol terms, not by a large error estimate
        for row in report.rows:
            assert row.error_estimate < 0.05 * SQRT_EPS64 * abs(row.numeric), row


def test_a_float64_network_gradient_off_by_three_sqrt_eps_fails() -> None:
    """The same through check_network, whose atol is the (tiny, float64) rounding model:
    there the tolerance is about sqrt(eps) |n|, and 3 sqrt(eps) relative is far outside."""
    spec = fn.MLP((3, 4, 2), "tanh")
    params = fn.init(spec, np.random.default_rng(5))
    x = np.random.default_rng(6).normal(size=(5, 3))
    y = np.array([0, 1, 1, 0, 1])
    grads = fn.grad(spec, params, x, y)
    assert check_network(spec, params, x, y).passed
    off = [{k: g * (1 + 3 * SQRT_EPS64) for k, g in layer.items()} for layer in grads]
    report = check_network(spec, params, x, y, grad_fn=lambda p: off)
    tensors = [row for row in report.rows if row.tensor.startswith("params")]
    assert [row.verdict for row in tensors] == ["fail"] * 4, report.table()


# --------------------------------------------------------------------------- by hand

SPEC_111 = fn.MLP((1, 1, 1), "tanh")
W0, B0, W1, B1, X, T = 0.8, -0.3, 1.7, 0.25, 0.9, 0.4


def bound_by_hand(dtype: Any) -> dict[str, float]:
    """The documented running error bound of the 1-1-1 tanh network's mse gradient on one
    sample, in the unit roundoff ``u = eps / 2`` of ``dtype``, one scalar at a time
    (``n_in = n_out = 1``, batch ``B = 1``, so every ``u (n + 1)`` is ``2 u``)."""
    info = np.finfo(dtype)
    u, tiny = float(info.eps) / 2, float(info.tiny)
    w0, b0, w1, b1, x, t = (float(np.asarray(v, dtype=dtype)) for v in (W0, B0, W1, B1, X, T))
    sup1, sup2 = 1.0, 4 / (3 * math.sqrt(3))       # sup |tanh'|, sup |tanh''|
    # Forward, layer 1: EZ = u (n_in + 1) (|x| |W| + |b|); then EA = L EZ + 2 u |a|.
    z0 = x * w0 + b0
    ez0 = 2 * u * (abs(x) * abs(w0) + abs(b0))
    a1 = math.tanh(z0)
    d1 = 1 - a1 * a1
    ea1 = min(d1 + sup2 * ez0, sup1) * ez0 + 2 * u * abs(a1) + tiny
    # Layer 2 (the output), with the error of its input: + EA |W|.
    z1 = a1 * w1 + b1
    ez1 = 2 * u * (abs(a1) * abs(w1) + abs(b1)) + ea1 * abs(w1)
    # mse on B * C = 1 entry: g = 2 (z - t), its error 2 (EZ + 2 u (|z| + |t|)) (+ tiny).
    g1 = abs(2 * (z1 - t))
    eg1 = 2 * (ez1 + 2 * u * (abs(z1) + abs(t))) + tiny
    # Backward, layer 2: |a|^T (u (B + 1) g + EG) + EA^T (g + EG); the bias u (B + 1) g + EG.
    out = {"W1": abs(a1) * (2 * u * g1 + eg1) + ea1 * (g1 + eg1), "b1": 2 * u * g1 + eg1}
    # Down through W^T: g |W|, error u (n_out + 1) g |W| + EG |W|; then tanh' = 1 - a^2,
    # whose error is |tanh''| EZ plus its rounding 3 u (a^2 + d) (+ tiny).
    g_in = g1 * abs(w1)
    eg_in = 2 * u * g_in + eg1 * abs(w1)
    ed = sup2 * ez0 + 3 * u * (a1 * a1 + d1) + tiny
    g0, eg0 = g_in * d1, eg_in * (d1 + ed) + g_in * ed
    # Layer 1: its input x is exact.
    out.update({"W0": abs(x) * (2 * u * g0 + eg0), "b0": 2 * u * g0 + eg0})
    return out


def _problem_111(dtype: Any) -> tuple[list[dict[str, np.ndarray]], np.ndarray, np.ndarray]:
    params = [{"W": np.array([[W0]], dtype=dtype), "b": np.array([B0], dtype=dtype)},
              {"W": np.array([[W1]], dtype=dtype), "b": np.array([B1], dtype=dtype)}]
    return params, np.array([[X]], dtype=dtype), np.array([[T]], dtype=dtype)


BY_HAND_RTOL = 1e-12
"""Agreement of the hand-computed bound and tolerance with the verifier's: rounding of
the same formulas in another order (~1e-15). Halving any one term moves them by far more
(see the shares asserted below)."""


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_error_bound_of_a_tiny_network_is_the_documented_one(dtype: Any) -> None:
    params, x, t = _problem_111(dtype)
    want = bound_by_hand(dtype)
    got = gradient_error_bound(SPEC_111, params, x, t, "mse", dtype, cap=False)
    for layer in (0, 1):
        for key in ("W", "b"):
            value = float(np.asarray(got[layer][key]).reshape(-1)[0])
            expected = want[f"{key}{layer}"]
            assert value == pytest.approx(expected, rel=BY_HAND_RTOL, abs=0), (layer, key)


def test_check_network_reports_the_documented_tolerance_on_a_tiny_network() -> None:
    """``tolerance = 2 * bound + sqrt(eps) |n| + 2 e`` at each (single) entry, with the
    bound computed by hand and ``n``, ``e`` as reported."""
    params, x, t = _problem_111(np.float64)
    bound = bound_by_hand(np.float64)
    report = check_network(SPEC_111, params, x, t, "mse", mode="full")
    assert report.passed, report.table()
    rows = {row.tensor: row for row in report.rows}
    for layer in (0, 1):
        for key in ("W", "b"):
            row = rows[f"params[{layer}][{key!r}]"]
            terms = (2 * bound[f"{key}{layer}"], SQRT_EPS64 * abs(row.numeric),
                     2 * row.error_estimate)
            total = sum(terms)
            # Each term is large enough that halving or doubling it shows.
            assert min(terms) > 1e3 * BY_HAND_RTOL * total, (layer, key, terms)
            assert row.tolerance == pytest.approx(total, rel=BY_HAND_RTOL, abs=0), (
                layer, key, terms)
