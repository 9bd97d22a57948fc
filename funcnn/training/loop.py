"""The training loop: :func:`fit` runs epochs of training steps and records a history.

``fit`` is pure from the caller's side: it never modifies the arrays it is given and
returns new parameters, a new optimizer state and a :class:`History`. The only thing it
advances is the explicit ``rng`` (one ``rng.permutation`` per epoch, drawn when the
epoch starts), exactly as :func:`funcnn.init` advances its generator. It validates
everything once (:mod:`funcnn.training.plan`), copies the parameters and state, and then
each batch is gathered into a reused buffer (``ndarray.take(..., out=)``; plain slices
without shuffling) and handed to the training step (:mod:`funcnn.training.step`): the
core's one backprop engine on reused buffers, then the optimizer's in-place update.

Resuming is exact: the state after ``k`` epochs is ``(params, opt_state, history)`` plus
the rng's state at that epoch boundary (``rng.bit_generator.state``); calling ``fit``
again with those (``opt_state=``, ``history=``, a generator restored to that state) gives
bit-identical results to an uninterrupted run. :mod:`funcnn.training.checkpoint` stores
all of it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from funcnn.core import engine
from funcnn.core.losses import Loss, get_loss
from funcnn.core.network import check_params
from funcnn.core.pytree import tree_flatten, tree_unflatten
from funcnn.core.spec import MLP
from funcnn.data.prepare import train_validation_split
from funcnn.errors import ArgumentTypeError, InvalidArgumentError, NonFiniteError
from funcnn.training.callbacks import combine_callbacks
from funcnn.training.chain import Optimizer, OptState, make_state
from funcnn.training.history import (
    BatchEnd,
    Callback,
    EpochEnd,
    Event,
    History,
    StopTraining,
    TrainingDivergedError,
)
from funcnn.training.plan import FitPlan, check_dataset, plan_fit
from funcnn.training.step import Step, all_leaves_finite, count_correct
from funcnn.typing import Array, FloatArray, Params

__all__ = [
    "BatchEnd",
    "Callback",
    "EpochEnd",
    "Event",
    "History",
    "StopTraining",
    "TrainingDivergedError",
    "evaluate",
    "fit",
]


# --------------------------------------------------------------------------- evaluation


def evaluate_unchecked(
    spec: MLP, params: Params, x: FloatArray, y: Array, loss: Loss, chunk: int = 4096
) -> tuple[float, float | None]:
    """Mean loss and accuracy on validated data, through the engine in chunks."""
    W = [layer["W"] for layer in params]
    b = [layer["b"] for layer in params]
    acts = engine.activations_of(spec)
    n = x.shape[0]
    buf = engine.allocate(spec, min(chunk, n), x.dtype)
    total, correct = 0.0, 0
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        part = buf.rows(stop - start)
        logits = engine.forward(acts, W, b, x[start:stop], part)
        correct += count_correct(logits, y[start:stop]) or 0
        # Every loss is a mean over the batch, so chunk means combine weighted by size.
        total += loss.kernel(logits, y[start:stop], part.dz[-1]) * (stop - start)
    return total / n, (correct / n if spec.n_out > 1 else None)


def evaluate(
    spec: MLP,
    params: Params,
    x: ArrayLike,
    y: ArrayLike,
    loss: str | Loss = "softmax_cross_entropy",
) -> tuple[float, float | None]:
    """Mean loss and accuracy of the network on a data set, in chunks of 4096 samples.

    ``x`` is ``(N, n_in)`` in the params' dtype, ``y`` integer labels ``(N,)`` or float
    targets ``(N, n_out)``. Accuracy is the fraction of samples whose target class (the
    label, or the targets' largest entry) has the largest logit, a tie counting as
    correct; it is ``None`` when the network has a single output. Raises
    ``NonFiniteError`` if the loss overflows.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec = fn.MLP((4, 3))
        >>> params = [{"W": np.eye(4, 3), "b": np.zeros(3)}]    # logits = the first 3 inputs
        >>> x = np.array([[1.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 3.0, 0], [1.0, 0, 0, 0]])
        >>> loss, accuracy = fn.evaluate(spec, params, x, np.array([0, 1, 2, 2]))
        >>> accuracy
        0.75
        >>> loss > 0
        True
    """
    dtype = check_params(spec, params)
    resolved = get_loss(loss)
    xs, ys = check_dataset(spec, x, y, dtype, resolved, ("x", "y"))
    with np.errstate(all="ignore"):
        value, accuracy = evaluate_unchecked(spec, params, xs, ys, resolved)
    if not math.isfinite(value):
        raise NonFiniteError(
            f"evaluate: the mean loss is {value}: the network's outputs overflow for these "
            "params and inputs"
        )
    return value, accuracy


# --------------------------------------------------------------------------- fit


class _Run:
    """One call of ``fit``: private parameters and state, the record, the step."""

    def __init__(
        self, spec: MLP, params: Params, optimizer: Optimizer, opt_state: OptState | None,
        plan: FitPlan,
    ) -> None:
        self.spec, self.plan = spec, plan
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

    def stopped(self, stop: StopTraining, optimizer: Optimizer) -> tuple[Params, OptState]:
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
        count, slots = optimizer.check_state(stop.opt_state, leaves, treedef)
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


def fit(
    spec: MLP,
    params: Params,
    optimizer: Optimizer,
    x_train: ArrayLike,
    y_train: ArrayLike,
    *,
    epochs: int,
    batch_size: int | None,
    rng: np.random.Generator | None,
    loss: str | Loss = "softmax_cross_entropy",
    x_test: ArrayLike | None = None,
    y_test: ArrayLike | None = None,
    opt_state: OptState | None = None,
    history: History | None = None,
    shuffle: bool = True,
    drop_last: bool = False,
    log_every: int | None = None,
    callback: Callback | Sequence[Callback] | None = None,
    callback_every: int = 1,
    verbose: int = 0,
    validation_split: float | None = None,
) -> tuple[Params, OptState, History]:
    """Train ``params`` for ``epochs`` epochs of minibatch updates by ``optimizer``.

    Arguments:

    - ``x_train`` ``(N, n_in)`` in the params' dtype; ``y_train`` integer labels
      ``(N,)`` or float targets ``(N, n_out)`` (validated once, never copied).
    - ``batch_size``: 1 (per-sample SGD) up to ``N``; ``None`` means ``N`` (full batch).
      With ``drop_last`` a final partial batch is skipped, otherwise it is a smaller
      batch of its own (its loss is a mean over its own samples).
    - ``rng``: each epoch starts with ``order = rng.permutation(N)`` (advancing ``rng``)
      and takes batches ``order[0:B]``, ``order[B:2B]``, ... With ``shuffle=False`` the
      data are used in order and ``rng`` may be ``None``; with a single full batch the
      order cannot matter and ``rng`` is not used either.
    - ``x_test``, ``y_test``: evaluated after every epoch (loss and accuracy).
    - ``opt_state``, ``history``: continue a previous run (default: ``optimizer.init``
      and an empty history). Epoch numbers and the ``log_every`` count carry on.
    - ``log_every``: record the loss of every ``log_every``-th batch in
      ``History.batch_losses`` (default: the history's interval, else none).
    - ``callback(event)``: called with :class:`BatchEnd` after every
      ``callback_every``-th batch (and each epoch's last) and with :class:`EpochEnd`
      after every epoch, e.g. to drive a progress bar or write checkpoints; a sequence
      of callbacks is called in order. A callback returning :class:`StopTraining` on an
      ``EpochEnd`` ends training after that epoch (:class:`funcnn.EarlyStopping`), and
      may hand back the parameters and state to return (its best epoch's). See
      :mod:`funcnn.training.callbacks` for ready-made ones.
    - ``verbose``: 0 (the default) prints nothing; 1 shows a tqdm bar per epoch (when
      tqdm is installed) and a line per epoch; 2 the lines only. They go to stderr; for
      another stream pass ``callback=funcnn.Progress(file=stream)`` instead.
    - ``validation_split``: a fraction in (0, 1) of the training samples held out and
      evaluated after every epoch in place of ``x_test``/``y_test`` (recorded as the
      history's test loss and accuracy). The held-out samples are drawn from ``rng``
      (one ``rng.permutation(N)`` before the first epoch, as
      :func:`funcnn.train_validation_split` with ``n_validation = round(fraction * N)``),
      so a generator is required. A resumed run would draw another split, so it cannot
      be combined with ``history=``: split once with ``train_validation_split`` and
      pass ``x_test``/``y_test`` to every call.

    Returns ``(params, opt_state, history)``, all new objects; the history includes the
    epochs of the ``history`` passed in.

    Each batch is one :class:`~funcnn.training.step.Step` (the gradient
    :func:`funcnn.value_and_grad` computes, then the optimizer's update) on private
    copies of the parameters and optimizer state.

    If a batch's loss is NaN or infinite, if the optimizer finds that a batch's update
    would overflow its state (Adam squaring a huge gradient), or if the parameters or
    the state are not finite at the end of an epoch, raises
    :class:`TrainingDivergedError` (a ``NonFiniteError``) naming the epoch and batch.
    Its ``params`` and ``opt_state`` are the last good pair: the ones the failing batch
    was evaluated with (nothing was updated by it) when they are all finite, otherwise
    those at the start of the failing epoch (the initial ones in the first epoch).

        >>> import numpy as np
        >>> import funcnn as fn
        >>> rng = np.random.default_rng(0)
        >>> x = rng.standard_normal((96, 4))
        >>> y = np.argmax(x[:, :3], axis=1)                  # a learnable 3-class problem
        >>> spec = fn.MLP((4, 16, 3), activation="relu")
        >>> params, opt_state, history = fn.fit(
        ...     spec, fn.init(spec, rng), fn.adam(0.02), x, y, epochs=8, batch_size=32, rng=rng)
        >>> len(history.epoch_train_loss)
        8
        >>> history.epoch_train_loss[-1] < history.epoch_train_loss[0]
        True
        >>> int(opt_state["count"])                          # 3 batches per epoch
        24
    """
    data = (x_train, y_train, x_test, y_test)
    if validation_split is not None:
        data = _hold_out(data, validation_split, rng, history)
    plan = plan_fit(
        spec, params, optimizer, data, loss=loss,
        epochs=epochs, batch_size=batch_size, rng=rng, history=history, shuffle=shuffle,
        drop_last=drop_last, log_every=log_every,
        callback=combine_callbacks(callback, verbose), callback_every=callback_every,
    )
    run = _Run(spec, params, optimizer, opt_state, plan)
    first = plan.past.epochs + 1
    last = plan.past.epochs + plan.epochs
    with np.errstate(all="ignore"):  # non-finite values are detected and reported
        for epoch in range(first, last + 1):
            run.epoch(epoch, rng)
            if epoch < last:
                run.keep_good()
            if plan.callback is not None:
                stop = plan.callback(EpochEnd(epoch, last, run.params(copy=True),
                                              run.state(copy=True), run.history()))
                if isinstance(stop, StopTraining):
                    return (*run.stopped(stop, optimizer), run.history())
    return run.params(copy=False), run.state(copy=False), run.history()


def _hold_out(
    data: tuple[Any, Any, Any, Any], fraction: Any, rng: Any, history: Any
) -> tuple[Any, Any, Any, Any]:
    """``fit``'s training data split into training and validation data by ``rng``."""
    x_train, y_train, x_test, y_test = data
    if isinstance(fraction, bool) or not isinstance(fraction, int | float):
        raise ArgumentTypeError(f"validation_split: expected a fraction between 0 and 1, "
                                f"got {type(fraction).__name__}")
    if not 0 < fraction < 1:
        raise InvalidArgumentError(
            f"validation_split: expected a fraction between 0 and 1, got {fraction!r}")
    if x_test is not None or y_test is not None:
        raise InvalidArgumentError("validation_split: pass it or x_test/y_test, not both")
    if isinstance(history, History) and history.epochs:
        raise InvalidArgumentError(
            "validation_split: a resumed run (history=) would hold out other samples; split "
            "once with funcnn.train_validation_split and pass x_test/y_test instead")
    if not isinstance(rng, np.random.Generator):
        raise ArgumentTypeError(
            "rng: validation_split draws the held-out samples from a numpy.random.Generator "
            f"(np.random.default_rng(seed)), got {type(rng).__name__}")
    x, y = np.asarray(x_train), np.asarray(y_train)
    if x.ndim == 0 or y.ndim == 0 or x.shape[0] != y.shape[0]:
        raise InvalidArgumentError(f"x_train, y_train: expected the same number of samples, "
                                   f"got shapes {x.shape} and {y.shape}")
    n = x.shape[0]
    k = round(fraction * n)
    if not 0 < k < n:
        raise InvalidArgumentError(
            f"validation_split: {fraction} of {n} samples leaves "
            f"{'no validation' if k == 0 else 'no training'} samples")
    (xt, yt), (xv, yv) = train_validation_split(x, y, rng, n_validation=k)
    return xt, yt, xv, yv


def _state(count: int, slots: dict[str, list[Array]], treedef: Any, *, copy: bool) -> OptState:
    trees = {
        n: tree_unflatten(treedef, [a.copy() if copy else a for a in v]) for n, v in slots.items()
    }
    return make_state(count, trees)
