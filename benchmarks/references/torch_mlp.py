"""PyTorch CPU peer: ``nn.Sequential`` + ``optim.SGD``, the idiomatic eager training loop.

torch is optional: :func:`load_torch` returns ``None`` and a reason when it cannot be
imported, and the suite reports the peer as absent. It is imported through importlib
and typed as ``Any`` so that the project's type check does not depend on it.
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["TorchMLP", "load_torch"]

TORCH_THREADS = 2


def load_torch() -> tuple[Any, str]:
    """``(torch, description)``, or ``(None, why it is absent)``."""
    try:
        torch = importlib.import_module("torch")
    except ImportError as exc:
        return None, f"torch absent ({exc})"
    torch.set_num_threads(TORCH_THREADS)
    return torch, f"torch {torch.__version__}, {torch.get_num_threads()} threads"


class TorchMLP:
    """The model of :class:`~benchmarks.references.numpy_mlp.NumpyMLP` in PyTorch.

    ``layers``: ``[(W (n_in, n_out), b (n_out,)), ...]`` numpy arrays, copied into
    ``nn.Linear`` modules (which store ``W.T``).
    """

    def __init__(
        self,
        torch: Any,
        layers: list[tuple[NDArray[Any], NDArray[Any]]],
        activation: str,
        lr: float,
    ) -> None:
        nn = torch.nn
        self.torch = torch
        act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[activation]
        modules: list[Any] = []
        for index, (W, b) in enumerate(layers):
            linear = nn.Linear(W.shape[0], W.shape[1])
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
                linear.bias.copy_(torch.from_numpy(b))
            modules.append(linear)
            if index < len(layers) - 1:
                modules.append(act())
        self.model = nn.Sequential(*modules)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr)
        self.loss_fn = nn.CrossEntropyLoss()

    def tensors(self, x: NDArray[Any], y: NDArray[Any]) -> tuple[Any, Any]:
        """``x`` as a float tensor sharing memory, ``y`` as int64 class indices."""
        return self.torch.from_numpy(x), self.torch.from_numpy(y.astype(np.int64))

    def train_epoch(self, x: Any, y: Any, batch_size: int, seed: int) -> float:
        """One epoch over tensors ``x (N, n_in)``, ``y (N,)``; the mean loss."""
        torch = self.torch
        n = x.shape[0]
        generator = torch.Generator().manual_seed(seed & 0x7FFFFFFF)
        perm = torch.randperm(n, generator=generator)
        model, optimizer, loss_fn = self.model, self.optimizer, self.loss_fn
        total = 0.0
        for start in range(0, n, batch_size):
            idx = perm[start : start + batch_size]
            xb, yb = x[idx], y[idx]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        return float(total / n)
