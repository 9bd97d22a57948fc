"""Pictures of a trained classifier: confusion matrix, sample digits, first-layer weights."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from funcnn.core.validation import check_finite, check_positive_int, ensure_array
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.reporting.metrics import _check_labels
from funcnn.reporting.plots._figure import (
    _MAX_ANNOTATED_CLASSES,
    _WRONG_COLOR,
    PathLike,
    _check_dpi,
    _check_path,
    _check_title,
    _display_scale,
    _new_figure,
    _save,
    _scaled,
    _scaled_label,
)

__all__ = ["plot_confusion_matrix", "plot_first_layer_weights", "plot_sample_grid"]


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

        >>> import funcnn as fn
        >>> from funcnn.plots import plot_confusion_matrix
        >>> cm = fn.confusion_matrix([0, 1, 1, 2], [0, 1, 0, 2], 3)
        >>> plot_confusion_matrix("confusion.png", cm, class_names=["a", "b", "c"]).is_file()
        True
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


def _grid(n: int, wide: bool = False) -> tuple[int, int]:
    """``(rows, cols)`` for ``n`` tiles: square, or twice as wide as tall with ``wide``."""
    cols = math.ceil(math.sqrt(2 * n if wide else n))
    return math.ceil(n / cols), cols


def _check_images(images: Any) -> NDArray[Any]:
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
    return arr


def _check_caption(caption: Any) -> str | None:
    if caption is not None and not isinstance(caption, str):
        raise ArgumentTypeError(f"caption: expected a string or None, got {type(caption).__name__}")
    return caption


# Sample grid geometry, in inches: each image is _TILE square with its caption above it.
_TILE = 1.0
_CAPTION = 0.25
_GAP = 0.2
_HEADER_LINE = 0.25


def plot_sample_grid(
    path: PathLike,
    images: ArrayLike,
    y_true: ArrayLike,
    y_pred: ArrayLike,
    n: int = 25,
    *,
    title: str | None = None,
    caption: str | None = None,
    dpi: int = 100,
) -> Path:
    """A grid of the first ``n`` images with their true and predicted labels.

    ``images``: ``(N, H, W)``, or flattened ``(N, H*W)`` with a square ``H*W`` (784 is
    28 x 28), any real dtype (uint8 pixels or scaled floats), finite; all images share
    one grey scale. ``y_true``, ``y_pred``: integer labels ``(N,)``. Misclassified
    images get a red frame and red caption. To show chosen samples (say the result of
    :func:`funcnn.reporting.metrics.top_misclassified`), index the arrays first, and say
    how they were chosen in ``caption`` (e.g. ``"the 25 most confident mistakes"``;
    default ``"<m> samples"``); the heading is ``title`` (e.g. which run), if any, over
    the caption and how many are misclassified.

    The grid has ``cols = ceil(sqrt(m))`` columns and ``ceil(m / cols)`` rows for
    ``m = min(n, N)``, each cell 1.2 x 1.25 inches, under a heading of 0.4 inches (0.65
    with a ``title``), at least 4 inches wide; e.g. 600 x 665 px for 25 images at
    ``dpi=100``. Returns ``Path(path)``.

        >>> import numpy as np
        >>> from funcnn.plots import plot_sample_grid
        >>> images = np.random.default_rng(0).random((4, 16))          # four 4 x 4 images
        >>> plot_sample_grid("samples.png", images, [0, 1, 1, 0], [0, 1, 0, 0]).is_file()
        True
    """
    target = _check_path(path)
    res = _check_dpi(dpi)
    arr, t, p = _sample_inputs(images, y_true, y_pred)
    shown = min(check_positive_int("n", n), arr.shape[0])
    heading = _sample_heading(
        _check_title(title), _check_caption(caption), shown, t[:shown] != p[:shown]
    )

    rows, cols = _grid(shown)
    top = 0.15 + _HEADER_LINE * len(heading)
    width, height = max(4.0, (_TILE + _GAP) * cols), top + (_TILE + _CAPTION) * rows
    # Laid out by hand: constrained layout is slow for dozens of Axes and gains nothing on
    # a regular grid.
    fig = _new_figure(width, height, res, constrained=False)
    raw = arr[:shown].astype(np.float64)
    # One shared grey scale: dividing every image by the same power of ten changes nothing
    # but keeps matplotlib's normalisation (high - low) from overflowing.
    _draw_tiles(fig, _scaled(raw, _display_scale(raw)), t, p, cols, (width, height, top))
    fig.text(0.5, 1 - 0.08 / height, "\n".join(heading), ha="center", va="top", fontsize=10)
    return _save(fig, target)


def _sample_inputs(
    images: ArrayLike, y_true: ArrayLike, y_pred: ArrayLike
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    """``plot_sample_grid``'s images and true and predicted labels, one of each per image."""
    arr = _check_images(images)
    count = arr.shape[0]
    t = _check_labels("y_true", y_true)
    p = _check_labels("y_pred", y_pred)
    for name, labels in (("y_true", t), ("y_pred", p)):
        if labels.shape[0] != count:
            raise InvalidArgumentError(
                f"{name}: expected {count} labels (one per image), got {labels.shape[0]}"
            )
    return arr, t, p


def _draw_tiles(
    fig: Any, pixels: NDArray[np.float64], t: NDArray[Any], p: NDArray[Any], cols: int,
    page: tuple[float, float, float],
) -> None:
    """Each image in its cell of the grid (row by row, ``cols`` a row), framed and
    captioned by :func:`_frame`; ``page`` is the figure's width, height and heading height."""
    width, height, top = page
    cell_w, cell_h = _TILE + _GAP, _TILE + _CAPTION
    low, high = float(pixels.min()), float(pixels.max())
    x0 = (width - cell_w * cols) / 2 + _GAP / 2
    for index in range(pixels.shape[0]):
        r, c = divmod(index, cols)
        bottom = height - top - (r + 1) * cell_h
        ax = fig.add_axes(
            (
                (x0 + c * cell_w) / width,
                bottom / height,
                _TILE / width,
                _TILE / height,
            )
        )
        ax.imshow(
            pixels[index],
            cmap="gray_r",
            vmin=low,
            vmax=high if high > low else low + 1.0,
            interpolation="nearest",
        )
        _frame(ax, f"true {t[index]}, pred {p[index]}", bool(t[index] != p[index]))


def _frame(ax: Any, label: str, wrong: bool) -> None:
    """No ticks; the label above; a red frame and label for a misclassified image."""
    ax.set_xticks([])
    ax.set_yticks([])
    color = _WRONG_COLOR if wrong else "black"
    ax.set_title(label, fontsize=8, color=color, pad=3)
    for spine in ax.spines.values():
        spine.set_edgecolor(color if wrong else "0.7")
        spine.set_linewidth(2.0 if wrong else 0.8)


def _sample_heading(
    title: str | None, caption: str | None, shown: int, wrong: NDArray[np.bool_]
) -> list[str]:
    """The heading lines: the title, then what is shown and how much of it is wrong."""
    n_wrong = int(np.count_nonzero(wrong))
    what = caption or f"{shown} samples"
    if n_wrong == shown and caption:
        line = caption  # chosen as mistakes: "all misclassified" would say it twice
    elif n_wrong == 0:
        line = f"{what}, none misclassified"
    elif n_wrong == shown:
        line = f"{what}, all misclassified"
    else:
        line = f"{what}, {n_wrong} misclassified (red)"
    return [title, line] if title else [line]


def plot_first_layer_weights(
    path: PathLike,
    W: ArrayLike,
    n: int | None = None,
    *,
    title: str | None = None,
    dpi: int = 100,
) -> Path:
    """The first ``n`` hidden units' incoming weights (columns of ``W``) as images.

    ``W``: the first layer's ``(n_in, H)`` float weights, ``params[0]["W"]``, with
    ``n_in`` a square number (784 gives 28 x 28 images), finite. ``n``: how many units
    (default all ``H``). Each unit is drawn with its own symmetric scale, ``w / max|w|``
    of that unit, red positive and blue negative, so the shape of every unit's receptive
    field shows whatever its norm; the colorbar gives that relative scale. Units are
    drawn row by row, ``0 .. m-1``. ``title`` (e.g. which run) goes above.

    For ``m = min(n, H)`` units the grid is square (``cols = ceil(sqrt(m))``) up to 64
    units, twice as wide as tall beyond (``cols = ceil(sqrt(2 m))``; 128 units are 16 x
    8), with ``ceil(m / cols)`` rows; tiles are 1 inch, smaller when that would make the
    grid wider than 12 inches. The PNG is ``max(4, grid width + 0.2) + 1.2`` inches (the
    colorbar) x the grid height plus 0.5 (0.75 with a ``title``): e.g. 940 x 850 px for
    64 units, 1340 x 650 px for 128, at ``dpi=100``. Returns ``Path(path)``.

        >>> import numpy as np
        >>> from funcnn.plots import plot_first_layer_weights
        >>> W = np.random.default_rng(0).standard_normal((16, 8))     # 8 units of 4 x 4 inputs
        >>> plot_first_layer_weights("weights.png", W, n=4).is_file()
        True
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
    shown = arr.shape[1] if n is None else min(check_positive_int("n", n), arr.shape[1])
    title_text = _check_title(title)

    rows, cols = _grid(shown, wide=shown > 64)
    mosaic = _mosaic(arr[:, :shown].astype(np.float64), side, rows, cols)
    tile = min(1.0, 12.0 / cols)
    grid_w, grid_h = tile * cols, tile * rows
    heading = f"first-layer weights: units 0-{shown - 1} of {arr.shape[1]}"
    lines = [title_text, heading] if title_text else [heading]
    top = 0.15 + _HEADER_LINE * len(lines)
    width, height = max(4.0, grid_w + 0.2) + 1.2, grid_h + top + 0.1
    fig = _new_figure(width, height, res, constrained=False)
    import matplotlib as mpl  # after _new_figure checked it exists

    cmap = mpl.colormaps["RdBu_r"].with_extremes(bad="white")
    x0 = max(0.1, (width - 1.2 - grid_w) / 2)  # centred when the heading sets the width
    ax = fig.add_axes((x0 / width, 0.1 / height, grid_w / width, grid_h / height))
    image = ax.imshow(mosaic, cmap=cmap, vmin=-1.0, vmax=1.0, interpolation="nearest")
    ax.set_axis_off()
    bar_ax = fig.add_axes(((x0 + grid_w + 0.2) / width, 0.1 / height, 0.2 / width, grid_h / height))
    bar = fig.colorbar(image, cax=bar_ax)
    bar.set_label("w / max |w| of the unit")
    fig.text(0.5, 1 - 0.08 / height, "\n".join(lines), ha="center", va="top", fontsize=10)
    return _save(fig, target)


def _mosaic(weights: NDArray[np.float64], side: int, rows: int, cols: int) -> NDArray[np.float64]:
    """The units' tiles, each scaled to ``w / max|w|``, in one image with NaN gutters.

    One image with a one-pixel NaN gutter between tiles: a single imshow is far faster
    than one Axes per unit, and NaN cells draw in the background colour.
    """
    shown = weights.shape[1]
    scale = np.abs(weights).max(axis=0)
    scale[scale == 0] = 1.0  # an all-zero unit stays all zero, not NaN
    tiles = (weights / scale).T.reshape(shown, side, side)
    pad = side + 1
    mosaic = np.full((rows * pad - 1, cols * pad - 1), np.nan)
    r_idx, c_idx = np.divmod(np.arange(shown), cols)
    rr = (r_idx * pad)[:, None, None] + np.arange(side)[None, :, None]
    cc = (c_idx * pad)[:, None, None] + np.arange(side)[None, None, :]
    mosaic[rr, cc] = tiles
    return mosaic
