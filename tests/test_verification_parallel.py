"""Tests for verification.engine.evaluators.parallel: the loss calls of a black-box check
run on joblib workers (loky processes, a Dask cluster) and the report is the serial one,
bit for bit.

joblib is a dev dependency, so the loky tests never skip; only the Dask test skips where
``distributed`` is absent. Every parallel test also proves that the calls left this
process (a loss that counts the calls made in the parent), so a silent fall-back to the
serial path would fail them.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import replace
from typing import Any

import joblib
import numpy as np
import pytest

from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from verification import check_gradients
from verification.engine.common.layout import Directions, tensor_layout
from verification.engine.evaluators.generic_loss import GenericLoss
from verification.engine.evaluators.parallel import (
    MIN_CHUNK,
    ParallelDependencyError,
    ParallelLoss,
    workers,
)
from verification.reporting.report import Report

RNG = np.random.default_rng(3)
X = RNG.normal(size=(4, 12))
Y = RNG.normal(size=(4, 3))
PARAMS = {"W1": RNG.normal(size=(12, 16)) * 0.3, "b1": RNG.normal(size=16) * 0.1,
          "W2": RNG.normal(size=(16, 3)) * 0.3}


def _loss(p: Any) -> float:
    h = np.tanh(X @ p["W1"] + p["b1"])
    return float(np.mean((h @ p["W2"] - Y) ** 2))


def _grad(p: Any, *, bug: bool = False) -> Any:
    h = np.tanh(X @ p["W1"] + p["b1"])
    r = 2 * (h @ p["W2"] - Y) / Y.size
    dz = (r @ p["W2"].T) * (1 - h**2)
    return {"W1": X.T @ dz, "b1": dz.sum(axis=0), "W2": h.T @ (r * (1.5 if bug else 1.0))}


class _Counted:
    """``_loss``, counting the calls made in this process (a worker counts in its own
    copy): a parallel check must leave most of its calls to the workers."""

    def __init__(self) -> None:
        self.parent = os.getpid()
        self.calls = 0

    def __call__(self, p: Any) -> float:
        if os.getpid() == self.parent:
            self.calls += 1
        return _loss(p)


def _rows(report: Report) -> list[Any]:
    return [replace(row, seconds=0.0) for row in report.rows]


@pytest.mark.parametrize("bug", [False, True])
def test_loky_workers_give_the_serial_report(bug: bool) -> None:
    here, spread_loss = _Counted(), _Counted()
    serial = check_gradients(here, lambda p: _grad(p, bug=bug), PARAMS)
    spread = check_gradients(spread_loss, lambda p: _grad(p, bug=bug), PARAMS, n_jobs=2)
    assert serial.passed is (not bug)
    assert _rows(spread) == _rows(serial)
    assert spread_loss.calls < here.calls / 4  # the rest ran on the workers


def test_the_active_parallel_config_is_used_when_n_jobs_is_none() -> None:
    """scikit-learn's convention: ``n_jobs=None`` is serial unless a joblib
    configuration says otherwise."""
    here, spread_loss = _Counted(), _Counted()
    assert workers(None) == 1
    assert check_gradients(here, _grad, PARAMS).passed
    with joblib.parallel_config(n_jobs=2):
        assert workers(None) == 2
        assert check_gradients(spread_loss, _grad, PARAMS).passed
    assert spread_loss.calls < here.calls / 4


def test_chunks_keep_the_groups_of_a_batched_loss() -> None:
    """A batched loss may round differently for other numbers of rows; the chunks are cut
    on its groups, so each call sees the rows it sees in the serial run."""

    def batched(thetas: Any) -> Any:
        size = thetas.shape[0]
        # The size of the call shows in the last bits, as a BLAS kernel's blocking could.
        return np.array([_loss(_unravel(t)) for t in thetas]) + 1e-13 * size

    flat, _unravel = _ravel()
    base = GenericLoss(_loss, PARAMS, batched_loss=batched)
    spread = ParallelLoss(base, n_jobs=2)
    assert base.points_per_call > 1
    index = np.arange(flat.size).repeat(3)
    t = np.tile([-1e-4, 1e-4, 2e-4], flat.size)
    got = spread.coordinates(index, t)
    want = base.coordinates(index, t)
    assert len(spread._bounds(index.size)) > 2  # the batch was split
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def _ravel() -> Any:
    from funcnn.core.pytree import ravel

    return ravel({k: np.asarray(v, dtype=np.float64) for k, v in PARAMS.items()})


def test_directions_are_spread_too() -> None:
    base = GenericLoss(_loss, PARAMS)
    counted = _Counted()
    spread = ParallelLoss(GenericLoss(counted, PARAMS), n_jobs=2)
    layout = tensor_layout(PARAMS)
    rng = np.random.default_rng(0)
    dirs = Directions(tuple(range(len(layout))),
                      tuple(rng.normal(size=info.size) for info in layout))
    count = 4 * MIN_CHUNK
    k = rng.integers(0, len(layout), size=count)
    t = rng.normal(size=count) * 1e-3
    got, want = spread.directions(dirs, k, t), base.directions(dirs, k, t)
    assert counted.calls == 1  # the loss at params; every point ran on a worker
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_a_loss_that_cannot_be_pickled_is_named() -> None:
    lock = threading.Lock()

    def loss(p: Any) -> float:
        with lock:
            return _loss(p)

    with pytest.raises(ArgumentTypeError, match=r"^loss_fn: must be picklable .*n_jobs"):
        check_gradients(loss, _grad, PARAMS, n_jobs=2)

    def pattern(p: Any) -> Any:
        with lock:
            return p["W1"] > 0

    with pytest.raises(ArgumentTypeError, match=r"^pattern_fn: must be picklable"):
        check_gradients(_loss, _grad, PARAMS, n_jobs=2, pattern_fn=pattern)


def test_bad_n_jobs_is_named() -> None:
    cases: list[tuple[Any, type[Exception]]] = [
        (0, InvalidArgumentError), (True, ArgumentTypeError), ("2", ArgumentTypeError),
        (2.0, ArgumentTypeError)]
    for bad, kind in cases:
        with pytest.raises(kind, match="^n_jobs: "):
            check_gradients(_loss, _grad, PARAMS, n_jobs=bad)
    with pytest.raises(InvalidArgumentError, match="^n_jobs: .*custom evaluator"):
        check_gradients(_loss, _grad, PARAMS, n_jobs=2,
                        evaluator=lambda p, kinks: GenericLoss(_loss, p))


def test_without_joblib_n_jobs_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "joblib", None)  # import joblib now raises
    with pytest.raises(ParallelDependencyError, match=r"n_jobs: .*funcnn\[parallel\]"):
        check_gradients(_loss, _grad, PARAMS, n_jobs=2)
    assert check_gradients(_loss, _grad, PARAMS).passed  # serial needs no joblib


def test_a_dask_cluster_gives_the_serial_report() -> None:
    """docs/verification.md's cluster recipe on a local cluster (skips without
    ``distributed``; CI does not install it)."""
    dist = pytest.importorskip("distributed")
    serial = check_gradients(_loss, _grad, PARAMS)
    with (
        dist.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                          dashboard_address=None) as cluster,
        dist.Client(cluster) as client,
        joblib.parallel_config(backend="dask"),
        dist.get_task_stream(client) as stream,
    ):
        spread = check_gradients(_loss, _grad, PARAMS)
    assert len(stream.data) >= 2  # the chunks ran as tasks on the cluster
    assert _rows(spread) == _rows(serial)
