"""Catalogue of bad inputs, core: specs, init, the network, losses, primitives, pytrees, sgd_step.

Every row makes one bad call and asserts the exact error type, that the message names
the argument and that it says what was expected (see ``_catalogue``). Rows marked with
a bug id are known library bugs (``_bugs.BUGS``), pinned by ``xfail(strict=True)``.
The per-module tests check selected messages; this table covers every fault class for
every function, uniformly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import funcnn as fn
from funcnn.core import validation
from funcnn.core.network import check_inputs, check_params
from tests.reliability._catalogue import Case, check, rows, thunk, wrong
from tests.strategies import unknown_name

UNKNOWN_ACTIVATION = unknown_name(fn.ACTIVATIONS)

IAE = fn.InvalidArgumentError
ATE = fn.ArgumentTypeError

SPEC = fn.MLP((3, 4, 2), "tanh")
P64 = fn.init(SPEC, np.random.default_rng(0), dtype=np.float64)
P32 = fn.init(SPEC, np.random.default_rng(0), dtype=np.float32)
X = np.random.default_rng(1).normal(size=(5, 3))
Y = np.array([0, 1, 1, 0, 1])
T = np.eye(2)[Y]

FINITE = "expected finite values"


def _with(params: fn.Params, index: int, key: Any, value: Any) -> list[Any]:
    """A copy of ``params`` with ``params[index][key] = value``."""
    out: list[Any] = [dict(layer) for layer in params]
    out[index][key] = value
    return out


def _nan_at(a: np.ndarray, value: float = np.nan) -> np.ndarray:
    out = a.copy()
    out.flat[out.size // 2] = value
    return out


# --------------------------------------------------------------------------- MLP


def _mlp_cases() -> Iterator[Case]:
    def mlp(sizes: Any, activation: Any = "relu") -> Callable[[], object]:
        return lambda: fn.MLP(sizes, activation)

    yield Case("MLP/sizes-empty", mlp(()), IAE, "sizes", r"need at least 2 sizes")
    yield Case("MLP/sizes-one", mlp((3,)), IAE, "sizes", r"need at least 2 sizes")
    yield Case("MLP/size-zero", mlp((3, 0, 2)), IAE, "sizes[1]", r"expected a positive integer")
    yield Case("MLP/size-negative", mlp((3, -4, 2)), IAE, "sizes[1]", r"expected a positive int")
    yield Case("MLP/size-float", mlp((3, 2.0)), ATE, "sizes[1]", r"expected a positive integer")
    yield Case("MLP/size-bool", mlp((True, 2)), ATE, "sizes[0]", r"expected a positive integer")
    yield Case("MLP/size-str", mlp((3, "4", 2)), ATE, "sizes[1]", r"expected a positive integer")
    yield Case("MLP/sizes-str", mlp("32"), ATE, "sizes", r"expected a sequence of ints")
    yield Case("MLP/sizes-None", mlp(None), ATE, "sizes", r"expected a sequence of ints")
    yield Case("MLP/sizes-int", mlp(5), ATE, "sizes", r"expected a sequence of ints")
    yield Case(
        "MLP/act-unknown", mlp((3, 4, 2), UNKNOWN_ACTIVATION), IAE, "activation", r"expected one of"
    )
    yield Case("MLP/act-empty", mlp((3, 4, 2), ""), IAE, "activation", r"unknown activation ''")
    yield Case("MLP/act-case", mlp((3, 4, 2), "ReLU"), IAE, "activation", r"expected one of")
    yield Case(
        "MLP/acts-too-many",
        mlp((3, 4, 2), ("relu", "tanh")),
        IAE,
        "activation",
        r"got 2 per-layer activations for 1 hidden layers",
    )
    yield Case(
        "MLP/acts-for-no-hidden",
        mlp((3, 2), ("relu",)),
        IAE,
        "activation",
        r"for 0 hidden layers",
    )
    yield Case(
        "MLP/acts-unknown-second",
        mlp((3, 4, 4, 2), ("relu", UNKNOWN_ACTIVATION)),
        IAE,
        "activation",
        rf"unknown activation '{UNKNOWN_ACTIVATION}'",
    )
    yield Case("MLP/act-int", mlp((3, 4, 2), 5), ATE, "activation", r"expected a name or a seq")
    yield Case("MLP/act-None", mlp((3, 4, 2), None), ATE, "activation", r"expected a name")


# --------------------------------------------------------------------------- init


def _init_cases() -> Iterator[Case]:
    rng = np.random.default_rng
    spec = fn.MLP((3, 4, 2))

    def init(**kw: Any) -> Callable[[], object]:
        args: dict[str, Any] = {"spec": spec, "rng": rng(0), **kw}
        return lambda: fn.init(
            args["spec"], args["rng"], **{k: v for k, v in args.items() if k not in ("spec", "rng")}
        )

    gen = "expected a numpy.random.Generator"
    yield Case("init/spec-str", init(spec="3,4,2"), ATE, "spec", r"expected an MLP")
    yield Case("init/spec-tuple", init(spec=(3, 4, 2)), ATE, "spec", r"expected an MLP")
    yield Case("init/rng-int-seed", init(rng=0), ATE, "rng", gen)
    yield Case("init/rng-None", init(rng=None), ATE, "rng", gen)
    yield Case("init/rng-RandomState", init(rng=np.random.RandomState(0)), ATE, "rng", gen)
    yield Case("init/rng-bitgen", init(rng=np.random.PCG64(0)), ATE, "rng", gen)
    for scheme in ("zeros", "normal", "normal:", "normal:abc", "normal:1:2:3", "Glorot_Uniform"):
        yield Case(
            f"init/scheme-unknown-{scheme}",
            init(scheme=scheme),
            IAE,
            "scheme",
            r"unknown init scheme .*expected one of",
        )
    yield Case("init/scheme-std-negative", init(scheme="normal:-1"), IAE, "std", r">= 0")
    yield Case("init/scheme-std-nan", init(scheme="normal:nan"), IAE, "std", r"finite number")
    yield Case("init/scheme-std-inf", init(scheme="normal:inf"), IAE, "std", r"finite number")
    yield Case("init/scheme-bias-inf", init(scheme="normal:1:inf"), IAE, "bias", r"finite number")
    yield Case("init/scheme-int", init(scheme=5), ATE, "scheme", r"expected a name or a callable")
    yield Case("init/scheme-None", init(scheme=None), ATE, "scheme", r"expected a name or a call")
    for dtype in (np.float16, np.int32, np.complex128, "float8", "garbage", bool):
        yield Case(
            f"init/dtype-{getattr(dtype, '__name__', dtype)}",
            init(dtype=dtype),
            ATE,
            "dtype",
            r"expected float32 or float64",
        )

    def returns(w: Any, b: Any) -> Callable[[np.random.Generator, int, int], Any]:
        return lambda r, n_in, n_out: (w(n_in, n_out), b(n_in, n_out))

    yield Case(
        "init/callable-W-transposed",
        init(scheme=returns(lambda i, o: np.ones((o, i)), lambda i, o: np.zeros(o))),
        IAE,
        "scheme",
        r"layer 0 expected W \(3, 4\) and b \(4,\)",
    )
    yield Case(
        "init/callable-b-2d",
        init(scheme=returns(lambda i, o: np.ones((i, o)), lambda i, o: np.zeros((1, o)))),
        IAE,
        "scheme",
        r"expected W \(3, 4\) and b \(4,\)",
    )
    yield Case(
        "init/callable-W-nan",
        init(scheme=returns(lambda i, o: np.full((i, o), np.nan), lambda i, o: np.zeros(o))),
        IAE,
        "scheme",
        FINITE,
    )
    yield Case(
        "init/callable-b-inf",
        init(scheme=returns(lambda i, o: np.ones((i, o)), lambda i, o: np.full(o, np.inf))),
        IAE,
        "scheme",
        FINITE,
    )
    yield Case(
        "init/callable-returns-None",
        init(scheme=lambda r, i, o: None),
        IAE,
        "scheme",
        r"expected",
    )
    yield Case(
        "init/callable-returns-array",
        init(scheme=lambda r, i, o: np.zeros((i, o))),
        IAE,
        "scheme",
        r"expected",
    )
    yield Case(
        "init/callable-returns-triple",
        init(scheme=lambda r, i, o: (np.zeros((i, o)), np.zeros(o), 0)),
        IAE,
        "scheme",
        r"expected",
    )
    yield Case("get_scheme/None", thunk(fn.get_scheme, None), ATE, "scheme", r"expected a name")
    yield Case("get_scheme/unknown", lambda: fn.get_scheme("he"), IAE, "scheme", r"expected one")
    yield Case("normal/std-negative", lambda: fn.normal(-0.1), IAE, "std", r"finite number >= 0")
    yield Case("normal/std-nan", lambda: fn.normal(float("nan")), IAE, "std", r"finite number")
    yield Case("normal/bias-inf", lambda: fn.normal(0.1, float("inf")), IAE, "bias", r"finite")
    yield Case(
        "normal/std-str",
        lambda: fn.normal(wrong("0.1")),
        ATE,
        "std",
        r"expected",
    )
    yield Case(
        "normal/bias-None",
        lambda: fn.normal(0.1, wrong(None)),
        ATE,
        "bias",
        r"expected",
    )
    for name in (UNKNOWN_ACTIVATION, "", None, 3):
        yield Case(
            f"get_activation/{name!r}",
            thunk(fn.get_activation, name),
            IAE,
            "activation",
            r"expected one of \['identity'",
        )
    for name in ("hinge", "", None, 3, "MSE"):
        yield Case(
            f"get_loss/{name!r}",
            thunk(fn.get_loss, name),
            IAE,
            "loss",
            r"expected one of \['binary_cross_entropy'",
        )


# --------------------------------------------------------------------------- network


_NETWORK_FUNCTIONS: dict[str, Callable[..., object]] = {
    "apply": lambda spec, params, x, y, loss: fn.apply(spec, params, x),
    "loss": lambda spec, params, x, y, loss: fn.loss(spec, params, x, y, loss),
    "value_and_grad": lambda spec, params, x, y, loss: fn.value_and_grad(spec, params, x, y, loss),
    "grad": lambda spec, params, x, y, loss: fn.grad(spec, params, x, y, loss),
    "input_grad": lambda spec, params, x, y, loss: fn.input_grad(spec, params, x, y, loss),
}


def _network_cases() -> Iterator[Case]:
    """(id, spec, params, x, y, loss, error, arg, expected, bug, needs_y)."""
    faults: list[tuple[str, Any, Any, Any, Any, str, type[BaseException], str, str, str | None]]
    ce = "softmax_cross_entropy"
    w0, b0 = P64[0]["W"], P64[0]["b"]
    faults = [
        ("spec-str", "3,4,2", P64, X, Y, ce, ATE, "spec", r"expected an MLP", None),
        ("params-tuple", SPEC, tuple(P64), X, Y, ce, ATE, "params", r"expected a list", None),
        ("params-dict", SPEC, P64[0], X, Y, ce, ATE, "params", r"expected a list", None),
        (
            "params-short",
            SPEC,
            P64[:1],
            X,
            Y,
            ce,
            IAE,
            "params",
            r"has 2 layers, params has 1",
            None,
        ),
        ("params-long", SPEC, [*P64, P64[1]], X, Y, ce, IAE, "params", r"params has 3", None),
        (
            "params-layer-list",
            SPEC,
            [[w0, b0], P64[1]],
            X,
            Y,
            ce,
            IAE,
            "params[0]",
            r"expected a dict with keys 'W' and 'b'",
            None,
        ),
        (
            "params-missing-b",
            SPEC,
            [{"W": w0}, P64[1]],
            X,
            Y,
            ce,
            IAE,
            "params[0]",
            r"expected a dict with keys 'W' and 'b'",
            None,
        ),
        (
            "params-extra-key",
            SPEC,
            _with(P64, 0, "c", b0),
            X,
            Y,
            ce,
            IAE,
            "params[0]",
            r"expected a dict with keys 'W' and 'b'",
            None,
        ),
        (
            "params-int-key",
            SPEC,
            _with(P64, 0, 1, b0),
            X,
            Y,
            ce,
            IAE,
            "params[0]",
            r"expected a dict with keys 'W' and 'b'",
            None,
        ),
        (
            "params-W-transposed",
            SPEC,
            _with(P64, 0, "W", w0.T.copy()),
            X,
            Y,
            ce,
            IAE,
            "params[0]['W']",
            r"expected shape \(3, 4\)",
            None,
        ),
        (
            "params-b-2d",
            SPEC,
            _with(P64, 0, "b", b0[None]),
            X,
            Y,
            ce,
            IAE,
            "params[0]['b']",
            r"expected shape \(4,\)",
            None,
        ),
        (
            "params-b-scalar",
            SPEC,
            _with(P64, 1, "b", np.zeros(())),
            X,
            Y,
            ce,
            IAE,
            "params[1]['b']",
            r"expected shape \(2,\)",
            None,
        ),
        (
            "params-W-list",
            SPEC,
            _with(P64, 0, "W", w0.tolist()),
            X,
            Y,
            ce,
            ATE,
            "params[0]['W']",
            r"expected a numpy array",
            None,
        ),
        (
            "params-b-float",
            SPEC,
            _with(P64, 1, "b", 0.5),
            X,
            Y,
            ce,
            ATE,
            "params[1]['b']",
            r"expected a numpy array",
            None,
        ),
        (
            "params-W-int",
            SPEC,
            _with(P64, 0, "W", w0.astype(int)),
            X,
            Y,
            ce,
            ATE,
            "params[0]['W']",
            r"expected float32 or float64",
            None,
        ),
        (
            "params-W-float16",
            SPEC,
            _with(P64, 0, "W", w0.astype(np.float16)),
            X,
            Y,
            ce,
            ATE,
            "params[0]['W']",
            r"expected float32 or float64",
            None,
        ),
        (
            "params-W-complex",
            SPEC,
            _with(P64, 0, "W", w0.astype(complex)),
            X,
            Y,
            ce,
            ATE,
            "params[0]['W']",
            r"expected float32 or float64",
            None,
        ),
        (
            "params-W-bool",
            SPEC,
            _with(P64, 0, "W", w0 > 0),
            X,
            Y,
            ce,
            ATE,
            "params[0]['W']",
            r"expected float32 or float64",
            None,
        ),
        (
            "params-mixed-f64-f32",
            SPEC,
            _with(P64, 1, "W", P32[1]["W"]),
            X,
            Y,
            ce,
            ATE,
            "params[1]['W']",
            r"differs from the first parameter's float64",
            None,
        ),
        (
            "params-mixed-in-layer",
            SPEC,
            _with(P64, 0, "b", P32[0]["b"]),
            X,
            Y,
            ce,
            ATE,
            "params[0]['b']",
            r"all params must share one dtype",
            None,
        ),
        (
            "params-W-nan",
            SPEC,
            _with(P64, 0, "W", _nan_at(w0)),
            X,
            Y,
            ce,
            IAE,
            "params[0]['W']",
            FINITE,
            None,
        ),
        (
            "params-b-inf",
            SPEC,
            _with(P64, 1, "b", _nan_at(P64[1]["b"], np.inf)),
            X,
            Y,
            ce,
            IAE,
            "params[1]['b']",
            FINITE,
            None,
        ),
        (
            "params-W-neginf",
            SPEC,
            _with(P64, 1, "W", _nan_at(P64[1]["W"], -np.inf)),
            X,
            Y,
            ce,
            IAE,
            "params[1]['W']",
            FINITE,
            None,
        ),
        (
            "x-3d",
            SPEC,
            P64,
            X[:, :, None],
            Y,
            ce,
            IAE,
            "x",
            r"expected shape \(B, 3\) or \(3,\)",
            None,
        ),
        ("x-0d", SPEC, P64, 1.0, Y, ce, IAE, "x", r"expected shape \(B, 3\)", None),
        ("x-wide", SPEC, P64, np.ones((5, 4)), Y, ce, IAE, "x", r"got \(5, 4\)", None),
        ("x-narrow", SPEC, P64, np.ones((5, 2)), Y, ce, IAE, "x", r"got \(5, 2\)", None),
        ("x-1d-wrong-width", SPEC, P64, np.ones(4), Y[:1], ce, IAE, "x", r"got \(4,\)", None),
        (
            "x-empty-batch",
            SPEC,
            P64,
            np.ones((0, 3)),
            Y[:0],
            ce,
            IAE,
            "x",
            r"empty batch, expected at least one sample",
            None,
        ),
        ("x-int", SPEC, P64, X.astype(int), Y, ce, ATE, "x", r"expected a floating array", None),
        (
            "x-uint8",
            SPEC,
            P64,
            (X > 0).astype(np.uint8),
            Y,
            ce,
            ATE,
            "x",
            r"expected a floating array",
            None,
        ),
        ("x-bool", SPEC, P64, X > 0, Y, ce, ATE, "x", r"expected a floating array", None),
        ("x-complex", SPEC, P64, X.astype(complex), Y, ce, ATE, "x", r"expected a floating", None),
        ("x-str", SPEC, P64, X.astype(str), Y, ce, ATE, "x", r"expected a floating", None),
        ("x-object", SPEC, P64, X.astype(object), Y, ce, ATE, "x", r"expected a floating", None),
        (
            "x-f32-params-f64",
            SPEC,
            P64,
            X.astype(np.float32),
            Y,
            ce,
            ATE,
            "x",
            r"does not match params' dtype float64",
            None,
        ),
        (
            "x-f64-params-f32",
            SPEC,
            P32,
            X,
            Y,
            ce,
            ATE,
            "x",
            r"does not match params' dtype float32",
            None,
        ),
        (
            "x-f16",
            SPEC,
            P64,
            X.astype(np.float16),
            Y,
            ce,
            ATE,
            "x",
            r"does not match params'",
            None,
        ),
        ("x-nan", SPEC, P64, _nan_at(X), Y, ce, IAE, "x", FINITE, None),
        ("x-inf", SPEC, P64, _nan_at(X, np.inf), Y, ce, IAE, "x", FINITE, None),
        (
            "x-neginf-f32",
            SPEC,
            P32,
            _nan_at(X.astype(np.float32), -np.inf),
            Y,
            ce,
            IAE,
            "x",
            FINITE,
            None,
        ),
        ("x-dict", SPEC, P64, {"x": X}, Y, ce, ATE, "x", r"expected a numpy array", None),
        ("x-None", SPEC, P64, None, Y, ce, ATE, "x", r"expected a numpy array", None),
        (
            "x-ragged",
            SPEC,
            P64,
            [[1.0, 2.0, 3.0], [1.0]],
            Y[:2],
            ce,
            IAE,
            "x",
            r"expected",
            None,
        ),
    ]
    y_faults: list[tuple[str, Any, Any, str, type[BaseException], str, str, str | None]] = [
        (
            "y-label-too-big",
            P64,
            np.array([0, 1, 2, 0, 1]),
            ce,
            IAE,
            "y",
            r"labels must lie in \[0, 2\), found 2",
            None,
        ),
        (
            "y-label-negative",
            P64,
            np.array([0, 1, -1, 0, 1]),
            ce,
            IAE,
            "y",
            r"labels must lie in \[0, 2\), found -1",
            None,
        ),
        (
            "y-label-uint64-huge",
            P64,
            np.array([0, 2**63, 1, 0, 1], dtype=np.uint64),
            ce,
            IAE,
            "y",
            r"labels must lie in \[0, 2\)",
            None,
        ),
        (
            "y-short",
            P64,
            Y[:4],
            ce,
            IAE,
            "y",
            r"integer labels must have shape \(5,\), got \(4,\)",
            None,
        ),
        ("y-long", P64, np.append(Y, 0), ce, IAE, "y", r"must have shape \(5,\), got \(6,\)", None),
        ("y-column", P64, Y[:, None], ce, IAE, "y", r"must have shape \(5,\)", None),
        (
            "y-float-labels",
            P64,
            Y.astype(float),
            ce,
            IAE,
            "y",
            r"float targets must have shape \(5, 2\).*class labels must be an integer array",
            None,
        ),
        ("y-bool", P64, Y > 0, ce, ATE, "y", r"expected integer labels or float targets", None),
        (
            "y-str",
            P64,
            Y.astype(str),
            ce,
            ATE,
            "y",
            r"expected integer labels or float targets",
            None,
        ),
        (
            "y-complex",
            P64,
            T.astype(complex),
            ce,
            ATE,
            "y",
            r"expected integer labels or float",
            None,
        ),
        ("y-object", P64, Y.astype(object), ce, ATE, "y", r"expected integer labels", None),
        ("y-dict", P64, {"y": Y}, ce, ATE, "y", r"expected a numpy array", None),
        (
            "y-onehot-row-0.9",
            P64,
            T * 0.9,
            ce,
            IAE,
            "y",
            r"each target row must sum to 1.*row 0",
            None,
        ),
        (
            "y-onehot-zero-row",
            P64,
            np.vstack([T[:4], [[0.0, 0.0]]]),
            ce,
            IAE,
            "y",
            r"row 4 sums to 0.0",
            None,
        ),
        (
            "y-onehot-two-ones",
            P64,
            np.vstack([[1.0, 1.0], T[1:]]),
            ce,
            IAE,
            "y",
            r"row 0 sums to 2.0",
            None,
        ),
        (
            "y-negative-probability",
            P64,
            np.vstack([[-0.5, 1.5], T[1:]]),
            ce,
            IAE,
            "y",
            r"target probabilities must be >= 0",
            None,
        ),
        (
            "y-onehot-explicit-path",
            P64,
            T * 0.5,
            "softmax_then_cross_entropy",
            IAE,
            "y",
            r"must sum to 1",
            None,
        ),
        (
            "y-targets-f32-params-f64",
            P64,
            T.astype(np.float32),
            ce,
            ATE,
            "y",
            r"targets must have dtype float64, got float32",
            None,
        ),
        (
            "y-targets-f64-params-f32",
            P32,
            T,
            ce,
            ATE,
            "y",
            r"targets must have dtype float32, got float64",
            None,
        ),
        (
            "y-targets-wide",
            P64,
            np.hstack([T, T[:, :1] * 0]),
            ce,
            IAE,
            "y",
            r"targets must have shape \(5, 2\), got \(5, 3\)",
            None,
        ),
        ("y-targets-short", P64, T[:3], ce, IAE, "y", r"targets must have shape \(5, 2\)", None),
        ("y-targets-nan", P64, _nan_at(T), "mse", IAE, "y", FINITE, None),
        ("y-targets-inf", P64, _nan_at(T, np.inf), "mse", IAE, "y", FINITE, None),
        (
            "y-bce-above-1",
            P64,
            T * 1.5,
            "binary_cross_entropy",
            IAE,
            "y",
            r"binary targets must lie in \[0, 1\]",
            None,
        ),
        (
            "y-bce-negative",
            P64,
            T - 0.5,
            "binary_cross_entropy",
            IAE,
            "y",
            r"binary targets must lie in \[0, 1\]",
            None,
        ),
        (
            "y-sbce-above-1",
            P64,
            T * 2,
            "softmax_binary_cross_entropy",
            IAE,
            "y",
            r"binary targets must lie in \[0, 1\]",
            None,
        ),
        (
            "y-mse-label-range",
            P64,
            np.array([0, 1, 5, 0, 1]),
            "mse",
            IAE,
            "y",
            r"labels must lie in \[0, 2\)",
            None,
        ),
        (
            "y-ragged",
            P64,
            [[1.0, 0.0], [1.0]] * 2 + [[0.0, 1.0]],
            ce,
            IAE,
            "y",
            r"expected",
            None,
        ),
        (
            "loss-unknown",
            P64,
            Y,
            "hinge",
            IAE,
            "loss",
            r"unknown loss 'hinge'; expected one of",
            None,
        ),
        ("loss-None", P64, Y, wrong(None), IAE, "loss", r"expected one of", None),
        ("loss-int", P64, Y, wrong(3), IAE, "loss", r"expected one of", None),
    ]
    for name, f in _NETWORK_FUNCTIONS.items():
        for fid, spec, params, x, y, loss, error, arg, expected, bug in faults:
            if bug and name != "value_and_grad":
                continue  # one row per known bug is enough
            yield Case(
                f"{name}/{fid}",
                thunk(f, spec, params, x, y, loss),
                error,
                arg,
                expected,
                bug,
            )
        if name == "apply":
            continue
        for fid, params, y, loss, error, arg, expected, bug in y_faults:
            if bug and name != "value_and_grad":
                continue
            x = X.astype(params[0]["W"].dtype)
            yield Case(
                f"{name}/{fid}",
                thunk(f, SPEC, params, x, y, loss),
                error,
                arg,
                expected,
                bug,
            )
        yield Case(
            f"{name}/one-sample-with-label-vector",
            thunk(f, SPEC, P64, X[0], Y, "softmax_cross_entropy"),
            IAE,
            "y",
            r"integer labels must have shape \(1,\)",
        )
    yield Case(
        "check_params/names-custom-argument",
        lambda: check_params(SPEC, P64[:1], name="weights"),
        IAE,
        "weights",
        r"params has 1",
    )
    yield Case(
        "check_inputs/names-custom-argument",
        lambda: check_inputs(SPEC, np.ones((2, 7)), np.dtype(np.float64), name="batch"),
        IAE,
        "batch",
        r"expected shape \(B, 3\)",
    )


# --------------------------------------------------------------------------- losses


_LOSS_KINDS = {name: loss.target_kind for name, loss in fn.LOSSES.items()}


def _loss_cases() -> Iterator[Case]:
    z = np.random.default_rng(2).normal(size=(5, 2))
    for name, kind in _LOSS_KINDS.items():
        for grad in (False, True):
            f: Callable[[Any, Any], object] = getattr(fn, f"{name}_grad" if grad else name)
            fname = f.__name__

            def case(
                fid: str,
                zz: Any,
                yy: Any,
                error: type[BaseException],
                arg: str,
                expected: str,
                bug: str | None = None,
                f: Any = f,
                fname: str = fname,
            ) -> Case:
                return Case(f"{fname}/{fid}", lambda: f(zz, yy), error, arg, expected, bug)

            nonempty = r"expected a non-empty \(B, C\) array"
            yield case("z-int", z.astype(int), Y, ATE, "z", r"expected float32 or float64")
            yield case("z-float16", z.astype(np.float16), Y, ATE, "z", r"expected float32 or f")
            yield case("z-complex", z.astype(complex), Y, ATE, "z", r"expected float32 or float64")
            yield case("z-1d", z[:, 0], Y, IAE, "z", nonempty)
            yield case("z-3d", z[:, :, None], Y, IAE, "z", nonempty)
            yield case("z-no-rows", z[:0], Y[:0], IAE, "z", nonempty)
            yield case("z-no-columns", z[:, :0], Y, IAE, "z", nonempty)
            yield case("z-nan", _nan_at(z), Y, IAE, "z", FINITE)
            yield case("z-inf", _nan_at(z, np.inf), Y, IAE, "z", FINITE)
            yield case("z-dict", {"z": z}, Y, ATE, "z", r"expected a numpy array")
            if name in ("softmax_cross_entropy", "mse") and not grad:
                yield case("z-ragged", [[1.0, 2.0], [1.0]], Y[:2], IAE, "z", r"expected")
            yield case("y-short", z, Y[:3], IAE, "y", r"must have shape \(5,\)")
            yield case("y-label-too-big", z, Y + 1, IAE, "y", r"labels must lie in \[0, 2\)")
            yield case("y-float-1d", z, Y.astype(float), IAE, "y", r"float targets must have shape")
            yield case("y-bool", z, Y > 0, ATE, "y", r"expected integer labels or float targets")
            yield case("y-dtype", z, T.astype(np.float32), ATE, "y", r"must have dtype float64")
            yield case("y-wide", z, np.ones((5, 3)) / 3, IAE, "y", r"must have shape \(5, 2\)")
            yield case("y-nan", z, _nan_at(T), IAE, "y", FINITE)
            if kind == "distribution":
                yield case("y-row-not-1", z, T * 0.5, IAE, "y", r"each target row must sum to 1")
                yield case("y-negative", z, np.vstack([[-1.0, 2.0], T[1:]]), IAE, "y", r">= 0")
            if kind == "probability":
                yield case("y-above-1", z, T + 0.5, IAE, "y", r"must lie in \[0, 1\]")
                yield case("y-below-0", z, T - 0.5, IAE, "y", r"must lie in \[0, 1\]")


# --------------------------------------------------------------------------- primitives


def _primitive_cases() -> Iterator[Case]:
    empty = np.empty((0,))
    yield Case("softmax/empty", lambda: fn.softmax(empty), IAE, "z", r"expected")
    yield Case(
        "log_softmax/empty", lambda: fn.log_softmax(empty), IAE, "z", r"expected"
    )
    yield Case(
        "softmax_jacobian/0d",
        thunk(fn.softmax_jacobian, np.float64(0.5)),
        IAE,
        "s",
        r"expected",
    )
    yield Case(
        "softmax_vjp/shape-mismatch",
        lambda: fn.softmax_vjp(np.ones((2, 3)) / 3, np.ones((2, 4))),
        IAE,
        "g",
        r"expected",
    )
    yield Case(
        "leaky_relu/list",
        lambda: fn.leaky_relu(wrong([1.0, -2.0])),
        ATE,
        "z",
        r"expected",
    )
    yield Case("relu/str", lambda: fn.relu(np.array(["a"])), ATE, "z", r"expected")
    for name, act in fn.ACTIVATIONS.items():
        ones = np.ones(3)
        yield Case(f"{name}/int", thunk(act.fn, np.arange(3)), ATE, "z", r"expected float32")
        yield Case(f"{name}/list-of-floats", thunk(act.fn, [1.0, 2.0]), ATE, "z", r"expected")
        yield Case(
            f"{name}_derivative/int",
            thunk(act.derivative, np.arange(3), ones),
            ATE,
            "z",
            r"expected float32",
        )
    kernel = fn.ACTIVATIONS["relu"].value_kernel
    yield Case("elementwise/name-int", thunk(fn.elementwise, wrong(3), kernel, kernel), ATE,
               "name", r"expected a non-empty str")
    yield Case("elementwise/derivative-not-callable",
               thunk(fn.elementwise, "mine", kernel, wrong(1.0)), ATE, "derivative_into",
               r"expected a callable")
    yield Case(
        "dense/x-width",
        lambda: fn.dense(P64[0], np.ones((2, 5))),
        IAE,
        "x",
        r"expected",
    )
    yield Case(
        "dense_vjp/g-width",
        lambda: fn.dense_vjp(P64[0], np.ones((2, 3)), np.ones((2, 5))),
        IAE,
        "g",
        r"expected",
    )


# --------------------------------------------------------------------------- pytree, sgd_step


def _pytree_cases() -> Iterator[Case]:
    flat, unravel = fn.ravel(P64)
    treedef = fn.tree_structure(P64)
    yield Case(
        "tree_map/structure-mismatch",
        lambda: fn.tree_map(np.add, P64, P64[:1]),
        IAE,
        "tree 1",
        r"has structure .*, expected",
    )
    yield Case(
        "tree_map/dict-vs-list",
        lambda: fn.tree_map(np.add, {"a": 1}, [1]),
        IAE,
        "tree 1",
        r"expected",
    )
    yield Case(
        "tree_unflatten/too-few-leaves",
        lambda: fn.tree_unflatten(treedef, [1, 2]),
        IAE,
        "leaves",
        r"expected 4 leaves",
    )
    yield Case(
        "tree_unflatten/not-a-treedef",
        lambda: fn.tree_unflatten(wrong("*"), [1]),
        ATE,
        "treedef",
        r"expected",
    )
    yield Case(
        "tree_flatten/unsortable-keys",
        lambda: fn.tree_flatten({1: 0, "a": 0}),
        ATE,
        "pytree",
        r"keys must be sortable",
    )
    yield Case(
        "unravel/wrong-length",
        lambda: unravel(flat[:-1]),
        IAE,
        "unravel",
        rf"expected a vector of shape \({flat.size},\)",
    )
    yield Case("unravel/2d", lambda: unravel(flat[None]), IAE, "unravel", r"expected a vector")


def _sgd_step_cases() -> Iterator[Case]:
    grads = fn.value_and_grad(SPEC, P64, X, Y)[1]

    def step(params: Any = P64, g: Any = grads, lr: Any = 0.1) -> Callable[[], object]:
        return lambda: fn.sgd_step(params, g, lr)

    for lr in (0, -0.1, float("nan"), float("inf"), -float("inf")):
        yield Case(f"sgd_step/lr-{lr}", step(lr=lr), IAE, "lr", r"expected a finite number > 0")
    bad_lrs: list[Any] = ["0.1", True, None, [0.1], np.array(0.1)]
    for lr in bad_lrs:
        yield Case(
            f"sgd_step/lr-{type(lr).__name__}-{lr!r}",
            step(lr=lr),
            ATE,
            "lr",
            r"expected a positive number",
        )
    yield Case("sgd_step/grads-short", step(g=grads[:1]), IAE, "grads", r"does not match params")
    yield Case("sgd_step/grads-dict", step(g=grads[0]), IAE, "grads", r"does not match params")
    yield Case(
        "sgd_step/grads-shape",
        step(g=_with(grads, 0, "W", grads[0]["W"].T.copy())),
        IAE,
        "grads",
        r"has shape \(4, 3\), params has \(3, 4\)",
    )
    yield Case(
        "sgd_step/grads-f32",
        step(g=_with(grads, 1, "b", grads[1]["b"].astype(np.float32))),
        ATE,
        "grads",
        r"has dtype float32, params has float64",
    )
    yield Case(
        "sgd_step/grads-list-leaf",
        step(g=_with(grads, 0, "b", [0.0] * 4)),
        IAE,
        "grads",
        r"does not match params",
    )
    yield Case(
        "sgd_step/grads-float-leaf",
        step(g=_with(grads, 1, "b", 0.0)),
        ATE,
        "grads",
        r"expected a numpy array",
    )
    yield Case(
        "sgd_step/grads-nan",
        step(g=_with(grads, 0, "W", _nan_at(grads[0]["W"]))),
        IAE,
        "grads",
        FINITE,
    )
    yield Case(
        "sgd_step/grads-inf",
        step(g=_with(grads, 1, "b", _nan_at(grads[1]["b"], np.inf))),
        IAE,
        "grads",
        FINITE,
    )
    yield Case(
        "sgd_step/params-nan",
        step(params=_with(P64, 0, "W", _nan_at(P64[0]["W"]))),
        IAE,
        "params",
        FINITE,
        None,
    )
    yield Case(
        "sgd_step/params-int",
        step(params=[{"W": np.ones((2, 2), int)}], g=[{"W": np.ones((2, 2), int)}]),
        ATE,
        "params",
        r"expected float32 or float64",
        None,
    )


def _validation_cases() -> Iterator[Case]:
    """The shared checks, called with a caller's argument name, as the library calls them."""
    f64 = np.dtype(np.float64)
    cases: list[tuple[str, Callable[[], object], type[BaseException], str, str]] = [
        (
            "ensure_array/set",
            lambda: validation.ensure_array("data", {1, 2}),
            ATE,
            "data",
            r"expected a numpy array, got set",
        ),
        (
            "check_float_dtype/int",
            lambda: validation.check_float_dtype("dt", int),
            ATE,
            "dt",
            r"expected float32 or float64",
        ),
        (
            "check_float_dtype/garbage",
            lambda: validation.check_float_dtype("dt", "f3"),
            ATE,
            "dt",
            r"expected float32 or float64",
        ),
        (
            "check_finite/nan",
            lambda: validation.check_finite("grid", _nan_at(X)),
            IAE,
            "grid",
            r"expected finite values, found nan at index \(2, 1\)",
        ),
        (
            "check_float_array/list",
            lambda: validation.check_float_array("s", [1.0]),
            ATE,
            "s",
            r"expected a float32 or float64 numpy array, got list",
        ),
        (
            "check_float_array/ndim",
            lambda: validation.check_float_array("s", np.float32(1.0), min_ndim=1),
            IAE,
            "s",
            r"expected an array with at least 1 axes, got shape \(\)",
        ),
        (
            "check_result_finite/inf",
            lambda: validation.check_result_finite("apply", f64, 1.0, np.array([np.inf])),
            fn.NonFiniteError,
            "apply",
            r"result overflows float64",
        ),
        (
            "check_positive_int/zero",
            lambda: validation.check_positive_int("n", 0),
            IAE,
            "n",
            r"expected a positive integer, got 0",
        ),
        (
            "check_positive_int/numpy-float",
            lambda: validation.check_positive_int("n", np.float64(2)),
            ATE,
            "n",
            r"expected a positive integer",
        ),
        (
            "check_learning_rate/negative",
            lambda: validation.check_learning_rate(-1.0, "eta"),
            IAE,
            "eta",
            r"expected a finite number > 0, got -1.0",
        ),
        (
            "check_targets/kind-unknown",
            lambda: validation.check_targets(T, 5, 2, f64, "hinge"),
            IAE,
            "kind",
            r"unknown target kind 'hinge'",
        ),
        (
            "check_targets/name",
            lambda: validation.check_targets(Y, 4, 2, f64, "real", "labels"),
            IAE,
            "labels",
            r"integer labels must have shape \(4,\)",
        ),
    ]
    for fid, call, error, arg, expected in cases:
        yield Case(fid, call, error, arg, expected)


CASES = [
    *_validation_cases(),
    *_mlp_cases(),
    *_init_cases(),
    *_network_cases(),
    *_loss_cases(),
    *_primitive_cases(),
    *_pytree_cases(),
    *_sgd_step_cases(),
]


@pytest.mark.parametrize("case", rows(CASES))
def test_bad_input_is_rejected_clearly(case: Case) -> None:
    check(case)
