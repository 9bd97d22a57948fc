"""Numerical settings of a gradient check, the check modes and their size limits."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.typing import IntArray
from verification.engine.bounds.tolerances import (
    MAXITER,
    ORDER,
    STEP_FACTOR,
    STEP_UNIT,
    Tolerance,
)

__all__ = [
    "BISECT_LEAF",
    "FULL_MODE_LIMIT",
    "MODES",
    "MOVE_SCALE",
    "RECHECK_FULL_LIMIT",
    "Settings",
    "TolFactory",
    "check_settings",
]

BoolArray = NDArray[np.bool_]

FULL_MODE_LIMIT = 30_000
"""``mode="auto"`` uses full mode up to this many parameters, directional above."""

MOVE_SCALE = 1e-4
"""Relative size of the random move off a multiple kink (see
:func:`~verification.engine.network_check.moved_params`)."""

RECHECK_FULL_LIMIT = 8192
"""A failing directional block of at most this many entries is re-checked in full."""

BISECT_LEAF = 512
"""Bisection of a larger failing block stops at this many entries, checked in full."""

MODES = ("full", "subset", "directional")

TolFactory = Callable[[IntArray], Tolerance]
"""The tolerance of a tensor's entries, given the tensor-local indices compared."""


@dataclass(frozen=True)
class Settings:
    """Numerical settings of a check (defaults from :mod:`verification.engine.bounds.tolerances`).

    ``step_unit`` is the initial step in units of pre-activation change (structured
    evaluator) or of the parameter itself (generic loss, where it is scaled by
    ``max(1, |theta_i|)``). ``screen``: in full and subset mode of
    :func:`~verification.engine.gradients.check_gradients` (and in the re-check of a failing
    directional probe), decide most entries with three loss calls each and refine only
    the rest (:mod:`verification.engine.modes.screen`); ``False`` sends every entry
    through scipy's refinement. ``recheck_limit`` and ``bisect_leaf``: a tensor whose
    directional probe fails is re-checked in full when it has at most ``recheck_limit``
    entries, else bisected down to ``bisect_leaf`` entries first (smaller for a loss
    that costs a whole forward pass per point). ``localise=False`` skips that step: the
    failing probe is the row (the foreign check does so for its second look, against
    the program's own loss, once its conformance rows have located the fault).

        >>> from verification import Settings
        >>> Settings().order, Settings(screen=False).screen      # frozen: replace, never mutate
        (4, False)
    """

    order: int = ORDER
    maxiter: int = MAXITER
    step_factor: float = STEP_FACTOR
    step_unit: float = STEP_UNIT
    screen: bool = True
    recheck_limit: int = RECHECK_FULL_LIMIT
    bisect_leaf: int = BISECT_LEAF
    localise: bool = True


def check_settings(settings: Any) -> Settings:
    """``settings`` (``None``: the defaults) if every field is usable by scipy.

    Checked by the entry points rather than in ``__post_init__`` so that a bad value is
    reported where it is used, naming the field. ``maxiter >= 2`` because the first
    iteration has no error estimate, and the pass condition needs one.
    """
    if settings is None:
        return Settings()
    if not isinstance(settings, Settings):
        raise ArgumentTypeError(
            f"settings: expected a verification.Settings, got {type(settings).__name__}"
        )
    for field_name, least in (("order", 1), ("maxiter", 2), ("recheck_limit", 1),
                              ("bisect_leaf", 1)):
        value = getattr(settings, field_name)
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < least:
            raise InvalidArgumentError(
                f"settings.{field_name}: expected an int >= {least}, got {value!r}"
            )
    for field_name, above in (("step_factor", 1.0), ("step_unit", 0.0)):
        value = getattr(settings, field_name)
        number = isinstance(value, int | float | np.integer | np.floating) and not isinstance(
            value, bool
        )
        if not (number and math.isfinite(float(value)) and float(value) > above):
            raise InvalidArgumentError(
                f"settings.{field_name}: expected a finite number > {above:g}, got {value!r}"
            )
    for flag in ("screen", "localise"):
        if not isinstance(getattr(settings, flag), bool):
            raise ArgumentTypeError(
                f"settings.{flag}: expected True or False, got {getattr(settings, flag)!r}"
            )
    return settings


