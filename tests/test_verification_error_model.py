"""Tests for verification.engine.bounds.error_model: the per-entry rounding bound of a float32
gradient holds, saturated and underflowing networks included, and is not vacuous."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import funcnn as fn
from funcnn.core.pytree import tree_leaves
from tests.strategies import specs
from verification.engine.bounds.error_model import gradient_error_bound


def _targets(loss: str, n_out: int, rng: np.random.Generator, batch: int) -> Any:
    if loss in ("softmax_cross_entropy", "softmax_then_cross_entropy"):
        return rng.integers(0, n_out, size=batch) if n_out > 1 else np.zeros(batch, int)
    if loss == "mse":
        return rng.normal(size=(batch, n_out)).astype(np.float32)
    return rng.random((batch, n_out)).astype(np.float32)


@given(
    specs(max_layers=3, max_width=8),
    st.sampled_from(sorted(fn.LOSSES)),
    st.sampled_from([0.1, 1.0, 4.0, 12.0]),
    st.integers(0, 2**31 - 1),
)
def test_float32_gradient_error_stays_within_the_bound(
    spec: fn.MLP, loss: str, std: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    params32 = fn.init(spec, rng, f"normal:{std}:{rng.normal()}", dtype=np.float32)
    params64 = fn.tree_map(lambda a: a.astype(np.float64), params32)
    batch = int(rng.integers(1, 9))
    x32 = (rng.normal(size=(batch, spec.n_in)) * 3).astype(np.float32)
    y = _targets(loss, spec.n_out, rng, batch)
    y64 = y.astype(np.float64) if y.dtype.kind == "f" else y
    _, g32 = fn.value_and_grad(spec, params32, x32, y, loss)
    _, g64 = fn.value_and_grad(spec, params64, x32.astype(np.float64), y64, loss)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        bounds = gradient_error_bound(spec, params32, x32, y, loss, np.float32)
    for a, b, bound in zip(tree_leaves(g32), tree_leaves(g64), tree_leaves(bounds), strict=True):
        assert np.all(np.abs(a.astype(np.float64) - b) <= bound)


def test_bound_is_small_relative_to_the_gradient_on_an_ordinary_network() -> None:
    rng = np.random.default_rng(0)
    spec = fn.MLP((50, 20, 10), "tanh")
    params = fn.init(spec, rng, "glorot_normal", dtype=np.float32)
    x = rng.random((16, 50)).astype(np.float32)
    y = rng.integers(0, 10, size=16)
    _, grads = fn.value_and_grad(spec, params, x, y)
    for dtype, ceiling in ((np.float32, 1e-3), (np.float64, 1e-11)):
        bounds = gradient_error_bound(spec, params, x, y, "softmax_cross_entropy", dtype)
        for g, bound in zip(tree_leaves(grads), tree_leaves(bounds), strict=True):
            assert np.max(bound) < ceiling * np.max(np.abs(g))


def test_saturated_sigmoid_entries_get_an_absolute_allowance() -> None:
    rng = np.random.default_rng(1)
    spec = fn.MLP((4, 6, 3), "sigmoid")
    params = fn.init(spec, rng, "normal:0.1:30", dtype=np.float32)
    params64 = fn.tree_map(lambda a: a.astype(np.float64), params)
    x = rng.normal(size=(5, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=5)
    # Every hidden unit sits near z = 30: float32 rounds sigmoid to exactly 1, so
    # a(1 - a) is 0 where the exact derivative is 9e-14.
    _, g32 = fn.value_and_grad(spec, params, x, y)
    _, g64 = fn.value_and_grad(spec, params64, x.astype(np.float64), y)
    bounds = gradient_error_bound(spec, params, x, y, "softmax_cross_entropy", np.float32)
    assert np.all(g32[0]["W"] == 0) and np.all(g64[0]["W"] != 0)
    assert np.all(np.abs(g64[0]["W"]) <= bounds[0]["W"])


def test_deep_wide_float32_bounds_are_capped_at_a_fraction_of_the_scale() -> None:
    # The running bound adds |terms| through every layer: on a deep, wide tanh network
    # it exceeds the gradients themselves, and would pass a gradient of zeros.
    rng = np.random.default_rng(3)
    spec = fn.MLP((300, 200, 200, 100, 10), "tanh")
    params = fn.init(spec, rng, "glorot_uniform", dtype=np.float32)
    x = rng.random((16, 300)).astype(np.float32)
    y = rng.integers(0, 10, size=16)
    _, grads = fn.value_and_grad(spec, params, x, y)
    raw = gradient_error_bound(spec, params, x, y, "softmax_cross_entropy", np.float32, cap=False)
    capped = gradient_error_bound(spec, params, x, y, "softmax_cross_entropy", np.float32)
    rtol = np.sqrt(np.finfo(np.float32).eps)
    ratios_raw, ratios = [], []
    for g, b_raw, b in zip(tree_leaves(grads), tree_leaves(raw), tree_leaves(capped), strict=True):
        scale = np.max(np.abs(g))
        ratios_raw.append(np.max(b_raw) / scale)
        ratios.append(np.max(b) / scale)
    assert max(ratios_raw) > 1.0
    assert max(ratios) <= 1.01 * rtol
