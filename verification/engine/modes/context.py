"""The context of one check: what every tensor of it is checked with, as one value.

An entry point (:func:`~verification.engine.gradients.check_gradients`,
:func:`~verification.engine.network_check.check_network`, a loss-gradient check) builds
one :class:`CheckContext` and the modes pass it down whole, from the run of a mode to
the refinement of one tensor's entries and the bisection of a failing probe, instead of
eight values side by side through every function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from funcnn.typing import FloatArray
from verification.engine.bounds.settings import Settings, TolFactory
from verification.engine.common.layout import TensorInfo
from verification.engine.evaluators.perturbed import PerturbedLoss

__all__ = ["CheckContext"]


@dataclass(frozen=True)
class CheckContext:
    """Everything the modes need to check the tensors of one parameter vector.

    ``check`` names the report rows. ``evaluator`` gives the float64 loss at perturbed
    parameter vectors. ``analytic`` is the analytic gradient, one flat float64 array per
    tensor of ``layout``; ``tols`` the tolerance of each tensor's entries, and ``dtype``
    the dtype the analytic gradient was computed in. ``settings`` are the numerical
    settings; ``steps_all()`` is scipy's initial step of every flat coordinate and
    ``screen_steps()`` the screen's (both computed on first use); ``screen_steps=None``
    sends every entry of full and subset mode through scipy's refinement (see
    :mod:`verification.engine.modes.screen`).
    """

    check: str
    evaluator: PerturbedLoss
    analytic: Sequence[FloatArray]
    layout: Sequence[TensorInfo]
    tols: Sequence[TolFactory]
    dtype: Any
    settings: Settings
    steps_all: Callable[[], FloatArray]
    screen_steps: Callable[[], FloatArray] | None = None

    @property
    def rtol(self) -> float:
        """The relative tolerance of the check (the dtype's, shared by every tensor)."""
        return self.tols[0](np.zeros(0, dtype=np.int64)).rtol if self.tols else 0.0

    def tensor(self, index: int) -> CheckContext:
        """The same check restricted to tensor ``index`` of the layout (the full re-check
        of a tensor whose directional probe failed), screened when the check is: a black
        box pays a whole loss call per point, and a clear failure needs three."""
        return replace(self, analytic=[self.analytic[index]], layout=[self.layout[index]],
                       tols=[self.tols[index]])
