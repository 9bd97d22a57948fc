"""Scenarios A, B and C of issue 7: funcnn's training loop against its references.

- A: 784-128-10 ReLU, batch 128, one MNIST epoch (469 steps, shuffle and gather included)
- B: 784-500-250-100-10 tanh, batch 64, one epoch (938 steps)
- C: per-sample SGD (batch 1) on 784-32-32-10 sigmoid, 10,000 steps

All float32, plain SGD, softmax cross-entropy on integer labels. Every implementation
starts from the same parameters (``funcnn.init(..., "glorot_uniform")``, seed 0); their
epochs are timed in turns (:func:`~benchmarks.harness.interleaved_times`), and the
targets are ratios of medians from the same run.
"""

from __future__ import annotations

import cProfile
import importlib
import io
import pstats
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import NDArray

import funcnn as fn
from benchmarks.data import Dataset
from benchmarks.funcnn_side import ExplicitLoop, FuncnnTrainer
from benchmarks.harness import (
    Quiet,
    Row,
    Target,
    interleaved_times,
    median,
    minor_faults,
    progress,
    ratio_row,
)
from benchmarks.references.gemm_floor import GemmFloor, epoch_batches
from benchmarks.references.jax_mlp import JaxMLP, load_jax
from benchmarks.references.numpy_mlp import NumpyMLP
from benchmarks.references.per_sample_numpy import PerSampleMLP
from benchmarks.references.torch_mlp import TorchMLP, load_torch

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


def _layers(params: fn.Params) -> list[tuple[NDArray[Any], NDArray[Any]]]:
    return [(layer["W"], layer["b"]) for layer in params]


def _slice(data: Dataset, scenario: Scenario, quick: bool) -> tuple[NDArray[Any], NDArray[Any]]:
    n = data.x_train.shape[0] if scenario.n_samples is None else scenario.n_samples
    if quick:
        n = min(n, 128 if scenario.per_sample else 1024)
    n = min(n, data.x_train.shape[0])
    return data.x_train[:n], data.y_train[:n]


def _initial(scenario: Scenario) -> tuple[fn.MLP, fn.Params]:
    spec = fn.MLP(scenario.sizes, activation=scenario.activation)
    return spec, fn.init(spec, np.random.default_rng(0), "glorot_uniform", dtype=np.float32)


def _rng(seed: int) -> np.random.Generator:
    """A generator for repetition ``seed`` (warm-ups pass negative indices)."""
    return np.random.default_rng(seed & 0x7FFFFFFF)


def _one_blas_thread() -> tuple[Callable[[], AbstractContextManager[object]] | None, str]:
    """A context manager factory limiting the loaded BLAS libraries to one thread while
    it is active (threadpoolctl), and a note; ``(None, why not)`` without threadpoolctl.

    The other cases run with the BLAS threads as configured (2 on issue 7's machine);
    these rows show what the second thread buys in a training loop, where it has to be
    woken between small products, against the back-to-back products of the floor.
    """
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError as exc:
        return None, f"threadpoolctl absent ({exc})"
    controller = threadpoolctl.ThreadpoolController()

    def limit() -> AbstractContextManager[object]:
        manager: AbstractContextManager[object] = controller.limit(limits=1, user_api="blas")
        return manager

    return limit, "threadpoolctl: limits=1, user_api='blas', only around this case"


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
    layers = _layers(params)
    key, unit = scenario.key, scenario.unit
    cases: dict[str, Callable[[int], object]] = {}
    notes: dict[str, str] = {}
    losses: dict[str, float] = {}

    def record(name: str, train: Callable[[int], float]) -> None:
        def case(seed: int) -> None:
            losses[name] = train(seed)

        cases[name] = case

    trainer = FuncnnTrainer(spec, params, scenario.lr, x, y, scenario.batch_size)
    notes["funcnn"] = trainer.source
    # By repetition index: a round redone because of other processes overwrites its entry.
    fit_epoch_times: dict[int, float] = {}

    def funcnn_epoch(seed: int) -> None:
        losses["funcnn"] = trainer.train_epoch(seed)
        if trainer.last_epoch_time is not None and seed >= 0:
            fit_epoch_times[seed] = trainer.last_epoch_time

    cases["funcnn"] = funcnn_epoch
    if not scenario.per_sample:
        explicit = ExplicitLoop(spec, params, scenario.lr, x, y, scenario.batch_size)
        record("loop", explicit.train_epoch)

    if scenario.per_sample:
        homework = PerSampleMLP(layers, scenario.activation, scenario.lr)
        record("homework", lambda seed: homework.train_epoch(x, y, _rng(seed)))
    batched = NumpyMLP(layers, scenario.activation, scenario.lr)
    record(
        "numpy",
        lambda seed: batched.train_epoch(x, y, scenario.batch_size, _rng(seed)),
    )
    if not scenario.per_sample:
        floor = GemmFloor(scenario.sizes, scenario.batch_size, np.float32, np.random.default_rng(1))
        batches = epoch_batches(x.shape[0], scenario.batch_size)

        def floor_epoch(seed: int) -> float:
            floor.epoch(batches)
            return float("nan")

        record("gemm", floor_epoch)

        def gathered_floor_epoch(seed: int) -> float:
            floor.gathered_epoch(x, _rng(seed).permutation(x.shape[0]))
            return float("nan")

        record("gemm_gather", gathered_floor_epoch)
        one_thread, notes["1t"] = _one_blas_thread()
        if one_thread is not None:
            limit = one_thread
            single = FuncnnTrainer(spec, params, scenario.lr, x, y, scenario.batch_size)

            def funcnn_1t(seed: int) -> float:
                with limit():
                    return single.train_epoch(seed)

            def floor_1t(seed: int) -> float:
                with limit():
                    floor.epoch(batches)
                return float("nan")

            record("funcnn_1t", funcnn_1t)
            record("gemm_1t", floor_1t)

    torch, torch_note = load_torch() if peers else (None, "skipped (--skip-peers)")
    notes["torch"] = torch_note
    if torch is not None:
        torch_model = TorchMLP(torch, layers, scenario.activation, scenario.lr)
        tx, ty = torch_model.tensors(x, y)
        record("torch", lambda seed: torch_model.train_epoch(tx, ty, scenario.batch_size, seed))
    jax_model: JaxMLP | None = None
    if not scenario.per_sample:
        jax, jax_note = load_jax() if peers else (None, "skipped (--skip-peers)")
        notes["jax"] = jax_note
        if jax is not None:
            progress(f"{key}: compiling the JAX step")
            jax_model = JaxMLP(
                jax, layers, scenario.activation, scenario.lr, x, y, scenario.batch_size
            )
            model = jax_model
            record("jax", lambda seed: model.train_epoch(_rng(seed)))

    progress(
        f"{key}: {scenario.title}: {len(cases)} implementations x {reps} repetitions "
        f"({x.shape[0]} samples, {steps} steps each)"
    )
    raw = interleaved_times(cases, reps, quiet=quiet)
    convert = _time_unit(scenario, steps)
    t = {name: convert(seconds) for name, seconds in raw.items()}
    # One more untimed epoch each (a negative index, like a warm-up): the page faults
    # show whether an implementation's arrays come fresh from the system every step.
    faults = {
        name: minor_faults(partial(cases[name], -100)) / steps
        for name in ("funcnn", "loop", "numpy", "homework")
        if name in cases
    }
    fault_labels = {
        "funcnn": "minor page faults per step, funcnn",
        "loop": "minor page faults per step, README loop",
        "numpy": "minor page faults per step, numpy reference",
        "homework": "minor page faults per step, homework numpy",
    }
    fault_rows = [
        Row(key, f"{key}.faults.{name}", fault_labels[name], value, "faults/step")
        for name, value in faults.items()
    ]

    def absolute(name: str, label: str, note: str = "") -> Row:
        samples = t.get(name)
        extra: dict[str, Any] = {"steps": steps, "samples_per_epoch": int(x.shape[0])}
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

    rows = [absolute("funcnn", "funcnn training loop")]
    if len(fit_epoch_times) == len(raw["funcnn"]):
        overhead = [max(a - fit_epoch_times[r], 0.0) for r, a in enumerate(raw["funcnn"])]
        rows.append(
            Row(
                key,
                f"{key}.funcnn_validation",
                "  of which fit's once-per-call validation",
                median(convert(overhead)),
                unit,
                None,
                "fit(epochs=1) wall time minus History.epoch_time",
                tuple(convert(overhead)),
            )
        )
    if scenario.per_sample:
        rows += [
            absolute("homework", "homework numpy (1-D, np.outer)"),
            absolute("numpy", "numpy batched reference at batch 1"),
            absolute("torch", "PyTorch nn + optim"),
            ratio_row(
                key,
                f"{key}.funcnn/homework",
                "funcnn / homework numpy",
                t["funcnn"],
                t["homework"],
                Target("<=", 1.2),
            ),
            ratio_row(
                key,
                f"{key}.funcnn/torch",
                "funcnn / PyTorch",
                t["funcnn"],
                t.get("torch"),
                Target("<=", 0.35),
                missing=notes["torch"],
            ),
            ratio_row(
                key,
                f"{key}.numpy/homework",
                "numpy batched at batch 1 / homework",
                t["numpy"],
                t["homework"],
            ),
            *fault_rows,
        ]
        return rows
    rows += [
        absolute("loop", "README loop: value_and_grad + sgd_step, x[idx]"),
        absolute("numpy", "numpy reference (tutorial code)"),
        absolute(
            "gemm",
            "GEMM-only floor (3L-1 products)",
            f"{3 * (len(scenario.sizes) - 1) - 1} matmuls per step into preallocated outputs",
        ),
        absolute(
            "gemm_gather",
            "GEMM floor + each batch gathered (take)",
            "the floor's products, each step's input first gathered from the data set",
        ),
        absolute("torch", "PyTorch nn + optim"),
        absolute("jax", "JAX jitted step"),
        absolute("funcnn_1t", "funcnn, numpy's BLAS at 1 thread", notes["1t"]),
        absolute("gemm_1t", "GEMM-only floor, BLAS at 1 thread", notes["1t"]),
    ]
    if jax_model is not None:
        rows.append(
            Row(
                key,
                f"{key}.jax_compile",
                "JAX compile time (excluded above)",
                jax_model.compile_seconds,
                "s",
                None,
                f"{len(jax_model.compiled)} batch shapes, ahead of time",
            )
        )
    rows += [
        ratio_row(
            key,
            f"{key}.funcnn/numpy",
            "funcnn / numpy reference",
            t["funcnn"],
            t["numpy"],
            Target("<=", 1.0),
        ),
        ratio_row(
            key,
            f"{key}.funcnn/numpy_0.9",
            "funcnn / numpy reference (0.9)",
            t["funcnn"],
            t["numpy"],
            Target("<=", 0.9),
        ),
        ratio_row(
            key, f"{key}.loop/numpy", "README loop / numpy reference", t["loop"], t["numpy"],
            Target("<=", 1.0),
        ),
        ratio_row(
            key, f"{key}.loop/funcnn", "README loop / funcnn fit", t["loop"], t["funcnn"],
            Target("<=", 1.15),
        ),
        ratio_row(
            key,
            f"{key}.funcnn/torch",
            "funcnn / PyTorch",
            t["funcnn"],
            t.get("torch"),
            Target("<=", 0.7),
            missing=notes["torch"],
        ),
        ratio_row(
            key,
            f"{key}.funcnn/jax",
            "funcnn / JAX",
            t["funcnn"],
            t.get("jax"),
            Target("<=", 1.0),
            missing=notes.get("jax", ""),
        ),
        ratio_row(key, f"{key}.funcnn/gemm", "funcnn / GEMM floor", t["funcnn"], t["gemm"]),
        ratio_row(key, f"{key}.numpy/gemm", "numpy reference / GEMM floor", t["numpy"], t["gemm"]),
        ratio_row(
            key,
            f"{key}.gemm_gather/gemm",
            "(GEMM floor + gather) / GEMM floor",
            t["gemm_gather"],
            t["gemm"],
        ),
        ratio_row(
            key,
            f"{key}.funcnn/gemm_gather",
            "funcnn / (GEMM floor + gather)",
            t["funcnn"],
            t["gemm_gather"],
            Target("<=", 1.15),
        ),
        ratio_row(
            key,
            f"{key}.funcnn_1t/funcnn",
            "funcnn at 1 BLAS thread / at 2",
            t.get("funcnn_1t"),
            t["funcnn"],
            missing=notes["1t"],
        ),
        ratio_row(
            key,
            f"{key}.gemm/gemm_1t",
            "GEMM floor at 2 BLAS threads / at 1",
            t["gemm"],
            t.get("gemm_1t"),
            missing=notes["1t"],
        ),
        *fault_rows,
    ]
    return rows


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
