"""PNG plots of training and evaluation: loss and accuracy curves, confusion matrix, digits.

matplotlib is an optional extra (``pip install funcnn[plot]``): it is imported inside
the functions, so ``import funcnn.reporting.plots`` always works and only drawing needs it. Figures
are built as ``matplotlib.figure.Figure`` objects rendered by the Agg canvas directly,
never through ``pyplot``: no global figure registry, no backend switch, nothing left
open for the caller. Each function validates its input before drawing, renders the
whole PNG in memory, then writes it atomically (a temporary file in the same directory,
flushed, then ``os.replace``; missing parent directories are created), so a crash never
leaves a half-written image behind.

Image sizes are fixed by each figure's size in inches times ``dpi`` (default 100), as
documented per function, so callers and tests know the pixel size in advance.
"""

from __future__ import annotations

import io
import math
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from funcnn.core.validation import check_finite, check_positive_int, ensure_array
from funcnn.errors import ArgumentTypeError, FuncnnError, InvalidArgumentError
from funcnn.reporting.metrics import _check_labels

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "PlotDependencyError",
    "plot_accuracy_curves",
    "plot_confusion_matrix",
    "plot_first_layer_weights",
    "plot_loss_curves",
    "plot_sample_grid",
]

PathLike = str | os.PathLike[str]

_TRAIN_COLOR = "tab:blue"
_TEST_COLOR = "tab:orange"
_WRONG_COLOR = "tab:red"
# Cells in a confusion matrix get their counts written in only up to this many classes;
# beyond it the digits no longer fit in a cell of an 800x700 px figure.
_MAX_ANNOTATED_CLASSES = 20
# matplotlib computes data ranges, margins and colour normalisation in float64 (max - min,
# 5% margins), which overflow for magnitudes beyond about 5e307. Data larger than this is
# drawn divided by a power of ten, and the axis or colorbar says so.
_MAX_DRAWN = 1e300


class PlotDependencyError(FuncnnError, ImportError):
    """matplotlib, needed for plotting, is not installed (``pip install funcnn[plot]``)."""


def _new_figure(width: float, height: float, dpi: int, *, constrained: bool = True) -> Figure:
    """A detached Agg-backed figure of ``width`` x ``height`` inches."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise PlotDependencyError(
            "funcnn's plots need matplotlib, which is not installed; "
            "install it with: pip install 'funcnn[plot]'"
        ) from exc
    fig = Figure(figsize=(width, height), dpi=dpi, layout="constrained" if constrained else None)
    FigureCanvasAgg(fig)
    return fig


def _check_path(path: Any) -> Path:
    if not isinstance(path, str | os.PathLike):
        raise ArgumentTypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise InvalidArgumentError(f"path: expected a file name ending in .png, got {str(path)!r}")
    if target.is_dir():
        raise InvalidArgumentError(f"path: {str(path)!r} is a directory, expected a .png file")
    return target


def _check_dpi(dpi: Any) -> int:
    value = check_positive_int("dpi", dpi)
    if value > 1000:
        raise InvalidArgumentError(f"dpi: expected at most 1000, got {value}")
    return value


def _save(fig: Figure, target: Path) -> Path:
    """Render ``fig`` to PNG bytes, then write them to ``target`` atomically."""
    buffer = io.BytesIO()
    # The canvas's own print_png, not Figure.savefig: it ignores the savefig.* rcParams
    # (bbox "tight", dpi), which would otherwise change the documented pixel size.
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)  # attached by _new_figure
    canvas.print_png(buffer)  # type: ignore[no-untyped-call]  # untyped in matplotlib
    data = buffer.getvalue()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)  # mode masked by the umask, like any new file
    try:
        with open(fd, "wb", closefd=True) as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _series(name: str, values: Any) -> NDArray[np.float64]:
    """``values`` as a 1-D float64 array of finite numbers (possibly empty)."""
    if values is None:
        return np.empty(0)
    arr = ensure_array(name, values)
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise ArgumentTypeError(f"{name}: expected a sequence of numbers, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise InvalidArgumentError(f"{name}: expected a 1-D sequence, got shape {arr.shape}")
    check_finite(name, arr)
    return arr.astype(np.float64)


def _display_scale(*arrays: NDArray[np.float64]) -> int:
    """The power of ten ``e`` to divide ``arrays`` by so matplotlib can draw them; 0 if none.

    Non-zero only when the largest magnitude exceeds :data:`_MAX_DRAWN`; the divided
    values then lie within [-10, 10].
    """
    top = max((float(np.abs(a).max()) for a in arrays if a.size), default=0.0)
    return math.floor(math.log10(top)) if top > _MAX_DRAWN else 0


def _scaled(values: NDArray[np.float64], exponent: int) -> NDArray[np.float64]:
    return values / 10.0**exponent if exponent else values


def _scaled_label(label: str, exponent: int) -> str:
    return f"{label} (× 1e{exponent})" if exponent else label


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


def _epoch_axes(ax: Axes) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)


def _marker(n: int) -> str | None:
    return "o" if n <= 30 else None


def plot_loss_curves(
    path: PathLike,
    *,
    epoch_train_loss: ArrayLike,
    epoch_test_loss: ArrayLike | None = None,
    batch_losses: ArrayLike | None = None,
    batch_interval: int | None = None,
    epoch_steps: ArrayLike | None = None,
    title: str | None = None,
    test_label: str = "test",
    dpi: int = 100,
) -> Path:
    """Loss curves: per epoch (train and test) and, optionally, every N batches.

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
    """
    target = _check_path(path)
    res = _check_dpi(dpi)
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
    ends = _epoch_ends(epoch_steps, train.size)
    title_text = _check_title(title)
    test_name = _check_label("test_label", test_label)

    epoch_exp = _display_scale(train, test)
    batch_exp = _display_scale(batches, train, test) if ends.size else _display_scale(batches)

    fig = _new_figure(12.0 if interval else 8.0, 5.0, res)
    if interval:
        ax, ax_batch = fig.subplots(1, 2)
    else:
        ax = fig.subplots()
    epochs = np.arange(1, train.size + 1)
    marker = _marker(train.size)
    ax.plot(epochs, _scaled(train, epoch_exp), color=_TRAIN_COLOR, marker=marker, label="train")
    if test.size:
        ax.plot(
            epochs, _scaled(test, epoch_exp), color=_TEST_COLOR, marker=marker, label=test_name
        )
    ax.set_ylabel(_scaled_label("loss", epoch_exp))
    ax.set_title("loss per epoch")
    _epoch_axes(ax)
    ax.legend()
    if interval:
        # Float steps: an int64 product would wrap silently for a huge batch_interval.
        steps = interval * np.arange(1, batches.size + 1, dtype=np.float64)
        ax_batch.plot(
            steps, _scaled(batches, batch_exp), color=_TRAIN_COLOR, linewidth=1.0, label="train"
        )
        every = f"every {interval} batch{'es' if interval > 1 else ''}"
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
    _finish(fig, title_text)
    return _save(fig, target)


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
    *,
    epoch_train_accuracy: ArrayLike,
    epoch_test_accuracy: ArrayLike | None = None,
    title: str | None = None,
    test_label: str = "test",
    dpi: int = 100,
) -> Path:
    """Accuracy per epoch, train and (optionally) test, in percent.

    ``epoch_train_accuracy``: one fraction in ``[0, 1]`` per epoch, at least one;
    ``epoch_test_accuracy``: as many, or ``None``/empty; ``test_label`` names that curve
    in the legend. The legend gives each curve's final value. Writes a PNG of 8 x 5
    inches (800 x 500 px at ``dpi=100``). Returns ``Path(path)``.
    """
    target = _check_path(path)
    res = _check_dpi(dpi)
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
    epochs = np.arange(1, train.size + 1)
    marker = _marker(train.size)
    ax.plot(
        epochs, train, color=_TRAIN_COLOR, marker=marker, label=f"train ({train[-1]:.2%} final)"
    )
    if test.size:
        ax.plot(
            epochs,
            test,
            color=_TEST_COLOR,
            marker=marker,
            label=f"{test_name} ({test[-1]:.2%} final)",
        )
    ax.set_ylabel("accuracy")
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.set_title("accuracy per epoch")
    _epoch_axes(ax)
    ax.legend(loc="lower right")
    _finish(fig, title_text)
    return _save(fig, target)


def _check_title(title: Any) -> str | None:
    if title is not None and not isinstance(title, str):
        raise ArgumentTypeError(f"title: expected a string or None, got {type(title).__name__}")
    return title


def _check_label(name: str, label: Any) -> str:
    if not isinstance(label, str):
        raise ArgumentTypeError(f"{name}: expected a string, got {type(label).__name__}")
    if not label.strip():
        raise InvalidArgumentError(f"{name}: expected a non-empty label")
    return label


def _finish(fig: Figure, title: str | None) -> None:
    if title:
        fig.suptitle(title)


def plot_confusion_matrix(
    path: PathLike,
    cm: ArrayLike,
    class_names: Sequence[str] | None = None,
    title: str | None = None,
    *,
    dpi: int = 100,
) -> Path:
    """The confusion matrix as a heat map, each cell's value written in it, with a colorbar.

    ``cm``: ``(C, C)`` non-negative counts (integer dtype; floats, e.g. row-normalised
    rates, are allowed and shown with two decimals, or three significant digits from
    100 up), rows true classes, columns
    predicted, as :func:`funcnn.reporting.metrics.confusion_matrix` returns. ``class_names``: ``C``
    tick labels (default ``0 .. C-1``). Values are written in the cells for up to 20
    classes. Writes a PNG of 8 x 7 inches (800 x 700 px at ``dpi=100``). Returns
    ``Path(path)``.
    """
    target = _check_path(path)
    res = _check_dpi(dpi)
    arr = ensure_array("cm", cm)
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise ArgumentTypeError(f"cm: expected a numeric (C, C) array, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise InvalidArgumentError(f"cm: expected a square (C, C) matrix, got shape {arr.shape}")
    check_finite("cm", arr)
    if (arr < 0).any():
        raise InvalidArgumentError("cm: expected non-negative values")
    c = arr.shape[0]
    names = _class_names(class_names, c)
    title_text = _check_title(title)

    fig = _new_figure(8.0, 7.0, res)
    ax = fig.subplots()
    values = arr.astype(np.float64)
    exponent = _display_scale(values)
    drawn = _scaled(values, exponent)
    top = float(drawn.max())
    image = ax.imshow(drawn, cmap="Blues", vmin=0.0, vmax=top if top > 0 else 1.0)
    bar = fig.colorbar(image, ax=ax)
    bar.set_label(_scaled_label("count" if arr.dtype.kind in "iu" else "value", exponent))
    ticks = np.arange(c)
    ax.set_xticks(ticks, labels=names, rotation=45 if max(map(len, names)) > 2 else 0)
    ax.set_yticks(ticks, labels=names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if c <= _MAX_ANNOTATED_CLASSES:
        fontsize = max(6.0, min(11.0, 110.0 / c))
        rows, cols = np.indices(arr.shape)
        # Dark text on light cells, light text on dark ones, so every count stays legible.
        dark = drawn > 0.55 * (top if top > 0 else 1.0)
        for i, j, v, is_dark in zip(
            rows.ravel(), cols.ravel(), arr.ravel(), dark.ravel(), strict=True
        ):
            text = f"{int(v)}" if arr.dtype.kind in "iu" else _format_value(float(v))
            ax.text(
                float(j),
                float(i),
                text,
                ha="center",
                va="center",
                fontsize=fontsize,
                color="white" if is_dark else "black",
            )
    ax.set_title(title_text or "confusion matrix")
    return _save(fig, target)


def _format_value(v: float) -> str:
    """Two decimals for rates and small values, three significant digits beyond 100.

    Fixed-point text for a large value (``f"{1e300:.2f}"`` has 300 digits) would not fit
    in a cell and makes the layout fail.
    """
    return f"{v:.2f}" if abs(v) < 100 else f"{v:.3g}"


def _class_names(class_names: Any, c: int) -> list[str]:
    if class_names is None:
        return [str(i) for i in range(c)]
    if isinstance(class_names, str) or not isinstance(class_names, Sequence):
        raise ArgumentTypeError(
            f"class_names: expected a sequence of {c} strings, got {type(class_names).__name__}"
        )
    if len(class_names) != c:
        raise InvalidArgumentError(
            f"class_names: expected {c} names (one per row of cm), got {len(class_names)}"
        )
    for i, name in enumerate(class_names):
        if not isinstance(name, str):
            raise ArgumentTypeError(f"class_names[{i}]: expected a string, got {name!r}")
    return list(class_names)


def _square_side(name: str, width: int) -> int:
    side = math.isqrt(width)
    if side * side != width:
        raise InvalidArgumentError(
            f"{name}: {width} values per image is not a square number of pixels (784 = 28 x 28 is)"
        )
    return side


def _grid(n: int) -> tuple[int, int]:
    cols = math.ceil(math.sqrt(n))
    return math.ceil(n / cols), cols


def plot_sample_grid(
    path: PathLike,
    images: ArrayLike,
    y_true: ArrayLike,
    y_pred: ArrayLike,
    n: int = 25,
    *,
    dpi: int = 100,
) -> Path:
    """A grid of the first ``n`` images with their true and predicted labels.

    ``images``: ``(N, H, W)``, or flattened ``(N, H*W)`` with a square ``H*W`` (784 is
    28 x 28), any real dtype (uint8 pixels or scaled floats), finite; all images share
    one grey scale. ``y_true``, ``y_pred``: integer labels ``(N,)``. Misclassified
    images get a red frame and red caption. To show chosen samples (say the result of
    :func:`funcnn.reporting.metrics.top_misclassified`), index the arrays first.

    The grid has ``cols = ceil(sqrt(m))`` columns and ``ceil(m / cols)`` rows for
    ``m = min(n, N)``; the PNG is ``max(4, 1.25 cols)`` x ``1.5 rows + 0.5`` inches
    (e.g. 625 x 800 px for 25 images at ``dpi=100``). Returns ``Path(path)``.
    """
    target = _check_path(path)
    res = _check_dpi(dpi)
    arr = ensure_array("images", images)
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise ArgumentTypeError(f"images: expected a numeric array, got dtype {arr.dtype}")
    if arr.ndim == 2:
        side = _square_side("images", arr.shape[1])
        arr = arr.reshape(arr.shape[0], side, side)
    if arr.ndim != 3 or 0 in arr.shape:
        raise InvalidArgumentError(
            f"images: expected shape (N, H, W) or (N, H*W) with N >= 1, got {np.shape(images)}"
        )
    check_finite("images", arr)
    count = arr.shape[0]
    t = _check_labels("y_true", y_true)
    p = _check_labels("y_pred", y_pred)
    for name, labels in (("y_true", t), ("y_pred", p)):
        if labels.shape[0] != count:
            raise InvalidArgumentError(
                f"{name}: expected {count} labels (one per image), got {labels.shape[0]}"
            )
    shown = min(check_positive_int("n", n), count)

    rows, cols = _grid(shown)
    width, height = max(4.0, 1.25 * cols), 1.5 * rows + 0.5
    # Laid out by hand: constrained layout is slow for dozens of Axes and gains nothing on
    # a regular grid.
    fig = _new_figure(width, height, res, constrained=False)
    raw = arr[:shown].astype(np.float64)
    # One shared grey scale: dividing every image by the same power of ten changes nothing
    # but keeps matplotlib's normalisation (high - low) from overflowing.
    pixels = _scaled(raw, _display_scale(raw))
    low, high = float(pixels.min()), float(pixels.max())
    if high <= low:
        high = low + 1.0
    wrong = t[:shown] != p[:shown]
    grid_w = 1.25 * cols
    left = (width - grid_w) / 2 / width
    fig.subplots_adjust(
        left=left + 0.05 / width,
        right=1 - left - 0.05 / width,
        bottom=0.1 / height,
        top=1 - 0.5 / height,
        wspace=0.25,
        hspace=0.45,
    )
    axes = fig.subplots(rows, cols, squeeze=False)
    for index, ax in enumerate(axes.ravel()):
        if index >= shown:
            ax.set_axis_off()
            continue
        ax.imshow(pixels[index], cmap="gray_r", vmin=low, vmax=high, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        color = _WRONG_COLOR if wrong[index] else "black"
        ax.set_title(f"true {t[index]}, pred {p[index]}", fontsize=8, color=color, pad=3)
        for spine in ax.spines.values():
            spine.set_edgecolor(color if wrong[index] else "0.7")
            spine.set_linewidth(2.0 if wrong[index] else 0.8)
    n_wrong = int(np.count_nonzero(wrong))
    fig.suptitle(
        f"{shown} samples, {n_wrong} misclassified (red)",
        fontsize=10,
        y=1 - 0.12 / height,
        va="top",
    )
    return _save(fig, target)


def plot_first_layer_weights(
    path: PathLike,
    W: ArrayLike,
    n: int = 64,
    *,
    dpi: int = 100,
) -> Path:
    """The first ``n`` hidden units' incoming weights (columns of ``W``) as images.

    ``W``: the first layer's ``(n_in, H)`` float weights, ``params[0]["W"]``, with
    ``n_in`` a square number (784 gives 28 x 28 images), finite. Each unit is drawn
    with its own symmetric scale, ``w / max|w|`` of that unit, red positive and blue
    negative, so the shape of every unit's receptive field shows whatever its norm; the
    colorbar gives that relative scale. Units are drawn row by row, ``0 .. m-1``.

    The grid has ``cols = ceil(sqrt(m))`` columns and ``ceil(m / cols)`` rows for
    ``m = min(n, H)``; the PNG is ``max(4, cols) + 1.25`` x ``rows + 0.5`` inches (e.g.
    925 x 850 px for 64 units at ``dpi=100``). Returns ``Path(path)``.
    """
    target = _check_path(path)
    res = _check_dpi(dpi)
    arr = ensure_array("W", W)
    if arr.dtype.kind != "f":
        raise ArgumentTypeError(f"W: expected a float array (n_in, H), got dtype {arr.dtype}")
    if arr.ndim != 2 or 0 in arr.shape:
        raise InvalidArgumentError(f"W: expected a 2-D (n_in, H) weight matrix, got {arr.shape}")
    side = _square_side("W", arr.shape[0])
    check_finite("W", arr)
    shown = min(check_positive_int("n", n), arr.shape[1])

    rows, cols = _grid(shown)
    weights = arr[:, :shown].astype(np.float64)
    scale = np.abs(weights).max(axis=0)
    scale[scale == 0] = 1.0  # an all-zero unit stays all zero, not NaN
    tiles = (weights / scale).T.reshape(shown, side, side)
    # One mosaic image with a one-pixel NaN gutter between tiles: a single imshow is far
    # faster than one Axes per unit, and NaN cells draw in the background colour.
    pad = side + 1
    mosaic = np.full((rows * pad - 1, cols * pad - 1), np.nan)
    r_idx, c_idx = np.divmod(np.arange(shown), cols)
    rr = (r_idx * pad)[:, None, None] + np.arange(side)[None, :, None]
    cc = (c_idx * pad)[:, None, None] + np.arange(side)[None, None, :]
    mosaic[rr, cc] = tiles

    fig = _new_figure(max(4.0, float(cols)) + 1.25, rows + 0.5, res)
    import matplotlib as mpl  # after _new_figure checked it exists

    cmap = mpl.colormaps["RdBu_r"].with_extremes(bad="white")
    ax = fig.subplots()
    image = ax.imshow(mosaic, cmap=cmap, vmin=-1.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    bar = fig.colorbar(image, ax=ax, shrink=0.8)
    bar.set_label("w / max |w| of the unit")
    ax.set_title(f"first-layer weights: units 0-{shown - 1} of {arr.shape[1]}", fontsize=10)
    return _save(fig, target)
