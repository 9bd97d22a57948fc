"""A foreign program for the tests: funcnn's value_and_grad behind the JSON-lines
protocol, with bugs and protocol faults planted on request (``--bug NAME``).

Bugs: ``grad-scale`` (every gradient 1% too large), ``loss-mismatch`` (the loss gets
an extra 0.1 * sum(W**2) that the gradient ignores), ``crash`` (exits on the first
value_and_grad), ``hang`` (never answers value_and_grad), ``bad-json``, ``bad-shape``
(W's gradient transposed), ``nan`` (a NaN gradient entry).

It speaks protocol version 2 (``problem`` kept, ``moves`` evaluated against it);
``--protocol 1`` makes it a version-1 program.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

import funcnn as fn


def decode(value: dict[str, Any]) -> Any:
    dtype = {"float64": "<f8", "float32": "<f4", "int32": "<i4"}[value["dtype"]]
    if "base64" in value:
        flat = np.frombuffer(base64.b64decode(value["base64"]), dtype)
    else:
        flat = np.asarray(value["data"], dtype=dtype)
    return flat.reshape(value["shape"]).astype(dtype[1:])


def encode(array: Any) -> dict[str, Any]:
    a = np.ascontiguousarray(array, dtype="<f8")
    return {"shape": list(a.shape), "dtype": "float64",
            "base64": base64.b64encode(a.tobytes()).decode()}


def problem(msg: dict[str, Any]) -> tuple[Any, Any, Any, str]:
    spec = fn.MLP(tuple(msg["spec"]["sizes"]), tuple(msg["spec"]["activations"]))
    y = decode(msg["y"])
    return spec, decode(msg["x"]), y.astype(np.int64) if y.dtype.kind == "i" else y, \
        msg["spec"]["loss"]


def params_of(layers: list[dict[str, Any]]) -> Any:
    return [{k: decode(layer[k]) for k in ("W", "b")} for layer in layers]


def extra(params: Any, bug: str) -> float:
    if bug != "loss-mismatch":
        return 0.0
    return 0.1 * float(sum(np.sum(layer["W"].astype(np.float64) ** 2) for layer in params))


KEPT: dict[str, Any] = {}


def moves(msg: dict[str, Any], bug: str) -> dict[str, Any]:
    spec, x, y, loss = KEPT["problem"]
    d = msg["directions"]
    offsets, index = decode(d["offsets"]), decode(d["index"])
    value, which, step = decode(d["value"]), decode(msg["which"]), decode(msg["step"])
    base, unravel, dtype = KEPT["flat"], KEPT["unravel"], KEPT["dtype"]
    losses = []
    for r, t in zip(which, step, strict=True):
        theta = base.copy()
        theta[index[offsets[r]:offsets[r + 1]]] += t * value[offsets[r]:offsets[r + 1]]
        p = [{k: v.astype(dtype) for k, v in layer.items()} for layer in unravel(theta)]
        losses.append(fn.loss(spec, p, x, y, loss) + extra(p, bug))
    return {"losses": encode(np.array(losses))}


def answer(msg: dict[str, Any], bug: str, protocol: str) -> dict[str, Any]:
    if msg["op"] == "hello":
        return {"protocol": f"funcnn-foreign/{protocol}", "dtypes": ["float64", "float32"]}
    if msg["op"] == "moves" and protocol == "2":
        return moves(msg, bug)
    spec, x, y, loss = problem(msg)
    if msg["op"] == "problem" and protocol == "2":
        params = params_of(msg["params"])
        flat, unravel = fn.ravel([{k: v.astype(np.float64) for k, v in layer.items()}
                                  for layer in params])
        KEPT.update(problem=(spec, x, y, loss), flat=flat, unravel=unravel,
                    dtype=msg["dtype"])
        return {"loss": fn.loss(spec, params, x, y, loss) + extra(params, bug)}
    if msg["op"] == "loss":
        losses = [fn.loss(spec, p, x, y, loss) + extra(p, bug)
                  for p in map(params_of, msg["params_list"])]
        return {"losses": encode(np.array(losses))}
    params = params_of(msg["params"])
    if bug == "crash":
        sys.stderr.write("segmentation fault (pretend)\n")
        sys.exit(3)
    if bug == "hang":
        time.sleep(3600)
    value, grads = fn.value_and_grad(spec, params, x, y, loss)
    scale = 1.01 if bug == "grad-scale" else 1.0
    out = [{k: encode(g * scale) for k, g in layer.items()} for layer in grads]
    if bug == "bad-shape":
        out[0]["W"] = encode(grads[0]["W"].T)
    if bug == "nan":
        bad = grads[0]["b"].astype(np.float64)
        bad[0] = np.nan
        out[0]["b"] = encode(bad)
    return {"loss": value + extra(params, bug), "grads": out}


def main() -> None:
    # One small matrix product at a time: BLAS threads would only wait for each other
    # (13 ms a point instead of 0.7 on a busy 2-core machine).
    threadpool_limits(1)
    parser = argparse.ArgumentParser()
    parser.add_argument("--bug", default="")
    parser.add_argument("--protocol", choices=["1", "2"], default="2")
    args = parser.parse_args()
    bug, protocol = args.bug, args.protocol
    for line in sys.stdin:
        msg = json.loads(line)
        if bug == "bad-json" and msg["op"] == "value_and_grad":
            print("loss = 0.5, grads = ...", flush=True)
            continue
        print(json.dumps({"id": msg["id"], **answer(msg, bug, protocol)}), flush=True)


if __name__ == "__main__":
    main()
