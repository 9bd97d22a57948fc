"""funcnn's side of the comparisons: its training loop, driven one epoch per call.

Uses ``funcnn.training.loop.fit`` with ``funcnn.training.optimizers.sgd`` when they exist. Without
them it falls back to a loop over the core API (``value_and_grad_unchecked`` after
validating once, then ``sgd_step``) and says so in :attr:`FuncnnTrainer.source`, so the
suite keeps working on a checkout without the training loop. Both are looked up through
importlib because the training loop is optional here.
"""

from __future__ import annotations

import importlib
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

import funcnn as fn
from funcnn.core.losses import get_loss
from funcnn.core.network import check_inputs, check_params, value_and_grad_unchecked
from funcnn.core.validation import check_targets
from funcnn.training.optimizers import sgd_step
from funcnn.typing import Params

__all__ = ["FuncnnTrainer", "training_loop"]


def training_loop() -> tuple[Any, Any, str]:
    """``(fit, sgd, description)`` of funcnn's training loop, or ``(None, None, why not)``."""
    try:
        training = importlib.import_module("funcnn.training.loop")
        optimizers = importlib.import_module("funcnn.training.optimizers")
    except ImportError as exc:
        return None, None, f"core-API loop (funcnn.training.loop absent: {exc})"
    fit = getattr(training, "fit", None)
    sgd = getattr(optimizers, "sgd", None)
    if fit is None or sgd is None:
        return None, None, "core-API loop (funcnn.training.loop.fit or sgd absent)"
    return fit, sgd, "funcnn.training.loop.fit + funcnn.training.optimizers.sgd"


class FuncnnTrainer:
    """Trains ``spec`` from ``params`` on ``x (N, n_in)``, ``y (N,)`` one epoch per call.

    Each :meth:`train_epoch` is one call of ``fit(..., epochs=1)``, so its time includes
    fit's once-per-call validation of the data; :attr:`last_epoch_time` is fit's own
    measurement of the epoch alone (``History.epoch_time``), when available.
    """

    def __init__(
        self,
        spec: fn.MLP,
        params: Params,
        lr: float,
        x: NDArray[Any],
        y: NDArray[Any],
        batch_size: int,
        *,
        force_core: bool = False,
    ) -> None:
        self.spec = spec
        self.params = params
        self.lr = lr
        self.x = x
        self.y = y
        self.batch_size = batch_size
        fit, sgd, source = training_loop()
        if force_core:
            fit, sgd, source = None, None, "core-API loop (forced)"
        self.fit = fit
        self.source = source
        self.optimizer = None if sgd is None else sgd(lr)
        self.opt_state: Any = None
        self.last_epoch_time: float | None = None

    def train_epoch(self, seed: int) -> float:
        """One epoch in batches shuffled by ``default_rng(seed)``; the mean training loss."""
        rng = np.random.default_rng(seed & 0x7FFFFFFF)
        if self.fit is None:
            return self._core_epoch(rng)
        self.params, self.opt_state, history = self.fit(
            self.spec,
            self.params,
            self.optimizer,
            self.x,
            self.y,
            epochs=1,
            batch_size=self.batch_size,
            rng=rng,
            opt_state=self.opt_state,
        )
        times = getattr(history, "epoch_time", ())
        self.last_epoch_time = float(times[-1]) if times else None
        return float(history.epoch_train_loss[-1])

    def _core_epoch(self, rng: np.random.Generator) -> float:
        started = time.perf_counter()
        spec, params = self.spec, self.params
        dtype = check_params(spec, params)
        x = check_inputs(spec, self.x, dtype, "x")
        loss = get_loss("softmax_cross_entropy")
        y = check_targets(self.y, x.shape[0], spec.n_out, dtype, loss.target_kind)
        n = x.shape[0]
        perm = rng.permutation(n)
        total = 0.0
        for start in range(0, n, self.batch_size):
            idx = perm[start : start + self.batch_size]
            value, grads, _ = value_and_grad_unchecked(spec, params, x[idx], y[idx], loss)
            params = sgd_step(params, grads, self.lr)
            total += value * len(idx)
        self.params = params
        self.last_epoch_time = time.perf_counter() - started
        return float(total / n)
