"""Sections G and Gfull: black-box full mode on a 1M-parameter network, spread out.

The problem: a 784-1024-256-10 tanh network (1,068,810 parameters, float64,
``inverse_max_fan_normal`` init, seed 0) on one random sample with a one-hot target,
given to :func:`verification.check_gradients` as a black box (``funcnn.loss`` and
``funcnn.value_and_grad`` as plain functions): one ``loss_fn`` call per perturbed point,
about 0.6 ms each here.

- **G** (``--only G``): the same check three ways, taking turns, each the median of
  ``--reps``: serial; ``n_jobs=2`` on joblib's default backend (loky processes); and
  ``joblib.parallel_config(backend="dask")`` on a ``distributed.LocalCluster`` of 2
  worker processes (one thread each). The full mode of all 1,068,810 coordinates is about
  3.2 million calls (half an hour serially here), so G checks a fixed random subset:
  ``SUBSET`` coordinates of each tensor, all of a smaller one (seed 0, the same for all
  three; ``mode="subset"`` runs full mode's code on them). Rows: the three times,
  the speed-ups serial/loky and serial/dask, the ceiling (how much faster two processes
  make plain ``loss_fn`` calls than one, both busy at once: at one sample per call the
  forward pass streams 8.5 MB of weights, and two cores share the memory bandwidth),
  the size of what is sent per batch, and the check that the three reports are equal
  (every field but the timings, noted on the rows); the section raises if not.
- **Gfull** (``--only Gfull``, not in ``--quick``): the whole full mode, once, with
  ``n_jobs=-1`` (every core) on loky: its time, verdict and the number of coordinates.

The workers are this process's children, which the suite's foreign-load meter counts as
foreign; the rows note the load average instead. Dask rows are skipped when
``distributed`` is not installed, and everything when joblib is not.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

import funcnn as fn
from benchmarks.harness import Row, interleaved_times, median, progress, ratio_row
from verification.engine.common.threads import single_threaded_blas
from verification.engine.evaluators.generic_loss import GenericLoss
from verification.engine.evaluators.parallel import ParallelLoss
from verification.engine.gradients import check_gradients
from verification.reporting.report import Report

__all__ = ["SIZES", "SUBSET", "problem", "run_distributed", "run_whole"]

SIZES = (784, 1024, 256, 10)
SUBSET = 4096
"""Coordinates per tensor in section G (all of a smaller tensor): 12,042 in all."""

CEILING_CALLS = 2000
"""Loss calls per process when measuring how the loss itself scales to 2 processes."""


def problem(
    seed: int = 0, sizes: tuple[int, ...] = SIZES
) -> tuple[Callable[[Any], float], Callable[[Any], Any], Any]:
    """``(loss_fn, grad_fn, params)`` of the black box (1M parameters by default)."""
    rng = np.random.default_rng(seed)
    spec = fn.MLP(sizes, "tanh")
    params = fn.init(spec, rng, "inverse_max_fan_normal", dtype=np.float64)
    x = rng.normal(size=(1, sizes[0]))
    y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], size=1)]

    def loss_fn(p: Any) -> float:
        return float(fn.loss(spec, p, x, y))

    def grad_fn(p: Any) -> Any:
        return fn.value_and_grad(spec, p, x, y)[1]

    return loss_fn, grad_fn, params


def _same(a: Report, b: Report) -> bool:
    """Equal reports, timings aside."""
    return [replace(r, seconds=0.0) for r in a.rows] == [replace(r, seconds=0.0) for r in b.rows]


def _calls(loss_fn: Callable[[Any], float], params: Any, count: int) -> float:
    """Seconds for ``count`` calls of ``loss_fn(params)``, BLAS on one thread."""
    with single_threaded_blas():
        start = time.perf_counter()
        for _ in range(count):
            loss_fn(params)
        return time.perf_counter() - start


def _ceiling(loss_fn: Callable[[Any], float], params: Any, reps: int) -> Row:
    """How much faster 2 processes make loss calls than 1 (both busy at once): the most
    any engine can gain on this machine, memory bandwidth and other load included."""
    import joblib

    one, two = [], []
    run = joblib.delayed(_calls)
    for _ in range(reps):
        one.append(_calls(loss_fn, params, CEILING_CALLS) / CEILING_CALLS)
        both = joblib.Parallel(n_jobs=2)(run(loss_fn, params, CEILING_CALLS) for _ in range(2))
        two.append(max(both) / (2 * CEILING_CALLS))
    return ratio_row("G", "G.ceiling", "ceiling: loss calls/s, 2 processes / 1", one, two,
                     note=f"{CEILING_CALLS} calls per process per repetition, loky")


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"nproc {os.cpu_count()}, load average {one:.2f} (1 min) {five:.2f} (5 min)"


def run_distributed(reps: int, quick: bool, sizes: tuple[int, ...] = SIZES) -> list[Row]:
    """Section G: serial, loky and Dask times and speed-ups on the fixed subset (of the
    network of layer ``sizes``)."""
    try:
        import joblib
    except ImportError:
        return [Row("G", "G.serial", "black-box subset, serial", None, "s",
                    note="skipped: joblib is not installed (pip install 'funcnn[parallel]')")]
    loss_fn, grad_fn, params = problem(sizes=sizes)
    subset = 256 if quick else SUBSET

    def check(**kwargs: Any) -> Report:
        return check_gradients(loss_fn, grad_fn, params, mode="subset", subset=subset,
                               seed=0, **kwargs)

    cases: dict[str, Callable[[int], object]] = {
        "serial": lambda _: check(),
        "loky": lambda _: check(n_jobs=2),
    }
    reports = {"serial": check(), "loky": check(n_jobs=2)}
    cluster: Any = None
    try:
        # Any: distributed's constructors are untyped.
        distributed: Any = importlib.import_module("distributed")
        progress("G: starting a LocalCluster of 2 worker processes")
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
        client = distributed.Client(cluster)

        def on_dask(_: int) -> Report:
            with joblib.parallel_config(backend="dask"):
                return check()

        cases["dask"] = on_dask
        reports["dask"] = on_dask(0)
    except ImportError:
        client = None
    try:
        if not all(_same(reports["serial"], r) for r in reports.values()):
            raise AssertionError("G: the parallel reports differ from the serial one")
        progress(f"G: {len(cases)} ways, {reps} turns each ({_load()})")
        times = interleaved_times(cases, reps, warmup=0)
    finally:
        if client is not None:
            client.close()
            cluster.close()
    n = sum(r.n_checked for r in reports["serial"].rows)
    total = fn.ravel(params)[0].size
    note = f"{n:,} coordinates of {total:,}, passed={reports['serial'].passed}; {_load()}"
    note += f"; reports equal to the serial one: {', '.join(reports)}"
    rows = [Row("G", f"G.{name}", f"black-box subset, {name}", median(t), "s", note=note,
                samples=tuple(t)) for name, t in times.items()]
    rows.append(_ceiling(loss_fn, params, reps))
    shipped = ParallelLoss(GenericLoss(loss_fn, params), 2).shipped_bytes / 1e6
    rows.append(Row("G", "G.shipped", "evaluator sent per batch of points (pickled)", shipped,
                    "MB", note="params as float64 plus loss_fn and what it closes over"))
    for name in ("loky", "dask"):
        rows.append(ratio_row("G", f"G.speedup.{name}", f"speed-up, serial / {name} (2 workers)",
                              times["serial"], times.get(name),
                              missing=f"skipped: {name} not available"))
    return rows


def run_whole(quick: bool = False) -> list[Row]:
    """Section Gfull: the whole 1M-parameter full mode, once, on every core (loky)."""
    if quick:
        return [Row("Gfull", "Gfull.loky", "black-box full mode, 1M parameters, n_jobs=-1",
                    None, "s", note="skipped: not in --quick (about 20 minutes on 2 cores)")]
    loss_fn, grad_fn, params = problem()
    progress(f"Gfull: full mode over 1,068,810 parameters, n_jobs=-1 ({_load()})")
    start = time.perf_counter()
    report = check_gradients(loss_fn, grad_fn, params, mode="full", n_jobs=-1)
    seconds = time.perf_counter() - start
    n = sum(r.n_checked for r in report.rows)
    failed = sum(r.n_failed for r in report.rows)
    return [Row("Gfull", "Gfull.loky", "black-box full mode, 1M parameters, n_jobs=-1",
                seconds, "s", note=f"{n:,} coordinates, passed={report.passed}, {failed} failed; "
                f"{_load()} at the end")]
