"""Tests for funcnn.training.optimizers: each update against its formula, purity, state."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funcnn as fn
from funcnn.training.optimizers import (
    OPTIMIZERS,
    SGD,
    Optimizer,
    adam,
    optimizer_from_config,
    sgd,
)
from funcnn.training.schedules import Constant, Cosine, StepDecay
from tests.strategies import unknown_name


def _problem(dtype: Any = np.float64, seed: int = 0) -> tuple[fn.Params, list[fn.Params]]:
    """Params of a 3-4-2 network and a sequence of five random gradients."""
    rng = np.random.default_rng(seed)
    params = fn.init(fn.MLP((3, 4, 2)), rng, dtype=dtype)
    grads = [
        fn.tree_map(lambda p: rng.normal(size=p.shape).astype(dtype), params) for _ in range(5)
    ]
    return params, grads


def _run(opt: Optimizer, params: fn.Params, grads: list[fn.Params]) -> list[fn.Params]:
    state = opt.init(params)
    out = []
    for g in grads:
        params, state = opt.update(g, state, params)
        out.append(params)
    assert int(state["count"]) == len(grads)
    return out


def _decayed(p: np.ndarray, d: np.ndarray, lr: float, wd: float) -> np.ndarray:
    """The documented final step: decoupled decay on matrices only."""
    if p.ndim >= 2:
        return p - lr * (d + wd * p)
    return p - lr * d


def _assert_trees_close(a: Any, b: Any, rtol: float = 1e-12) -> None:
    for x, y in zip(fn.tree_leaves(a), fn.tree_leaves(b), strict=True):
        assert x.dtype == y.dtype
        np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-15)


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_sgd_formula(wd: float) -> None:
    params, grads = _problem()
    got = _run(sgd(0.1, weight_decay=wd), params, grads)
    p = params
    for g, q in zip(grads, got, strict=True):
        p = fn.tree_map(lambda a, b: _decayed(a, b, 0.1, wd), p, g)
        _assert_trees_close(q, p)


def test_plain_sgd_equals_sgd_step_bit_for_bit() -> None:
    params, grads = _problem(np.float32)
    got = _run(sgd(0.05), params, grads)
    p = params
    for g, q in zip(grads, got, strict=True):
        p = fn.sgd_step(p, g, 0.05)
        for x, y in zip(fn.tree_leaves(p), fn.tree_leaves(q), strict=True):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("wd", [0.0, 0.01])
def test_momentum_formula(nesterov: bool, wd: float) -> None:
    params, grads = _problem()
    mu, lr = 0.9, 0.05
    got = _run(sgd(lr, momentum=mu, nesterov=nesterov, weight_decay=wd), params, grads)
    p = params
    v = fn.tree_map(np.zeros_like, params)
    for g, q in zip(grads, got, strict=True):
        v = fn.tree_map(lambda v_, g_: mu * v_ + g_, v, g)
        d = fn.tree_map(lambda g_, v_: g_ + mu * v_, g, v) if nesterov else v
        p = fn.tree_map(lambda a, b: _decayed(a, b, lr, wd), p, d)
        _assert_trees_close(q, p)


@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_adam_formula(wd: float) -> None:
    params, grads = _problem()
    lr, b1, b2, eps = 0.01, 0.8, 0.99, 1e-7
    got = _run(adam(lr, b1=b1, b2=b2, eps=eps, weight_decay=wd), params, grads)
    p = params
    m = fn.tree_map(np.zeros_like, params)
    v = fn.tree_map(np.zeros_like, params)
    for t, (g, q) in enumerate(zip(grads, got, strict=True), start=1):
        m = fn.tree_map(lambda m_, g_: b1 * m_ + (1 - b1) * g_, m, g)
        v = fn.tree_map(lambda v_, g_: b2 * v_ + (1 - b2) * g_**2, v, g)
        c1, c2 = 1 - b1**t, 1 - b2**t
        d = fn.tree_map(lambda m_, v_, c1=c1, c2=c2: (m_ / c1) / (np.sqrt(v_ / c2) + eps), m, v)
        p = fn.tree_map(lambda a, b: _decayed(a, b, lr, wd), p, d)
        _assert_trees_close(q, p)


def test_adam_first_step_is_lr_times_sign() -> None:
    # With bias correction, the first Adam step is lr * g / (|g| + eps): almost lr * sign(g).
    params, grads = _problem()
    new, _ = adam(0.01).update(grads[0], adam(0.01).init(params), params)
    for p, g, q in zip(*map(fn.tree_leaves, (params, grads[0], new)), strict=True):
        np.testing.assert_allclose(p - q, 0.01 * np.sign(g), rtol=1e-6)


def test_schedule_drives_the_learning_rate() -> None:
    params, grads = _problem()
    schedule = StepDecay(0.1, step_size=2, gamma=0.5)
    got = _run(sgd(schedule), params, grads)
    p = params
    for t, (g, q) in enumerate(zip(grads, got, strict=True)):
        lr = 0.1 * 0.5 ** (t // 2)
        p = fn.tree_map(lambda a, b, lr=lr: a - lr * b, p, g)
        _assert_trees_close(q, p)


@pytest.mark.parametrize(
    "opt",
    [sgd(0.1), sgd(0.1, momentum=0.9), sgd(0.1, momentum=0.5, nesterov=True), adam(0.01)],
    ids=["sgd", "momentum", "nesterov", "adam"],
)
def test_update_is_pure_and_keeps_dtype(opt: Optimizer) -> None:
    params, grads = _problem(np.float32)
    state = opt.init(params)
    before = copy.deepcopy((params, grads[0], state))
    new, new_state = opt.update(grads[0], state, params)
    for a, b in zip(fn.tree_leaves(before), fn.tree_leaves((params, grads[0], state)), strict=True):
        np.testing.assert_array_equal(a, b)
    assert all(leaf.dtype == np.float32 for leaf in fn.tree_leaves(new))
    assert fn.tree_structure(new) == fn.tree_structure(params)
    assert fn.tree_structure(new_state) == fn.tree_structure(state)
    for a, b in zip(fn.tree_leaves(new_state), fn.tree_leaves(state), strict=True):
        assert a is not b
    assert new_state["count"].dtype == np.int64 and new_state["count"].shape == ()


def test_state_layout() -> None:
    params, _ = _problem()
    assert set(sgd(0.1).init(params)) == {"count"}
    assert set(sgd(0.1, momentum=0.9).init(params)) == {"count", "velocity"}
    assert set(adam().init(params)) == {"count", "mu", "nu"}
    state = adam().init(params)
    assert fn.tree_structure(state["mu"]) == fn.tree_structure(params)
    assert all(not leaf.any() for leaf in fn.tree_leaves(state["nu"]))


@pytest.mark.parametrize(
    "opt",
    [
        sgd(0.1),
        sgd(Cosine(0.1, total_steps=100, final_lr=0.001), momentum=0.9, nesterov=True),
        adam(StepDecay(0.01, step_size=10), b1=0.8, weight_decay=0.01),
        SGD(Constant(0.2), weight_decay=0.5),
    ],
)
def test_config_round_trip(opt: Optimizer) -> None:
    config = json.loads(json.dumps(opt.to_config()))
    assert optimizer_from_config(config) == opt
    assert sgd(0.1) == sgd(Constant(0.1))


@given(
    lr=st.floats(1e-4, 1.0),
    mu=st.floats(0.0, 0.99),
    seed=st.integers(0, 2**32 - 1),
)
def test_momentum_zero_velocity_start_matches_sgd_first_step(
    lr: float, mu: float, seed: int
) -> None:
    # v_1 = g, so the first momentum step (without Nesterov) is a plain SGD step.
    params, grads = _problem(seed=seed)
    a, _ = sgd(lr, momentum=mu).update(grads[0], sgd(lr, momentum=mu).init(params), params)
    b, _ = sgd(lr).update(grads[0], sgd(lr).init(params), params)
    for x, y in zip(fn.tree_leaves(a), fn.tree_leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("factory", "error", "match"),
    [
        (lambda: sgd(0.0), ValueError, "lr: expected a finite number > 0"),
        (lambda: sgd(math.nan), ValueError, "lr"),
        (lambda: sgd("0.1"), TypeError, "lr"),  # type: ignore[arg-type]
        (lambda: sgd(0.1, momentum=1.0), ValueError, r"momentum: expected a number in \[0, 1\)"),
        (lambda: sgd(0.1, momentum=-0.1), ValueError, "momentum"),
        (lambda: sgd(0.1, nesterov=True), ValueError, "nesterov: Nesterov momentum needs"),
        (lambda: sgd(0.1, nesterov=1), TypeError, "nesterov"),  # type: ignore[arg-type]
        (lambda: sgd(0.1, weight_decay=-1.0), ValueError, "weight_decay"),
        (lambda: sgd(0.1, weight_decay=math.inf), ValueError, "weight_decay"),
        (lambda: adam(0.1, b1=1.0), ValueError, "b1"),
        (lambda: adam(0.1, b2=-0.5), ValueError, "b2"),
        (lambda: adam(0.1, eps=0.0), ValueError, "eps"),
        (
            lambda: optimizer_from_config({"name": unknown_name(OPTIMIZERS), "lr": 0.1}),
            ValueError,
            "unknown optimizer 'not-",
        ),
        (lambda: optimizer_from_config({"name": "sgd", "lr": 0.1, "beta": 2}), ValueError, "beta"),
        (lambda: optimizer_from_config([1]), TypeError, "config"),
    ],
)
def test_bad_hyperparameters(factory: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match) as info:
        factory()
    assert isinstance(info.value, fn.FuncnnError)


def test_bad_update_arguments() -> None:
    params, grads = _problem()
    opt = sgd(0.1, momentum=0.9)
    state = opt.init(params)
    with pytest.raises(ValueError, match="grads: structure"):
        opt.update(grads[0][:1], state, params)
    bad_shape = copy.deepcopy(grads[0])
    bad_shape[0]["W"] = np.zeros((4, 3))
    with pytest.raises(ValueError, match="grads: leaf 0 has shape"):
        opt.update(bad_shape, state, params)
    bad_dtype = fn.tree_map(lambda g: g.astype(np.float32), grads[0])
    with pytest.raises(TypeError, match="grads: leaf 0 has dtype float32"):
        opt.update(bad_dtype, state, params)
    nan = copy.deepcopy(grads[0])
    nan[1]["b"][0] = np.nan
    with pytest.raises(ValueError, match="grads leaf 3: expected finite"):
        opt.update(nan, state, params)
    with pytest.raises(ValueError, match=r"state: expected keys \['count', 'velocity'\]"):
        opt.update(grads[0], sgd(0.1).init(params), params)
    with pytest.raises(TypeError, match="state: expected a dict"):
        opt.update(grads[0], [state], params)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"state\['count'\]"):
        opt.update(grads[0], {**state, "count": 1.5}, params)  # type: ignore[typeddict-item]
    with pytest.raises(ValueError, match=r"state\['count'\]: expected a non-negative integer"):
        opt.update(grads[0], {**state, "count": np.array(-1)}, params)
    with pytest.raises(TypeError, match="params: leaf 0 has dtype int64"):
        opt.init([{"W": np.zeros((2, 2), dtype=np.int64)}])
    nan_params = copy.deepcopy(params)
    nan_params[0]["W"][1, 1] = np.inf
    with pytest.raises(ValueError, match="params leaf 0: expected finite values"):
        opt.update(grads[0], state, nan_params)
    with pytest.raises(ValueError, match="params leaf 0: expected finite values"):
        fn.sgd_step(nan_params, grads[0], 0.1)
    with pytest.raises(TypeError, match="params: leaf 0 has dtype int64"):
        fn.sgd_step([{"W": np.ones((2, 2), int)}], [{"W": np.ones((2, 2), int)}], 0.1)
    with pytest.raises(ValueError, match="unknown optimizer"):
        optimizer_from_config({"name": ["sgd"], "lr": 0.1})
    with pytest.raises(ValueError, match="params: expected at least one array"):
        opt.init([])
    assert adam().title == "Adam" and adam().plain_learning_rate() is None
