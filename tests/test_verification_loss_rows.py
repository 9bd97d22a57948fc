"""verification.engine.evaluators.loss_rows: a loss without ``sample_loss`` gives the
evaluators the same loss changes as with one, from one ``value_and_grad`` call per
perturbation (coordinates) or moved batch (directions), not one per row; kink flags of
a kinked loss come from the same place for every evaluator."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import funcnn as fn
from tests import primitives as prim
from verification.engine.common.layout import Directions
from verification.engine.evaluators.logits_loss import LogitsLoss
from verification.engine.evaluators.loss_rows import OutputRows
from verification.engine.evaluators.network_loss import NetworkLoss


def _counted(loss: fn.Loss) -> tuple[fn.Loss, list[int]]:
    """``loss`` without its ``sample_loss``, and a list that grows by the batch size of
    every ``value_and_grad`` call."""
    calls: list[int] = []

    def value_and_grad(z: Any, y: Any) -> tuple[float, Any]:
        calls.append(int(z.shape[0]))
        return loss.value_and_grad(z, y)

    return fn.Loss(f"{loss.name}_vg", value_and_grad, loss.target_kind, kinks=loss.kinks), calls


def _problem() -> tuple[fn.MLP, Any, Any, Any]:
    rng = np.random.default_rng(4)
    spec = fn.MLP((3, 4, 2), "tanh")
    params = fn.init(spec, rng)
    x = rng.standard_normal((6, 3))
    y = rng.standard_normal((6, 2))
    return spec, params, x, y


@pytest.mark.parametrize("make", [prim.huber, prim.log_cosh])
def test_value_and_grad_alone_gives_the_same_changes_in_fewer_calls(make: Any) -> None:
    declared = make()
    spec, params, x, y = _problem()
    plain, calls = _counted(declared)
    fast, slow = NetworkLoss(spec, params, x, y, declared), NetworkLoss(spec, params, x, y, plain)
    assert not slow.batched_rows and fast.batched_rows
    index = np.arange(fast.n)
    steps = np.full(fast.n, 0.3)
    calls.clear()
    want, want_flags = fast.coordinates(index, steps)
    got, got_flags = slow.coordinates(index, steps)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(got_flags, want_flags)
    # One call per perturbation (at most, per chunk), not one per moved row: a bias of
    # the first layer moves all 6 rows.
    assert len(calls) <= fast.n and max(calls) == x.shape[0]
    rng = np.random.default_rng(0)
    sizes = [params[0]["W"].size, params[0]["b"].size, params[1]["b"].size]
    dirs = Directions((0, 1, 3), tuple(rng.standard_normal(n) for n in sizes))
    k, t = np.array([0, 1, 2, 0]), np.array([0.1, -0.2, 0.05, 1.5])
    calls.clear()
    got, got_flags = slow.directions(dirs, k, t)
    want, want_flags = fast.directions(dirs, k, t)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(got_flags, want_flags)
    assert calls == [x.shape[0]] * k.size  # one whole batch per point


def test_logits_moves_without_sample_loss_match() -> None:
    declared = prim.huber()
    plain, _ = _counted(declared)
    rng = np.random.default_rng(1)
    z, y = 2 * rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    fast, slow = LogitsLoss(declared, z, y), LogitsLoss(plain, z, y)
    index, steps = np.arange(fast.n), np.full(fast.n, 0.7)
    np.testing.assert_allclose(slow.coordinates(index, steps)[0],
                               fast.coordinates(index, steps)[0], rtol=1e-12, atol=1e-15)
    # A step of 0.7 carries some residuals across |r| = 1: flagged alike.
    flags = fast.coordinates(index, steps)[1]
    assert flags.any() and not flags.all()
    np.testing.assert_array_equal(slow.coordinates(index, steps)[1], flags)


def test_changes_sum_per_group() -> None:
    plain, calls = _counted(prim.huber())
    rng = np.random.default_rng(2)
    z0, t = rng.standard_normal((4, 2)), rng.standard_normal((4, 2))
    rows = OutputRows(plain, z0, t)
    moved = z0[[0, 1, 3, 1]] + 0.5
    b, groups = np.array([0, 1, 3, 1]), np.array([7, 2, 7, 7])
    calls.clear()
    out = rows.changes(moved, b, groups)
    assert sorted(calls) == [1, 3]  # group 2 has one row, group 7 three
    per_row = np.array([plain.value_and_grad(moved[i:i + 1], t[b[i]:b[i] + 1])[0]
                        for i in range(4)]) - rows.base[b]
    for group in (2, 7):
        assert np.isclose(out[groups == group].sum(), per_row[groups == group].sum(),
                          rtol=1e-13, atol=1e-15)
