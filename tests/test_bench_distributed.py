"""Sections G and Gfull of the benchmark suite (:mod:`benchmarks.distributed`).

No timing is asserted (timings are the suite's output): the problem must have the size
the docs state, and section G must run all three ways on a small network, compare
their reports and give the speed-ups as ratios of its own times.
"""

from __future__ import annotations

import importlib.util

import numpy as np

import funcnn as fn
from benchmarks import distributed


def test_the_problem_has_a_million_parameters_and_a_correct_gradient() -> None:
    loss_fn, grad_fn, params = distributed.problem()
    flat = fn.ravel(params)[0]
    assert flat.size == 1_068_810
    # One directional derivative against the gradient (a cheap sanity check).
    v = np.random.default_rng(0).normal(size=flat.size)
    unravel = fn.ravel(params)[1]
    h = 1e-6
    numeric = (loss_fn(unravel(flat + h * v)) - loss_fn(unravel(flat - h * v))) / (2 * h)
    analytic = float(fn.ravel(grad_fn(params))[0] @ v)
    assert abs(numeric - analytic) <= 1e-6 * max(1.0, abs(analytic))


def test_section_g_runs_every_way_and_reports_speedups() -> None:
    rows = distributed.run_distributed(reps=1, quick=True, sizes=(6, 5, 3))
    keys = {row.key: row for row in rows}
    ways = ["serial", "loky"]
    if importlib.util.find_spec("distributed") is not None:
        ways.append("dask")
    for way in ways:
        row = keys[f"G.{way}"]
        assert row.value is not None and row.value > 0 and row.unit == "s"
        assert f"reports equal to the serial one: {', '.join(ways)}" in row.note
        assert "nproc" in row.note
    ceiling = keys["G.ceiling"].value
    assert keys["G.ceiling"].unit == "ratio" and ceiling is not None and ceiling > 0
    serial = keys["G.serial"].value
    for way in ways[1:]:
        speedup, spread = keys[f"G.speedup.{way}"], keys[f"G.{way}"].value
        assert speedup.unit == "ratio" and serial is not None and spread is not None
        assert speedup.value == serial / spread


def test_gfull_is_left_out_of_quick_runs() -> None:
    (row,) = distributed.run_whole(quick=True)
    assert row.value is None and "--quick" in row.note
