"""Shared plumbing of the plots: detached Agg figures, input checks, atomic PNG writes."""

from __future__ import annotations

import io
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from funcnn.core.validation import check_finite, check_positive_int, ensure_array
from funcnn.errors import ArgumentTypeError, FuncnnError, InvalidArgumentError
from funcnn.training._atomic import write_atomically

if TYPE_CHECKING:
    from matplotlib.figure import Figure

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
    """matplotlib, needed for plotting, is not installed (``pip install funcnn[plot]``).

    For example:

        >>> from funcnn.plots import PlotDependencyError
        >>> issubclass(PlotDependencyError, ImportError)    # except ImportError works
        True
    """


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
    # Whole pixels, nudged up: matplotlib before 3.11 truncates inches x dpi, so 13.4 in
    # (12 + 0.2 + 1.2 = 13.399999999999999) at 100 dpi came out 1339 px, not 1340.
    w, h = ((round(size * dpi) + 0.01) / dpi for size in (width, height))
    fig = Figure(figsize=(w, h), dpi=dpi, layout="constrained" if constrained else None)
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
    target.parent.mkdir(parents=True, exist_ok=True)
    # The checkpoint's atomic write (temporary file, fsync, rename): one implementation.
    write_atomically(target, buffer.getvalue())
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
