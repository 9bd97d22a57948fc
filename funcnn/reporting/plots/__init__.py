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

from funcnn.reporting.plots._figure import PlotDependencyError
from funcnn.reporting.plots.curves import plot_accuracy_curves, plot_loss_curves
from funcnn.reporting.plots.images import (
    plot_confusion_matrix,
    plot_first_layer_weights,
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

# The file name of each plot, shared by ``funcnn train`` and the examples so that a run
# directory looks the same whichever wrote it.
PLOT_FILES: dict[str, str] = {
    "loss": "loss.png",
    "accuracy": "accuracy.png",
    "confusion": "confusion_matrix.png",
    "samples": "samples.png",
    "misclassified": "misclassified.png",
    "weights": "first_layer_weights.png",
}
