"""funcnn's side of the comparisons, driven one epoch per call.

- :class:`FuncnnTrainer`: ``funcnn.fit`` with ``funcnn.sgd``, one ``fit(epochs=1)`` call
  per epoch, so its time includes fit's once-per-call validation of the data.
- :class:`ExplicitLoop`: the loop a user writes from the README, with the public pure
  functions only: batches gathered with ``x[idx]``, ``funcnn.value_and_grad`` then
  ``funcnn.sgd_step``, every call validating its arguments.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

import funcnn as fn
from funcnn.typing import Params

__all__ = ["ExplicitLoop", "FuncnnTrainer"]

SOURCE = "funcnn.fit + funcnn.sgd"


class FuncnnTrainer:
    """Trains ``spec`` from ``params`` on ``x (N, n_in)``, ``y (N,)`` one epoch per call.

    :attr:`last_epoch_time` is fit's own measurement of the epoch alone
    (``History.epoch_time``).
    """

    def __init__(
        self, spec: fn.MLP, params: Params, lr: float, x: NDArray[Any], y: NDArray[Any],
        batch_size: int,
    ) -> None:
        self.spec, self.params, self.x, self.y = spec, params, x, y
        self.batch_size = batch_size
        self.source = SOURCE
        self.optimizer = fn.sgd(lr)
        self.opt_state: Any = None
        self.last_epoch_time: float | None = None

    def train_epoch(self, seed: int) -> float:
        """One epoch in batches shuffled by ``default_rng(seed)``; the mean training loss."""
        rng = np.random.default_rng(seed & 0x7FFFFFFF)
        self.params, self.opt_state, history = fn.fit(
            self.spec, self.params, self.optimizer, self.x, self.y, epochs=1,
            batch_size=self.batch_size, rng=rng, opt_state=self.opt_state,
        )
        self.last_epoch_time = float(history.epoch_time[-1])
        return float(history.epoch_train_loss[-1])


class ExplicitLoop:
    """The README's explicit loop: ``value_and_grad`` then ``sgd_step`` per batch."""

    def __init__(
        self, spec: fn.MLP, params: Params, lr: float, x: NDArray[Any], y: NDArray[Any],
        batch_size: int,
    ) -> None:
        self.spec, self.params, self.lr, self.x, self.y = spec, params, lr, x, y
        self.batch_size = batch_size

    def train_epoch(self, seed: int) -> float:
        """One epoch in batches shuffled by ``default_rng(seed)``; the mean training loss."""
        order = np.random.default_rng(seed & 0x7FFFFFFF).permutation(len(self.x))
        params, total = self.params, 0.0
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            value, grads = fn.value_and_grad(self.spec, params, self.x[idx], self.y[idx])
            params = fn.sgd_step(params, grads, self.lr)
            total += value * len(idx)
        self.params = params
        return total / len(order)
