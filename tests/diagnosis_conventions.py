"""Correct MLPs in six conventions people write, each with classic mistakes to plant.

Each convention is written the way its kind of code is written (a textbook class, module
globals, a per-sample loop, a network without biases, scikit-learn's L2, a training
step that updates its own weights), with numpy only; a mistake is switched on by name at
the line where people make it. :data:`CONVENTIONS` holds each one with its glue (at
most three lines, as in docs/check-your-own.md) and the mistakes that apply to it, each
with the step and the mistake's ``kind`` that :func:`verification.diagnose_mlp` must
name. Every network has four layers, three hidden ones of width 5.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import funcnn as fn
from verification.external.adapters import (
    Adapted,
    Layout,
    bound,
    from_batch,
    from_update,
)
from verification.external.heads import head

__all__ = ["ALPHA", "CONVENTIONS", "LR", "Convention"]

LR = 0.5
"""The learning rate of the code that updates weights."""

ALPHA = 1e-2
"""scikit-learn's L2 coefficient in convention (e) (its default, 1e-4, makes a wrong L2
factor smaller than float32's rounding of the gradients of some layers)."""

HIDDEN = (5, 5, 5)

# Where each mistake shows: the step and the kind the diagnosis must name.
HIDDEN_DELTA = {
    "derivative-at-activation": ("layer 1 delta", "derivative-at-activation"),
    "derivative-formula-on-z": ("layer 1 delta", "derivative-formula-on-z"),
    "derivative-missing": ("layer 1 delta", "derivative-missing"),
    "derivative-other-layer": ("layer 1 delta", "derivative-other-layer"),
    "derivative-other-activation": ("layer 1 delta", "derivative-other-activation"),
    "derivative-from-above": ("layer 3 delta", "derivative-other-layer"),
    "updated-weights": ("layer 1 delta", "propagation-updated-weights"),
    "wrong-layer-weights": ("layer 2 delta", "propagation-wrong-layer"),
    "missing-transpose": ("layer 2 delta", "propagation-untransposed"),
    "transposed-weight-gradient": ("layer 1 weight gradient", "weight-transposed"),
    "pre-activation": ("layer 4 weight gradient", "weight-pre-activation"),
    "weight-one-sample": ("batch reduction", "one-sample"),
}
BIASES = {
    "bias-sign": ("layer 2 bias gradient", "bias-gradient"),
    "bias-one-sample": ("batch reduction", "one-sample"),
}
MEAN = {
    "missing-mean": ("batch reduction", "batch-sum"),
    "mean-twice": ("batch reduction", "batch-twice"),
}
LABELS = {
    "prediction-one-hot": ("output delta", "output-prediction-one-hot"),
    "ce-eps": ("loss value", "loss-eps"),
}


def sigmoid(z: Any) -> Any:
    return 1 / (1 + np.exp(-z))


def softmax_rows(z: Any) -> Any:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _prime(kind: str, z: Any, a: Any) -> Any:
    """The derivative of ``kind`` at ``z`` (``a = f(z)``), as notebooks write it."""
    return a * (1 - a) if kind == "sigmoid" else 1 - a**2


def _hidden_prime(
    m: Collection[str], kind: str, layer: int, z: list[Any], a: list[Any], f: Callable[..., Any]
) -> Any:
    """f'(z) of hidden layer ``layer`` (0-based; ``a[layer + 1] = f(z[layer])``), with the
    derivative mistakes planted at layer 0 and at the last hidden layer."""
    right = _prime(kind, z[layer], a[layer + 1])
    if layer == len(z) - 2 and "derivative-from-above" in m:
        return _prime(kind, z[layer + 1], f(z[layer + 1]))  # the output's z
    if layer != 0:
        return right
    if "derivative-at-activation" in m:
        return _prime(kind, a[1], f(a[1]))
    if "derivative-formula-on-z" in m:
        return z[0] * (1 - z[0]) if kind == "sigmoid" else 1 - z[0] ** 2
    if "derivative-missing" in m:
        return 1.0
    if "derivative-other-layer" in m:
        return _prime(kind, z[1], a[2])
    if "derivative-other-activation" in m:
        return (z[0] > 0).astype(z[0].dtype)
    if "tanh-no-square" in m:
        return 1 - a[1]
    return right


# (a) A textbook class: feedforward/backprop methods, weights (out, in), biases (n, 1),
# data as columns, sigmoid everywhere and the quadratic cost 1/2 ||a - y||^2.
class TextbookNetwork:
    def __init__(self, mistakes: Collection[str] = ()) -> None:
        self.m = set(mistakes)
        self.weights: list[Any] = []
        self.biases: list[Any] = []

    def feedforward(self, X: Any) -> tuple[list[Any], list[Any]]:
        zs, activations = [], [X]
        for W, b in zip(self.weights, self.biases, strict=True):
            zs.append(W @ activations[-1] + b)
            activations.append(sigmoid(zs[-1]))
        return zs, activations

    def backprop(self, X: Any, Y: Any) -> tuple[float, tuple[list[Any], list[Any]]]:
        m, n = self.m, X.shape[1]
        zs, acts = self.feedforward(X)
        cost = 0.5 * np.sum((acts[-1] - Y) ** 2) / n
        delta = (acts[-1] - Y) * acts[-1] * (1 - acts[-1]) / n
        if "output-derivative-again" in m:
            delta = delta * acts[-1] * (1 - acts[-1])
        delta = delta * n if "missing-mean" in m else delta / n if "mean-twice" in m else delta
        L = len(self.weights)
        nabla_w: list[Any] = [None] * L
        nabla_b: list[Any] = [None] * L
        for j in range(L - 1, -1, -1):
            a_in = zs[j - 1] if "pre-activation" in m and j == L - 1 else acts[j]
            nabla_w[j] = delta @ a_in.T
            nabla_b[j] = np.sum(delta, axis=1, keepdims=True)
            if j == 0 and "transposed-weight-gradient" in m:
                nabla_w[j] = a_in @ delta.T
            if j == 1 and "bias-sign" in m:
                nabla_b[j] = -nabla_b[j]
            if j == 1 and "bias-one-sample" in m:
                nabla_b[j] = delta[:, :1]
            if j == 1 and "weight-one-sample" in m:
                nabla_w[j] = delta[:, :1] @ a_in[:, :1].T
            if j == 0:
                break
            W = self.weights[j]
            if j == 1 and "updated-weights" in m:
                W = W - LR * nabla_w[j]
            if j == 2 and "wrong-layer-weights" in m:
                W = self.weights[j - 1]
            back = W @ delta if j == 2 and "missing-transpose" in m else W.T @ delta
            if j == L - 1 and "next-output" in m:
                back = delta * acts[-1]
            delta = back * _hidden_prime(m, "sigmoid", j - 1, zs, acts, sigmoid)
        return cost, (nabla_w, nabla_b)


def textbook(spec: fn.MLP, mistakes: Collection[str]) -> Adapted:
    net = TextbookNetwork(mistakes)
    layout = Layout("out_in", "column", "columns", "one_hot", params="weights_biases")
    return from_batch(bound(net.backprop, net, "weights biases"), spec, layout)


# (b) Module-level globals, rows, weights (in, out), softmax + cross-entropy, the mean.
W1: Any = None
b1: Any = None
W2: Any = None
b2: Any = None
W3: Any = None
b3: Any = None
W4: Any = None
b4: Any = None
MISTAKES: set[str] = set()


def forward_backward(X: Any, y: Any) -> Any:
    m, n = MISTAKES, len(X)
    Ws: list[Any] = [W1, W2, W3, W4]
    bs: list[Any] = [b1, b2, b3, b4]
    Z, A = [], [X]
    for W, b in zip(Ws, bs, strict=True):
        Z.append(A[-1] @ W + b)
        A.append(np.tanh(Z[-1]))
    P = softmax_rows(Z[-1])
    loss = -np.mean(np.log(P[np.arange(n), y] + (1e-7 if "ce-eps" in m else 0)))
    Y = np.eye(P.shape[1])[np.argmax(Z[-1], axis=1) if "prediction-one-hot" in m else y]
    dZ = (P - Y) / n
    if "output-derivative-again" in m:
        dZ = dZ * P * (1 - P)
    dZ = dZ * n if "missing-mean" in m else dZ / n if "mean-twice" in m else dZ
    grads: list[Any] = [None] * 8
    for j in range(3, -1, -1):
        a_in = Z[j - 1] if "pre-activation" in m and j == 3 else A[j]
        dW, db = a_in.T @ dZ, dZ.sum(axis=0)
        if j == 0 and "transposed-weight-gradient" in m:
            dW = dZ.T @ a_in
        if j == 1 and "bias-sign" in m:
            db = -db
        if j == 1 and "bias-one-sample" in m:
            db = dZ[0]
        if j == 1 and "weight-one-sample" in m:
            dW = a_in[:1].T @ dZ[:1]
        grads[2 * j], grads[2 * j + 1] = dW, db
        if j == 0:
            break
        W = Ws[j]
        if j == 1 and "updated-weights" in m:
            W = W - LR * dW
        if j == 2 and "wrong-layer-weights" in m:
            W = Ws[j - 1]
        back = dZ @ W if j == 2 and "missing-transpose" in m else dZ @ W.T
        dZ = back * _hidden_prime(m, "tanh", j - 1, Z, A, np.tanh)
    return loss, grads


def module_globals(spec: fn.MLP, mistakes: Collection[str]) -> Adapted:
    MISTAKES.clear()
    MISTAKES.update(mistakes)
    return from_batch(bound(forward_backward, globals(), "W1 b1 W2 b2 W3 b3 W4 b4"), spec)


# (c) One sample at a time, gradients accumulated in a loop, the loss summed over the
# batch; a sigmoid output unit with binary cross-entropy, weights (in, out).
def per_sample_loop(mistakes: Collection[str]) -> Callable[..., Any]:
    m = set(mistakes)

    def one(params: list[Any], x: Any, t: Any) -> tuple[float, list[Any]]:
        Ws, bs = params[0::2], params[1::2]
        Z, A = [], [x]
        for W, b in zip(Ws, bs, strict=True):
            Z.append(A[-1] @ W + b)
            A.append(sigmoid(Z[-1]))
        p = A[-1]
        loss = float(-(t * np.log(p) + (1 - t) * np.log(1 - p)).sum())
        dz = p - t
        if "output-derivative-again" in m:
            dz = dz * p * (1 - p)
        grads: list[Any] = [None] * 8
        for j in range(3, -1, -1):
            a_in = Z[j - 1] if "pre-activation" in m and j == 3 else A[j]
            grads[2 * j], grads[2 * j + 1] = a_in.T @ dz, dz[0]
            if j == 1 and "bias-sign" in m:
                grads[3] = -grads[3]
            if j == 0:
                break
            W = Ws[j]
            if j == 1 and "updated-weights" in m:
                W = W - LR * grads[2]
            if j == 2 and "wrong-layer-weights" in m:
                W = Ws[j - 1]
            back = dz @ W if j == 2 and "missing-transpose" in m else dz @ W.T
            if j == 3 and "next-output" in m:
                back = dz * p
            dz = back * _hidden_prime(m, "sigmoid", j - 1, Z, A, sigmoid)
        return loss, grads

    def batch(params: list[Any], X: Any, y: Any) -> tuple[float, list[Any]]:
        total = 0.0
        sums = [np.zeros_like(p) for p in params]
        for i in range(len(X)):
            loss, grads = one(params, X[i : i + 1], y[i : i + 1, None])
            total += loss
            for k, g in enumerate(grads):
                if "mean-for-sum" in m:
                    g = g / len(X)
                if k == 3 and "bias-mean" in m:
                    g = g / len(X)
                one_sample = {2: "weight-one-sample", 3: "bias-one-sample"}.get(k, "")
                sums[k] = g.copy() if one_sample in m else sums[k] + g
        return total, sums

    return batch


def loop(spec: fn.MLP, mistakes: Collection[str]) -> Adapted:
    return from_batch(per_sample_loop(mistakes), spec, reduction="sum")


# (d) No biases, tanh, mean squared error on a linear output, weights (in, out).
def no_biases(mistakes: Collection[str]) -> Callable[..., Any]:
    m = set(mistakes)

    def value_and_grad(Ws: list[Any], X: Any, Y: Any) -> tuple[float, list[Any]]:
        n = len(X)
        Z, A = [], [X]
        for W in Ws:
            Z.append(A[-1] @ W)
            A.append(np.tanh(Z[-1]))
        out = Z[-1]
        loss = float(np.mean((out - Y) ** 2))
        delta = 2 * (out - Y) / Y.size
        delta = delta * n if "missing-mean" in m else delta / n if "mean-twice" in m else delta
        grads: list[Any] = [None] * 4
        for j in range(3, -1, -1):
            a_in = Z[j - 1] if "pre-activation" in m and j == 3 else A[j]
            grads[j] = a_in.T @ delta
            if j == 0 and "transposed-weight-gradient" in m:
                grads[0] = delta.T @ a_in
            if j == 1 and "weight-one-sample" in m:
                grads[1] = a_in[:1].T @ delta[:1]
            if j == 0:
                break
            W = Ws[j]
            if j == 1 and "updated-weights" in m:
                W = W - LR * grads[1]
            if j == 2 and "wrong-layer-weights" in m:
                W = Ws[j - 1]
            back = delta @ W if j == 2 and "missing-transpose" in m else delta @ W.T
            if j == 3 and "next-output" in m:
                back = delta * out
            delta = back * _hidden_prime(m, "tanh", j - 1, Z, A, np.tanh)
        return loss, grads

    return value_and_grad


def biasless(spec: fn.MLP, mistakes: Collection[str]) -> Adapted:
    return from_batch(no_biases(mistakes), spec, Layout(bias="none", targets="one_hot"))


# (e) scikit-learn's convention: alpha/(2B) sum W^2 added once per batch, relu-free tanh
# layers, softmax + cross-entropy, layers as coefs_/intercepts_ lists.
def sklearn_style(mistakes: Collection[str]) -> Callable[..., Any]:
    m = set(mistakes)

    def loss_grad(coefs: list[Any], intercepts: list[Any], X: Any, y: Any) -> Any:
        n = len(X)
        Z, A = [], [X]
        for W, b in zip(coefs, intercepts, strict=True):
            Z.append(A[-1] @ W + b)
            A.append(np.tanh(Z[-1]))
        P = softmax_rows(Z[-1])
        loss = -np.mean(np.log(P[np.arange(n), y] + (1e-7 if "ce-eps" in m else 0)))
        loss += ALPHA / (2 * n) * sum(np.sum(W * W) for W in coefs)
        Y = np.eye(P.shape[1])[np.argmax(Z[-1], axis=1) if "prediction-one-hot" in m else y]
        delta = P - Y
        if "output-derivative-again" in m:
            delta = delta * P * (1 - P)
        scale = 1 if "missing-mean" in m else n * n if "mean-twice" in m else n
        coef_grads: list[Any] = [None] * 4
        intercept_grads: list[Any] = [None] * 4
        for j in range(3, -1, -1):
            a_in = Z[j - 1] if "pre-activation" in m and j == 3 else A[j]
            reg = (2 if "l2-factor" in m else 1) * ALPHA * coefs[j] / n
            coef_grads[j] = a_in.T @ delta / scale + reg
            intercept_grads[j] = delta.sum(axis=0) / scale
            if j == 0 and "transposed-weight-gradient" in m:
                coef_grads[0] = (delta.T @ a_in) / scale + reg.T
            if j == 1 and "bias-sign" in m:
                intercept_grads[1] = -intercept_grads[1]
            if j == 1 and "bias-one-sample" in m:
                intercept_grads[1] = delta[0] / scale
            if j == 1 and "weight-one-sample" in m:
                coef_grads[1] = a_in[:1].T @ delta[:1] / scale + reg
            if j == 0:
                break
            W = coefs[j]
            if j == 1 and "updated-weights" in m:
                W = W - LR * coef_grads[1]
            if j == 2 and "wrong-layer-weights" in m:
                W = coefs[j - 1]
            back = delta @ W if j == 2 and "missing-transpose" in m else delta @ W.T
            delta = back * _hidden_prime(m, "tanh", j - 1, Z, A, np.tanh)
        return loss, (coef_grads, intercept_grads)

    def f(params: list[Any], X: Any, y: Any) -> Any:
        return loss_grad(params[0], params[1], X, y)

    return f


def sklearn(spec: fn.MLP, mistakes: Collection[str]) -> Adapted:
    return from_batch(sklearn_style(mistakes), spec, Layout(params="weights_biases"))


# (f) The update fused into the training step: a class whose step updates self.layers
# in place ([{"W": (in, out), "b": (1, out)}, ...]), sigmoid layers, softmax output.
class Trainer:
    def __init__(self, mistakes: Collection[str] = (), lr: float = LR) -> None:
        self.m, self.lr = set(mistakes), lr
        self.layers: list[dict[str, Any]] = []

    def gradients(self, X: Any, y: Any) -> tuple[float, list[tuple[Any, Any]]]:
        m, n = self.m, len(X)
        Z, A = [], [X]
        for layer in self.layers:
            Z.append(A[-1] @ layer["W"] + layer["b"])
            A.append(sigmoid(Z[-1]))
        P = softmax_rows(Z[-1])
        loss = -np.mean(np.log(P[np.arange(n), y] + (1e-7 if "ce-eps" in m else 0)))
        Y = np.eye(P.shape[1])[np.argmax(Z[-1], axis=1) if "prediction-one-hot" in m else y]
        delta = (P - Y) / n
        if "output-derivative-again" in m:
            delta = delta * P * (1 - P)
        delta = delta * n if "missing-mean" in m else delta / n if "mean-twice" in m else delta
        grads: list[Any] = [None] * 4
        for j in range(3, -1, -1):
            a_in = Z[j - 1] if "pre-activation" in m and j == 3 else A[j]
            dW, db = a_in.T @ delta, delta.sum(axis=0, keepdims=True)
            if j == 1 and "bias-sign" in m:
                db = -db
            if j == 1 and "bias-one-sample" in m:
                db = delta[:1]
            if j == 1 and "weight-one-sample" in m:
                dW = a_in[:1].T @ delta[:1]
            grads[j] = (dW, db)
            if j == 0:
                break
            W = self.layers[j]["W"]
            if j == 1 and "updated-weights" in m:
                W = W - self.lr * dW
            if j == 2 and "wrong-layer-weights" in m:
                W = self.layers[j - 1]["W"]
            back = delta @ W if j == 2 and "missing-transpose" in m else delta @ W.T
            delta = back * _hidden_prime(m, "sigmoid", j - 1, Z, A, sigmoid)
        return loss, grads

    def train_step(self, X: Any, y: Any) -> float:
        if "update-per-sample" in self.m:
            losses = []
            for i in range(len(X)):
                loss, grads = self.gradients(X[i : i + 1], y[i : i + 1])
                losses.append(loss)
                for layer, (dW, db) in zip(self.layers, grads, strict=True):
                    layer["W"] -= self.lr * dW / len(X)
                    layer["b"] -= self.lr * db / len(X)
            return float(np.mean(losses))
        loss, grads = self.gradients(X, y)
        for layer, (dW, db) in zip(self.layers, grads, strict=True):
            layer["W"] -= self.lr * dW
            layer["b"] -= self.lr * db
        return float(loss)


def fused(spec: fn.MLP, mistakes: Collection[str]) -> Adapted:
    net = Trainer(mistakes)
    layout = Layout(bias="row", params="layers")
    return from_update(bound(net.train_step, net, "layers", updates=True), spec, layout, lr=LR)


@dataclass(frozen=True)
class Convention:
    """One convention: its network, its head, its glue, and the mistakes it can make."""

    name: str
    sizes: tuple[int, ...]
    activation: str
    loss: str | fn.Loss
    build: Callable[[fn.MLP, Collection[str]], Adapted]
    mistakes: dict[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def spec(self) -> fn.MLP:
        return fn.MLP(self.sizes, self.activation)


def _common(activation: str, *drop: str) -> dict[str, tuple[str, str]]:
    out = dict(HIDDEN_DELTA)
    if activation == "tanh":
        out["tanh-no-square"] = ("layer 1 delta", "derivative-no-square")
    return {k: v for k, v in out.items() if k not in drop}


_SOFTMAX_AGAIN = {"output-derivative-again": ("output delta", "output-softmax-derivative")}

CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention(
            "(a) textbook class, columns, sigmoid + quadratic cost",
            (4, *HIDDEN, 1),
            "sigmoid",
            head("sigmoid", "squared", outputs="sum", half=True),
            textbook,
            {
                **_common("sigmoid"),
                **BIASES,
                **MEAN,
                "next-output": ("layer 3 delta", "propagation-next-output"),
                "output-derivative-again": ("output delta", "output-derivative-twice"),
            },
        ),
        Convention(
            "(b) module globals, rows, softmax + cross-entropy",
            (4, *HIDDEN, 5),
            "tanh",
            "softmax_cross_entropy",
            module_globals,
            {**_common("tanh"), **BIASES, **MEAN, **LABELS, **_SOFTMAX_AGAIN},
        ),
        Convention(
            "(c) per-sample loop, summed, sigmoid + binary cross-entropy",
            (4, *HIDDEN, 1),
            "sigmoid",
            "binary_cross_entropy",
            loop,
            {
                **_common("sigmoid", "transposed-weight-gradient"),
                **BIASES,
                "mean-for-sum": ("batch reduction", "batch-twice"),
                "bias-mean": ("batch reduction", "bias-twice"),
                "next-output": ("layer 3 delta", "propagation-next-output"),
                "output-derivative-again": ("output delta", "output-derivative-again"),
            },
        ),
        Convention(
            "(d) no biases, tanh, MSE",
            (4, *HIDDEN, 1),
            "tanh",
            "mse",
            biasless,
            {
                **_common("tanh"),
                **MEAN,
                "next-output": ("layer 3 delta", "propagation-next-output"),
            },
        ),
        Convention(
            "(e) scikit-learn's L2 alpha/(2B) sum W^2, tanh, softmax",
            (4, *HIDDEN, 5),
            "tanh",
            "softmax_cross_entropy",
            sklearn,
            {
                **_common("tanh"),
                **BIASES,
                **MEAN,
                **LABELS,
                **_SOFTMAX_AGAIN,
                "l2-factor": ("L2 term of layers 1, 2, 3, 4", "weight-l2-factor"),
            },
        ),
        Convention(
            "(f) update fused into the step, layers as dicts, sigmoid, softmax",
            (4, *HIDDEN, 5),
            "sigmoid",
            "softmax_cross_entropy",
            fused,
            {
                **_common("sigmoid", "transposed-weight-gradient"),
                **BIASES,
                **MEAN,
                **LABELS,
                **_SOFTMAX_AGAIN,
                "update-per-sample": ("batch reduction", "update-per-sample"),
            },
        ),
    )
}
"""The six conventions, each with the mistakes that apply to it."""


FLOAT64_ONLY = {"ce-eps"}
"""Mistakes float32 cannot show: an eps of 1e-7 inside a float32 log moves the loss by a
few float32 roundings, as much as computing it in another order does."""


@dataclass(frozen=True)
class Row:
    """The measurement on one convention: planted cases and what the diagnosis said."""

    convention: str
    mistakes: int
    cases: int
    named: int
    wrong_step: int
    not_found: int
    correct_runs: int
    false_alarms: int


def probe_params(spec: fn.MLP, seed: int, dtype: type[np.floating[Any]]) -> fn.Params:
    """Glorot-normal weights (x 1.5) and random biases in ``dtype``, as diagnose_mlp's."""
    rng = np.random.default_rng(seed)
    params = fn.init(spec, rng, scheme="glorot_normal")
    return [
        {"W": (1.5 * p["W"]).astype(dtype), "b": rng.normal(0, 0.5, p["b"].shape).astype(dtype)}
        for p in params
    ]


def measure(
    seeds: Collection[int], dtypes: Collection[type[np.floating[Any]]]
) -> tuple[list[Row], list[str]]:
    """Every convention, correct and with each mistake planted, at each seed and dtype:
    the rows of the table, and a line for each case not named exactly."""
    from verification import diagnose_mlp

    rows, misses = [], []
    for convention in CONVENTIONS.values():
        spec = convention.spec
        counts = dict.fromkeys(("cases", "named", "wrong", "lost", "runs", "alarms"), 0)
        for seed in seeds:
            for dtype in dtypes:
                params = probe_params(spec, seed, dtype)
                run = convention.build(spec, ())
                correct = diagnose_mlp(spec, run, convention.loss, params=params, seed=seed)
                counts["runs"] += 1
                if not correct.ok:
                    counts["alarms"] += 1
                    misses.append(f"FALSE ALARM {convention.name} {dtype.__name__}: {correct}")
                for mistake, expected in convention.mistakes.items():
                    if dtype is not np.float64 and mistake in FLOAT64_ONLY:
                        continue
                    planted = convention.build(spec, {mistake})
                    found = diagnose_mlp(spec, planted, convention.loss, params=params, seed=seed)
                    counts["cases"] += 1
                    root = found.root_cause
                    if root is not None and (root.step, root.kind) == expected:
                        counts["named"] += 1
                        continue
                    wrong = root is not None and root.step != expected[0]
                    counts["wrong" if wrong else "lost"] += 1
                    misses.append(
                        f"{convention.name} {dtype.__name__} seed {seed} {mistake}: expected "
                        f"{expected}, got {None if root is None else (root.step, root.kind)}"
                    )
        rows.append(
            Row(convention.name, len(convention.mistakes), counts["cases"], counts["named"],
                counts["wrong"], counts["lost"], counts["runs"], counts["alarms"])
        )
    return rows, misses


def table(rows: Collection[Row]) -> str:
    """The measurement as the markdown table of docs/check-your-own.md."""
    lines = [
        "| convention | mistakes | cases | right step and name | wrong step | not found "
        "| correct runs | false alarms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    total = Row("all", *[sum(getattr(r, f) for r in rows) for f in Row.__dataclass_fields__
                        if f != "convention"])
    for r in [*rows, total]:
        share = f"{r.named} ({100 * r.named / max(r.cases, 1):.1f}%)"
        lines.append(
            f"| {r.convention} | {r.mistakes} | {r.cases} | {share} | {r.wrong_step} | "
            f"{r.not_found} | {r.correct_runs} | {r.false_alarms} |"
        )
    return "\n".join(lines)
