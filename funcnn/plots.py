"""``import funcnn.plots``: the PNG plots of :mod:`funcnn.reporting.plots`, by a short name.

The same functions as ``from funcnn import plots`` gives; matplotlib (``funcnn[plot]``)
is imported only when a plot is drawn.
"""

from __future__ import annotations

from funcnn.reporting.plots import (
    PLOT_FILES,
    PlotDependencyError,
    plot_accuracy_curves,
    plot_confusion_matrix,
    plot_first_layer_weights,
    plot_loss_curves,
    plot_sample_grid,
)

__all__ = [
    "PLOT_FILES",
    "PlotDependencyError",
    "plot_accuracy_curves",
    "plot_confusion_matrix",
    "plot_first_layer_weights",
    "plot_loss_curves",
    "plot_sample_grid",
]
