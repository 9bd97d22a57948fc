"""Everything :func:`funcnn.fit` checks before training, done once: its arguments become a
:class:`FitPlan` (validated data, batch layout, logging and callback settings), its
``validation_split`` a held-out part of the data (:func:`hold_out`), and its ``callback``
and ``verbose`` one callback (:func:`combine_callbacks`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from funcnn.core.losses import Loss, get_loss
from funcnn.core.network import check_inputs, check_params
from funcnn.core.spec import MLP
from funcnn.core.validation import check_finite, check_positive_int, check_targets, ensure_array
from funcnn.data.prepare import train_validation_split
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.training.callbacks import Progress
from funcnn.training.chain import check_optimizer
from funcnn.training.history import Callback, Event, History, StopTraining
from funcnn.typing import Array, FloatArray

__all__ = ["FitPlan", "check_dataset", "combine_callbacks", "hold_out", "plan_fit"]


@dataclass(frozen=True)
class FitPlan:
    """What ``fit`` runs: validated data (never copied) and the settings it implies."""

    dtype: np.dtype[Any]
    loss: Loss
    x: FloatArray
    y: Array
    x_test: FloatArray | None
    y_test: Array | None
    epochs: int
    batch: int
    n_batches: int
    shuffle: bool
    past: History
    interval: int | None
    callback: Callback | None
    callback_every: int

    @property
    def n(self) -> int:
        """Training samples."""
        return int(self.x.shape[0])


def check_dataset(
    spec: MLP, x: Any, y: Any, dtype: np.dtype[Any], loss: Loss, names: tuple[str, str]
) -> tuple[FloatArray, Array]:
    """``x`` ``(N, n_in)`` of ``dtype``, finite, and its targets ``y``, validated."""
    name = names[0]
    arr = ensure_array(name, x)
    if arr.ndim != 2 or arr.shape[1] != spec.n_in:
        raise InvalidArgumentError(
            f"{name}: expected a 2-D array of shape (N, {spec.n_in}), got shape {arr.shape}"
        )
    # Dtype, emptiness and the first row through the core's own check (same messages).
    check_inputs(spec, arr[:1], dtype, name)
    check_finite(name, arr)
    targets = check_targets(
        ensure_array(names[1], y), arr.shape[0], spec.n_out, dtype, loss.target_kind, names[1]
    )
    return arr, targets


def plan_fit(
    spec: MLP,
    params: Any,
    optimizer: Any,
    data: tuple[Any, Any, Any, Any],
    *,
    loss: str | Loss,
    epochs: Any,
    batch_size: Any,
    rng: Any,
    history: Any,
    shuffle: Any,
    drop_last: Any,
    log_every: Any,
    callback: Any,
    callback_every: Any,
) -> FitPlan:
    """Check every argument of ``fit`` (same names, same errors) and plan the batches."""
    dtype = check_params(spec, params)
    check_optimizer(optimizer)
    resolved = get_loss(loss)
    x_train, y_train, x_test, y_test = data
    x, y = check_dataset(spec, x_train, y_train, dtype, resolved, ("x_train", "y_train"))
    if (x_test is None) != (y_test is None):
        raise InvalidArgumentError("x_test, y_test: pass both or neither")
    xt, yt = (None, None)
    if x_test is not None:
        xt, yt = check_dataset(spec, x_test, y_test, dtype, resolved, ("x_test", "y_test"))
    n = x.shape[0]
    n_epochs = check_positive_int("epochs", epochs)
    batch = n if batch_size is None else check_positive_int("batch_size", batch_size)
    if batch > n:
        raise InvalidArgumentError(
            f"batch_size: {batch} is larger than the training set ({n} samples)"
        )
    for flag_name, flag in (("shuffle", shuffle), ("drop_last", drop_last)):
        if not isinstance(flag, bool):
            raise ArgumentTypeError(f"{flag_name}: expected a bool, got {flag!r}")
    use_order = shuffle and batch < n  # one full batch: order cannot matter
    if use_order and not isinstance(rng, np.random.Generator):
        raise ArgumentTypeError(
            f"rng: expected a numpy.random.Generator to shuffle with "
            f"(np.random.default_rng(seed)), got {type(rng).__name__}"
        )
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise ArgumentTypeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
    past = History() if history is None else history
    if not isinstance(past, History):
        raise ArgumentTypeError(f"history: expected a History, got {type(past).__name__}")
    interval = (
        past.batch_interval if log_every is None else check_positive_int("log_every", log_every)
    )
    if past.batch_interval is not None and interval != past.batch_interval:
        raise InvalidArgumentError(
            f"log_every: {interval} differs from the history's batch_interval "
            f"{past.batch_interval}; a history must keep one interval"
        )
    if callback is not None and not callable(callback):
        raise ArgumentTypeError(f"callback: expected a callable, got {type(callback).__name__}")
    every = check_positive_int("callback_every", callback_every)
    return FitPlan(
        dtype, resolved, x, y, xt, yt, n_epochs, batch,
        n // batch if drop_last else -(-n // batch), use_order, past, interval, callback, every,
    )


def hold_out(
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


def combine_callbacks(callback: Any, verbose: Any = 0) -> Callback | None:
    """One callback calling ``callback`` (a callable, a sequence of them, or ``None``) in
    order, after a :class:`Progress` when ``verbose`` is 1 or 2 (0 or ``False``: none).

    Every callback sees every event; the first :class:`StopTraining` that restores
    parameters wins, else the first one returned. ``None`` when there is nothing to call.
    """
    verbose = int(verbose) if isinstance(verbose, bool) else verbose
    if not isinstance(verbose, int) or verbose not in (0, 1, 2):
        raise InvalidArgumentError(f"verbose: expected 0 (silent), 1 (progress bar and a line "
                                   f"per epoch) or 2 (a line per epoch), got {verbose!r}")
    if callback is None:
        given: list[Callback] = []
    elif callable(callback):
        given = [callback]
    elif isinstance(callback, Sequence) and not isinstance(callback, str):
        given = list(callback)
        for i, item in enumerate(given):
            if not callable(item):
                raise ArgumentTypeError(
                    f"callback[{i}]: expected a callable, got {type(item).__name__}")
    else:
        raise ArgumentTypeError(f"callback: expected a callable or a sequence of callables, "
                                f"got {type(callback).__name__}")
    everyone = ([Progress(verbose)] if verbose else []) + given
    if len(everyone) <= 1:
        return everyone[0] if everyone else None
    return _Combined(tuple(everyone))


class _Combined:
    def __init__(self, callbacks: tuple[Callback, ...]) -> None:
        self.callbacks = callbacks

    def __call__(self, event: Event) -> StopTraining | None:
        stop: StopTraining | None = None
        for callback in self.callbacks:
            result = callback(event)
            if isinstance(result, StopTraining) and (
                    stop is None or (stop.params is None and result.params is not None)):
                stop = result
        return stop
