"""Type aliases shared across funcnn: arrays, parameter pytrees and callables."""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
from numpy.typing import NDArray

FloatArray: TypeAlias = NDArray[np.floating[Any]]
"""A floating-point array (float32 or float64)."""

IntArray: TypeAlias = NDArray[np.integer[Any]]
"""An integer array, e.g. class labels."""

Array: TypeAlias = NDArray[Any]
"""Any numpy array."""

Layer: TypeAlias = dict[str, FloatArray]
"""One dense layer's parameters: ``{"W": (n_in, n_out), "b": (n_out,)}``."""

Params: TypeAlias = list[Layer]
"""A network's parameters: one :data:`Layer` dict per dense layer, input to output."""

FloatDType: TypeAlias = type[np.float32] | type[np.float64] | np.dtype[Any]
"""A floating dtype accepted where funcnn asks for one (``np.float32`` or ``np.float64``)."""
