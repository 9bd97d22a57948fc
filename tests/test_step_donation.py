"""Tests for make_step's ownership of its arguments (issue 25): a list or dict a step has
consumed raises when passed again, naming the argument; correct use is unaffected."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest

import funcnn as fn
from funcnn.training.step import DonatedToStep

SPEC = fn.MLP((4, 5, 3), activation="tanh")


def _data() -> tuple[Any, Any]:
    rng = np.random.default_rng(1)
    return rng.standard_normal((8, 4)), rng.integers(0, 3, 8)


@pytest.mark.parametrize("optimizer", [fn.sgd(0.1), fn.sgd(0.1, momentum=0.9), fn.adam(0.01)])
def test_reusing_the_donated_params_raises_naming_params(optimizer: Any) -> None:
    x, y = _data()
    params = fn.init(SPEC, np.random.default_rng(0))
    step = fn.make_step(SPEC, optimizer)
    new, state, _ = step(params, optimizer.init(params), x, y)
    with pytest.raises(fn.InvalidArgumentError, match=r"^params: .*donated.*returned"):
        step(params, state, x, y)
    assert repr(params) == "[<params donated to a funcnn Step: use the params it returned>]"
    # The refused call consumed nothing: the returned pair still works.
    new, state, _ = step(new, state, x, y)
    assert int(state["count"]) == 2


def test_a_superseded_returned_pair_raises_naming_each_argument() -> None:
    x, y = _data()
    optimizer = fn.adam(0.01)
    params = fn.init(SPEC, np.random.default_rng(0))
    step = fn.make_step(SPEC, optimizer)
    p1, s1, _ = step(params, optimizer.init(params), x, y)
    p2, s2, _ = step(p1, s1, x, y)
    with pytest.raises(fn.InvalidArgumentError, match=r"^params: .*donated"):
        step(p1, s2, x, y)
    with pytest.raises(fn.InvalidArgumentError, match=r"^opt_state: .*donated"):
        step(p2, s1, x, y)
    assert list(s1) == ["donated"] and isinstance(dict(s1)["donated"], DonatedToStep)
    # Another step refuses them too: the marker lives in the objects, not in one step.
    with pytest.raises(fn.InvalidArgumentError, match=r"^params: "):
        fn.make_step(SPEC, optimizer)(p1, s2, x, y)


def test_correct_use_matches_the_pure_update_step_by_step() -> None:
    x, y = _data()
    optimizer = fn.sgd(0.05, momentum=0.9)
    params = fn.init(SPEC, np.random.default_rng(0))
    want, want_state = params, optimizer.init(params)
    step = fn.make_step(SPEC, optimizer)
    got, state = copy.deepcopy(params), optimizer.init(params)
    for _ in range(5):
        want, want_state = optimizer.update(fn.grad(SPEC, want, x, y), want_state, want)
        got, state, _ = step(got, state, x, y)
    for a, b in zip(fn.tree_leaves(got), fn.tree_leaves(want), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    assert int(state["count"]) == 5


def test_a_step_that_raises_consumes_nothing() -> None:
    x, y = _data()
    x[2, 1] = np.nan
    optimizer = fn.sgd(0.1)
    params = fn.init(SPEC, np.random.default_rng(0))
    state = optimizer.init(params)
    step = fn.make_step(SPEC, optimizer)
    with pytest.raises(fn.InvalidArgumentError, match=r"^x: "):
        step(params, state, x, y)
    x[2, 1] = 0.0
    _, state2, _ = step(params, state, x, y)  # still ours to donate
    assert int(state2["count"]) == 1


def test_fit_is_unaffected_and_leaves_the_callers_params_alone() -> None:
    x, y = _data()
    params = fn.init(SPEC, np.random.default_rng(0))
    before = copy.deepcopy(params)
    trained, _, _ = fn.fit(SPEC, params, fn.sgd(0.1), x, y, epochs=2, batch_size=4, rng=None,
                           shuffle=False)
    assert len(trained) == 2
    for a, b in zip(fn.tree_leaves(params), fn.tree_leaves(before), strict=True):
        np.testing.assert_array_equal(a, b)
