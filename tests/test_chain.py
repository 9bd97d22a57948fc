"""Tests for funcnn.training.chain and transforms: any chain runs in fit and make_step as
its pure update does; segments, masks, slots, overflow and configs."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import funcnn as fn
from funcnn.training.chain import Optimizer, chain, leaf_paths
from funcnn.training.optimizers import OPTIMIZERS, optimizer_from_config
from funcnn.training.transforms import (
    MASKS,
    add_decayed_weights,
    clip_by_global_norm,
    global_norm,
    scale_by_learning_rate,
    scale_by_rms,
    trace,
)

SPEC = fn.MLP((5, 7, 3), "tanh")


def _problem(dtype: Any = np.float64) -> tuple[fn.Params, Any, Any]:
    rng = np.random.default_rng(3)
    return fn.init(SPEC, rng, dtype=dtype), rng.normal(size=(23, 5)).astype(dtype), \
        rng.integers(0, 3, size=23)


def _every_optimizer() -> dict[str, Optimizer]:
    """Each registered recipe with its defaults and a schedule, plus a clipped chain."""
    built = {
        name: entry.recipe(fn.StepDecay(entry.default_lr, step_size=4))
        for name, entry in OPTIMIZERS.items()
    }
    built["rmsprop_centered"] = fn.rmsprop(0.01, momentum=0.5, centered=True, weight_decay=0.1)
    built["clip_then_sgd"] = chain(clip_by_global_norm(0.1), fn.sgd(0.1, momentum=0.9))
    built["trace_then_clip"] = chain(trace(0.9), clip_by_global_norm(0.05),
                                     scale_by_learning_rate(0.1))
    return built


def _manual(opt: Optimizer, params: Any, x: Any, y: Any, batch: int) -> Any:
    state = opt.init(params)
    for start in range(0, len(x), batch):
        _, grads = fn.value_and_grad(SPEC, params, x[start:start + batch], y[start:start + batch])
        params, state = opt.update(grads, state, params)
    return params, state


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(_every_optimizer()))
def test_fit_runs_any_chain_as_its_pure_update_does(name: str, dtype: Any) -> None:
    opt = _every_optimizer()[name]
    params, x, y = _problem(dtype)
    got, state, _ = fn.fit(SPEC, params, opt, x, y, epochs=1, batch_size=5, rng=None,
                           shuffle=False)
    want, want_state = _manual(opt, params, x, y, 5)
    rtol = 1e-10 if dtype == np.float64 else 1e-4
    for a, b in zip(fn.tree_leaves(got), fn.tree_leaves(want), strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2)
    assert set(state) == set(want_state) == {"count", *opt.slot_names()}
    assert not any(np.shares_memory(a, b) for a in fn.tree_leaves(got)
                   for b in fn.tree_leaves(params))


def test_make_step_asks_the_public_question() -> None:
    assert fn.sgd(0.1).plain_learning_rate() == fn.Constant(0.1)
    assert chain(scale_by_learning_rate(0.2)).plain_learning_rate() == fn.Constant(0.2)
    plain = [n for n, o in _every_optimizer().items() if o.plain_learning_rate() is not None]
    assert plain == ["sgd"]
    assert fn.make_step(SPEC, chain(scale_by_learning_rate(0.2))).plain_lr is not None


def test_clipping_bounds_the_global_norm_and_leaves_small_gradients_alone() -> None:
    params, x, y = _problem()
    _, grads = fn.value_and_grad(SPEC, params, x, y)
    norm = global_norm(fn.tree_leaves(grads))
    clip = chain(clip_by_global_norm(norm / 4, eps=0.0), scale_by_learning_rate(1.0))
    new, _ = clip.update(grads, clip.init(params), params)
    step = [p - q for p, q in zip(fn.tree_leaves(params), fn.tree_leaves(new), strict=True)]
    assert global_norm(step) == pytest.approx(norm / 4, rel=1e-12)
    loose = chain(clip_by_global_norm(norm * 4), scale_by_learning_rate(1.0))
    new, _ = loose.update(grads, loose.init(params), params)
    plain, _ = fn.sgd(1.0).update(grads, fn.sgd(1.0).init(params), params)
    for a, b in zip(fn.tree_leaves(new), fn.tree_leaves(plain), strict=True):
        np.testing.assert_array_equal(a, b)  # a factor of exactly 1.0 changes no bit


def test_global_norm_survives_a_sum_of_squares_that_overflows() -> None:
    big = [np.full(4, 1e20, np.float32), np.full(3, -1e20, np.float32)]
    assert global_norm(big) == pytest.approx(1e20 * np.sqrt(7), rel=1e-6)


def test_a_transform_that_needs_all_leaves_sees_them_all_transformed() -> None:
    # trace then clip: the clip must see the velocity of every leaf, not the raw gradient.
    params, x, y = _problem()
    _, grads = fn.value_and_grad(SPEC, params, x, y)
    opt = chain(trace(0.5), clip_by_global_norm(1e-3, eps=0.0), scale_by_learning_rate(1.0))
    state = opt.init(params)
    p1, state = opt.update(grads, state, params)
    p2, state = opt.update(grads, state, p1)
    step = [a - b for a, b in zip(fn.tree_leaves(p1), fn.tree_leaves(p2), strict=True)]
    assert global_norm(step) == pytest.approx(1e-3, rel=1e-9)


def test_the_decay_mask_is_a_function_of_the_path() -> None:
    assert leaf_paths(fn.tree_structure(_problem()[0])) == [(0, "W"), (0, "b"), (1, "W"),
                                                            (1, "b")]
    params, _, _ = _problem()
    zero = fn.tree_map(np.zeros_like, params)
    only_first = chain(add_decayed_weights(0.5, lambda path, leaf: path[0] == 0),
                       scale_by_learning_rate(1.0))
    new, _ = only_first.update(zero, only_first.init(params), params)
    np.testing.assert_array_equal(new[0]["W"], params[0]["W"] * 0.5)
    np.testing.assert_array_equal(new[0]["b"], params[0]["b"] * 0.5)
    np.testing.assert_array_equal(new[1]["W"], params[1]["W"])
    default = chain(add_decayed_weights(0.5), scale_by_learning_rate(1.0))
    new, _ = default.update(zero, default.init(params), params)
    np.testing.assert_array_equal(new[1]["b"], params[1]["b"])  # biases: never by default
    np.testing.assert_array_equal(new[1]["W"], params[1]["W"] * 0.5)


@pytest.mark.parametrize("name", sorted(_every_optimizer()))
def test_every_squaring_chain_refuses_an_overflowing_gradient(name: str) -> None:
    opt = _every_optimizer()[name]
    params, _, _ = _problem(np.float32)
    grads = fn.tree_map(lambda p: np.full_like(p, 1e30), params)
    state = opt.init(params)
    if not any(t.squares_gradient for t in opt.transforms):
        opt.update(grads, state, params)  # nothing squares: nothing to refuse
        return
    with pytest.raises(fn.NonFiniteError, match=r"square overflows float32.*nothing was updated"):
        opt.update(grads, state, params)


@pytest.mark.parametrize("name", sorted(_every_optimizer()))
def test_config_round_trip(name: str) -> None:
    opt = _every_optimizer()[name]
    config = json.loads(json.dumps(opt.to_config()))
    assert optimizer_from_config(config) == opt


def test_missing_settings_take_the_recipes_defaults() -> None:
    assert optimizer_from_config({"name": "rmsprop", "lr": 0.01}) == fn.rmsprop(0.01)
    assert optimizer_from_config({"name": "adam"}) == fn.adam()
    assert optimizer_from_config({"name": "adagrad", "lr": 0.1, "eps": 1e-6}) == fn.adagrad(
        0.1, eps=1e-6
    )


def test_a_saved_chain_keeps_named_masks_only() -> None:
    opt = chain(add_decayed_weights(0.1, MASKS["all_leaves"]), scale_by_learning_rate(0.1))
    assert optimizer_from_config(opt.to_config()) == opt
    assert opt.to_config()["transforms"][0]["mask"] == "all_leaves"


def test_update_is_pure_for_the_new_recipes() -> None:
    params, x, y = _problem()
    _, grads = fn.value_and_grad(SPEC, params, x, y)
    for opt in (fn.rmsprop(0.01, centered=True, momentum=0.9), fn.adagrad(0.1),
                chain(clip_by_global_norm(0.01), scale_by_rms(), scale_by_learning_rate(0.1))):
        state = opt.init(params)
        before = [a.copy() for a in fn.tree_leaves((params, grads, state))]
        opt.update(grads, state, params)
        for a, b in zip(before, fn.tree_leaves((params, grads, state)), strict=True):
            np.testing.assert_array_equal(a, b)
