"""Tests for verification.engine.evaluators.perturbed: the batched evaluators reproduce
funcnn's loss at perturbed parameters, and flag exactly the points whose relu pattern
changed."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funcnn as fn
from funcnn.core import network
from tests.strategies import specs
from verification.engine.common.layout import Directions, tensor_layout
from verification.engine.common.reference import REFERENCE_LOSSES
from verification.engine.evaluators.generic_loss import GenericLoss
from verification.engine.evaluators.logits_loss import LogitsLoss
from verification.engine.evaluators.network_loss import NetworkLoss


def _targets(loss: str, spec: fn.MLP, rng: np.random.Generator, batch: int) -> Any:
    if loss in ("softmax_cross_entropy", "softmax_then_cross_entropy"):
        return rng.integers(0, spec.n_out, size=batch) if spec.n_out > 1 else np.zeros(batch, int)
    if loss == "mse":
        return rng.normal(size=(batch, spec.n_out))
    return rng.random((batch, spec.n_out))


def _masks(spec: fn.MLP, params: fn.Params, x: Any) -> Any:
    trace = network.forward(spec, params, x)
    kinked = [a in ("relu", "leaky_relu") for a in spec.hidden_activations]
    return [z > 0 for z, k in zip(trace.pre[:-1], kinked, strict=True) if k]


@given(
    specs(max_layers=3, max_width=5),
    st.sampled_from(sorted(REFERENCE_LOSSES)),
    st.integers(0, 2**31 - 1),
)
def test_network_loss_matches_funcnn_at_perturbed_points(
    spec: fn.MLP, loss: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    params = fn.init(spec, rng, "glorot_normal")
    batch = int(rng.integers(1, 6))
    x = rng.normal(size=(batch, spec.n_in))
    y = _targets(loss, spec, rng, batch)
    evaluator = NetworkLoss(spec, params, x, y, loss)
    assert evaluator.value == pytest.approx(fn.loss(spec, params, x, y, loss), rel=1e-13, abs=1e-15)
    flat, unravel = fn.ravel(params)
    index = rng.integers(0, flat.size, size=12)
    t = rng.normal(size=12) * 0.3
    got, flags = evaluator.coordinates(index, t)
    base_masks = _masks(spec, params, x)
    for k in range(12):
        moved = flat.copy()
        moved[index[k]] += t[k]
        want = fn.loss(spec, unravel(moved), x, y, loss) - evaluator.value
        assert got[k] == pytest.approx(want, rel=1e-9, abs=1e-13)
        changed = any(
            not np.array_equal(a, b)
            for a, b in zip(_masks(spec, unravel(moved), x), base_masks, strict=True)
        )
        assert bool(flags[k]) == changed
    layout = tensor_layout(params)
    dirs = Directions(
        tuple(range(len(layout))), tuple(rng.normal(size=info.size) for info in layout)
    )
    which = np.arange(len(layout))
    steps = rng.normal(size=which.size) * 0.3
    got, flags = evaluator.directions(dirs, which, steps)
    dense = dirs.dense(layout)
    for j in range(which.size):
        want = fn.loss(spec, unravel(flat + steps[j] * dense[j]), x, y, loss) - evaluator.value
        assert got[j] == pytest.approx(want, rel=1e-9, abs=1e-13)


def test_repeated_input_values_are_evaluated_once_and_correctly() -> None:
    rng = np.random.default_rng(4)
    spec = fn.MLP((30, 7, 4), "relu")
    params = fn.init(spec, rng, "he_normal")
    # Quantised, sparse inputs like MNIST pixels: few distinct values per sample.
    x = rng.integers(0, 4, size=(9, 30)) * (rng.random((9, 30)) < 0.5) / 4.0
    y = rng.integers(0, 4, size=9)
    evaluator = NetworkLoss(spec, params, x, y, "softmax_cross_entropy")
    generic = GenericLoss(lambda p: fn.loss(spec, p, x, y), params)
    assert evaluator._sparse_inputs(0)[3] is not None
    index = np.repeat(np.arange(evaluator.n), 2)
    t = np.tile([0.5, -0.5], evaluator.n)
    fast, fast_flags = evaluator.coordinates(index, t)
    slow, _ = generic.coordinates(index, t)
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-15)
    assert fast_flags.any()


def test_coordinate_scales_are_powers_of_two() -> None:
    rng = np.random.default_rng(5)
    spec = fn.MLP((6, 4, 3), "sigmoid")
    params = fn.init(spec, rng)
    x = rng.normal(size=(5, 6)) * 3
    y = rng.integers(0, 3, 5)
    scale = NetworkLoss(spec, params, x, y, "softmax_cross_entropy").coordinate_scale()
    assert np.all(np.log2(scale) == np.round(np.log2(scale)))
    assert scale.size == spec.n_params


def test_logits_loss_matches_funcnn() -> None:
    rng = np.random.default_rng(6)
    z = rng.normal(size=(4, 5)) * 3
    y = rng.integers(0, 5, size=4)
    for loss in (
        "softmax_cross_entropy",
        "softmax_then_cross_entropy",
        "softmax_binary_cross_entropy",
    ):
        evaluator = LogitsLoss(loss, z, y)
        index = np.arange(20)
        t = rng.normal(size=20) * 0.1
        got, flags = evaluator.coordinates(index, t)
        value = getattr(fn, loss)
        for k in range(20):
            moved = z.copy()
            moved.reshape(-1)[k] += t[k]
            assert got[k] == pytest.approx(value(moved, y) - value(z, y), rel=1e-9, abs=1e-15)
        assert not flags.any()


def test_generic_loss_pattern_flags_and_errors() -> None:
    params = [np.array([0.5, -0.25])]
    generic = GenericLoss(
        lambda p: float(np.sum(np.abs(p[0]))), params, pattern_fn=lambda p: p[0] > 0
    )
    values, flags = generic.coordinates(np.array([0, 0, 1]), np.array([-1.0, 0.1, 0.1]))
    assert values.tolist() == pytest.approx([0.0, 0.1, -0.1])
    assert flags.tolist() == [True, False, False]
    with pytest.raises(fn.InvalidArgumentError, match="loss_fn"):
        GenericLoss(lambda p: float("nan"), params)
    # A loss without an independent formula is evaluated through its own value, one row
    # per call (it used to be refused: "has no batched reference").
    custom = LogitsLoss(
        fn.Loss("custom", lambda z, y: (float(np.sum(z)) / len(z), z), "real"),
        np.arange(4.0).reshape(2, 2), np.zeros(2, int),
    )
    assert custom.value == 3.0
    assert custom.coordinates(np.array([1]), np.array([0.5]))[0].tolist() == [0.25]
