"""The hand-written vectorized numpy MLP: the obvious tutorial code funcnn must match.

Written the way a tutorial writes it, deliberately without tricks: ``X @ W + b`` with
fresh temporaries, the fused softmax cross-entropy gradient ``(softmax(z) - onehot) / B``,
and in-place SGD (``W -= lr * gW``). Batches are gathered with fancy indexing from a
fresh permutation every epoch. Parameters have shapes ``W (n_in, n_out)``, ``b (n_out,)``
as in funcnn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["ACTIVATIONS", "NumpyMLP"]

F = NDArray[np.floating[Any]]


def _relu(z: F) -> F:
    return np.maximum(z, 0)


def _relu_grad(h: F) -> F:
    return h > 0  # type: ignore[return-value]  # bool mask; multiplying by it casts


def _tanh_grad(h: F) -> F:
    return 1 - h * h


def _sigmoid(z: F) -> F:
    return 1 / (1 + np.exp(-z))


def _sigmoid_grad(h: F) -> F:
    return h * (1 - h)


ACTIVATIONS: dict[str, tuple[Callable[[F], F], Callable[[F], F]]] = {
    "relu": (_relu, _relu_grad),
    "tanh": (np.tanh, _tanh_grad),
    "sigmoid": (_sigmoid, _sigmoid_grad),
}
"""name -> (activation, derivative expressed through the activation's output ``h``)."""


class NumpyMLP:
    """A softmax-classifier MLP trained by minibatch SGD, tutorial style.

    ``layers``: ``[(W, b), ...]`` (copied); ``activation`` one of :data:`ACTIVATIONS`,
    used after every hidden layer; the last layer emits logits.
    """

    def __init__(self, layers: list[tuple[F, F]], activation: str, lr: float) -> None:
        self.layers = [(W.copy(), b.copy()) for W, b in layers]
        self.act, self.act_grad = ACTIVATIONS[activation]
        self.lr = lr

    def step(self, xb: F, yb: NDArray[np.integer[Any]]) -> float:
        """One SGD step on a batch ``xb (B, n_in)``, labels ``yb (B,)``; returns the loss."""
        B = xb.shape[0]
        hs = [xb]
        h = xb
        for W, b in self.layers[:-1]:
            h = self.act(h @ W + b)
            hs.append(h)
        W, b = self.layers[-1]
        z = h @ W + b
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        rows = np.arange(B)
        loss = float(np.mean(np.log(s[:, 0]) - z[rows, yb]))
        dz = e / s
        dz[rows, yb] -= 1
        dz /= B
        for index in range(len(self.layers) - 1, -1, -1):
            W, b = self.layers[index]
            gW = hs[index].T @ dz
            gb = dz.sum(axis=0)
            if index > 0:
                dz = (dz @ W.T) * self.act_grad(hs[index])
            W -= self.lr * gW
            b -= self.lr * gb
        return loss

    def train_epoch(
        self, x: F, y: NDArray[np.integer[Any]], batch_size: int, rng: np.random.Generator
    ) -> float:
        """One epoch over ``x (N, n_in)``, ``y (N,)`` in shuffled batches; the mean loss."""
        n = x.shape[0]
        perm = rng.permutation(n)
        total = 0.0
        with np.errstate(over="ignore"):  # exp(-z) of the sigmoid may overflow to inf: fine
            for start in range(0, n, batch_size):
                idx = perm[start : start + batch_size]
                total += self.step(x[idx], y[idx]) * len(idx)
        return float(total / n)

    def params(self) -> list[tuple[F, F]]:
        """Copies of the current ``(W, b)`` per layer."""
        return [(W.copy(), b.copy()) for W, b in self.layers]
