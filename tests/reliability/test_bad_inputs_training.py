"""Catalogue of bad inputs, training side: optimizers, schedules, fit, evaluate, History,
checkpoints.

Same row format as ``test_bad_inputs_core`` (see ``_catalogue``). Crafted checkpoint
files (valid seal, hostile content) are here too; corrupted ones are in
``test_crash_safety``.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import funcnn as fn
from funcnn.training.chain import chain, check_optimizer
from funcnn.training.checkpoint import Checkpoint, _seal, load_checkpoint, save_checkpoint
from funcnn.training.loop import History, evaluate, fit
from funcnn.training.optimizers import (
    OPTIMIZERS,
    SGD,
    Adam,
    adagrad,
    adam,
    adamw,
    make_recipe,
    optimizer_from_config,
    register_optimizer,
    rmsprop,
    sgd,
)
from funcnn.training.schedules import Constant, Cosine, StepDecay, as_schedule, schedule_from_config
from funcnn.training.transforms import (
    add_decayed_weights,
    clip_by_global_norm,
    scale_by_adam,
    scale_by_learning_rate,
    scale_by_rms,
    scale_by_rss,
    trace,
    transform_from_config,
)
from tests.reliability._catalogue import Case, check, rows, thunk, wrong
from tests.strategies import unknown_name

UNKNOWN_ACTIVATION = unknown_name(fn.ACTIVATIONS)

IAE = fn.InvalidArgumentError
ATE = fn.ArgumentTypeError
DFE = fn.DataFormatError
FINITE = "expected finite values"

SPEC = fn.MLP((4, 5, 3), "relu")
P = fn.init(SPEC, np.random.default_rng(0))
P32 = fn.init(SPEC, np.random.default_rng(0), dtype=np.float32)
X = np.random.default_rng(1).normal(size=(12, 4))
Y = np.arange(12) % 3
T = np.eye(3)[Y]
G = fn.value_and_grad(SPEC, P, X, Y)[1]


def _with(tree: list[Any], index: int, key: str, value: Any) -> list[Any]:
    out: list[Any] = [dict(layer) for layer in tree]
    out[index][key] = value
    return out


def _circular() -> dict[str, Any]:
    loop: dict[str, Any] = {}
    loop["me"] = loop
    return loop


def _nan_at(a: np.ndarray, value: float = np.nan) -> np.ndarray:
    out = a.copy()
    out.flat[out.size // 2] = value
    return out


# --------------------------------------------------------------------------- optimizers


def _optimizer_cases() -> Iterator[Case]:
    positive = r"expected a finite number > 0"
    number = r"expected a positive number"
    for lr in (0, -1e-3, float("nan"), float("inf")):
        yield Case(f"sgd/lr-{lr}", thunk(sgd, lr), IAE, "lr", positive)
        yield Case(f"adam/lr-{lr}", thunk(adam, lr), IAE, "lr", positive)
    bad_lrs: list[Any] = ["0.1", True, None, [0.1]]
    for lr in bad_lrs:
        yield Case(f"sgd/lr-{lr!r}", thunk(sgd, lr), ATE, "lr", number)
    for mu in (1, 1.5, -0.1, float("nan")):
        yield Case(
            f"sgd/momentum-{mu}",
            thunk(sgd, 0.1, momentum=mu),
            IAE,
            "momentum",
            r"expected a number in \[0, 1\)",
        )
    yield Case(
        "sgd/momentum-str",
        lambda: sgd(0.1, momentum=wrong("0.9")),
        ATE,
        "momentum",
        r"expected a number in \[0, 1\)",
    )
    yield Case(
        "sgd/nesterov-without-momentum",
        lambda: sgd(0.1, nesterov=True),
        IAE,
        "nesterov",
        r"needs momentum > 0",
    )
    yield Case(
        "sgd/nesterov-int",
        lambda: sgd(0.1, momentum=0.9, nesterov=wrong(1)),
        ATE,
        "nesterov",
        r"expected a bool",
    )
    for wd in (-1e-4, float("nan"), float("inf")):
        yield Case(
            f"sgd/weight_decay-{wd}",
            thunk(sgd, 0.1, weight_decay=wd),
            IAE,
            "weight_decay",
            r"expected a finite number >= 0",
        )
        yield Case(
            f"adam/weight_decay-{wd}",
            thunk(adam, weight_decay=wd),
            IAE,
            "weight_decay",
            r"expected a finite number >= 0",
        )
    yield Case(
        "adam/weight_decay-str",
        lambda: adam(weight_decay=wrong("0")),
        ATE,
        "weight_decay",
        r"expected a finite number >= 0",
    )
    for name in ("b1", "b2"):
        for value in (1.0, -0.5, float("nan")):
            yield Case(
                f"adam/{name}-{value}",
                thunk(adam, **{name: value}),
                IAE,
                name,
                r"expected a number in \[0, 1\)",
            )
    for eps in (0.0, -1e-8, float("nan")):
        yield Case(f"adam/eps-{eps}", thunk(adam, eps=eps), IAE, "eps", positive)
    yield Case("SGD/lr-schedule-object-wrong", lambda: SGD(wrong(object())), ATE, "lr", number)
    yield Case("Adam/lr-list", lambda: Adam(wrong([1e-3])), ATE, "lr", number)

    opt = sgd(0.1, momentum=0.9)
    state = opt.init(P)
    init_cases: list[tuple[str, Any, type[BaseException], str, str]] = [
        ("empty-list", [], IAE, "params", r"expected at least one array"),
        ("empty-dict", {}, IAE, "params", r"expected at least one array"),
        ("int-leaf", [{"W": np.ones((2, 2), int)}], ATE, "params", r"expected float32 or float64"),
        ("list-leaf", [{"W": [1.0, 2.0]}], ATE, "params", r"expected a numpy array"),
        ("float16-leaf", [np.ones(3, np.float16)], ATE, "params", r"expected float32 or float64"),
    ]
    for fid, params, error, arg, expected in init_cases:
        yield Case(f"Optimizer.init/{fid}", thunk(opt.init, params), error, arg, expected)

    def update(g: Any = G, s: Any = state, p: Any = P, o: Any = opt) -> Callable[[], object]:
        return lambda: o.update(g, s, p)

    count = "state['count']"
    update_cases: list[tuple[str, Callable[[], object], type[BaseException], str, str, str | None]]
    update_cases = [
        ("state-list", update(s=[state]), ATE, "state", r"expected a dict from SGD.init", None),
        (
            "state-missing-velocity",
            update(s={"count": state["count"]}),
            IAE,
            "state",
            r"expected keys \['count', 'velocity'\]",
            None,
        ),
        (
            "state-of-other-optimizer",
            update(s=adam().init(P)),
            IAE,
            "state",
            r"expected keys \['count', 'velocity'\] for SGD",
            None,
        ),
        (
            "count-float",
            update(s={**state, "count": np.array(1.5)}),
            ATE,
            count,
            r"expected a non-negative integer",
            None,
        ),
        (
            "count-1d",
            update(s={**state, "count": np.array([1])}),
            ATE,
            count,
            r"expected a non-negative integer",
            None,
        ),
        (
            "count-bool",
            update(s={**state, "count": True}),
            ATE,
            count,
            r"expected a non-negative integer",
            None,
        ),
        (
            "count-negative",
            update(s={**state, "count": np.array(-1)}),
            IAE,
            count,
            r"expected a non-negative integer, got -",
            None,
        ),
        (
            "velocity-shape",
            update(s={**state, "velocity": _with(state["velocity"], 0, "W", np.zeros((5, 4)))}),
            IAE,
            "state['velocity']",
            r"has shape \(5, 4\), params has \(4, 5\)",
            None,
        ),
        (
            "velocity-f32",
            update(
                s={**state, "velocity": _with(state["velocity"], 1, "b", np.zeros(3, np.float32))}
            ),
            ATE,
            "state['velocity']",
            r"has dtype float32, params has float64",
            None,
        ),
        (
            "velocity-nan",
            update(s={**state, "velocity": _with(state["velocity"], 0, "b", np.full(5, np.nan))}),
            IAE,
            "state['velocity']",
            FINITE,
            None,
        ),
        ("grads-structure", update(g=G[:1]), IAE, "grads", r"does not match params", None),
        ("grads-nan", update(g=_with(G, 0, "W", _nan_at(G[0]["W"]))), IAE, "grads", FINITE, None),
        (
            "grads-inf",
            update(g=_with(G, 1, "b", _nan_at(G[1]["b"], -np.inf))),
            IAE,
            "grads",
            FINITE,
            None,
        ),
        (
            "grads-f32",
            update(g=_with(G, 0, "W", G[0]["W"].astype(np.float32))),
            ATE,
            "grads",
            r"has dtype float32, params has float64",
            None,
        ),
        (
            "params-f32-state-f64",
            update(g=fn.tree_map(lambda a: a.astype(np.float32), G), p=P32),
            ATE,
            "state['velocity']",
            r"has dtype float64, params has float32",
            None,
        ),
        (
            "adam-state-nan",
            update(
                o=adam(),
                s={
                    **adam().init(P),
                    "nu": _with(adam().init(P)["nu"], 1, "W", np.full((5, 3), np.inf)),
                },
            ),
            IAE,
            "state['nu']",
            FINITE,
            None,
        ),
        (
            "params-nan",
            update(p=_with(P, 0, "W", _nan_at(P[0]["W"]))),
            IAE,
            "params",
            FINITE,
            None,
        ),
    ]
    for fid, call, error, arg, expected, bug in update_cases:
        yield Case(f"Optimizer.update/{fid}", call, error, arg, expected, bug)

    config_cases: list[tuple[str, Any, type[BaseException], str, str, str | None]] = [
        ("not-a-dict", "sgd", ATE, "config", r"expected a dict", None),
        ("no-name", {"lr": 0.1}, IAE, "config", r"unknown optimizer None; expected one of", None),
        (
            "unknown-name",
            {"name": unknown_name(OPTIMIZERS), "lr": 0.1},
            IAE,
            "config",
            r"unknown optimizer 'not-",
            None,
        ),
        (
            "unexpected-arg",
            {"name": "sgd", "lr": 0.1, "beta": 1},
            IAE,
            "config",
            r"bad arguments for optimizer 'sgd'",
            None,
        ),
        ("no-lr", {"name": "sgd"}, IAE, "config", r"optimizer 'sgd' needs 'lr'", None),
        (
            "bad-schedule",
            {"name": "sgd", "lr": {"name": "cosine"}},
            IAE,
            "config",
            r"bad arguments for schedule 'cosine'",
            None,
        ),
        (
            "unhashable-name",
            {"name": ["sgd"], "lr": 0.1},
            IAE,
            "config",
            r"unknown optimizer",
            None,
        ),
    ]
    for fid, config, error, arg, expected, bug in config_cases:
        yield Case(
            f"optimizer_from_config/{fid}",
            thunk(optimizer_from_config, config),
            error,
            arg,
            expected,
            bug,
        )


# --------------------------------------------------------------------------- schedules


def _chain_cases() -> Iterator[Case]:
    """The recipes added with the chains, the transforms and the chain itself."""
    positive, fraction = r"expected a finite number > 0", r"expected a number in \[0, 1\)"
    for recipe in (adamw, rmsprop, adagrad):
        name = recipe.__name__
        yield Case(f"{name}/lr-zero", thunk(recipe, 0.0), IAE, "lr", positive)
        yield Case(f"{name}/eps-zero", thunk(recipe, eps=0.0), IAE, "eps", positive)
        yield Case(
            f"{name}/weight_decay-negative", thunk(recipe, weight_decay=-1.0), IAE,
            "weight_decay", r"expected a finite number >= 0",
        )
    yield Case("rmsprop/alpha-one", thunk(rmsprop, alpha=1.0), IAE, "alpha", fraction)
    yield Case("rmsprop/momentum-nan", thunk(rmsprop, momentum=np.nan), IAE, "momentum", fraction)
    yield Case("rmsprop/centered-int", thunk(rmsprop, centered=wrong(1)), ATE, "centered", "bool")
    yield Case(
        "adagrad/initial_accumulator_value-negative",
        thunk(adagrad, initial_accumulator_value=-0.1), IAE, "initial_accumulator_value",
        r"expected a finite number >= 0",
    )
    yield Case("chain/not-a-transform", thunk(chain, wrong("sgd")), ATE, "chain", "transforms")
    yield Case(
        "chain/two-velocities", thunk(chain, trace(0.9), trace(0.5)), IAE, "transforms",
        "same slot",
    )
    yield Case("check_optimizer/str", thunk(check_optimizer, "sgd"), ATE, "optimizer",
               "expected a funcnn Optimizer")
    yield Case(
        "register_optimizer/recipe-not-callable",
        thunk(register_optimizer, "x", wrong(1), "x", 0.1), ATE, "recipe", "callable",
    )
    yield Case(
        "register_optimizer/no-lr-first",
        thunk(register_optimizer, "x", wrong(lambda: None), "x", 0.1), IAE, "recipe",
        "learning rate first",
    )
    yield Case(
        "make_recipe/part-not-a-transform",
        thunk(make_recipe, "x", "X", [wrong("trace")], 0.1), ATE, "transforms", "transforms",
    )
    yield Case("make_recipe/lr-zero", thunk(make_recipe, "x", "X", [], 0.0), IAE, "lr", positive)
    yield Case("trace/momentum-one", thunk(trace, 1.0), IAE, "momentum", fraction)
    yield Case("trace/nesterov-str", thunk(trace, 0.5, wrong("yes")), ATE, "nesterov", "bool")
    yield Case("scale_by_adam/b2-one", thunk(scale_by_adam, b2=1.0), IAE, "b2", fraction)
    yield Case("scale_by_rms/eps-nan", thunk(scale_by_rms, eps=np.nan), IAE, "eps", positive)
    yield Case("scale_by_rss/eps-zero", thunk(scale_by_rss, eps=0.0), IAE, "eps", positive)
    yield Case(
        "add_decayed_weights/mask-not-callable",
        thunk(add_decayed_weights, 0.1, wrong("weights")), ATE, "mask", "callable",
    )
    yield Case(
        "scale_by_learning_rate/lr-str", thunk(scale_by_learning_rate, wrong("0.1")), ATE, "lr",
        "positive number",
    )
    yield Case(
        "clip_by_global_norm/max_norm-zero", thunk(clip_by_global_norm, 0.0), IAE, "max_norm",
        positive,
    )
    yield Case(
        "transform_from_config/unknown", thunk(transform_from_config, {"name": "x"}), IAE,
        "config", "unknown transform",
    )
    yield Case(
        "chain.to_config/custom-mask",
        lambda: chain(add_decayed_weights(0.1, lambda path, leaf: True)).to_config(),
        IAE, "AddDecayedWeights.mask", "custom mask cannot be saved",
    )


def _schedule_cases() -> Iterator[Case]:
    positive = r"expected a finite number > 0"
    for lr in (0, -0.5, float("nan"), float("inf")):
        yield Case(f"Constant/lr-{lr}", thunk(Constant, lr), IAE, "lr", positive)
        yield Case(f"StepDecay/lr-{lr}", thunk(StepDecay, lr, 10), IAE, "lr", positive)
        yield Case(f"Cosine/lr-{lr}", thunk(Cosine, lr, 10), IAE, "lr", positive)
    yield Case(
        "Constant/lr-str", lambda: Constant(wrong("1")), ATE, "lr", r"expected a positive number"
    )
    for size in (0, -3):
        yield Case(
            f"StepDecay/step_size-{size}",
            thunk(StepDecay, 0.1, size),
            IAE,
            "step_size",
            r"expected a positive integer",
        )
        yield Case(
            f"Cosine/total_steps-{size}",
            thunk(Cosine, 0.1, size),
            IAE,
            "total_steps",
            r"expected a positive integer",
        )
    yield Case(
        "StepDecay/step_size-float",
        lambda: StepDecay(0.1, wrong(2.5)),
        ATE,
        "step_size",
        r"expected a positive integer",
    )
    yield Case(
        "Cosine/total_steps-None",
        lambda: Cosine(0.1, wrong(None)),
        ATE,
        "total_steps",
        r"expected a positive integer",
    )
    yield Case(
        "StepDecay/gamma-above-1",
        lambda: StepDecay(0.1, 5, 1.5),
        IAE,
        "gamma",
        r"expected a number in \(0, 1\]",
    )
    for gamma in (0.0, -0.1, float("nan")):
        yield Case(
            f"StepDecay/gamma-{gamma}", thunk(StepDecay, 0.1, 5, gamma), IAE, "gamma", positive
        )
    for final in (-0.1, 0.2, float("nan"), float("inf")):
        yield Case(
            f"Cosine/final_lr-{final}",
            thunk(Cosine, 0.1, 5, final),
            IAE,
            "final_lr",
            r"expected a number in \[0, lr=0.1\]",
        )
    yield Case(
        "Cosine/final_lr-str",
        lambda: Cosine(0.1, 5, wrong("0")),
        ATE,
        "final_lr",
        r"expected a number",
    )
    sched = Cosine(0.1, 10)
    for step in (-1, -(2**40)):
        yield Case(
            f"Schedule.__call__/step-{step}",
            thunk(sched, step),
            IAE,
            "step",
            r"expected a non-negative int",
        )
    bad_steps: list[Any] = [1.0, "3", None, True]
    for step in bad_steps:
        yield Case(
            f"Schedule.__call__/step-{step!r}",
            thunk(sched, step),
            ATE,
            "step",
            r"expected a non-negative int",
        )
    yield Case(
        "as_schedule/str",
        lambda: as_schedule(wrong("0.1")),
        ATE,
        "lr",
        r"expected a positive number",
    )
    yield Case("as_schedule/zero", lambda: as_schedule(0.0), IAE, "lr", positive)
    config_cases: list[tuple[str, Any, type[BaseException], str, str, str | None]] = [
        ("not-a-dict", [("name", "constant")], ATE, "config", r"expected a dict", None),
        (
            "unknown-name",
            {"name": "linear", "lr": 0.1},
            IAE,
            "config",
            r"unknown schedule 'linear'; expected one of",
            None,
        ),
        (
            "missing-arg",
            {"name": "step", "lr": 0.1},
            IAE,
            "config",
            r"bad arguments for schedule 'step'",
            None,
        ),
        ("bad-value", {"name": "constant", "lr": -1}, IAE, "lr", positive, None),
        (
            "unhashable-name",
            {"name": {"x": 1}, "lr": 0.1},
            IAE,
            "config",
            r"unknown schedule",
            None,
        ),
    ]
    for fid, config, error, arg, expected, bug in config_cases:
        yield Case(
            f"schedule_from_config/{fid}",
            thunk(schedule_from_config, config),
            error,
            arg,
            expected,
            bug,
        )


# --------------------------------------------------------------------------- fit, evaluate


def _fit_cases() -> Iterator[Case]:
    base: dict[str, Any] = {
        "spec": SPEC,
        "params": P,
        "optimizer": sgd(0.1),
        "x_train": X,
        "y_train": Y,
        "epochs": 1,
        "batch_size": 4,
        "rng": np.random.default_rng(0),
    }

    def run(**change: Any) -> Callable[[], object]:
        kwargs = {**base, **change}
        return lambda: fit(**kwargs)

    posint = r"expected a positive integer"
    cases: list[tuple[str, Callable[[], object], type[BaseException], str, str]] = [
        ("spec-None", run(spec=None), ATE, "spec", r"expected an MLP"),
        (
            "params-mixed",
            run(params=_with(P, 1, "b", P32[1]["b"])),
            ATE,
            "params[1]['b']",
            r"all params must share one dtype",
        ),
        (
            "params-inf",
            run(params=_with(P, 0, "b", np.full(5, np.inf))),
            IAE,
            "params[0]['b']",
            FINITE,
        ),
        ("optimizer-str", run(optimizer="adam"), ATE, "optimizer", r"expected a funcnn Optimizer"),
        ("optimizer-function", run(optimizer=fn.sgd_step), ATE, "optimizer", r"expected a funcnn"),
        (
            "x-1d",
            run(x_train=X[0], y_train=Y[:1]),
            IAE,
            "x_train",
            r"expected a 2-D array of shape \(N, 4\)",
        ),
        ("x-wide", run(x_train=np.ones((12, 5))), IAE, "x_train", r"shape \(N, 4\)"),
        ("x-empty", run(x_train=X[:0], y_train=Y[:0]), IAE, "x_train", r"empty batch"),
        ("x-f32", run(x_train=X.astype(np.float32)), ATE, "x_train", r"does not match params'"),
        ("x-int", run(x_train=X.astype(int)), ATE, "x_train", r"expected a floating array"),
        ("x-nan", run(x_train=_nan_at(X)), IAE, "x_train", FINITE),
        (
            "x-inf-fortran",
            run(x_train=np.asfortranarray(_nan_at(X, np.inf))),
            IAE,
            "x_train",
            FINITE,
        ),
        (
            "x-inf-strided",
            run(x_train=np.repeat(_nan_at(X, np.inf), 2, axis=0)[::2]),
            IAE,
            "x_train",
            FINITE,
        ),
        ("x-str", run(x_train="x"), ATE, "x_train", r"expected a numpy array"),
        ("y-short", run(y_train=Y[:-1]), IAE, "y_train", r"must have shape \(12,\)"),
        ("y-out-of-range", run(y_train=Y + 1), IAE, "y_train", r"labels must lie in \[0, 3\)"),
        (
            "y-float-labels",
            run(y_train=Y.astype(float)),
            IAE,
            "y_train",
            r"class labels must be an integer array",
        ),
        ("y-onehot-not-1", run(y_train=T * 0.3), IAE, "y_train", r"each target row must sum to 1"),
        (
            "y-targets-f32",
            run(y_train=T.astype(np.float32)),
            ATE,
            "y_train",
            r"targets must have dtype float64",
        ),
        ("y-targets-nan", run(y_train=_nan_at(T), loss="mse"), IAE, "y_train", FINITE),
        (
            "y-bce-above-1",
            run(y_train=T * 2, loss="binary_cross_entropy"),
            IAE,
            "y_train",
            r"must lie in \[0, 1\]",
        ),
        ("y-bool", run(y_train=Y > 0), ATE, "y_train", r"expected integer labels or float"),
        ("x_test-without-y", run(x_test=X), IAE, "x_test, y_test", r"pass both or neither"),
        ("y_test-without-x", run(y_test=Y), IAE, "x_test, y_test", r"pass both or neither"),
        (
            "x_test-wide",
            run(x_test=np.ones((3, 5)), y_test=Y[:3]),
            IAE,
            "x_test",
            r"shape \(N, 4\)",
        ),
        ("x_test-nan", run(x_test=_nan_at(X), y_test=Y), IAE, "x_test", FINITE),
        (
            "x_test-f32",
            run(x_test=X.astype(np.float32), y_test=Y),
            ATE,
            "x_test",
            r"does not match params'",
        ),
        ("y_test-long", run(x_test=X[:3], y_test=Y[:4]), IAE, "y_test", r"must have shape \(3,\)"),
        (
            "y_test-out-of-range",
            run(x_test=X, y_test=Y - 1),
            IAE,
            "y_test",
            r"labels must lie in \[0, 3\)",
        ),
        ("loss-unknown", run(loss="cross_entropy"), IAE, "loss", r"unknown loss"),
        ("epochs-0", run(epochs=0), IAE, "epochs", posint),
        ("epochs-negative", run(epochs=-2), IAE, "epochs", posint),
        ("epochs-float", run(epochs=2.0), ATE, "epochs", posint),
        ("epochs-bool", run(epochs=True), ATE, "epochs", posint),
        ("epochs-None", run(epochs=None), ATE, "epochs", posint),
        ("batch_size-0", run(batch_size=0), IAE, "batch_size", posint),
        ("batch_size-negative", run(batch_size=-4), IAE, "batch_size", posint),
        ("batch_size-float", run(batch_size=4.0), ATE, "batch_size", posint),
        ("batch_size-bool", run(batch_size=True), ATE, "batch_size", posint),
        (
            "batch_size-too-big",
            run(batch_size=13),
            IAE,
            "batch_size",
            r"13 is larger than the training set \(12 samples\)",
        ),
        ("rng-seed", run(rng=0), ATE, "rng", r"expected a numpy.random.Generator"),
        ("rng-None-shuffling", run(rng=None), ATE, "rng", r"to shuffle with"),
        (
            "rng-RandomState",
            run(rng=np.random.RandomState(0), shuffle=False),
            ATE,
            "rng",
            r"expected a numpy.random.Generator",
        ),
        ("shuffle-int", run(shuffle=0), ATE, "shuffle", r"expected a bool"),
        ("drop_last-str", run(drop_last="no"), ATE, "drop_last", r"expected a bool"),
        ("log_every-0", run(log_every=0), IAE, "log_every", posint),
        ("log_every-float", run(log_every=0.5), ATE, "log_every", posint),
        (
            "log_every-vs-history",
            run(log_every=2, history=History(batch_interval=3)),
            IAE,
            "log_every",
            r"differs from the history's batch_interval 3",
        ),
        ("history-dict", run(history=History().to_dict()), ATE, "history", r"expected a History"),
        ("callback-int", run(callback=1), ATE, "callback", r"expected a callable"),
        ("callback_every-0", run(callback_every=0), IAE, "callback_every", posint),
        ("callback_every-bool", run(callback_every=False), ATE, "callback_every", posint),
        (
            "opt_state-wrong-keys",
            run(opt_state={"count": np.array(0), "mu": P}),
            IAE,
            "state",
            r"expected keys \['count'\] for SGD",
        ),
        (
            "opt_state-count-negative",
            run(opt_state={"count": np.array(-5)}),
            IAE,
            "state['count']",
            r"expected a non-negative integer, got -",
        ),
        (
            "opt_state-velocity-nan",
            run(
                optimizer=sgd(0.1, momentum=0.5),
                opt_state={
                    "count": np.array(0),
                    "velocity": _with(P, 0, "W", np.full((4, 5), np.nan)),
                },
            ),
            IAE,
            "state['velocity']",
            FINITE,
        ),
        (
            "opt_state-from-f32",
            run(optimizer=adam(), opt_state=adam().init(P32)),
            ATE,
            "state['mu']",
            r"has dtype float32, params has float64",
        ),
    ]
    for fid, call, error, arg, expected in cases:
        yield Case(f"fit/{fid}", call, error, arg, expected)

    ev: list[tuple[str, Callable[[], object], type[BaseException], str, str]] = [
        ("spec-str", lambda: evaluate(wrong("spec"), P, X, Y), ATE, "spec", r"expected an MLP"),
        ("params-short", lambda: evaluate(SPEC, P[:1], X, Y), IAE, "params", r"params has 1"),
        ("x-empty", lambda: evaluate(SPEC, P, X[:0], Y[:0]), IAE, "x", r"empty batch"),
        ("x-1d", lambda: evaluate(SPEC, P, X[0], Y[:1]), IAE, "x", r"expected a 2-D array"),
        ("x-nan", lambda: evaluate(SPEC, P, _nan_at(X), Y), IAE, "x", FINITE),
        ("x-f32", lambda: evaluate(SPEC, P, X.astype(np.float32), Y), ATE, "x", r"does not match"),
        ("y-short", lambda: evaluate(SPEC, P, X, Y[:5]), IAE, "y", r"must have shape \(12,\)"),
        ("y-out-of-range", lambda: evaluate(SPEC, P, X, Y * 5), IAE, "y", r"must lie in \[0, 3\)"),
        ("y-onehot-not-1", lambda: evaluate(SPEC, P, X, T * 2), IAE, "y", r"must sum to 1"),
        ("loss-unknown", lambda: evaluate(SPEC, P, X, Y, "nll"), IAE, "loss", r"unknown loss"),
    ]
    for fid, call, error, arg, expected in ev:
        yield Case(f"evaluate/{fid}", call, error, arg, expected)
    yield from _step_cases()


def _step_cases() -> Iterator[Case]:
    def step(params: Any = None, state: Any = None, x: Any = X, y: Any = Y,
             opt: Any = None) -> Callable[[], object]:
        o = opt or adam()
        p = P if params is None else params

        def call() -> object:
            fresh = [dict(layer) for layer in p]  # the step owns what it is given
            return fn.make_step(SPEC, o)(fresh, o.init(P) if state is None else state, x, y)

        return call

    cases: list[tuple[str, Callable[[], object], type[BaseException], str, str]] = [
        ("make_step/spec-str", lambda: fn.make_step(wrong("spec"), sgd(0.1)), ATE, "spec",
         r"expected an MLP"),
        ("make_step/optimizer-str", lambda: fn.make_step(SPEC, wrong("sgd")), ATE, "optimizer",
         r"expected a funcnn Optimizer"),
        ("make_step/loss-unknown", lambda: fn.make_step(SPEC, sgd(0.1), "nll"), IAE, "loss",
         r"unknown loss"),
        ("Step/optimizer-None", lambda: fn.Step(SPEC, wrong(None)), ATE, "optimizer",
         r"expected a funcnn Optimizer"),
        ("make_step/call-x-nan", step(x=_nan_at(X)), IAE, "x", FINITE),
        ("make_step/call-params-inf", step(params=_with(P, 0, "b", np.full(5, np.inf))), IAE,
         "params[0]['b']", FINITE),
        ("make_step/call-x-f32", step(x=X.astype(np.float32)), ATE, "x", r"does not match"),
        ("make_step/call-y-range", step(y=Y * 5), IAE, "y", r"must lie in \[0, 3\)"),
        ("make_step/call-state-wrong", step(state={"count": np.array(0)}), IAE, "state",
         r"expected keys"),
        ("make_step/call-params-short", step(params=P[:1]), IAE, "params", r"params has 1"),
    ]
    for fid, call, error, arg, expected in cases:
        yield Case(fid, call, error, arg, expected)


def _history_cases() -> Iterator[Case]:
    good = History((1.0, 0.5), (0.5, 0.6), (), (), (0.1, 0.1), (3, 3), (0.9, 0.8), 3).to_dict()

    def bad(**change: Any) -> Callable[[], object]:
        return lambda: History.from_dict({**good, **change})

    cases: list[tuple[str, Callable[[], object], str, str, str | None]] = [
        ("not-a-dict", lambda: History.from_dict([good]), "history", r"expected a dict", None),
        (
            "missing-key",
            lambda: History.from_dict({k: v for k, v in good.items() if k != "epoch_time"}),
            "history",
            r"expected keys",
            None,
        ),
        ("extra-key", bad(epoch_lr=[0.1, 0.1]), "history", r"expected keys", None),
        (
            "loss-str",
            bad(epoch_train_loss="1.0"),
            "history.epoch_train_loss",
            r"expected a list of numbers",
            None,
        ),
        (
            "loss-item-str",
            bad(epoch_train_loss=[1.0, "x"]),
            "history.epoch_train_loss",
            r"expected numbers",
            None,
        ),
        (
            "loss-item-bool",
            bad(epoch_train_loss=[1.0, True]),
            "history.epoch_train_loss",
            r"expected numbers",
            None,
        ),
        (
            "loss-item-null",
            bad(epoch_train_loss=[1.0, None]),
            "history.epoch_train_loss",
            r"expected numbers",
            None,
        ),
        (
            "steps-zero",
            bad(epoch_steps=[3, 0]),
            "history.epoch_steps",
            r"expected positive integers",
            None,
        ),
        (
            "steps-fraction",
            bad(epoch_steps=[3, 2.5]),
            "history.epoch_steps",
            r"expected positive integers",
            None,
        ),
        (
            "time-short",
            bad(epoch_time=[0.1]),
            "history.epoch_time",
            r"has 1 entries for 2 epochs",
            None,
        ),
        (
            "accuracy-short",
            bad(epoch_train_accuracy=[0.5]),
            "history.epoch_train_accuracy",
            r"has 1 entries for 2 epochs",
            None,
        ),
        (
            "interval-zero",
            bad(batch_interval=0),
            "history.batch_interval",
            r"expected a positive int or null",
            None,
        ),
        (
            "interval-float",
            bad(batch_interval=1.5),
            "history.batch_interval",
            r"expected a positive int or null",
            None,
        ),
        (
            "batch-losses-without-interval",
            bad(batch_interval=None),
            "history.batch_losses",
            r"entries without a batch_interval",
            None,
        ),
        (
            "batch-losses-count",
            bad(batch_losses=[1.0]),
            "history.batch_losses",
            r"expected 2 entries",
            None,
        ),
        (
            "huge-int-loss",
            bad(epoch_train_loss=[10**400, 1.0]),
            "history.epoch_train_loss",
            r"expected",
            None,
        ),
        (
            "huge-int-steps",
            bad(epoch_steps=[10**400, 3]),
            "history.epoch_steps",
            r"expected",
            None,
        ),
    ]
    for fid, call, arg, expected, bug in cases:
        yield Case(f"History.from_dict/{fid}", call, IAE, arg, expected, bug)
    for fid, text in (
        ("truncated", '{"epoch_train_loss": ['),
        ("not-json", "epochs: 3"),
        ("None", None),
        ("list", "[1, 2]"),
    ):
        yield Case(
            f"History.from_json/{fid}",
            thunk(History.from_json, text),
            IAE,
            "history",
            r"not valid JSON|expected a dict",
        )


# --------------------------------------------------------------------------- checkpoints


def _checkpoint_cases(tmp: Path) -> Iterator[Case]:
    opt = sgd(0.1, momentum=0.9)
    state = opt.init(P)
    good = save_checkpoint(
        tmp / "good.npz",
        spec=SPEC,
        params=P,
        optimizer=opt,
        opt_state=state,
        rng=np.random.default_rng(0),
        history=History(),
    )

    def save(path: Any = tmp / "new.npz", **change: Any) -> Callable[[], object]:
        kwargs: dict[str, Any] = {"spec": SPEC, "params": P, **change}
        return lambda: save_checkpoint(path, **kwargs)

    saves: list[tuple[str, Callable[[], object], type[BaseException], str, str, str | None]] = [
        (
            "parent-missing",
            save(tmp / "missing" / "c.npz"),
            IAE,
            "path",
            r"directory .* does not exist",
            None,
        ),
        ("parent-is-file", save(good / "c.npz"), IAE, "path", r"does not exist", None),
        ("path-int", save(3), ATE, "path", r"expected", None),
        ("path-None", save(None), ATE, "path", r"expected", None),
        ("spec-str", save(spec="4,5,3"), ATE, "spec", r"expected an MLP", None),
        (
            "params-other-spec",
            save(spec=fn.MLP((4, 6, 3))),
            IAE,
            "params[0]['W']",
            r"expected shape \(4, 6\)",
            None,
        ),
        (
            "params-nan",
            save(params=_with(P, 0, "W", _nan_at(P[0]["W"]))),
            IAE,
            "params[0]['W']",
            FINITE,
            None,
        ),
        (
            "params-mixed",
            save(params=_with(P, 1, "W", P32[1]["W"])),
            ATE,
            "params[1]['W']",
            r"all params must share one dtype",
            None,
        ),
        (
            "opt_state-without-optimizer",
            save(opt_state=state),
            IAE,
            "opt_state",
            r"needs optimizer=",
            None,
        ),
        (
            "optimizer-config-dict",
            save(optimizer=opt.to_config()),
            ATE,
            "optimizer",
            r"expected a funcnn Optimizer",
            None,
        ),
        (
            "opt_state-mismatch",
            save(optimizer=adam(), opt_state=state),
            IAE,
            "state",
            r"expected keys \['count', 'mu', 'nu'\]",
            None,
        ),
        (
            "opt_state-nan",
            save(
                optimizer=opt,
                opt_state={
                    **state,
                    "velocity": _with(state["velocity"], 0, "b", np.full(5, np.nan)),
                },
            ),
            IAE,
            "state['velocity']",
            FINITE,
            None,
        ),
        ("rng-seed", save(rng=0), ATE, "rng", r"expected a numpy.random.Generator", None),
        ("history-dict", save(history={}), ATE, "history", r"expected a History", None),
        ("metadata-list", save(metadata=[1]), ATE, "metadata", r"expected a dict", None),
        (
            "metadata-object",
            save(metadata={"f": object()}),
            IAE,
            "metadata",
            r"not JSON-serialisable",
            None,
        ),
        (
            "metadata-circular",
            save(metadata=_circular()),
            IAE,
            "metadata",
            r"not JSON-serialisable",
            None,
        ),
    ]
    for fid, call, error, arg, expected, bug in saves:
        yield Case(f"save_checkpoint/{fid}", call, error, arg, expected, bug)

    (tmp / "empty.npz").write_bytes(b"")
    (tmp / "text.npz").write_text("not a checkpoint\n")
    np.savez(tmp / "plain.npz", a=np.zeros(3))
    cut = good.read_bytes()
    (tmp / "cut.npz").write_bytes(cut[: len(cut) // 3])
    loads: list[tuple[str, Any, type[BaseException], str, str, str | None]] = [
        ("missing", tmp / "missing.npz", IAE, "path", r"cannot read checkpoint", None),
        ("directory", tmp, IAE, "path", r"cannot read checkpoint", None),
        ("empty", tmp / "empty.npz", DFE, str(tmp / "empty.npz"), r"not a funcnn checkpoint", None),
        ("text", tmp / "text.npz", DFE, str(tmp / "text.npz"), r"not a funcnn checkpoint", None),
        (
            "plain-npz",
            tmp / "plain.npz",
            DFE,
            str(tmp / "plain.npz"),
            r"not a funcnn checkpoint",
            None,
        ),
        ("truncated", tmp / "cut.npz", DFE, str(tmp / "cut.npz"), r"truncated", None),
        ("path-int", 3, ATE, "path", r"expected", None),
        ("path-None", None, ATE, "path", r"expected", None),
    ]
    for fid, path, error, arg, expected, bug in loads:
        yield Case(
            f"load_checkpoint/{fid}", thunk(load_checkpoint, path), error, arg, expected, bug
        )
    bare = load_checkpoint(save_checkpoint(tmp / "bare.npz", spec=SPEC, params=P))
    yield Case("Checkpoint.rng/no-state", bare.rng, IAE, "checkpoint", r"no rng state was saved")
    broken = Checkpoint(SPEC, P, rng_state={"bit_generator": "Mersenne"})
    yield Case(
        "Checkpoint.rng/unknown-bit-generator",
        broken.rng,
        IAE,
        "rng state",
        r"unknown bit generator 'Mersenne'; expected one of",
    )
    yield from _crafted_cases(tmp, good)


def _crafted_cases(tmp: Path, good: Path) -> Iterator[Case]:
    """Sealed files (a valid SHA-256) whose content is hostile: loading must still fail clearly."""
    with np.load(good, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    meta = json.loads(arrays["meta"].tobytes().decode())

    def sealed(name: str, members: dict[str, Any]) -> Path:
        buffer = io.BytesIO()
        np.savez(buffer, **members)
        path = tmp / f"crafted-{name}.npz"
        path.write_bytes(_seal(buffer.getvalue()))
        return path

    def with_meta(
        change: Callable[[dict[str, Any]], object] | None = None, text: str | None = None
    ) -> dict[str, Any]:
        m = json.loads(json.dumps(meta))
        if change is not None:
            change(m)
        raw = (json.dumps(m) if text is None else text).encode()
        return {**arrays, "meta": np.frombuffer(raw, dtype=np.uint8)}

    def setter(*path_and_value: Any) -> Callable[[dict[str, Any]], object]:
        *path, value = path_and_value

        def change(m: dict[str, Any]) -> None:
            node = m
            for key in path[:-1]:
                node = node[key]
            node[path[-1]] = value

        return change

    crafted: list[tuple[str, dict[str, Any], str, str | None]] = [
        ("version-2", with_meta(setter("version", 2)), r"format version 2", None),
        ("format-other", with_meta(setter("format", "other")), r"not a funcnn checkpoint", None),
        ("meta-not-json", with_meta(text="{not json"), r"invalid checkpoint", None),
        (
            "meta-not-utf8",
            {**arrays, "meta": np.frombuffer(b"\xff\xfe{}", np.uint8)},
            r"invalid checkpoint",
            None,
        ),
        ("meta-array", with_meta(text="[1, 2]"), r"not a funcnn checkpoint", None),
        (
            "meta-float-member",
            {**arrays, "meta": arrays["meta"].astype(np.float64)},
            r"no metadata record",
            None,
        ),
        ("meta-missing", {k: v for k, v in arrays.items() if k != "meta"}, r"no metadata", None),
        (
            "meta-object-member",
            {**arrays, "meta": np.array([meta], dtype=object)},
            r"cannot read the checkpoint's arrays",
            None,
        ),
        ("spec-str", with_meta(setter("spec", "4,5,3")), r"invalid checkpoint", None),
        ("spec-sizes-zero", with_meta(setter("spec", "sizes", [4, 0, 3])), r"sizes\[1\]", None),
        (
            "spec-activation-unknown",
            with_meta(setter("spec", "activation", UNKNOWN_ACTIVATION)),
            rf"unknown activation '{UNKNOWN_ACTIVATION}'",
            None,
        ),
        (
            "spec-activation-null",
            with_meta(setter("spec", "activation", None)),
            r"invalid checkpoint",
            None,
        ),
        (
            "spec-other-sizes",
            with_meta(setter("spec", "sizes", [4, 6, 3])),
            r"expected shape \(4, 6\)",
            None,
        ),
        (
            "params-tree-bogus",
            with_meta(setter("params_tree", {"set": []})),
            r"bad tree structure",
            None,
        ),
        (
            "params-tree-dict",
            with_meta(setter("params_tree", {"dict": {"W": "*"}})),
            r"params: expected 1 arrays, found 4",
            None,
        ),
        (
            "params-missing-member",
            {k: v for k, v in arrays.items() if k != "params.0002"},
            r"missing array 'params.0002'",
            None,
        ),
        (
            "params-extra-member",
            {**arrays, "params.0004": np.zeros(3)},
            r"params: expected 4 arrays, found 5",
            None,
        ),
        (
            "params-object",
            {**arrays, "params.0000": np.array([None], dtype=object)},
            r"Object arrays cannot be loaded",
            None,
        ),
        (
            "params-structured",
            {**arrays, "params.0000": np.zeros(3, [("a", "<f8")])},
            r"expected float32 or float64",
            None,
        ),
        (
            "params-int",
            {**arrays, "params.0001": np.zeros(5, np.int64)},
            r"expected float32 or float64",
            None,
        ),
        ("params-nan", {**arrays, "params.0001": np.full(5, np.nan)}, FINITE, None),
        (
            "params-wrong-shape",
            {**arrays, "params.0001": np.zeros(6)},
            r"expected shape \(5,\)",
            None,
        ),
        (
            "optimizer-unknown",
            with_meta(setter("optimizer", "name", "lion")),
            r"unknown optimizer 'lion'",
            None,
        ),
        (
            "optimizer-bad-lr",
            with_meta(setter("optimizer", "lr", "name", "linear")),
            r"unknown schedule 'linear'",
            None,
        ),
        (
            "optimizer-unhashable-name",
            with_meta(setter("optimizer", "name", ["sgd"])),
            r"invalid checkpoint",
            None,
        ),
        (
            "state-without-optimizer",
            with_meta(setter("optimizer", None)),
            r"optimizer state without an optimizer",
            None,
        ),
        (
            "state-count-float",
            {**arrays, "opt_state.0000": np.array(2.5)},
            r"expected a non-negative integer",
            None,
        ),
        ("state-velocity-inf", {**arrays, "opt_state.0002": np.full(5, np.inf)}, FINITE, None),
        (
            "state-members-without-tree",
            with_meta(setter("opt_state_tree", None)),
            r"opt_state: expected 0 arrays, found 5",
            None,
        ),
        (
            "rng-unknown-generator",
            with_meta(setter("rng", "bit_generator", "Mersenne")),
            r"unknown bit generator",
            None,
        ),
        ("rng-not-a-dict", with_meta(setter("rng", [1, 2])), r"unknown bit generator", None),
        (
            "rng-bad-state",
            with_meta(setter("rng", "state", "state", "x")),
            r"not a valid PCG64 state",
            None,
        ),
        ("history-bad", with_meta(setter("history", {"epochs": 3})), r"expected keys", None),
        (
            "metadata-list",
            with_meta(setter("metadata", [1])),
            r"metadata is not a JSON object",
            None,
        ),
        (
            "deep-json",
            with_meta(text="[" * 100_000 + "]" * 100_000),
            r"invalid checkpoint",
            None,
        ),
        (
            "history-huge-int",
            with_meta(
                setter(
                    "history",
                    {
                        **History((1.0,), (), (), (), (0.1,), (1,), (), None).to_dict(),
                        "epoch_train_loss": [10**400],
                    },
                )
            ),
            r"invalid checkpoint",
            None,
        ),
        (
            "rng-huge-int",
            with_meta(setter("rng", "state", "state", 2**300)),
            r"invalid checkpoint|not a valid",
            None,
        ),
        (
            "rng-object-key",
            with_meta(
                setter(
                    "rng",
                    {
                        "bit_generator": "MT19937",
                        "state": {"key": {"__ndarray__": [1, 2], "dtype": "|O"}, "pos": 0},
                    },
                )
            ),
            r"invalid checkpoint|not a valid",
            None,
        ),
    ]
    for fid, members, expected, bug in crafted:
        path = sealed(fid, members)
        yield Case(
            f"load_checkpoint/crafted-{fid}",
            thunk(load_checkpoint, path),
            DFE,
            str(path),
            expected,
            bug,
        )
    # Zip header fields that zipfile refuses with errors other than BadZipFile; offsets in
    # a central directory entry: 6 version needed, 8 flags (bit 0: encrypted), 10 method.
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    plain = buffer.getvalue()
    central = plain.index(b"PK\x01\x02")
    headers: list[tuple[str, int, bytes]] = [
        ("zip-version-needed", central + 6, b"\xff\x00"),
        ("zip-encrypted-flag", central + 8, b"\x01\x00"),
        ("zip-compression-method", central + 10, b"\x63\x00"),
    ]
    for fid, offset, value in headers:
        patched = bytearray(plain)
        patched[offset : offset + 2] = value
        path = tmp / f"crafted-{fid}.npz"
        path.write_bytes(_seal(bytes(patched)))
        yield Case(
            f"load_checkpoint/crafted-{fid}",
            thunk(load_checkpoint, path),
            DFE,
            str(path),
            r"cannot read the checkpoint's arrays|invalid checkpoint",
            None,
        )


def _callback_cases() -> Iterator[Case]:
    """fit's callbacks and new arguments, and predict_proba."""
    def run(**change: Any) -> Callable[[], object]:
        kwargs = {"x_train": X, "y_train": Y, "epochs": 1, "batch_size": 4,
                  "rng": np.random.default_rng(0), **change}
        return lambda: fit(SPEC, P, sgd(0.1), **kwargs)

    frac = r"expected a fraction between 0 and 1"
    cases: list[tuple[str, Callable[[], object], type[BaseException], str, str]] = [
        ("fit/validation_split-0", run(validation_split=0.0), IAE, "validation_split", frac),
        ("fit/validation_split-str", run(validation_split="0.1"), ATE, "validation_split",
         frac),
        ("fit/validation_split-tiny", run(validation_split=0.01), IAE, "validation_split",
         r"leaves no validation samples"),
        ("fit/validation_split-with-history",
         run(validation_split=0.25, history=History(epoch_train_loss=(1.0,), epoch_time=(0.1,),
                                                    epoch_steps=(3,))),
         IAE, "validation_split", r"split once with funcnn.train_validation_split"),
        ("fit/validation_split-y-short", run(validation_split=0.25, y_train=Y[:5]), IAE,
         "y_train", r"expected the same number of samples"),
        ("fit/verbose-3", run(verbose=3), IAE, "verbose", r"expected 0 \(silent\)"),
        ("fit/callback-list-of-int", run(callback=[print, 1]), ATE, "callback",
         r"expected a callable"),
        ("fit/callback-stop-on-batch",
         run(callback=lambda e: fn.StopTraining("now")), IAE, "callback",
         r"returned StopTraining on a BatchEnd"),
        ("fit/callback-stop-half-pair",
         run(callback=lambda e: fn.StopTraining("x", params=P)
             if isinstance(e, fn.EpochEnd) else None),
         IAE, "callback", r"needs params and opt_state together"),
        ("fit/monitor-unrecorded", run(callback=fn.EarlyStopping("test_loss")), IAE, "monitor",
         r"is not recorded \(pass x_test and y_test, or validation_split"),
        ("EarlyStopping/monitor-val_loss", thunk(fn.EarlyStopping, "val_loss"), IAE, "monitor",
         r"expected one of \['test_accuracy'"),
        ("EarlyStopping/monitor-None", thunk(fn.EarlyStopping, wrong(None)), ATE, "monitor",
         r"expected one of"),
        ("EarlyStopping/patience-negative", thunk(fn.EarlyStopping, patience=-1), IAE,
         "patience", r"expected a non-negative integer"),
        ("EarlyStopping/patience-float", thunk(fn.EarlyStopping, patience=wrong(2.0)), ATE,
         "patience", r"expected a non-negative integer"),
        ("EarlyStopping/min_delta-nan", thunk(fn.EarlyStopping, min_delta=float("nan")), IAE,
         "min_delta", r"expected a finite number >= 0"),
        ("EarlyStopping/min_delta-str", thunk(fn.EarlyStopping, min_delta=wrong("0")), ATE,
         "min_delta", r"expected a finite number >= 0"),
        ("EarlyStopping/mode-up", thunk(fn.EarlyStopping, mode="up"), IAE, "mode",
         r"expected 'auto', 'min' or 'max'"),
        ("EarlyStopping/restore_best-int", thunk(fn.EarlyStopping, restore_best=wrong(1)), ATE,
         "restore_best", r"expected a bool"),
        ("KeepBest/path-without-spec", thunk(fn.KeepBest, path="best.npz"), ATE, "spec",
         r"needs the network's MLP spec"),
        ("KeepBest/optimizer-str", thunk(fn.KeepBest, optimizer=wrong("adam")), ATE,
         "optimizer", r"expected a funcnn Optimizer"),
        ("KeepBest/mode-None", thunk(fn.KeepBest, mode=wrong(None)), IAE, "mode",
         r"expected 'auto', 'min' or 'max'"),
        ("Progress/verbose-0", thunk(fn.Progress, 0), IAE, "verbose", r"expected 1"),
        ("Progress/file-path", thunk(fn.Progress, file=wrong("log.txt")), ATE, "file",
         r"expected a text stream"),
        ("predict_proba/loss-mse", thunk(fn.predict_proba, SPEC, P, X, "mse"), IAE, "loss",
         r"does not define class probabilities"),
        ("predict_proba/loss-unknown", thunk(fn.predict_proba, SPEC, P, X, "nll"), IAE, "loss",
         r"unknown loss"),
        ("predict_proba/x-wide", thunk(fn.predict_proba, SPEC, P, np.ones((2, 5))), IAE, "x",
         r"expected"),
        ("predict_proba/batch_size-0", thunk(fn.predict_proba, SPEC, P, X, batch_size=0), IAE,
         "batch_size", r"expected a positive integer"),
    ]
    for fid, call, error, arg, expected in cases:
        yield Case(fid, call, error, arg, expected)


CASES = [
    *_optimizer_cases(), *_chain_cases(), *_schedule_cases(), *_fit_cases(),
    *_history_cases(), *_callback_cases(),
]


@pytest.mark.parametrize("case", rows(CASES))
def test_bad_input_is_rejected_clearly(case: Case) -> None:
    check(case)


def _checkpoint_rows() -> list[Any]:
    """Parameters (ids and bug marks) of the checkpoint rows, from a throwaway build."""
    with tempfile.TemporaryDirectory() as scratch:
        cases = list(_checkpoint_cases(Path(scratch)))
    return [
        pytest.param(case.id, id=case.id, marks=param.marks)
        for case, param in zip(cases, rows(cases), strict=True)
    ]


@pytest.fixture(scope="module")
def checkpoint_cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    """The checkpoint rows by id, their files built in a temporary directory."""
    return {case.id: case for case in _checkpoint_cases(tmp_path_factory.mktemp("checkpoints"))}


@pytest.mark.parametrize("case_id", _checkpoint_rows())
def test_bad_checkpoint_input_is_rejected_clearly(
    case_id: str, checkpoint_cases: dict[str, Case]
) -> None:
    check(checkpoint_cases[case_id])
