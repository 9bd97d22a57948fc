"""``import funcnn.plots``: the PNG plots of :mod:`funcnn.reporting.plots`, by a short name.

The same functions as ``from funcnn import plots`` gives: every name in that module's
``__all__``, re-exported (a star import, which type checkers follow), so a plot is
listed once, there. matplotlib (``funcnn[plot]``) is imported only when a plot is drawn.
"""

from __future__ import annotations

from funcnn.reporting import plots as _plots
from funcnn.reporting.plots import *  # noqa: F403

__all__ = list(_plots.__all__)
