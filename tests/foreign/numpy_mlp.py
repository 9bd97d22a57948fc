"""A foreign program for the tests, written from docs/foreign-protocol.md alone: an MLP in
plain numpy (funcnn is not imported) that computes in ONE precision, ``--dtype float32``
or ``--dtype float64``, declares only that dtype in ``hello``, and answers the ``loss``
messages in it too, as a program in C or Rust with one float type would.

Planted bugs (``--bug NAME``): ``grad-scale`` (every gradient 1% too large),
``tanh-square`` (the tanh derivative written ``1 - tanh`` instead of ``1 - tanh**2``),
``loss-extra`` (the loss gets ``1e-3 * sum(W**2)`` that the gradient forgets),
``bias-sum`` (the output bias gradient summed over the batch, not averaged),
``transposed`` (backprop reads each ``W`` as if it were stored ``(n_out, n_in)``, the
index slip of flat-array code: for a square ``W`` that is ``delta @ W`` for
``delta @ W.T``), ``softmax-ce`` (the softmax cross-entropy gradient through the
diagonal of the softmax Jacobian only, ``(p - 1) t / B``: right for the labelled class,
0 instead of ``p / B`` for the others), ``quadratic-delta`` (the sigmoid-quadratic
head's output delta ``s - t`` without ``s (1 - s)``: the cross-entropy delta).

Besides funcnn's losses it computes ``sigmoid_quadratic``, a textbook's sigmoid output
scored by ``sum_c (sigmoid(z_c) - t_c)^2 / 2`` per sample; ``--declare-head`` declares
it in ``hello`` as a head (``heads``), so a checker is told what it is.

``--protocol 1`` answers as a version-1 program (no ``problem`` or ``moves``).
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import sys
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

_WIRE = {"float64": "<f8", "float32": "<f4", "int32": "<i4"}
ACTIVATIONS = ["identity", "leaky_relu", "relu", "sigmoid", "softplus", "tanh"]
LOSSES = ["binary_cross_entropy", "mse", "softmax_binary_cross_entropy",
          "softmax_cross_entropy", "softmax_then_cross_entropy"]


def decode(value: dict[str, Any], dtype: Any) -> Any:
    if "base64" in value:
        flat = np.frombuffer(base64.b64decode(value["base64"]), _WIRE[value["dtype"]])
    else:
        flat = np.asarray(value["data"], dtype=_WIRE[value["dtype"]])
    out = flat.reshape(value["shape"])
    return out.astype(np.int64) if value["dtype"] == "int32" else out.astype(dtype)


def encode(array: Any) -> dict[str, Any]:
    a = np.ascontiguousarray(array)
    return {"shape": list(a.shape), "dtype": str(a.dtype),
            "base64": base64.b64encode(a.astype(a.dtype.newbyteorder("<")).tobytes()).decode()}


def act(name: str, z: Any) -> tuple[Any, Any]:
    """The activation and its derivative at ``z``, in ``z``'s dtype."""
    one = z.dtype.type(1)
    if name == "identity":
        return z, np.ones_like(z)
    if name == "relu":
        return np.maximum(z, 0), (z > 0).astype(z.dtype)
    if name == "leaky_relu":
        slope = z.dtype.type(0.01)
        return np.where(z > 0, z, slope * z), np.where(z > 0, one, slope)
    if name == "sigmoid":
        s = one / (one + np.exp(-z))
        return s, s * (one - s)
    if name == "softplus":
        return np.logaddexp(z.dtype.type(0), z), one / (one + np.exp(-z))
    if name == "tanh":
        t = np.tanh(z)
        return t, one - (t if BUG == "tanh-square" else t * t)
    raise ValueError(f"unknown activation {name!r}")


def loss_and_delta(name: str, z: Any, y: Any) -> tuple[Any, Any]:
    """Mean loss and dL/dz of the last layer's output ``z`` (B, C)."""
    b, c = z.shape
    dt = z.dtype.type
    if y.dtype.kind == "i":
        t = np.zeros_like(z)
        if c == 1:
            t[:, 0] = y
        else:
            t[np.arange(b), y] = 1
    else:
        t = y
    if name in ("softmax_cross_entropy", "softmax_then_cross_entropy"):
        shifted = z - z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        p = np.exp(shifted - lse)
        value = np.sum(t * (lse - shifted)) / dt(b)
        if BUG == "softmax-ce":
            return value, (p - dt(1)) * t / dt(b)
        return value, (p * t.sum(axis=1, keepdims=True) - t) / dt(b)
    if name == "mse":
        return np.mean((z - t) ** 2), dt(2) * (z - t) / dt(z.size)
    if name == "binary_cross_entropy":
        value = np.mean(np.logaddexp(dt(0), z) - t * z)
        return value, (dt(1) / (dt(1) + np.exp(-z)) - t) / dt(z.size)
    if name == "softmax_binary_cross_entropy":
        shifted = z - z.max(axis=1, keepdims=True)
        s = np.exp(shifted)
        s /= s.sum(axis=1, keepdims=True)
        info = np.finfo(z.dtype)
        p = np.clip(s, info.tiny, dt(1) - info.epsneg)
        value = -np.mean(t * np.log(p) + (dt(1) - t) * np.log1p(-p))
        dp = (-t / p + (dt(1) - t) / (dt(1) - p)) / dt(z.size)
        return value, s * (dp - np.sum(dp * s, axis=1, keepdims=True))
    if name == "sigmoid_quadratic":
        s = dt(1) / (dt(1) + np.exp(-z))
        value = np.sum((s - t) ** 2) / dt(2 * b)
        if BUG == "quadratic-delta":
            return value, (s - t) / dt(b)
        return value, (s - t) * s * (dt(1) - s) / dt(b)
    raise ValueError(f"unknown loss {name!r}")


def forward(msg: dict[str, Any], params: list[dict[str, Any]]) -> tuple[Any, list[Any]]:
    """Mean loss, and what backprop needs: each layer's input and activation derivative."""
    acts = msg["spec"]["activations"]
    a = X
    inputs, derivs = [], []
    for i, layer in enumerate(params):
        inputs.append(a)
        z = a @ layer["W"] + layer["b"]
        if i < len(params) - 1:
            a, d = act(acts[i], z)
            derivs.append(d)
    value, delta = loss_and_delta(msg["spec"]["loss"], z, Y)
    if BUG == "loss-extra":
        value = value + DTYPE.type(1e-3) * sum(np.sum(layer["W"] ** 2) for layer in params)
    return value, [inputs, derivs, delta]


def value_and_grad(msg: dict[str, Any], params: list[dict[str, Any]]) -> tuple[Any, Any]:
    value, (inputs, derivs, delta) = forward(msg, params)
    grads: list[dict[str, Any]] = [{} for _ in params]
    for i in range(len(params) - 1, -1, -1):
        grads[i]["W"] = inputs[i].T @ delta
        grads[i]["b"] = delta.sum(axis=0)
        if i > 0:
            W = params[i]["W"]
            back = W.reshape(W.shape[::-1]) if BUG == "transposed" else W.T
            delta = (delta @ back) * derivs[i - 1]
    if BUG == "bias-sum":
        grads[-1]["b"] = grads[-1]["b"] * DTYPE.type(len(X))
    if BUG == "grad-scale":
        grads = [{k: g * DTYPE.type(1.01) for k, g in layer.items()} for layer in grads]
    return value, grads


def moved(msg: dict[str, Any]) -> dict[str, Any]:
    """The loss of the kept problem at each point of a ``moves`` message: the kept
    parameters (flat, float64) plus ``step`` times a sparse direction, rounded to DTYPE."""
    d = msg["directions"]
    offsets, index = decode(d["offsets"], np.int64), decode(d["index"], np.int64)
    value = decode(d["value"], np.float64)
    which, step = decode(msg["which"], np.int64), decode(msg["step"], np.float64)
    values = []
    for r, t in zip(which, step, strict=True):
        theta = KEPT["flat"].copy()
        span = slice(offsets[r], offsets[r + 1])
        theta[index[span]] += t * value[span]
        values.append(forward(KEPT["msg"], unflat(theta.astype(DTYPE)))[0])
    return {"losses": encode(np.array(values, dtype=DTYPE))}


def unflat(theta: Any) -> list[dict[str, Any]]:
    """Layers from a flat vector: W (row-major) then b, layer by layer."""
    out, start = [], 0
    sizes = KEPT["msg"]["spec"]["sizes"]
    for n_in, n_out in itertools.pairwise(sizes):
        w = theta[start:start + n_in * n_out].reshape(n_in, n_out)
        start += n_in * n_out
        out.append({"W": w, "b": theta[start:start + n_out]})
        start += n_out
    return out


def answer(msg: dict[str, Any]) -> dict[str, Any]:
    global X, Y
    if msg["op"] == "hello":
        heads = {"heads": {"sigmoid_quadratic": HEAD}} if DECLARE_HEAD else {}
        return {"protocol": PROTOCOL, "dtypes": [str(DTYPE)],
                "activations": ACTIVATIONS, "losses": LOSSES, **heads}
    if msg["op"] == "moves" and PROTOCOL.endswith("/2"):
        X, Y = KEPT["x"], KEPT["y"]
        return moved(msg)
    if msg["dtype"] != str(DTYPE):
        return {"error": f"dtype {msg['dtype']} not supported, only {DTYPE}"}
    X, Y = decode(msg["x"], DTYPE), decode(msg["y"], DTYPE)

    def params_of(layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: decode(layer[k], DTYPE) for k in ("W", "b")} for layer in layers]

    if msg["op"] == "loss":
        values = [forward(msg, params_of(p))[0] for p in msg["params_list"]]
        return {"losses": encode(np.array(values, dtype=DTYPE))}
    if msg["op"] == "problem" and PROTOCOL.endswith("/2"):
        params = params_of(msg["params"])
        flat = np.concatenate([np.ravel(layer[k]) for layer in params for k in ("W", "b")])
        KEPT.update(msg=msg, x=X, y=Y, flat=flat.astype(np.float64))
        return {"loss": float(forward(msg, params)[0])}
    value, grads = value_and_grad(msg, params_of(msg["params"]))
    return {"loss": float(value), "grads": [{k: encode(g) for k, g in layer.items()}
                                            for layer in grads]}


X: Any = None
Y: Any = None
KEPT: dict[str, Any] = {}
DTYPE = np.dtype("float64")
BUG = ""
PROTOCOL = "funcnn-foreign/2"
DECLARE_HEAD = False
HEAD = {"output": "sigmoid", "loss": "squared", "outputs": "sum", "half": True}


def main() -> None:
    # One small matrix product at a time: BLAS threads would only wait for each other
    # (13 ms a point instead of 0.7 on a busy 2-core machine).
    threadpool_limits(1)
    global DTYPE, BUG, PROTOCOL, DECLARE_HEAD
    parser = argparse.ArgumentParser()
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    parser.add_argument("--bug", default="", choices=["", "grad-scale", "tanh-square",
                                                      "loss-extra", "bias-sum", "transposed",
                                                      "softmax-ce", "quadratic-delta"])
    parser.add_argument("--declare-head", action="store_true")
    parser.add_argument("--protocol", choices=["1", "2"], default="2")
    args = parser.parse_args()
    DTYPE, BUG, DECLARE_HEAD = np.dtype(args.dtype), args.bug, args.declare_head
    PROTOCOL = f"funcnn-foreign/{args.protocol}"
    for line in sys.stdin:
        msg = json.loads(line)
        try:
            out = answer(msg)
        except (ValueError, KeyError) as exc:
            out = {"error": str(exc)}
        print(json.dumps({"id": msg["id"], **out}), flush=True)


if __name__ == "__main__":
    main()
