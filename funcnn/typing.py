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

IntLike: TypeAlias = int | np.integer[Any] | NDArray[np.integer[Any]]
"""A count or step: an int, a numpy integer or a 0-d integer array (``state["count"]``)."""

Layer: TypeAlias = dict[str, FloatArray]
"""One dense layer's parameters: ``{"W": (n_in, n_out), "b": (n_out,)}``.

For example, the first layer of a 4-3-2 network:

    >>> import numpy as np
    >>> import funcnn as fn
    >>> layer = fn.init(fn.MLP((4, 3, 2)), np.random.default_rng(0))[0]
    >>> sorted(layer), layer["W"].shape, layer["b"].shape
    (['W', 'b'], (4, 3), (3,))
"""

Params: TypeAlias = list[Layer]
"""A network's parameters: one :data:`Layer` dict per dense layer, input to output.

For example:

    >>> import numpy as np
    >>> import funcnn as fn
    >>> params = fn.init(fn.MLP((4, 3, 2)), np.random.default_rng(0))
    >>> type(params).__name__, [layer["W"].shape for layer in params]
    ('list', [(4, 3), (3, 2)])
"""

FloatDType: TypeAlias = type[np.float32] | type[np.float64] | np.dtype[Any]
"""A floating dtype accepted where funcnn asks for one (``np.float32`` or ``np.float64``).

One convention for every public function taking a ``dtype``: it follows the data
arguments and may be passed by position or by keyword (``fn.scale(x, np.float32)``,
``fn.standardize(x, dtype=np.float32)``)."""
