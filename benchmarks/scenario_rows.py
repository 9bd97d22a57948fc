"""A training scenario's table rows: absolute times, the issue's target ratios, faults.

:func:`scenario_rows` turns what :func:`~benchmarks.scenarios.run_scenario` measured
(the repetitions in the scenario's unit, the page faults per step, the cases' losses
and notes) into :class:`~benchmarks.harness.Row` s. The ratios and their targets are
the tables below.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmarks.harness import Row, Target, median, ratio_row
from benchmarks.scenario_cases import Cases

if TYPE_CHECKING:
    from benchmarks.scenarios import Scenario

__all__ = ["BATCHED_RATIOS", "FAULT_LABELS", "PER_SAMPLE_RATIOS", "Measured", "scenario_rows"]

RatioSpec = tuple[str, str, str, str, float | None, str]
"""``(key suffix, label, numerator, denominator, "<=" bound or None, note if missing)``:
the last names the entry of the cases' notes explaining an absent side."""

PER_SAMPLE_RATIOS: tuple[RatioSpec, ...] = (
    ("funcnn/homework", "funcnn / homework numpy", "funcnn", "homework", 1.2, ""),
    ("funcnn/torch", "funcnn / PyTorch", "funcnn", "torch", 0.35, "torch"),
    ("numpy/homework", "numpy batched at batch 1 / homework", "numpy", "homework", None, ""),
)
BATCHED_RATIOS: tuple[RatioSpec, ...] = (
    ("funcnn/numpy", "funcnn / numpy reference", "funcnn", "numpy", 1.0, ""),
    ("funcnn/numpy_0.9", "funcnn / numpy reference (0.9)", "funcnn", "numpy", 0.9, ""),
    ("loop/numpy", "README loop / numpy reference", "loop", "numpy", 1.0, ""),
    ("loop/funcnn", "README loop / funcnn fit", "loop", "funcnn", 1.15, ""),
    ("funcnn/torch", "funcnn / PyTorch", "funcnn", "torch", 0.7, "torch"),
    ("funcnn/jax", "funcnn / JAX", "funcnn", "jax", 1.0, "jax"),
    ("funcnn/gemm", "funcnn / GEMM floor", "funcnn", "gemm", None, ""),
    ("numpy/gemm", "numpy reference / GEMM floor", "numpy", "gemm", None, ""),
    ("gemm_gather/gemm", "(GEMM floor + gather) / GEMM floor", "gemm_gather", "gemm", None, ""),
    ("funcnn/gemm_gather", "funcnn / (GEMM floor + gather)", "funcnn", "gemm_gather", 1.15, ""),
    ("funcnn_1t/funcnn", "funcnn at 1 BLAS thread / at 2", "funcnn_1t", "funcnn", None, "1t"),
    ("gemm/gemm_1t", "GEMM floor at 2 BLAS threads / at 1", "gemm", "gemm_1t", None, "1t"),
)
FAULT_LABELS = {
    "funcnn": "minor page faults per step, funcnn",
    "loop": "minor page faults per step, README loop",
    "numpy": "minor page faults per step, numpy reference",
    "homework": "minor page faults per step, homework numpy",
}


@dataclass(frozen=True)
class Measured:
    """What one scenario's run measured.

    ``t``: each case's repetitions in the scenario's unit; ``raw_funcnn``: funcnn's in
    seconds per epoch; ``convert``: seconds per epoch to the unit; ``faults``: minor
    page faults per step, by case.
    """

    built: Cases
    steps: int
    samples_per_epoch: int
    t: Mapping[str, list[float]]
    raw_funcnn: Sequence[float]
    convert: Callable[[list[float]], list[float]]
    faults: Mapping[str, float]


def _absolute(scenario: Scenario, m: Measured, name: str, label: str, note: str = "") -> Row:
    """Row ``name``: the median of its repetitions, or skipped with its note."""
    key, unit, notes, losses = scenario.key, scenario.unit, m.built.notes, m.built.losses
    samples = m.t.get(name)
    extra: dict[str, Any] = {"steps": m.steps, "samples_per_epoch": m.samples_per_epoch}
    if name in losses and np.isfinite(losses[name]):
        extra["last_epoch_mean_loss"] = losses[name]
    if samples is None:
        return Row(key, f"{key}.{name}", label, None, unit, note=notes.get(name, note))
    return Row(
        key,
        f"{key}.{name}",
        label,
        median(samples),
        unit,
        None,
        note or notes.get(name, ""),
        tuple(samples),
        extra,
    )


def _validation(scenario: Scenario, m: Measured) -> list[Row]:
    """fit's once-per-call validation: its wall time minus its own epoch time, when fit
    reported an epoch time for every repetition."""
    times = m.built.fit_epoch_times
    if len(times) != len(m.raw_funcnn):
        return []
    overhead = m.convert([max(a - times[r], 0.0) for r, a in enumerate(m.raw_funcnn)])
    key = scenario.key
    return [
        Row(
            key,
            f"{key}.funcnn_validation",
            "  of which fit's once-per-call validation",
            median(overhead),
            scenario.unit,
            None,
            "fit(epochs=1) wall time minus History.epoch_time",
            tuple(overhead),
        )
    ]


def _ratios(scenario: Scenario, m: Measured, specs: Sequence[RatioSpec]) -> list[Row]:
    key = scenario.key
    return [
        ratio_row(
            key,
            f"{key}.{suffix}",
            label,
            m.t.get(numerator),
            m.t.get(denominator),
            None if bound is None else Target("<=", bound),
            missing=m.built.notes.get(missing, "") if missing else "",
        )
        for suffix, label, numerator, denominator, bound, missing in specs
    ]


def _fault_rows(scenario: Scenario, m: Measured) -> list[Row]:
    key = scenario.key
    return [
        Row(key, f"{key}.faults.{name}", FAULT_LABELS[name], value, "faults/step")
        for name, value in m.faults.items()
    ]


def _batched_absolute(scenario: Scenario, m: Measured) -> list[Row]:
    one_thread = m.built.notes["1t"]
    products = 3 * (len(scenario.sizes) - 1) - 1
    rows = [
        _absolute(scenario, m, "loop", "README loop: value_and_grad + sgd_step, x[idx]"),
        _absolute(scenario, m, "numpy", "numpy reference (tutorial code)"),
        _absolute(
            scenario,
            m,
            "gemm",
            "GEMM-only floor (3L-1 products)",
            f"{products} matmuls per step into preallocated outputs",
        ),
        _absolute(
            scenario,
            m,
            "gemm_gather",
            "GEMM floor + each batch gathered (take)",
            "the floor's products, each step's input first gathered from the data set",
        ),
        _absolute(scenario, m, "torch", "PyTorch nn + optim"),
        _absolute(scenario, m, "jax", "JAX jitted step"),
        _absolute(scenario, m, "funcnn_1t", "funcnn, numpy's BLAS at 1 thread", one_thread),
        _absolute(scenario, m, "gemm_1t", "GEMM-only floor, BLAS at 1 thread", one_thread),
    ]
    jax_model = m.built.jax_model
    if jax_model is not None:
        rows.append(
            Row(
                scenario.key,
                f"{scenario.key}.jax_compile",
                "JAX compile time (excluded above)",
                jax_model.compile_seconds,
                "s",
                None,
                f"{len(jax_model.compiled)} batch shapes, ahead of time",
            )
        )
    return rows


def scenario_rows(scenario: Scenario, m: Measured) -> list[Row]:
    """The scenario's rows: funcnn, then the other implementations, the target ratios
    and the page faults."""
    rows = [_absolute(scenario, m, "funcnn", "funcnn training loop"), *_validation(scenario, m)]
    if scenario.per_sample:
        return [
            *rows,
            _absolute(scenario, m, "homework", "homework numpy (1-D, np.outer)"),
            _absolute(scenario, m, "numpy", "numpy batched reference at batch 1"),
            _absolute(scenario, m, "torch", "PyTorch nn + optim"),
            *_ratios(scenario, m, PER_SAMPLE_RATIOS),
            *_fault_rows(scenario, m),
        ]
    return [
        *rows,
        *_batched_absolute(scenario, m),
        *_ratios(scenario, m, BATCHED_RATIOS),
        *_fault_rows(scenario, m),
    ]
