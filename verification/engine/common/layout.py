"""Where each parameter tensor sits in the flat parameter vector, and unit directions
supported on one tensor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from funcnn.core.pytree import tree_leaves
from funcnn.typing import Array, FloatArray, IntArray

__all__ = [
    "Directions",
    "TensorInfo",
    "block_key",
    "kink_side",
    "tensor_block",
    "tensor_layout",
]

BoolArray = NDArray[np.bool_]

def kink_side(z: Array, kinks: tuple[float, ...]) -> Array:
    """Which side of the kinks (an activation's ``kinks``, or a loss's in its kink
    coordinate) each entry of ``z`` lies on: ``z > 0`` for a kink at 0 (relu, leaky
    relu), else the number of kinks below ``z``. Two points whose sides differ have a
    kink between them."""
    if kinks == (0.0,):
        return z > 0
    side = np.zeros(z.shape, dtype=np.int8)
    for k in kinks:
        side += z > k
    return side

ROWS_PER_CHUNK = 1 << 14
"""Rows evaluated per block: large enough to amortise numpy's per-call cost, small
enough that a block of activations stays in cache (16k rows x 32 units = 4 MB)."""


@dataclass(frozen=True)
class TensorInfo:
    """One parameter tensor's place in the flat vector ``ravel(params)``.

    ``name`` is its path, e.g. ``"params[1]['W']"``; ``offset`` its first flat index.
    """

    name: str
    shape: tuple[int, ...]
    offset: int

    @property
    def size(self) -> int:
        """Number of entries."""
        return int(np.prod(self.shape, dtype=np.int64))

    def unflat(self, flat_index: int) -> tuple[int, ...]:
        """The entry's index inside the tensor for a flat index into the whole vector."""
        local = int(flat_index) - self.offset
        if self.shape == ():
            return ()
        return tuple(int(i) for i in np.unravel_index(local, self.shape))


def _paths(tree: Any, prefix: str) -> list[str]:
    """Leaf paths in :func:`funcnn.core.pytree.tree_flatten` order (dict keys sorted)."""
    if isinstance(tree, dict):
        return [p for k in sorted(tree) for p in _paths(tree[k], f"{prefix}[{k!r}]")]
    if isinstance(tree, list | tuple):
        return [p for i, c in enumerate(tree) for p in _paths(c, f"{prefix}[{i}]")]
    return [prefix]


def tensor_layout(params: Any, name: str = "params") -> tuple[TensorInfo, ...]:
    """Name, shape and flat offset of every leaf of a params pytree, in ravel order."""
    leaves = tree_leaves(params)
    paths = _paths(params, name)
    infos = []
    offset = 0
    for path, leaf in zip(paths, leaves, strict=True):
        shape = tuple(np.shape(leaf))
        infos.append(TensorInfo(path, shape, offset))
        offset += int(np.prod(shape, dtype=np.int64))
    return tuple(infos)


@dataclass(frozen=True)
class Directions:
    """``d`` unit directions in parameter space, each supported on one tensor.

    ``tensor[k]`` is the index (in :func:`tensor_layout` order) of direction ``k``'s
    tensor and ``values[k]`` its entries there, flattened (zeros elsewhere).
    """

    tensor: tuple[int, ...]
    values: tuple[FloatArray, ...]
    cache: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)
    """Evaluators keep per-direction quantities here (e.g. pre-activation slopes)."""

    def __len__(self) -> int:
        return len(self.tensor)

    def dense(self, layout: Sequence[TensorInfo]) -> FloatArray:
        """The directions as a dense ``(d, n)`` float64 matrix."""
        n = layout[-1].offset + layout[-1].size if layout else 0
        out = np.zeros((len(self), n))
        for k, (index, vals) in enumerate(zip(self.tensor, self.values, strict=True)):
            info = layout[index]
            out[k, info.offset : info.offset + info.size] = vals
        return out


def block_key(index: int) -> tuple[str, int]:
    """The :attr:`Directions.cache` key of tensor ``index``'s block of directions."""
    return ("block", index)


def tensor_block(dirs: Directions, index: int, members: IntArray) -> FloatArray:
    """The values of directions ``members`` (all in tensor ``index``) as the rows of one
    matrix: the block cached under :func:`block_key` when it holds exactly those rows
    (as the random probes of a directional check do), else a stacked copy."""
    block: FloatArray | None = dirs.cache.get(block_key(index))
    if block is not None and block.shape[0] == members.size and all(
        dirs.tensor[int(k)] == index
        and dirs.values[int(k)].shape == block.shape[1:]
        and dirs.values[int(k)].ctypes.data == block.ctypes.data + row * block.strides[0]
        for row, k in enumerate(members)
    ):
        return block
    return np.stack([dirs.values[int(k)] for k in members])


