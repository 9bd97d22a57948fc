"""The implementations a training scenario times, built as cases for the harness.

:func:`build_cases` creates every implementation of one scenario from the same
parameters (funcnn's ``fit``, the README loop, the numpy references, the GEMM floors,
the one-BLAS-thread variants, PyTorch and JAX when asked for) and wraps each epoch as a
case of :func:`~benchmarks.harness.interleaved_times`, in the order they take turns.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

import funcnn as fn
from benchmarks.funcnn_side import ExplicitLoop, FuncnnTrainer
from benchmarks.harness import progress
from benchmarks.references.gemm_floor import GemmFloor, epoch_batches
from benchmarks.references.jax_mlp import JaxMLP, load_jax
from benchmarks.references.numpy_mlp import NumpyMLP
from benchmarks.references.per_sample_numpy import PerSampleMLP
from benchmarks.references.torch_mlp import TorchMLP, load_torch

if TYPE_CHECKING:
    from benchmarks.scenarios import Scenario

__all__ = ["Cases", "build_cases"]

Case = Callable[[int], object]


@dataclass
class Cases:
    """One scenario's timed cases (by name, in turn order) and what they leave behind:
    each implementation's last mean loss, the notes of the rows and fit's own epoch
    times."""

    cases: dict[str, Case] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    losses: dict[str, float] = field(default_factory=dict)
    # By repetition index: a round redone because of other processes overwrites its entry.
    fit_epoch_times: dict[int, float] = field(default_factory=dict)
    jax_model: JaxMLP | None = None

    def record(self, name: str, train: Callable[[int], float]) -> None:
        """Add case ``name``: one epoch of ``train(seed)``, its loss kept in ``losses``."""
        losses = self.losses

        def case(seed: int) -> None:
            losses[name] = train(seed)

        self.cases[name] = case


def _layers(params: fn.Params) -> list[tuple[NDArray[Any], NDArray[Any]]]:
    return [(layer["W"], layer["b"]) for layer in params]


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


def _add_funcnn(built: Cases, trainer: FuncnnTrainer) -> None:
    """funcnn's ``fit``, one epoch per call, keeping fit's own epoch time per repetition."""
    built.notes["funcnn"] = trainer.source

    def funcnn_epoch(seed: int) -> None:
        built.losses["funcnn"] = trainer.train_epoch(seed)
        if trainer.last_epoch_time is not None and seed >= 0:
            built.fit_epoch_times[seed] = trainer.last_epoch_time

    built.cases["funcnn"] = funcnn_epoch


def _add_floors(
    built: Cases,
    scenario: Scenario,
    x: NDArray[Any],
    y: NDArray[Any],
    spec: fn.MLP,
    params: fn.Params,
) -> None:
    """The GEMM floors (with and without the gather) and, with threadpoolctl, funcnn and
    the floor at one BLAS thread."""
    floor = GemmFloor(scenario.sizes, scenario.batch_size, np.float32, np.random.default_rng(1))
    batches = epoch_batches(x.shape[0], scenario.batch_size)

    def floor_epoch(seed: int) -> float:
        floor.epoch(batches)
        return float("nan")

    built.record("gemm", floor_epoch)

    def gathered_floor_epoch(seed: int) -> float:
        floor.gathered_epoch(x, _rng(seed).permutation(x.shape[0]))
        return float("nan")

    built.record("gemm_gather", gathered_floor_epoch)
    one_thread, built.notes["1t"] = _one_blas_thread()
    if one_thread is None:
        return
    limit = one_thread
    single = FuncnnTrainer(spec, params, scenario.lr, x, y, scenario.batch_size)

    def funcnn_1t(seed: int) -> float:
        with limit():
            return single.train_epoch(seed)

    def floor_1t(seed: int) -> float:
        with limit():
            floor.epoch(batches)
        return float("nan")

    built.record("funcnn_1t", funcnn_1t)
    built.record("gemm_1t", floor_1t)


def _add_peers(
    built: Cases,
    scenario: Scenario,
    layers: list[tuple[NDArray[Any], NDArray[Any]]],
    x: NDArray[Any],
    y: NDArray[Any],
    *,
    peers: bool,
) -> None:
    """PyTorch and (batched scenarios only) JAX, or a note saying why not."""
    torch, torch_note = load_torch() if peers else (None, "skipped (--skip-peers)")
    built.notes["torch"] = torch_note
    if torch is not None:
        torch_model = TorchMLP(torch, layers, scenario.activation, scenario.lr)
        tx, ty = torch_model.tensors(x, y)
        built.record(
            "torch", lambda seed: torch_model.train_epoch(tx, ty, scenario.batch_size, seed)
        )
    if scenario.per_sample:
        return
    jax, jax_note = load_jax() if peers else (None, "skipped (--skip-peers)")
    built.notes["jax"] = jax_note
    if jax is not None:
        progress(f"{scenario.key}: compiling the JAX step")
        model = JaxMLP(jax, layers, scenario.activation, scenario.lr, x, y, scenario.batch_size)
        built.jax_model = model
        built.record("jax", lambda seed: model.train_epoch(_rng(seed)))


def build_cases(
    scenario: Scenario,
    x: NDArray[Any],
    y: NDArray[Any],
    spec: fn.MLP,
    params: fn.Params,
    *,
    peers: bool,
) -> Cases:
    """Every implementation of ``scenario`` on ``(x, y)``, starting from ``params``."""
    layers = _layers(params)
    built = Cases()
    _add_funcnn(built, FuncnnTrainer(spec, params, scenario.lr, x, y, scenario.batch_size))
    if not scenario.per_sample:
        explicit = ExplicitLoop(spec, params, scenario.lr, x, y, scenario.batch_size)
        built.record("loop", explicit.train_epoch)
    if scenario.per_sample:
        homework = PerSampleMLP(layers, scenario.activation, scenario.lr)
        built.record("homework", lambda seed: homework.train_epoch(x, y, _rng(seed)))
    batched = NumpyMLP(layers, scenario.activation, scenario.lr)
    built.record(
        "numpy",
        lambda seed: batched.train_epoch(x, y, scenario.batch_size, _rng(seed)),
    )
    if not scenario.per_sample:
        _add_floors(built, scenario, x, y, spec, params)
    _add_peers(built, scenario, layers, x, y, peers=peers)
    return built
