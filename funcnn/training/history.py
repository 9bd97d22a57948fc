"""What training records and reports: the :class:`History`, the events a ``fit``
callback receives, and :class:`TrainingDivergedError`."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeAlias

from funcnn.errors import InvalidArgumentError, NonFiniteError
from funcnn.training.optimizers import OptState
from funcnn.typing import Params

__all__ = [
    "BatchEnd",
    "Callback",
    "EpochEnd",
    "Event",
    "History",
    "StopTraining",
    "TrainingDivergedError",
]


def _float_tuple(name: str, value: Any) -> tuple[float, ...]:
    if not isinstance(value, list | tuple):
        raise InvalidArgumentError(f"history.{name}: expected a list of numbers, got {value!r}")
    out = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise InvalidArgumentError(f"history.{name}: expected numbers, found {item!r}")
        try:
            out.append(float(item))
        except OverflowError:
            raise InvalidArgumentError(
                f"history.{name}: expected numbers within float range, found an integer "
                f"of {len(str(item))} digits"
            ) from None
    return tuple(out)


@dataclass(frozen=True)
class History:
    """What happened during training, one entry per epoch (JSON-serialisable).

    - ``epoch_train_loss``: mean loss over the epoch's training samples, each taken when
      its batch was processed (the running loss, as Keras reports it)
    - ``epoch_train_accuracy``: likewise, the fraction of training samples whose logits'
      argmax was the label when their batch was processed (empty when ``n_out == 1``)
    - ``epoch_test_loss``, ``epoch_test_accuracy``: on the test set with the parameters
      at the end of the epoch (empty without test data; accuracy empty when ``n_out == 1``)
    - ``epoch_time``: wall-clock seconds of each epoch, test evaluation included
    - ``epoch_steps``: the number of minibatch updates in each epoch
    - ``batch_losses``: the loss of every ``batch_interval``-th batch, counting batches
      across epochs (batch ``batch_interval``, ``2 * batch_interval``, ...); empty when
      ``batch_interval`` is ``None``

    For integer labels the accuracy counts the label's logit being the largest; a tie
    for the largest counts as correct.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> rng = np.random.default_rng(0)
        >>> x, y = rng.standard_normal((64, 4)), rng.integers(0, 3, 64)
        >>> spec = fn.MLP((4, 8, 3))
        >>> _, _, history = fn.fit(spec, fn.init(spec, rng), fn.sgd(0.1), x, y, epochs=3,
        ...                        batch_size=16, rng=rng, validation_split=0.25)
        >>> history.epochs, history.epoch_steps, len(history.epoch_test_accuracy)
        (3, (3, 3, 3), 3)
        >>> fn.History.from_json(history.to_json()) == history
        True
    """

    epoch_train_loss: tuple[float, ...] = ()
    epoch_train_accuracy: tuple[float, ...] = ()
    epoch_test_loss: tuple[float, ...] = ()
    epoch_test_accuracy: tuple[float, ...] = ()
    epoch_time: tuple[float, ...] = ()
    epoch_steps: tuple[int, ...] = ()
    batch_losses: tuple[float, ...] = ()
    batch_interval: int | None = None

    @property
    def epochs(self) -> int:
        """Number of epochs recorded."""
        return len(self.epoch_train_loss)

    @property
    def steps(self) -> int:
        """Total number of minibatch updates recorded."""
        return sum(self.epoch_steps)

    def plot(self, directory: str | os.PathLike[str], *, test_label: str = "test",
             dpi: int = 100) -> dict[str, Path]:
        """Draw the loss curves, and the accuracy curves when accuracy was recorded, as
        PNGs in ``directory`` (created if missing; matplotlib needed, ``funcnn[plot]``).

        The files are named as ``funcnn train`` names them (``loss.png``,
        ``accuracy.png``, from ``funcnn.plots.PLOT_FILES``); returns their paths by
        kind (``"loss"``, ``"accuracy"``). ``test_label`` names the second curve
        (``"validation"`` for a validation split). See
        :func:`funcnn.plots.plot_loss_curves` for what is drawn.
        """
        from funcnn.reporting.plots import PLOT_FILES, plot_accuracy_curves, plot_loss_curves

        folder = Path(os.fspath(directory))
        out = {"loss": plot_loss_curves(folder / PLOT_FILES["loss"], self,
                                        test_label=test_label, dpi=dpi)}
        if self.epoch_train_accuracy:
            out["accuracy"] = plot_accuracy_curves(folder / PLOT_FILES["accuracy"], self,
                                                   test_label=test_label, dpi=dpi)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (lists of floats); :meth:`from_dict` inverts it."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def to_json(self, indent: int | None = 2) -> str:
        """The history as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> History:
        """Rebuild a history from :meth:`to_dict` output, checking every field.

        Raises ``InvalidArgumentError`` on unknown or missing keys, non-numbers, or
        per-epoch lists of different lengths.
        """
        if not isinstance(data, dict):
            raise InvalidArgumentError(f"history: expected a dict, got {type(data).__name__}")
        names = {f.name for f in fields(cls)}
        if set(data) != names:
            raise InvalidArgumentError(
                f"history: expected keys {sorted(names)}, got {sorted(map(str, data))}"
            )
        interval = data["batch_interval"]
        if interval is not None and (
            isinstance(interval, bool) or not isinstance(interval, int) or interval <= 0
        ):
            raise InvalidArgumentError(
                f"history.batch_interval: expected a positive int or null, got {interval!r}"
            )
        steps = _float_tuple("epoch_steps", data["epoch_steps"])
        if any(s != int(s) or s <= 0 for s in steps):
            raise InvalidArgumentError("history.epoch_steps: expected positive integers")
        history = cls(
            epoch_train_loss=_float_tuple("epoch_train_loss", data["epoch_train_loss"]),
            epoch_train_accuracy=_float_tuple("epoch_train_accuracy", data["epoch_train_accuracy"]),
            epoch_test_loss=_float_tuple("epoch_test_loss", data["epoch_test_loss"]),
            epoch_test_accuracy=_float_tuple("epoch_test_accuracy", data["epoch_test_accuracy"]),
            epoch_time=_float_tuple("epoch_time", data["epoch_time"]),
            epoch_steps=tuple(int(s) for s in steps),
            batch_losses=_float_tuple("batch_losses", data["batch_losses"]),
            batch_interval=interval,
        )
        n = history.epochs
        for name in ("epoch_time", "epoch_steps"):
            if len(getattr(history, name)) != n:
                raise InvalidArgumentError(
                    f"history.{name}: has {len(getattr(history, name))} entries for {n} epochs"
                )
        for name in ("epoch_train_accuracy", "epoch_test_loss", "epoch_test_accuracy"):
            if len(getattr(history, name)) not in (0, n):
                raise InvalidArgumentError(
                    f"history.{name}: has {len(getattr(history, name))} entries for {n} epochs"
                )
        if interval is None and history.batch_losses:
            raise InvalidArgumentError("history.batch_losses: entries without a batch_interval")
        if interval is not None and len(history.batch_losses) != history.steps // interval:
            raise InvalidArgumentError(
                f"history.batch_losses: expected {history.steps // interval} entries "
                f"({history.steps} steps, one every {interval}), got {len(history.batch_losses)}"
            )
        return history

    @classmethod
    def from_json(cls, text: str) -> History:
        """Rebuild a history from :meth:`to_json` output."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, TypeError) as exc:
            raise InvalidArgumentError(f"history: not valid JSON ({exc})") from exc
        return cls.from_dict(data)


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class BatchEnd:
    """Sent to the callback after batch ``batch`` (1-based) of ``n_batches`` in ``epoch``.

    ``epoch`` counts from 1 across resumed runs (a run resumed after 3 epochs starts at
    epoch 4); ``loss`` is that batch's mean loss; ``batches_done`` is the number of
    batches finished in this epoch so far (equal to ``batch``); ``last_epoch`` is the
    epoch this call to :func:`fit` stops after (``None`` when the sender does not say).

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec, events = fn.MLP((2, 2)), []
        >>> x, y = np.ones((8, 2)), np.array([0, 1] * 4)
        >>> _ = fn.fit(spec, fn.init(spec, np.random.default_rng(0)), fn.sgd(0.1), x, y,
        ...            epochs=1, batch_size=4, rng=None, shuffle=False, callback=events.append)
        >>> [(e.batch, e.n_batches) for e in events if isinstance(e, fn.BatchEnd)]
        [(1, 2), (2, 2)]
    """

    epoch: int
    batch: int
    n_batches: int
    loss: float
    last_epoch: int | None = None

    @property
    def batches_done(self) -> int:
        """Batches finished in this epoch (``batch``)."""
        return self.batch


@dataclass(frozen=True)
class EpochEnd:
    """Sent to the callback after every epoch, with copies the callback may keep.

    ``epoch`` is the 1-based epoch just finished and ``last_epoch`` the one this call to
    :func:`fit` stops after; ``params`` and ``opt_state`` are the state after the epoch
    (fresh copies) and ``history`` the history so far. Together with the rng's current
    state they are exactly what resuming needs.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec, epochs = fn.MLP((2, 2)), []
        >>> x, y = np.ones((8, 2)), np.array([0, 1] * 4)
        >>> def keep(event):
        ...     if isinstance(event, fn.EpochEnd):
        ...         epochs.append((event.epoch, event.last_epoch, int(event.opt_state["count"])))
        >>> _ = fn.fit(spec, fn.init(spec, np.random.default_rng(0)), fn.sgd(0.1), x, y,
        ...            epochs=2, batch_size=4, rng=None, shuffle=False, callback=keep)
        >>> epochs
        [(1, 2, 2), (2, 2, 4)]
    """

    epoch: int
    last_epoch: int
    params: Params
    opt_state: OptState
    history: History


@dataclass(frozen=True)
class StopTraining:
    """Returned by a callback on :class:`EpochEnd` to end :func:`fit` after that epoch.

    ``reason`` says why (early stopping's message). ``params`` and ``opt_state``, given
    together or not at all, replace what ``fit`` returns (a callback restoring the best
    epoch's pair); the returned history still records every epoch that ran. A
    ``StopTraining`` returned on a :class:`BatchEnd` is an error: epochs end whole.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec = fn.MLP((2, 2))
        >>> def stop_after_2(event):
        ...     if isinstance(event, fn.EpochEnd) and event.epoch == 2:
        ...         return fn.StopTraining("two epochs are enough")
        >>> _, _, history = fn.fit(spec, fn.init(spec, np.random.default_rng(0)), fn.sgd(0.1),
        ...                        np.ones((4, 2)), np.array([0, 1, 0, 1]), epochs=10,
        ...                        batch_size=None, rng=None, callback=stop_after_2)
        >>> len(history.epoch_train_loss)
        2
    """

    reason: str
    params: Params | None = None
    opt_state: OptState | None = None


Event: TypeAlias = BatchEnd | EpochEnd
Callback: TypeAlias = Callable[[Event], StopTraining | None]
"""A ``fit`` callback: called with each event; it may return :class:`StopTraining`."""


class TrainingDivergedError(NonFiniteError):
    """Training produced a NaN or infinite loss, parameters or optimizer state.

    ``epoch`` and ``batch`` (1-based) say where; ``params`` and ``opt_state`` hold the
    last good parameters and optimizer state, a consistent pair, and ``history`` the
    completed epochs. From :func:`fit`, the last good pair is the one the failing batch
    was evaluated with (nothing was updated by it) when it is all finite, otherwise the
    one at the start of the failing epoch (the initial one in the first epoch).

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec = fn.MLP((2, 3, 2))
        >>> x, y = np.random.default_rng(0).standard_normal((8, 2)), np.ones(8, dtype=int)
        >>> try:
        ...     fn.fit(spec, fn.init(spec, np.random.default_rng(0)), fn.sgd(1e300), x, y,
        ...            epochs=3, batch_size=None, rng=None)
        ... except fn.TrainingDivergedError as error:
        ...     print(error.epoch >= 1, len(error.params))   # the last good params
        True 2
    """

    def __init__(
        self,
        message: str,
        *,
        epoch: int,
        batch: int,
        params: Params,
        history: History,
        opt_state: OptState | None = None,
    ) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch
        self.params = params
        self.opt_state = opt_state
        self.history = history
