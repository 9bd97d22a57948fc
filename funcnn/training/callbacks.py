"""Ready-made :func:`fit` callbacks: progress output, early stopping, keeping the best.

A callback is any callable taking an event (:class:`BatchEnd` or :class:`EpochEnd`);
returning :class:`StopTraining` on an ``EpochEnd`` ends training after that epoch. The
classes here are such callables. They keep what they saw as attributes (the best value,
its epoch, its parameters), so one instance belongs to one training run: it carries on
across a resumed ``fit`` (epochs keep counting) and starts over when it sees an epoch
number that is not after the last one it saw (a new run from epoch 1).

- :class:`Progress`: a tqdm bar per epoch (when tqdm is installed) and one line per
  epoch, on stderr or a given stream; ``fit(verbose=1)`` adds one.
- :class:`EarlyStopping`: stop when a monitored value has not improved for
  ``patience`` epochs, optionally returning the best epoch's parameters.
- :class:`KeepBest`: keep the best epoch's parameters and optimizer state, and write
  them as a checkpoint (atomically, :func:`funcnn.save_checkpoint`) when given a path.

Monitored values are the history's per-epoch series by short name: ``"train_loss"``,
``"train_accuracy"``, ``"test_loss"``, ``"test_accuracy"`` (``test`` is whatever
``fit`` evaluates after each epoch: ``x_test``/``y_test`` or the ``validation_split``).
"""

from __future__ import annotations

import math
import os
import sys
from typing import Any, TextIO

from funcnn.core.spec import MLP
from funcnn.core.validation import check_count
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.training.history import BatchEnd, EpochEnd, Event, History, StopTraining
from funcnn.training.leaves import check_non_negative
from funcnn.training.optimizers import Optimizer, OptState
from funcnn.typing import Params

__all__ = [
    "MONITORS",
    "EarlyStopping",
    "KeepBest",
    "Progress",
    "epoch_line",
    "format_loss",
]

MONITORS: dict[str, str] = {
    "train_loss": "epoch_train_loss",
    "train_accuracy": "epoch_train_accuracy",
    "test_loss": "epoch_test_loss",
    "test_accuracy": "epoch_test_accuracy",
}
"""The values a callback can monitor, and the :class:`History` field each one reads."""


def format_loss(value: float) -> str:
    """Four decimals, or scientific notation when that would print a wall of digits."""
    if not math.isfinite(value):
        return f"{value}"
    return f"{value:.4f}" if abs(value) < 1e5 else f"{value:.3g}"


def epoch_line(history: History, last_epoch: int) -> str:
    """The one-line summary of the history's latest epoch that :class:`Progress` prints.

    >>> h = History(epoch_train_loss=(0.5,), epoch_train_accuracy=(0.875,),
    ...             epoch_time=(1.25,), epoch_steps=(10,))
    >>> epoch_line(h, 3)
    'epoch 1/3  train loss 0.5000  acc 87.50%  1.25s'
    """
    e = history.epochs - 1
    parts = [f"epoch {e + 1}/{last_epoch}",
             f"train loss {format_loss(history.epoch_train_loss[e])}"]
    if history.epoch_train_accuracy:
        parts.append(f"acc {history.epoch_train_accuracy[e]:.2%}")
    if history.epoch_test_loss:
        parts.append(f"test loss {format_loss(history.epoch_test_loss[e])}")
    if history.epoch_test_accuracy:
        parts.append(f"acc {history.epoch_test_accuracy[e]:.2%}")
    parts.append(f"{history.epoch_time[e]:.2f}s")
    return "  ".join(parts)


class Progress:
    """Report training progress: a tqdm bar during each epoch, a line after it.

    ``verbose=1``: a bar per epoch (batches done, the last batch's loss) when tqdm is
    installed (``funcnn[progress]``) and ``bar`` is not ``False``, then a line per epoch
    (:func:`epoch_line`); ``verbose=2``: the lines only, as Keras's ``verbose=2``.
    ``file``: the stream written to, ``sys.stderr`` (looked up when writing) by default.
    The bar is drawn from the :class:`BatchEnd` events, so ``fit``'s ``callback_every``
    sets how often it moves.

        >>> import io
        >>> import numpy as np
        >>> import funcnn as fn
        >>> rng = np.random.default_rng(0)
        >>> x, y = rng.standard_normal((64, 4)), rng.integers(0, 3, 64)
        >>> spec = fn.MLP((4, 8, 3))
        >>> out = io.StringIO()
        >>> _ = fn.fit(spec, fn.init(spec, rng), fn.sgd(0.1), x, y, epochs=2, batch_size=32,
        ...            rng=rng, callback=fn.Progress(verbose=2, file=out))
        >>> print(out.getvalue(), end="")
        epoch 1/2  train loss ...  acc ...%  ...s
        epoch 2/2  train loss ...  acc ...%  ...s
    """

    def __init__(self, verbose: int = 1, *, file: TextIO | None = None,
                 bar: bool | None = None) -> None:
        if isinstance(verbose, bool) or verbose not in (1, 2):
            raise InvalidArgumentError(f"verbose: expected 1 (bar and lines) or 2 (lines), "
                                       f"got {verbose!r}")
        if file is not None and not callable(getattr(file, "write", None)):
            raise ArgumentTypeError(f"file: expected a text stream, got {type(file).__name__}")
        self.verbose, self.file = verbose, file
        self._tqdm: Any = None
        if verbose == 1 and bar is not False:
            try:
                from tqdm import tqdm as bar_class
            except ImportError:  # the bar is optional: lines only
                bar_class = None  # type: ignore[assignment,misc]
            self._tqdm = bar_class
        self._bar: Any = None

    @property
    def stream(self) -> TextIO:
        """Where the progress goes."""
        return sys.stderr if self.file is None else self.file

    def __call__(self, event: Event) -> None:
        if isinstance(event, BatchEnd):
            if self._tqdm is not None:
                self._advance(event)
            return
        self.close()
        print(epoch_line(event.history, event.last_epoch), file=self.stream, flush=True)

    def _advance(self, event: BatchEnd) -> None:
        if self._bar is None:
            total = "" if event.last_epoch is None else f"/{event.last_epoch}"
            self._bar = self._tqdm(total=event.n_batches, desc=f"epoch {event.epoch}{total}",
                                   unit="batch", leave=False, file=self.stream,
                                   dynamic_ncols=True)
        self._bar.update(event.batch - self._bar.n)
        self._bar.set_postfix_str(f"loss {format_loss(event.loss)}", refresh=False)

    def close(self) -> None:
        """Close the current bar, if any (done after every epoch)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class _Monitor:
    """One monitored value: which way is better, by how much it must improve, and the
    best epoch so far (its value, number and, if ``keep``, parameters and optimizer
    state). It starts over when an epoch is not after the last one it saw (a new run)."""

    def __init__(self, monitor: str, mode: str, min_delta: float, *, keep: bool) -> None:
        if not isinstance(monitor, str):
            raise ArgumentTypeError(f"monitor: expected one of {sorted(MONITORS)}, got "
                                    f"{type(monitor).__name__}")
        if monitor not in MONITORS:
            raise InvalidArgumentError(f"monitor: expected one of {sorted(MONITORS)}, "
                                       f"got {monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise InvalidArgumentError(f"mode: expected 'auto', 'min' or 'max', got {mode!r}")
        self.min_delta = check_non_negative("min_delta", min_delta)
        self.name, self.keep = monitor, keep
        self.mode = ("max" if monitor.endswith("accuracy") else "min") if mode == "auto" else mode
        self.best: float | None = None
        self.epoch: int | None = None
        self.params: Params | None = None
        self.opt_state: OptState | None = None
        self.last_seen = 0

    def value(self, history: History) -> float:
        series = getattr(history, MONITORS[self.name])
        if len(series) != history.epochs:
            hint = " (pass x_test and y_test, or validation_split, to fit)" if (
                self.name.startswith("test")) else " (the network has a single output)"
            raise InvalidArgumentError(f"monitor: {self.name!r} is not recorded{hint}")
        return float(series[-1])

    def improves(self, value: float) -> bool:
        """Whether ``value`` beats the best by more than ``min_delta`` (NaN never does)."""
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, event: EpochEnd) -> bool:
        """Record the epoch; returns whether it is the new best."""
        if event.epoch <= self.last_seen:  # a fresh run: forget the previous one
            self.best = self.epoch = self.params = self.opt_state = None
        self.last_seen = event.epoch
        value = self.value(event.history)
        if not self.improves(value):
            return False
        self.best, self.epoch = value, event.epoch
        if self.keep:  # the event's arrays are fresh copies: no copy needed
            self.params, self.opt_state = event.params, event.opt_state
        return True


class _Monitored:
    """What :class:`EarlyStopping` and :class:`KeepBest` share: one :class:`_Monitor`."""

    _monitor: _Monitor

    @property
    def best(self) -> float | None:
        """The best monitored value so far."""
        return self._monitor.best

    @property
    def best_epoch(self) -> int | None:
        """The epoch with the best value so far."""
        return self._monitor.epoch


class EarlyStopping(_Monitored):
    """Stop ``fit`` when ``monitor`` has not improved for ``patience`` epochs.

    An epoch improves on the best so far when its value is lower (``mode="min"``) or
    higher (``"max"``) by more than ``min_delta``; ``mode="auto"`` means max for
    accuracies and min for losses. A NaN never improves. After ``patience`` epochs in a
    row without improvement, the callback returns :class:`StopTraining`. With
    ``restore_best`` (off by default, as in Keras) ``fit`` then returns the best
    epoch's parameters and optimizer state instead of the last ones, also when training
    runs to its last epoch; the history still records every epoch.

    After ``fit``: ``best`` and ``best_epoch`` say which epoch was best, ``stopped_epoch``
    the epoch it stopped after (``None`` if it did not stop).

        >>> import numpy as np
        >>> import funcnn as fn
        >>> rng = np.random.default_rng(0)
        >>> x = rng.standard_normal((96, 4))
        >>> y = np.argmax(x[:, :3], axis=1)
        >>> spec = fn.MLP((4, 16, 3), activation="relu")
        >>> stop = fn.EarlyStopping("test_loss", patience=2, restore_best=True)
        >>> params, _, history = fn.fit(
        ...     spec, fn.init(spec, rng), fn.adam(0.05), x, y, epochs=50, batch_size=32,
        ...     rng=rng, validation_split=0.25, callback=stop)
        >>> len(history.epoch_test_loss) < 50, stop.best == min(history.epoch_test_loss)
        (True, True)
    """

    def __init__(self, monitor: str = "test_loss", *, patience: int = 5,
                 min_delta: float = 0.0, mode: str = "auto", restore_best: bool = False) -> None:
        patience = check_count("patience", patience)
        if not isinstance(restore_best, bool):
            raise ArgumentTypeError(f"restore_best: expected a bool, got {restore_best!r}")
        self._monitor = _Monitor(monitor, mode, min_delta, keep=restore_best)
        self.patience, self.restore_best = patience, restore_best
        self.wait = 0
        self.stopped_epoch: int | None = None

    def __call__(self, event: Event) -> StopTraining | None:
        if isinstance(event, BatchEnd):
            return None
        best = self._monitor
        if event.epoch <= best.last_seen:
            self.wait, self.stopped_epoch = 0, None
        self.wait = 0 if best.update(event) else self.wait + 1
        restore = self.restore_best and best.epoch not in (None, event.epoch)
        if self.wait > 0 and self.wait >= self.patience:
            self.stopped_epoch = event.epoch
            return self._stop(
                f"early stopping: {best.name} did not improve by more than "
                f"{best.min_delta:g} for {self.wait} epochs (best "
                f"{best.best} at epoch {best.epoch})", restore)
        if restore and event.epoch == event.last_epoch:
            return self._stop(f"restoring the best epoch ({best.epoch})", restore)
        return None

    def _stop(self, reason: str, restore: bool) -> StopTraining:
        if not restore:
            return StopTraining(reason)
        return StopTraining(reason, self._monitor.params, self._monitor.opt_state)


class KeepBest(_Monitored):
    """Keep the parameters and optimizer state of the best epoch by ``monitor``.

    ``monitor``, ``mode`` and ``min_delta`` as for :class:`EarlyStopping`. After ``fit``
    (or at any time during it): ``params``, ``opt_state``, ``best``, ``best_epoch``.

    With ``path``, every new best is also written there with
    :func:`funcnn.save_checkpoint` (atomically: the file always holds a whole
    checkpoint), which needs ``spec``; with ``optimizer`` the optimizer state is saved
    too, and with ``rng`` (the generator given to ``fit``) its state at the end of that
    epoch, so that :func:`funcnn.load_checkpoint` resumes exactly from the best epoch.
    The checkpoint's metadata holds ``best_epoch``, ``monitor`` and ``best`` (plus
    ``metadata``). KeepBest never stops training.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> rng = np.random.default_rng(0)
        >>> x = rng.standard_normal((96, 4))
        >>> y = np.argmax(x[:, :3], axis=1)
        >>> spec = fn.MLP((4, 16, 3), activation="relu")
        >>> keep = fn.KeepBest("test_accuracy", path="best.ckpt", spec=spec)
        >>> _, _, history = fn.fit(spec, fn.init(spec, rng), fn.adam(0.05), x, y, epochs=5,
        ...                        batch_size=32, rng=rng, validation_split=0.25, callback=keep)
        >>> keep.best == max(history.epoch_test_accuracy)
        True
        >>> best = fn.load_checkpoint("best.ckpt").params
        >>> pairs = zip(fn.tree_leaves(best), fn.tree_leaves(keep.params))
        >>> all(np.array_equal(a, b) for a, b in pairs)
        True
    """

    def __init__(self, monitor: str = "test_loss", *, mode: str = "auto",
                 min_delta: float = 0.0, path: str | os.PathLike[str] | None = None,
                 spec: MLP | None = None, optimizer: Optimizer | None = None,
                 rng: Any = None, metadata: dict[str, Any] | None = None) -> None:
        self._monitor = _Monitor(monitor, mode, min_delta, keep=True)
        if path is not None and not isinstance(spec, MLP):
            raise ArgumentTypeError(f"spec: writing a checkpoint (path=) needs the network's "
                                    f"MLP spec, got {type(spec).__name__}")
        if optimizer is not None and not isinstance(optimizer, Optimizer):
            raise ArgumentTypeError(
                f"optimizer: expected a funcnn Optimizer, got {type(optimizer).__name__}")
        self.path, self.spec, self.optimizer, self.rng = path, spec, optimizer, rng
        self.metadata = dict(metadata or {})

    @property
    def params(self) -> Params | None:
        """The best epoch's parameters (a copy made for this callback)."""
        return self._monitor.params

    @property
    def opt_state(self) -> OptState | None:
        """The best epoch's optimizer state."""
        return self._monitor.opt_state

    def __call__(self, event: Event) -> None:
        if isinstance(event, BatchEnd) or not self._monitor.update(event):
            return
        if self.path is None or self.spec is None:
            return
        from funcnn.training.checkpoint import save_checkpoint

        meta = {**self.metadata, "best_epoch": event.epoch,
                "monitor": self._monitor.name, "best": self._monitor.best}
        save_checkpoint(self.path, spec=self.spec, params=event.params,
                        optimizer=self.optimizer,
                        opt_state=event.opt_state if self.optimizer is not None else None,
                        rng=self.rng, history=event.history, metadata=meta)
