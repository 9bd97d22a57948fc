"""Arrays packed as consecutive views of one 1-D block, so one call covers them all.

The pure functions return new arrays on every call: a gradient, updated params, the
engine's pre-activations. Allocated as views of one block, one finiteness read or one
call over the block replaces a call per array (Python overhead that would otherwise
cost more than the arithmetic for small layers), and the allocator sees one request
instead of one per array. Each view is an ordinary C-contiguous array; only its
``base`` shows the packing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from funcnn.typing import Array, FloatArray

__all__ = ["packed_empty", "packed_like"]


def packed_empty(
    shapes: Sequence[tuple[int, ...]], dtype: Any
) -> tuple[FloatArray, list[FloatArray]]:
    """An uninitialised 1-D block and its consecutive views of the given shapes."""
    layout = _layout(tuple(shapes))
    block = np.empty(layout[-1][1] if layout else 0, dtype=dtype)
    pairs = zip(layout, shapes, strict=True)
    return block, [block[start:stop].reshape(shape) for (start, stop), shape in pairs]


@lru_cache(maxsize=256)
def _layout(shapes: tuple[tuple[int, ...], ...]) -> tuple[tuple[int, int], ...]:
    """``(start, stop)`` of each shape in the block; the last stop is its size."""
    bounds, start = [], 0
    for shape in shapes:
        bounds.append((start, start + math.prod(shape)))
        start += math.prod(shape)
    return tuple(bounds)


def packed_like(arrays: Sequence[Array]) -> tuple[FloatArray, list[FloatArray]]:
    """:func:`packed_empty` with the shapes and the (common) dtype of ``arrays``."""
    return packed_empty([a.shape for a in arrays], arrays[0].dtype)
