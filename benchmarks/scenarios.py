"""Scenarios A, B and C of issue 7: funcnn's training loop against its references.

- A: 784-128-10 ReLU, batch 128, one MNIST epoch (469 steps, shuffle and gather included)
- B: 784-500-250-100-10 tanh, batch 64, one epoch (938 steps)
- C: per-sample SGD (batch 1) on 784-32-32-10 sigmoid, 10,000 steps

All float32, plain SGD, softmax cross-entropy on integer labels. Every implementation
starts from the same parameters (``funcnn.init(..., "glorot_uniform")``, seed 0); their
epochs are timed in turns (:func:`~benchmarks.harness.interleaved_times`), and the
targets are ratios of medians from the same run. This module defines the scenarios and
runs them; :mod:`benchmarks.scenario_cases` builds the implementations and
:mod:`benchmarks.scenario_rows` turns the timings into rows.
"""

from __future__ import annotations

import cProfile
import io
import pstats
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

import funcnn as fn
from benchmarks.data import Dataset
from benchmarks.funcnn_side import FuncnnTrainer
from benchmarks.harness import Quiet, Row, interleaved_times, minor_faults, progress
from benchmarks.references.gemm_floor import epoch_batches
from benchmarks.scenario_cases import build_cases
from benchmarks.scenario_rows import Measured, scenario_rows

__all__ = ["SCENARIOS", "Scenario", "profile_funcnn", "run_scenario"]


@dataclass(frozen=True)
class Scenario:
    """One training comparison: model, batch size, data size and the issue's targets."""

    key: str
    title: str
    sizes: tuple[int, ...]
    activation: str
    batch_size: int
    lr: float
    n_samples: int | None  # None: the whole training set (one epoch)
    per_sample: bool

    @property
    def unit(self) -> str:
        return "us/step" if self.per_sample else "s/epoch"


SCENARIOS: dict[str, Scenario] = {
    "A": Scenario(
        "A", "784-128-10 relu, batch 128, one epoch", (784, 128, 10), "relu", 128, 0.1, None, False
    ),
    "B": Scenario(
        "B",
        "784-500-250-100-10 tanh, batch 64, one epoch",
        (784, 500, 250, 100, 10),
        "tanh",
        64,
        0.05,
        None,
        False,
    ),
    "C": Scenario(
        "C",
        "784-32-32-10 sigmoid, per-sample SGD, 10,000 steps",
        (784, 32, 32, 10),
        "sigmoid",
        1,
        0.05,
        10_000,
        True,
    ),
}


def _slice(data: Dataset, scenario: Scenario, quick: bool) -> tuple[NDArray[Any], NDArray[Any]]:
    n = data.x_train.shape[0] if scenario.n_samples is None else scenario.n_samples
    if quick:
        n = min(n, 128 if scenario.per_sample else 1024)
    n = min(n, data.x_train.shape[0])
    return data.x_train[:n], data.y_train[:n]


def _initial(scenario: Scenario) -> tuple[fn.MLP, fn.Params]:
    spec = fn.MLP(scenario.sizes, activation=scenario.activation)
    return spec, fn.init(spec, np.random.default_rng(0), "glorot_uniform", dtype=np.float32)


def _time_unit(scenario: Scenario, steps: int) -> Callable[[list[float]], list[float]]:
    """Seconds per epoch -> the scenario's unit (us per step for C)."""
    if scenario.per_sample:
        return lambda seconds: [s / steps * 1e6 for s in seconds]
    return lambda seconds: list(seconds)


def run_scenario(
    scenario: Scenario,
    data: Dataset,
    reps: int,
    *,
    peers: bool,
    quick: bool,
    quiet: Quiet | None = None,
) -> list[Row]:
    """Time every implementation of ``scenario``; the absolute rows and the target ratios."""
    x, y = _slice(data, scenario, quick)
    steps = len(epoch_batches(x.shape[0], scenario.batch_size))
    spec, params = _initial(scenario)
    built = build_cases(scenario, x, y, spec, params, peers=peers)
    cases = built.cases
    progress(
        f"{scenario.key}: {scenario.title}: {len(cases)} implementations x {reps} repetitions "
        f"({x.shape[0]} samples, {steps} steps each)"
    )
    raw = interleaved_times(cases, reps, quiet=quiet)
    convert = _time_unit(scenario, steps)
    t = {name: convert(seconds) for name, seconds in raw.items()}
    # One more untimed epoch each (a negative index, like a warm-up): the page faults
    # show whether an implementation's arrays come fresh from the system every step.
    faults: dict[str, float] = {
        name: minor_faults(partial(cases[name], -100)) / steps
        for name in ("funcnn", "loop", "numpy", "homework")
        if name in cases
    }
    measured = Measured(built, steps, int(x.shape[0]), t, raw["funcnn"], convert, faults)
    return scenario_rows(scenario, measured)


def profile_funcnn(scenario: Scenario, data: Dataset, quick: bool, top: int = 25) -> str:
    """cProfile of one funcnn epoch of ``scenario`` (after a warm-up), sorted by own time."""
    x, y = _slice(data, scenario, quick)
    spec, params = _initial(scenario)
    trainer = FuncnnTrainer(spec, params, scenario.lr, x, y, scenario.batch_size)
    trainer.train_epoch(0)
    profiler = cProfile.Profile()
    profiler.enable()
    trainer.train_epoch(1)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return f"--- cProfile, scenario {scenario.key} ({trainer.source}), one epoch\n{out.getvalue()}"
