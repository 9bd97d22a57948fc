"""Training curves: loss and accuracy per epoch, and the loss every few batches."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from funcnn.core.validation import check_positive_int, ensure_array
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.reporting.plots._figure import (
    _TEST_COLOR,
    _TRAIN_COLOR,
    PathLike,
    _check_dpi,
    _check_label,
    _check_path,
    _check_title,
    _display_scale,
    _finish,
    _new_figure,
    _save,
    _scaled,
    _scaled_label,
    _series,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from funcnn.training.history import History

__all__ = ["plot_accuracy_curves", "plot_loss_curves"]


def _epoch_series(
    train_name: str, train: Any, test_name: str, test: Any
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    tr = _series(train_name, train)
    if tr.size == 0:
        raise InvalidArgumentError(f"{train_name}: empty, expected at least one epoch")
    te = _series(test_name, test)
    if te.size and te.size != tr.size:
        raise InvalidArgumentError(
            f"{test_name}: expected {tr.size} values (one per epoch, like {train_name}), "
            f"got {te.size}"
        )
    return tr, te


def _epoch_axes(ax: Axes, curves: list[tuple[NDArray[np.float64], str]], *, fraction: bool) -> None:
    """Label, grid and range the per-epoch axes; ``curves`` are the drawn (values, colour).

    With a single epoch each curve is one point, which matplotlib would centre in a range
    of +-5% of its value (an axis from 0.945 to 1.050): the x range is fixed around epoch
    1 instead, the y range starts at zero (fractions end at 100%), and each point gets
    its value written beside it.
    """
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    if curves[0][0].size != 1:
        return
    ax.set_xlim(0.5, 1.5)
    ax.set_xticks([1])
    values = np.concatenate([v for v, _ in curves])
    if fraction:
        ax.set_ylim(0.0, 1.05)
    elif values.min() >= 0 and values.max() > 0:
        ax.set_ylim(0.0, 1.25 * float(values.max()))
    # Train's value right of its point, test's left: close values stay readable.
    for (v, color), side in zip(curves, (1, -1), strict=False):
        ax.annotate(
            f"{v[0]:.2%}" if fraction else f"{v[0]:.4g}",
            (1.0, float(v[0])),
            xytext=(8 * side, 0),
            textcoords="offset points",
            color=color,
            ha="left" if side > 0 else "right",
            va="center",
        )


def _unpack(history: Any, given: dict[str, Any]) -> dict[str, Any]:
    """The series to draw: ``given`` as passed, or read from ``history`` (then none given)."""
    if history is None:
        return given
    from funcnn.training.history import History

    if not isinstance(history, History):
        raise ArgumentTypeError(f"history: expected a funcnn History, got {type(history).__name__}")
    passed = sorted(name for name, value in given.items() if value is not None)
    if passed:
        raise InvalidArgumentError(
            f"history: pass a History or the series ({', '.join(passed)}), not both")
    return {name: getattr(history, name) for name in given}


def _marker(n: int) -> str | None:
    return "o" if n <= 30 else None


def plot_loss_curves(
    path: PathLike,
    history: History | None = None,
    *,
    epoch_train_loss: ArrayLike | None = None,
    epoch_test_loss: ArrayLike | None = None,
    batch_losses: ArrayLike | None = None,
    batch_interval: int | None = None,
    epoch_steps: ArrayLike | None = None,
    title: str | None = None,
    test_label: str = "test",
    dpi: int = 100,
) -> Path:
    """Loss curves: per epoch (train and test) and, optionally, every N batches.

    Pass a :class:`funcnn.History` (``plot_loss_curves("loss.png", history)``) or its
    series one by one, as follows.

    ``epoch_train_loss``: one mean loss per epoch, at least one. ``epoch_test_loss``:
    one per epoch too, or ``None``/empty for none. ``batch_losses``: the loss of batch
    ``batch_interval``, ``2 * batch_interval``, ... counted across epochs (as
    ``History.batch_losses``), drawn in a second panel against the batch number;
    ``None``/empty for none, otherwise ``batch_interval`` is required. ``epoch_steps``:
    the number of batches in each epoch (as ``History.epoch_steps``), one positive
    integer per epoch; with it the batch panel also marks the epoch train and test losses
    at the batch where each epoch ended, so both show on one batch axis (ignored without
    a batch panel, but checked; ``None``/empty for none). ``test_label`` names the second
    curve in the legends (e.g. ``"validation"`` when it is a validation split's). Values
    must be finite; losses beyond 1e300 in magnitude are drawn divided by a power of
    ten, named on the axis. Writes a PNG of
    8 x 5 inches (800 x 500 px at ``dpi=100``), or 12 x 5 inches (1200 x 500 px) with
    the batch panel. Returns ``Path(path)``.

        >>> import funcnn as fn
        >>> from funcnn.plots import plot_loss_curves
        >>> history = fn.History(epoch_train_loss=(1.0, 0.6, 0.4), epoch_test_loss=(1.1, 0.7, 0.5))
        >>> plot_loss_curves("loss.png", history).is_file()     # in the working directory
        True
    """
    target = _check_path(path)
    res = _check_dpi(dpi)
    series = _unpack(history, {
        "epoch_train_loss": epoch_train_loss, "epoch_test_loss": epoch_test_loss,
        "batch_losses": batch_losses, "batch_interval": batch_interval,
        "epoch_steps": epoch_steps})
    train, test, batches, interval, ends = _loss_series(**series)
    title_text = _check_title(title)
    test_name = _check_label("test_label", test_label)

    epoch_exp = _display_scale(train, test)
    batch_exp = _display_scale(batches, train, test) if ends.size else _display_scale(batches)

    fig = _new_figure(12.0 if interval else 8.0, 5.0, res)
    ax, ax_batch = fig.subplots(1, 2) if interval else (fig.subplots(), None)
    _epoch_curves(ax, _scaled(train, epoch_exp), _scaled(test, epoch_exp), test_name,
                  fraction=False)
    ax.set_ylabel(_scaled_label("loss", epoch_exp))
    ax.set_title("loss per epoch")
    ax.legend()
    if ax_batch is not None and interval:
        _batch_panel(ax_batch, batches, interval, batch_exp, ends, (train, test), test_name)
    _finish(fig, title_text)
    return _save(fig, target)


def _loss_series(
    epoch_train_loss: Any, epoch_test_loss: Any, batch_losses: Any, batch_interval: Any,
    epoch_steps: Any,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], int | None,
           NDArray[np.float64]]:
    """``plot_loss_curves``'s series, checked: the epoch losses (train, test), the batch
    losses and their interval (``None`` without them), and where each epoch ended."""
    if epoch_train_loss is None:
        raise InvalidArgumentError("epoch_train_loss: required (or pass a History)")
    train, test = _epoch_series(
        "epoch_train_loss", epoch_train_loss, "epoch_test_loss", epoch_test_loss
    )
    batches = _series("batch_losses", batch_losses)
    interval = None
    if batches.size:
        if batch_interval is None:
            raise InvalidArgumentError(
                "batch_interval: required with batch_losses (the number of batches between "
                "two recorded losses)"
            )
        interval = check_positive_int("batch_interval", batch_interval)
    return train, test, batches, interval, _epoch_ends(epoch_steps, train.size)


def _epoch_curves(
    ax: Axes, train: NDArray[np.float64], test: NDArray[np.float64], test_name: str,
    *, fraction: bool,
) -> None:
    """Train's and (when given) test's values per epoch, on the per-epoch axes; fractions
    (accuracies) are labelled with their final value."""
    epochs = np.arange(1, train.size + 1)
    marker = _marker(train.size)
    drawn = [(train, _TRAIN_COLOR, "train")]
    if test.size:
        drawn.append((test, _TEST_COLOR, test_name))
    for values, color, name in drawn:
        label = f"{name} ({values[-1]:.2%} final)" if fraction else name
        ax.plot(epochs, values, color=color, marker=marker, label=label)
    _epoch_axes(ax, [(values, color) for values, color, _ in drawn], fraction=fraction)


def _batch_panel(
    ax_batch: Axes,
    batches: NDArray[np.float64],
    interval: int,
    batch_exp: int,
    ends: NDArray[np.float64],
    epoch_losses: tuple[NDArray[np.float64], NDArray[np.float64]],
    test_name: str,
) -> None:
    """The loss every ``interval`` batches, with the epoch means at each epoch's end."""
    train, test = epoch_losses
    # Float steps: an int64 product would wrap silently for a huge batch_interval.
    steps = interval * np.arange(1, batches.size + 1, dtype=np.float64)
    ax_batch.plot(
        steps,
        _scaled(batches, batch_exp),
        color=_TRAIN_COLOR,
        linewidth=1.0,
        marker="." if batches.size <= 50 else None,
        label="train",
    )
    every = f"every {interval} batches" if interval > 1 else "every batch"
    title_batch = f"training loss {every}"
    if ends.size:
        for values, color, name in (
            (train, _TRAIN_COLOR, "train"),
            (test, _TEST_COLOR, test_name),
        ):
            if values.size:
                ax_batch.plot(
                    ends,
                    _scaled(values, batch_exp),
                    color=color,
                    linestyle="none",
                    marker="o",
                    markeredgecolor="black",
                    label=f"{name}, epoch mean",
                )
        ax_batch.legend()
        title_batch = f"loss {every}, and at each epoch's end"
    ax_batch.set_xlabel("batch")
    ax_batch.set_ylabel(_scaled_label("loss", batch_exp))
    ax_batch.set_title(title_batch)
    ax_batch.grid(True, alpha=0.3)


def _epoch_ends(epoch_steps: Any, epochs: int) -> NDArray[np.float64]:
    """The batch count at the end of each epoch, from the batches per epoch (maybe none)."""
    if epoch_steps is None:
        return np.empty(0)
    arr = ensure_array("epoch_steps", epoch_steps)
    if arr.size == 0:
        return np.empty(0)
    if arr.dtype.kind not in "iu":
        raise ArgumentTypeError(
            f"epoch_steps: expected integer batch counts, one per epoch, got dtype {arr.dtype}"
        )
    if arr.shape != (epochs,):
        raise InvalidArgumentError(
            f"epoch_steps: expected {epochs} batch counts (one per epoch, like "
            f"epoch_train_loss), got shape {arr.shape}"
        )
    if arr.min() < 1:
        raise InvalidArgumentError(
            f"epoch_steps: expected positive batch counts, found {int(arr.min())}"
        )
    # Summed as floats: an int64 sum could wrap silently.
    return np.cumsum(arr.astype(np.float64))


def plot_accuracy_curves(
    path: PathLike,
    history: History | None = None,
    *,
    epoch_train_accuracy: ArrayLike | None = None,
    epoch_test_accuracy: ArrayLike | None = None,
    title: str | None = None,
    test_label: str = "test",
    dpi: int = 100,
) -> Path:
    """Accuracy per epoch, train and (optionally) test, in percent.

    Pass a :class:`funcnn.History` (``plot_accuracy_curves("acc.png", history)``) or
    its series one by one.

    ``epoch_train_accuracy``: one fraction in ``[0, 1]`` per epoch, at least one;
    ``epoch_test_accuracy``: as many, or ``None``/empty; ``test_label`` names that curve
    in the legend. The legend gives each curve's final value. Writes a PNG of 8 x 5
    inches (800 x 500 px at ``dpi=100``). Returns ``Path(path)``.

        >>> from funcnn.plots import plot_accuracy_curves
        >>> path = plot_accuracy_curves("accuracy.png", epoch_train_accuracy=[0.5, 0.8, 0.9],
        ...                             epoch_test_accuracy=[0.4, 0.7, 0.85])
        >>> path.name, path.is_file()
        ('accuracy.png', True)
    """
    target = _check_path(path)
    res = _check_dpi(dpi)
    series = _unpack(history, {"epoch_train_accuracy": epoch_train_accuracy,
                               "epoch_test_accuracy": epoch_test_accuracy})
    epoch_train_accuracy = series["epoch_train_accuracy"]
    epoch_test_accuracy = series["epoch_test_accuracy"]
    if epoch_train_accuracy is None:
        raise InvalidArgumentError("epoch_train_accuracy: required (or pass a History)")
    train, test = _epoch_series(
        "epoch_train_accuracy", epoch_train_accuracy, "epoch_test_accuracy", epoch_test_accuracy
    )
    for name, values in (("epoch_train_accuracy", train), ("epoch_test_accuracy", test)):
        if values.size and (values.min() < 0 or values.max() > 1):
            raise InvalidArgumentError(f"{name}: expected fractions in [0, 1]")
    title_text = _check_title(title)
    test_name = _check_label("test_label", test_label)

    fig = _new_figure(8.0, 5.0, res)
    from matplotlib.ticker import PercentFormatter  # after _new_figure checked it exists

    ax = fig.subplots()
    _epoch_curves(ax, train, test, test_name, fraction=True)
    ax.set_ylabel("accuracy")
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.set_title("accuracy per epoch")
    ax.legend(loc="lower right")
    _finish(fig, title_text)
    return _save(fig, target)
