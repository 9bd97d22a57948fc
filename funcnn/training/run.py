"""One call of :func:`funcnn.fit`: :class:`Run` owns private copies of the parameters and
optimizer state, trains the planned epochs (:mod:`funcnn.training.plan`) batch by batch
with the training step (:mod:`funcnn.training.step`), records the history, sends the
callbacks their events and, on divergence, hands back the last good parameters."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import fields
from typing import Any

import numpy as np

from funcnn.core.network import check_params
from funcnn.core.pytree import tree_flatten, tree_unflatten
from funcnn.core.spec import MLP
from funcnn.errors import InvalidArgumentError, NonFiniteError
from funcnn.training.chain import Optimizer, OptState, make_state
from funcnn.training.evaluation import evaluate_unchecked
from funcnn.training.history import (
    BatchEnd,
    EpochEnd,
    History,
    StopTraining,
    TrainingDivergedError,
)
from funcnn.training.plan import FitPlan
from funcnn.training.step import Step, all_leaves_finite
from funcnn.typing import Array, FloatArray, Params

__all__ = ["Run"]


class Run:
    """One call of ``fit``: private parameters and state, the record, the step."""

    def __init__(
        self, spec: MLP, params: Params, optimizer: Optimizer, opt_state: OptState | None,
        plan: FitPlan,
    ) -> None:
        self.spec, self.plan, self.optimizer = spec, plan, optimizer
        leaves, self.treedef = tree_flatten(params)
        state = optimizer.init(params) if opt_state is None else opt_state
        self.count, slots = optimizer.check_state(state, leaves, self.treedef)
        self.step = Step(spec, optimizer, plan.loss)
        self.cur = [leaf.copy() for leaf in leaves]
        self.slots = {name: [a.copy() for a in arrays] for name, arrays in slots.items()}
        # The last good pair, read and never written: the caller's arrays at first.
        self.good: tuple[list[Array], dict[str, list[Array]], int] = (leaves, slots, self.count)
        self.record: dict[str, list[Any]] = {
            f.name: list(getattr(plan.past, f.name))
            for f in fields(History) if f.name != "batch_interval"
        }
        self.global_step = plan.past.steps
        self.last_epoch = plan.past.epochs + plan.epochs
        rows = (plan.batch, plan.x.shape[1])
        self.xbuf = np.empty(rows, dtype=plan.dtype)
        self.ybuf = np.empty((plan.batch, *plan.y.shape[1:]), dtype=plan.y.dtype)

    def train(self, rng: np.random.Generator | None) -> tuple[Params, OptState, History]:
        """The planned epochs, each followed by its :class:`EpochEnd`; what fit returns."""
        plan = self.plan
        first, last = plan.past.epochs + 1, self.last_epoch
        for epoch in range(first, last + 1):
            self.epoch(epoch, rng)
            if epoch < last:
                self.keep_good()
            if plan.callback is not None:
                stop = plan.callback(EpochEnd(epoch, last, self.params(copy=True),
                                              self.state(copy=True), self.history()))
                if isinstance(stop, StopTraining):
                    return (*self.stopped(stop), self.history())
        return self.params(copy=False), self.state(copy=False), self.history()

    def batches(self, order: Array | None) -> Iterator[tuple[FloatArray, Array]]:
        """The epoch's batches: gathered into reused buffers, or slices in order."""
        x, y, batch, n = self.plan.x, self.plan.y, self.plan.batch, self.plan.n
        for bi in range(self.plan.n_batches):
            lo, hi = bi * batch, min(bi * batch + batch, n)
            if order is None:
                yield x[lo:hi], y[lo:hi]
            else:
                idx = order[lo:hi]
                # Full batches land in the buffers themselves, the same arrays every step.
                xb, yb = (self.xbuf, self.ybuf) if hi - lo == batch else (
                    self.xbuf[: hi - lo], self.ybuf[: hi - lo])
                yield (x.take(idx, axis=0, out=xb, mode="clip"),
                       y.take(idx, axis=0, out=yb, mode="clip"))

    def epoch(self, epoch: int, rng: np.random.Generator | None) -> None:
        """Train one epoch and record it; raises TrainingDivergedError."""
        plan, started = self.plan, time.perf_counter()
        order = rng.permutation(plan.n) if plan.shuffle and rng is not None else None
        loss_sum, correct_sum, seen = 0.0, 0, 0
        for bi, (xb, yb) in enumerate(self.batches(order), start=1):
            try:
                value, correct = self.step.run(self.cur, self.slots, self.count, xb, yb,
                                               hits=True)
            except NonFiniteError as exc:  # the optimizer refused: nothing was updated
                raise self.diverged(epoch, bi, str(exc).removeprefix("step: ")) from None
            if not math.isfinite(value):
                raise self.diverged(epoch, bi, f"the loss is {value}")
            self.count += 1
            self.global_step += 1
            loss_sum += value * xb.shape[0]
            correct_sum += correct or 0
            seen += xb.shape[0]
            if plan.interval is not None and self.global_step % plan.interval == 0:
                self.record["batch_losses"].append(value)
            if plan.callback is not None and (bi % plan.callback_every == 0
                                              or bi == plan.n_batches):
                self.notify(BatchEnd(epoch, bi, plan.n_batches, value, self.last_epoch))
        if not self.finite():
            raise self.diverged(epoch, plan.n_batches, "the parameters or the optimizer "
                                "state are not finite")
        self.record["epoch_train_loss"].append(loss_sum / seen)
        if self.spec.n_out > 1:
            self.record["epoch_train_accuracy"].append(correct_sum / seen)
        if plan.x_test is not None and plan.y_test is not None:
            test_loss, test_acc = evaluate_unchecked(
                self.spec, self.params(copy=False), plan.x_test, plan.y_test, plan.loss
            )
            self.record["epoch_test_loss"].append(test_loss)
            if test_acc is not None:
                self.record["epoch_test_accuracy"].append(test_acc)
        self.record["epoch_steps"].append(plan.n_batches)
        self.record["epoch_time"].append(time.perf_counter() - started)

    def notify(self, event: BatchEnd) -> None:
        """Send a batch's event; epochs end whole, so a batch cannot stop training."""
        assert self.plan.callback is not None
        if isinstance(self.plan.callback(event), StopTraining):
            raise InvalidArgumentError(
                f"callback: returned StopTraining on a BatchEnd (epoch {event.epoch}, batch "
                f"{event.batch}); training stops only at the end of an epoch (EpochEnd)")

    def stopped(self, stop: StopTraining) -> tuple[Params, OptState]:
        """What fit returns when a callback stops it: the current pair or the given one."""
        if stop.params is None and stop.opt_state is None:
            return self.params(copy=False), self.state(copy=False)
        if stop.params is None or stop.opt_state is None:
            raise InvalidArgumentError("callback: StopTraining needs params and opt_state "
                                       "together (or neither)")
        check_params(self.spec, stop.params)
        leaves, treedef = tree_flatten(stop.params)
        if treedef != self.treedef:
            raise InvalidArgumentError("callback: StopTraining.params differ in structure from "
                                       "the params being trained")
        count, slots = self.optimizer.check_state(stop.opt_state, leaves, treedef)
        return (tree_unflatten(treedef, [a.copy() for a in leaves]),
                _state(count, slots, treedef, copy=True))

    def finite(self) -> bool:
        return all_leaves_finite(self.cur) and all(
            all_leaves_finite(arrays) for arrays in self.slots.values()
        )

    def keep_good(self) -> None:
        """Remember the current parameters and state as the last good pair (copies)."""
        self.good = ([a.copy() for a in self.cur],
                     {k: [a.copy() for a in v] for k, v in self.slots.items()}, self.count)

    def params(self, *, copy: bool) -> Params:
        out: Params = tree_unflatten(self.treedef, [a.copy() if copy else a for a in self.cur])
        return out

    def state(self, *, copy: bool) -> OptState:
        return _state(self.count, self.slots, self.treedef, copy=copy)

    def history(self) -> History:
        return History(**{k: tuple(v) for k, v in self.record.items()},
                       batch_interval=self.plan.interval)

    def diverged(self, epoch: int, batch: int, what: str) -> TrainingDivergedError:
        if self.finite():
            leaves, slots, count = self.cur, self.slots, self.count
        else:
            leaves, slots, count = self.good
        return TrainingDivergedError(
            f"training diverged: {what} at epoch {epoch}, batch {batch} of "
            f"{self.plan.n_batches}; the error's .params and .opt_state hold the last good "
            "parameters and optimizer state (try a smaller learning rate)",
            epoch=epoch,
            batch=batch,
            params=tree_unflatten(self.treedef, [a.copy() for a in leaves]),
            opt_state=_state(count, slots, self.treedef, copy=True),
            history=self.history(),
        )


def _state(count: int, slots: dict[str, list[Array]], treedef: Any, *, copy: bool) -> OptState:
    trees = {
        n: tree_unflatten(treedef, [a.copy() if copy else a for a in v]) for n, v in slots.items()
    }
    return make_state(count, trees)
