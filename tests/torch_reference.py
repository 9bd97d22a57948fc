"""PyTorch's trajectories for funcnn's optimizers: the cases, both sides, and the writer of
``tests/data/torch_reference.npz``.

Each case trains the same float64 6-8-3 tanh MLP (softmax cross-entropy, 24 samples, full
batch) for 50 steps from the same start, once with ``torch.optim`` (plus
``torch.nn.utils.clip_grad_norm_`` for clipping) and once with the funcnn optimizer whose
config the case names. The file stores the config, the losses of all 50 steps and the
parameters after steps 10, 20, ..., 50, so ``tests/test_torch_reference.py`` can compare
without torch (CI has none); with torch importable the same test recomputes torch's side.

Regenerate (needs torch; the file changes only if torch's arithmetic does)::

    python -m tests.torch_reference
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np

import funcnn as fn

FILE = Path(__file__).parent / "data" / "torch_reference.npz"
SPEC = fn.MLP((6, 8, 3), "tanh")
STEPS = 50
SNAPSHOTS = (10, 20, 30, 40, 50)

# name -> (torch optimizer class and its arguments, max_norm for clip_grad_norm_ or None,
#          funcnn optimizer config)
CASES: dict[str, tuple[str, dict[str, Any], float | None, dict[str, Any]]] = {
    "rmsprop": (
        "RMSprop", {"lr": 0.01}, None,
        {"name": "rmsprop", "lr": 0.01},
    ),
    "rmsprop_centered_momentum": (
        "RMSprop", {"lr": 0.005, "alpha": 0.9, "eps": 1e-6, "momentum": 0.8, "centered": True},
        None,
        {"name": "rmsprop", "lr": 0.005, "alpha": 0.9, "eps": 1e-6, "momentum": 0.8,
         "centered": True},
    ),
    "adagrad": (
        "Adagrad", {"lr": 0.1}, None,
        {"name": "adagrad", "lr": 0.1},
    ),
    "adagrad_initial_accumulator": (
        "Adagrad", {"lr": 0.05, "eps": 1e-8, "initial_accumulator_value": 0.1}, None,
        {"name": "adagrad", "lr": 0.05, "eps": 1e-8, "initial_accumulator_value": 0.1},
    ),
    "clip_sgd_momentum": (
        "SGD", {"lr": 0.2, "momentum": 0.9}, 0.3,
        {"name": "chain", "transforms": [
            {"name": "clip_by_global_norm", "max_norm": 0.3, "eps": 1e-6},
            {"name": "trace", "momentum": 0.9, "nesterov": False},
            {"name": "scale_by_learning_rate", "schedule": {"name": "constant", "lr": 0.2}},
        ]},
    ),
    "clip_adam": (
        "Adam", {"lr": 0.01}, 0.2,
        {"name": "chain", "transforms": [
            {"name": "clip_by_global_norm", "max_norm": 0.2, "eps": 1e-6},
            {"name": "scale_by_adam", "b1": 0.9, "b2": 0.999, "eps": 1e-8},
            {"name": "scale_by_learning_rate", "schedule": {"name": "constant", "lr": 0.01}},
        ]},
    ),
    "sgd_nesterov": (
        "SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}, None,
        {"name": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True},
    ),
    "adamw": (
        "AdamW", {"lr": 0.01, "weight_decay": 0.05}, None,
        {"name": "adamw", "lr": 0.01, "weight_decay": 0.05},
    ),
}


def problem() -> tuple[fn.Params, np.ndarray, np.ndarray]:
    """The start and the data every case shares."""
    rng = np.random.default_rng(2024)
    params = fn.init(SPEC, rng, dtype=np.float64)
    return params, rng.normal(size=(24, 6)), rng.integers(0, 3, size=24)


def funcnn_trajectory(config: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(losses (50,), params at the snapshots (5, n))`` of funcnn's optimizer ``config``,
    through its pure ``update``."""
    params, x, y = problem()
    opt = fn.optimizer_from_config(config)
    state = opt.init(params)
    losses, snaps = [], []
    for step in range(1, STEPS + 1):
        value, grads = fn.value_and_grad(SPEC, params, x, y)
        params, state = opt.update(grads, state, params)
        losses.append(value)
        if step in SNAPSHOTS:
            snaps.append(fn.ravel(params)[0])
    return np.array(losses), np.array(snaps)


def torch_trajectory(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The same as :func:`funcnn_trajectory`, computed by torch (which must be importable)."""
    torch: Any = importlib.import_module("torch")
    kind, kwargs, max_norm, _ = CASES[name]
    start, x, y = problem()
    tensors = [torch.tensor(leaf, dtype=torch.float64, requires_grad=True)
               for layer in start for leaf in (layer["W"], layer["b"])]
    xt, yt = torch.tensor(x), torch.tensor(y)
    groups: Any = tensors
    if "weight_decay" in kwargs:  # funcnn decays weight matrices only: biases get 0
        groups = [{"params": tensors[0::2]}, {"params": tensors[1::2], "weight_decay": 0.0}]
    opt = getattr(torch.optim, kind)(groups, **kwargs)
    losses, snaps = [], []
    for step in range(1, STEPS + 1):
        opt.zero_grad()
        h = torch.tanh(xt @ tensors[0] + tensors[1])
        loss = torch.nn.functional.cross_entropy(h @ tensors[2] + tensors[3], yt)
        loss.backward()
        if max_norm is not None:
            torch.nn.utils.clip_grad_norm_(tensors, max_norm)
        opt.step()
        losses.append(float(loss.detach()))
        if step in SNAPSHOTS:
            # ravel's order: layer by layer, "W" then "b" (sorted keys).
            snaps.append(np.concatenate([t.detach().numpy().ravel() for t in tensors]))
    return np.array(losses), np.array(snaps)


def main() -> None:
    arrays: dict[str, np.ndarray] = {}
    for name, (_, _, _, config) in CASES.items():
        losses, snaps = torch_trajectory(name)
        arrays[f"{name}.losses"] = losses
        arrays[f"{name}.params"] = snaps
        arrays[f"{name}.config"] = np.frombuffer(json.dumps(config).encode(), dtype=np.uint8)
    torch: Any = importlib.import_module("torch")
    arrays["torch_version"] = np.frombuffer(str(torch.__version__).encode(), dtype=np.uint8)
    np.savez_compressed(FILE, **arrays)  # type: ignore[arg-type]
    print(f"wrote {FILE} ({len(CASES)} cases, torch {torch.__version__})")


if __name__ == "__main__":
    main()
