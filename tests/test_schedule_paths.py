"""A learning-rate schedule that changes at every step, through every way of training:
``fit``, a loop of ``make_step``, a loop of ``optimizer.update`` (and ``sgd_step`` for
plain SGD), each against the update rules written out here from the optimizers'
documented equations with ``lr_t`` at ``t = number of updates already applied``.

Plain SGD, SGD with momentum and Adam each take a different path inside ``fit`` (plain
SGD is applied inside backprop, the others by the optimizer's kernel), so each is run.
A schedule read one step late (or early) halves (or doubles) every update here, which
moves the parameters by about 1e-2 after a few steps; the comparisons allow
:data:`RTOL` (float64) or :data:`RTOL32` (float32) of rounding, summation order and BLAS
kernels.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import funcnn as fn
from funcnn.typing import Array, Params

SPEC = fn.MLP((4, 6, 5, 3), ("tanh", "sigmoid"))
LOSS = "softmax_cross_entropy"
N, BATCH, EPOCHS = 12, 4, 2          # 3 steps per epoch, 6 in all
LR0, GAMMA = 0.8, 0.6                # lr_t = LR0 * GAMMA**t: a new rate at every step
MOMENTUM = 0.9
B1, B2, EPS = 0.9, 0.999, 1e-8

RTOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 2e-4}
"""Relative agreement per tensor (of its largest entry), by dtype. Measured on this
machine: below 1e-15 in float64, below 3e-6 in float32 (Adam); a schedule one step late
changes the parameters by 0.25 of their scale (:func:`test_the_schedule_matters_here`)."""


def lr_at(t: int) -> float:
    """The schedule's value before update ``t`` (0-based), written out."""
    return LR0 * GAMMA**t


def schedule() -> fn.Schedule:
    return fn.StepDecay(LR0, step_size=1, gamma=GAMMA)


OPTIMIZERS: dict[str, Callable[[], fn.Optimizer]] = {
    "sgd": lambda: fn.sgd(schedule()),
    "momentum": lambda: fn.sgd(schedule(), momentum=MOMENTUM),
    "adam": lambda: fn.adam(schedule(), b1=B1, b2=B2, eps=EPS),
}


def _problem(dtype: Any) -> tuple[Params, Array, Array]:
    rng = np.random.default_rng(11)
    params = fn.init(SPEC, rng, dtype=dtype)
    x = rng.normal(size=(N, SPEC.n_in)).astype(dtype)
    y = rng.integers(0, SPEC.n_out, size=N)
    return params, x, y


def _batches(x: Array, y: Array) -> list[tuple[Array, Array]]:
    """The batches of ``fit(..., shuffle=False)``, epoch after epoch."""
    one = [(x[i:i + BATCH], y[i:i + BATCH]) for i in range(0, N, BATCH)]
    return one * EPOCHS


def _reference(kind: str, params: Params, x: Array, y: Array) -> Params:
    """The documented update rules, in float64, with gradients from value_and_grad."""
    p: Params = [{k: v.astype(np.float64) for k, v in layer.items()} for layer in params]
    slots: dict[str, list[dict[str, Array]]] = {
        name: [{k: np.zeros_like(v) for k, v in layer.items()} for layer in p]
        for name in ("v", "m")
    }
    for t, (xb, yb) in enumerate(_batches(x.astype(np.float64), y)):
        grads = fn.value_and_grad(SPEC, p, xb, yb, LOSS)[1]
        lr, k = lr_at(t), t + 1
        for layer, g_layer, v_layer, m_layer in zip(p, grads, slots["v"], slots["m"],
                                                    strict=True):
            for key, g in g_layer.items():
                if kind == "sgd":
                    d = g
                elif kind == "momentum":
                    v_layer[key] = MOMENTUM * v_layer[key] + g
                    d = v_layer[key]
                else:
                    m_layer[key] = B1 * m_layer[key] + (1 - B1) * g
                    v_layer[key] = B2 * v_layer[key] + (1 - B2) * g * g
                    d = (m_layer[key] / (1 - B1**k)) / (np.sqrt(v_layer[key] / (1 - B2**k))
                                                        + EPS)
                layer[key] = layer[key] - lr * d
    return p


def _by_fit(kind: str, params: Params, x: Array, y: Array) -> tuple[Params, fn.OptState]:
    p, state, _ = fn.fit(SPEC, copy.deepcopy(params), OPTIMIZERS[kind](), x, y,
                         epochs=EPOCHS, batch_size=BATCH, rng=None, shuffle=False, loss=LOSS)
    return p, state


def _by_make_step(kind: str, params: Params, x: Array, y: Array) -> tuple[Params, fn.OptState]:
    optimizer = OPTIMIZERS[kind]()
    step = fn.make_step(SPEC, optimizer, LOSS)
    p = copy.deepcopy(params)
    state = optimizer.init(p)
    for xb, yb in _batches(x, y):
        p, state, _ = step(p, state, xb, yb)
    return p, state


def _by_update(kind: str, params: Params, x: Array, y: Array) -> tuple[Params, fn.OptState]:
    optimizer = OPTIMIZERS[kind]()
    p, state = params, optimizer.init(params)
    for xb, yb in _batches(x, y):
        grads = fn.value_and_grad(SPEC, p, xb, yb, LOSS)[1]
        p, state = optimizer.update(grads, state, p)
    return p, state


PATHS = {"fit": _by_fit, "make_step": _by_make_step, "update": _by_update}


def _assert_close(got: Params, want: Params, dtype: np.dtype[Any], what: str) -> None:
    for index, (g_layer, w_layer) in enumerate(zip(got, want, strict=True)):
        for key in ("W", "b"):
            g, w = g_layer[key], w_layer[key]
            assert g.dtype == dtype, (what, index, key, g.dtype)
            scale = float(np.max(np.abs(w)))
            np.testing.assert_allclose(g, w, rtol=0, atol=RTOL[dtype] * scale,
                                       err_msg=f"{what}: params[{index}][{key!r}]")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
@pytest.mark.parametrize("path", sorted(PATHS))
def test_a_schedule_gives_the_documented_updates_on_every_path(
    path: str, kind: str, dtype: Any
) -> None:
    params, x, y = _problem(dtype)
    got, state = PATHS[path](kind, params, x, y)
    assert int(state["count"]) == EPOCHS * (N // BATCH)
    _assert_close(got, _reference(kind, params, x, y), np.dtype(dtype), f"{path}/{kind}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sgd_step_with_the_schedules_values_is_the_same_loop(dtype: Any) -> None:
    params, x, y = _problem(dtype)
    p = params
    for t, (xb, yb) in enumerate(_batches(x, y)):
        p = fn.sgd_step(p, fn.value_and_grad(SPEC, p, xb, yb, LOSS)[1], schedule()(t))
    _assert_close(p, _reference("sgd", params, x, y), np.dtype(dtype), "sgd_step")


def test_the_schedule_matters_here() -> None:
    """The setting is sensitive: the same runs with the schedule one step late differ
    from the reference by far more than the tolerance (what the tests above rely on)."""
    params, x, y = _problem(np.float64)
    want = _reference("sgd", params, x, y)
    late = params
    for t, (xb, yb) in enumerate(_batches(x, y)):
        late = fn.sgd_step(late, fn.value_and_grad(SPEC, late, xb, yb, LOSS)[1], lr_at(t + 1))
    worst = max(float(np.max(np.abs(a[k] - b[k])) / np.max(np.abs(b[k])))
                for a, b in zip(late, want, strict=True) for k in ("W", "b"))
    assert worst > 50 * RTOL[np.dtype(np.float32)], worst
