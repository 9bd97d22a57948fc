"""The homework-style per-sample numpy MLP: 1-D vectors and ``np.outer`` (scenario C).

One sample at a time, as an exercise sheet writes it: ``a = sigmoid(a @ W + b)`` on
vectors, ``delta = softmax(z) - onehot``, ``gW = np.outer(a, delta)``, and in-place SGD.
No batch axis, so no batch-path overheads: the per-sample floor funcnn is held to.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks.references.numpy_mlp import ACTIVATIONS

__all__ = ["PerSampleMLP"]

F = NDArray[np.floating[Any]]


class PerSampleMLP:
    """Per-sample SGD on a softmax-classifier MLP; ``layers`` ``[(W, b), ...]`` are copied."""

    def __init__(self, layers: list[tuple[F, F]], activation: str, lr: float) -> None:
        self.layers = [(W.copy(), b.copy()) for W, b in layers]
        self.act, self.act_grad = ACTIVATIONS[activation]
        self.lr = lr

    def step(self, x: F, label: int) -> float:
        """One SGD step on sample ``x (n_in,)`` with class ``label``; returns its loss."""
        acts = [x]
        a = x
        for W, b in self.layers[:-1]:
            a = self.act(a @ W + b)
            acts.append(a)
        W, b = self.layers[-1]
        z = a @ W + b
        e = np.exp(z - z.max())
        p = e / e.sum()
        loss = -float(np.log(p[label]))
        delta = p
        delta[label] -= 1
        for index in range(len(self.layers) - 1, -1, -1):
            W, b = self.layers[index]
            gW = np.outer(acts[index], delta)
            gb = delta
            if index > 0:
                delta = (W @ delta) * self.act_grad(acts[index])
            W -= self.lr * gW
            b -= self.lr * gb
        return loss

    def train_epoch(self, x: F, y: NDArray[np.integer[Any]], rng: np.random.Generator) -> float:
        """One pass over ``x (N, n_in)``, ``y (N,)`` in shuffled order; the mean loss."""
        total = 0.0
        labels = y.tolist()
        with np.errstate(over="ignore"):
            for i in rng.permutation(x.shape[0]).tolist():
                total += self.step(x[i], labels[i])
        return float(total / x.shape[0])

    def params(self) -> list[tuple[F, F]]:
        """Copies of the current ``(W, b)`` per layer."""
        return [(W.copy(), b.copy()) for W, b in self.layers]
