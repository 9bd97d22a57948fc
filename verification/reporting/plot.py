"""A picture of the failing tensors of a report: their signed relative error as heat maps.

Each failing row that kept its per-entry errors (full and subset mode, see
:attr:`verification.reporting.report.CheckRow.errors`) gets one panel: the entry ``[i, j]`` of a
matrix at row ``i``, column ``j`` (a vector is drawn as one row), coloured by
``sign(n) (a - n) / max(|a|, |n|)`` on a symmetric scale, so that a uniform factor is
one flat colour, a transposed gradient a mirrored pattern and a wrong row or column a
stripe. Entries that pass are near zero (white); entries not compared are grey. The
panel title names the tensor, the failed count and the row's pattern hint.

matplotlib is the optional ``plot`` extra; the PNG is written atomically with the
helpers of :mod:`funcnn.reporting.plots`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from funcnn.errors import InvalidArgumentError
from funcnn.reporting.plots._figure import _check_path, _new_figure, _save

__all__ = ["FailingRow", "plot_failures"]


class FailingRow(Protocol):
    """What a panel reads of a report row (a
    :class:`~verification.reporting.report.CheckRow` has all of it); declared here so
    that the plot needs nothing from the report module, which calls it."""

    @property
    def check(self) -> str: ...
    @property
    def tensor(self) -> str: ...
    @property
    def shape(self) -> tuple[int, ...]: ...
    @property
    def verdict(self) -> str: ...
    @property
    def n_checked(self) -> int: ...
    @property
    def n_failed(self) -> int: ...
    @property
    def hint(self) -> str: ...
    @property
    def errors(self) -> NDArray[np.floating[Any]] | None: ...

_MAX_PANELS = 12
"""At most this many failing tensors are drawn (the worst first), one panel each."""


def plot_failures(rows: Sequence[FailingRow], path: Any, *, dpi: int = 100) -> Path:
    """Draw the failing rows' errors to the PNG ``path`` (atomically); returns the path.

    Raises :class:`~funcnn.errors.InvalidArgumentError` when no row failed with
    per-entry errors (nothing to draw).
    """
    target = _check_path(path)
    drawn = [row for row in rows if row.verdict == "fail" and row.errors is not None]
    if not drawn:
        raise InvalidArgumentError(
            "report: no failing tensor with per-entry errors to plot (only full and subset "
            "mode keep them, and only for failing rows)"
        )
    drawn = sorted(drawn, key=lambda row: -row.n_failed)[:_MAX_PANELS]
    cols = min(3, len(drawn))
    nrows = -(-len(drawn) // cols)
    fig = _new_figure(4.6 * cols, 4.2 * nrows, dpi)
    axes = fig.subplots(nrows, cols, squeeze=False)
    for ax, row in zip(axes.flat, drawn, strict=False):
        _panel(fig, ax, row)
    for ax in list(axes.flat)[len(drawn):]:
        ax.set_axis_off()
    return _save(fig, target)


def _panel(fig: Any, ax: Any, row: FailingRow) -> None:
    errors = np.asarray(row.errors, dtype=np.float64)
    grid = errors.reshape(1, -1) if errors.ndim <= 1 else errors.reshape(errors.shape[0], -1)
    finite = grid[np.isfinite(grid)]
    limit = float(np.max(np.abs(finite))) if finite.size else 1.0
    limit = limit if limit > 0 else 1.0
    cmap = _colormap()
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=-limit, vmax=limit,
                      aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.8, label="sign(n)(a - n) / max(|a|, |n|)")
    title = f"{row.check}\n{row.tensor} {'x'.join(map(str, row.shape))}: " \
            f"{row.n_failed}/{row.n_checked} fail"
    if row.hint:
        title += "\n" + textwrap.fill(row.hint, 60)
    ax.set_title(title, fontsize=8, loc="left")
    ax.set_xlabel("column (output unit)" if errors.ndim == 2 else "entry")
    if errors.ndim == 2:
        ax.set_ylabel("row (input)")
    else:
        ax.set_yticks([])


def _colormap() -> Any:
    from matplotlib import colormaps

    return colormaps["RdBu_r"].with_extremes(bad="0.75")
