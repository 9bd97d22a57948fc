"""Pytree utilities: map over, flatten and ravel nested lists, tuples and dicts of arrays.

Semantics follow ``jax.tree_util``: containers are ``list``, ``tuple`` and ``dict``
(dict children in sorted key order); everything else is a leaf. ``None`` is a leaf too,
which keeps the rules short.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.typing import Array

__all__ = [
    "TreeDef",
    "ravel",
    "tree_flatten",
    "tree_leaves",
    "tree_map",
    "tree_structure",
    "tree_unflatten",
]


@dataclass(frozen=True)
class TreeDef:
    """The structure of a pytree without its leaves; compare two with ``==``.

    ``kind`` is ``"leaf"``, ``"list"``, ``"tuple"`` or ``"dict"``; ``keys`` holds the
    sorted dict keys (empty otherwise); ``children`` the child structures in order.

    For example:

        >>> treedef = tree_structure({"w": 1.0, "b": [2.0, 3.0]})
        >>> str(treedef), treedef.num_leaves, treedef.keys
        ("{'b': [*, *], 'w': *}", 3, ('b', 'w'))
    """

    kind: str
    keys: tuple[Any, ...] = ()
    children: tuple[TreeDef, ...] = ()

    @cached_property
    def num_leaves(self) -> int:
        """Number of leaves a tree of this structure holds."""
        if self.kind == "leaf":
            return 1
        return sum(child.num_leaves for child in self.children)

    def __str__(self) -> str:
        if self.kind == "leaf":
            return "*"
        if self.kind == "dict":
            inner = ", ".join(f"{k!r}: {c}" for k, c in zip(self.keys, self.children, strict=True))
            return "{" + inner + "}"
        inner = ", ".join(str(c) for c in self.children)
        return f"[{inner}]" if self.kind == "list" else f"({inner})"


_LEAF = TreeDef("leaf")
_CONTAINERS = (dict, list, tuple)


def _sorted_keys(d: dict[Any, Any]) -> list[Any]:
    try:
        return sorted(d)
    except TypeError as exc:
        raise ArgumentTypeError(f"pytree dict keys must be sortable, got {list(d)!r}") from exc


@lru_cache(maxsize=64)
def _params_def(n_layers: int) -> TreeDef:
    layer = TreeDef("dict", ("W", "b"), (_LEAF, _LEAF))
    return TreeDef("list", (), (layer,) * n_layers)


def _params_leaves(tree: Any) -> list[Any] | None:
    """The leaves of a network's params (a list of ``{"W", "b"}`` dicts of arrays), the
    common case, without the general walk; None for any other tree."""
    if type(tree) is not list:
        return None
    leaves: list[Any] = []
    for layer in tree:
        if type(layer) is not dict or len(layer) != 2:
            return None
        try:
            W, b = layer["W"], layer["b"]
        except KeyError:
            return None
        if isinstance(W, _CONTAINERS) or isinstance(b, _CONTAINERS):
            return None
        leaves += (W, b)
    return leaves


def tree_flatten(tree: Any) -> tuple[list[Any], TreeDef]:
    """Return the leaves of ``tree`` in canonical order and its structure.

    For example:

        >>> leaves, treedef = tree_flatten({"b": [1, 2], "a": 3})
        >>> leaves
        [3, 1, 2]
        >>> tree_unflatten(treedef, [30, 10, 20])
        {'a': 30, 'b': [10, 20]}
    """
    fast = _params_leaves(tree)
    if fast is not None:
        return fast, _params_def(len(tree))
    leaves: list[Any] = []

    def walk(node: Any) -> TreeDef:
        if isinstance(node, dict):
            keys = _sorted_keys(node)
            return TreeDef("dict", tuple(keys), tuple(walk(node[k]) for k in keys))
        if isinstance(node, list | tuple):
            kind = "list" if isinstance(node, list) else "tuple"
            return TreeDef(kind, (), tuple(walk(child) for child in node))
        leaves.append(node)
        return _LEAF

    treedef = walk(tree)
    return leaves, treedef


def tree_unflatten(treedef: TreeDef, leaves: Sequence[Any]) -> Any:
    """Rebuild a pytree of structure ``treedef`` from ``leaves`` (inverse of flatten).

    For example, a network's params from their leaves in order:

        >>> import numpy as np
        >>> params = [{"W": np.ones((2, 3)), "b": np.zeros(3)}]
        >>> leaves, treedef = tree_flatten(params)
        >>> rebuilt = tree_unflatten(treedef, [2 * leaf for leaf in leaves])
        >>> rebuilt[0]["W"].shape, float(rebuilt[0]["W"][0, 0])
        ((2, 3), 2.0)
    """
    if not isinstance(treedef, TreeDef):
        raise ArgumentTypeError(
            f"treedef: expected a TreeDef (from tree_flatten or tree_structure), "
            f"got {type(treedef).__name__}"
        )
    if len(leaves) != treedef.num_leaves:
        raise InvalidArgumentError(
            f"leaves: expected {treedef.num_leaves} leaves for structure {treedef}, "
            f"got {len(leaves)}"
        )
    if treedef.kind == "list" and treedef is _params_def(len(treedef.children)):
        # A network's params, the common case, without the general walk.
        return [{"W": leaves[i], "b": leaves[i + 1]} for i in range(0, len(leaves), 2)]
    position = iter(leaves)

    def build(node: TreeDef) -> Any:
        if node.kind == "leaf":
            return next(position)
        children = [build(child) for child in node.children]
        if node.kind == "dict":
            return dict(zip(node.keys, children, strict=True))
        return children if node.kind == "list" else tuple(children)

    return build(treedef)


def tree_leaves(tree: Any) -> list[Any]:
    """The leaves of ``tree`` in canonical order (dict keys sorted).

    For example:

        >>> tree_leaves([{"W": 1, "b": 2}, {"b": 4, "W": 3}])
        [1, 2, 3, 4]
    """
    return tree_flatten(tree)[0]


def tree_structure(tree: Any) -> TreeDef:
    """The structure of ``tree``; two trees match when their structures are ``==``.

    For example:

        >>> tree_structure([{"W": 1, "b": 2}]) == tree_structure([{"b": 0.5, "W": 7}])
        True
        >>> tree_structure([{"W": 1, "b": 2}]) == tree_structure([{"W": 1}])
        False
    """
    return tree_flatten(tree)[1]


def tree_map(fn: Callable[..., Any], tree: Any, *rest: Any) -> Any:
    """Apply ``fn`` leaf-wise to ``tree`` and trees ``rest`` of the same structure.

    Returns a new tree; nothing is mutated. Raises ``InvalidArgumentError`` when a tree
    in ``rest`` has a different structure.

        >>> tree_map(lambda a, b: a + b, {"w": 1, "b": [2, 3]}, {"w": 10, "b": [20, 30]})
        {'b': [22, 33], 'w': 11}
    """
    leaves, treedef = tree_flatten(tree)
    other_leaves = []
    for index, other in enumerate(rest):
        more, other_def = tree_flatten(other)
        if other_def != treedef:
            raise InvalidArgumentError(
                f"tree_map: tree {index + 1} has structure {other_def}, expected {treedef}"
            )
        other_leaves.append(more)
    mapped = [fn(*args) for args in zip(leaves, *other_leaves, strict=True)]
    return tree_unflatten(treedef, mapped)


def ravel(tree: Any) -> tuple[Array, Callable[[Array], Any]]:
    """Flatten a pytree of arrays into one 1-D vector, like ``jax.flatten_util.ravel_pytree``.

    Returns ``(flat, unravel)``. ``flat`` has dtype ``np.result_type`` of the leaves (so a
    float32 tree gives float32) and length the total leaf size. ``unravel(v)`` splits a
    vector of that length back into the tree, restoring each leaf's shape and dtype;
    ``unravel(ravel(p)[0])`` equals ``p`` bit for bit. ``unravel`` returns copies, never
    views of ``v``.

        >>> flat, unravel = ravel([{"W": np.ones((2, 2)), "b": np.zeros(2)}])
        >>> flat
        array([1., 1., 1., 1., 0., 0.])
        >>> unravel(2 * flat)[0]["W"]
        array([[2., 2.],
               [2., 2.]])
    """
    leaves, treedef = tree_flatten(tree)
    arrays = [np.asarray(leaf) for leaf in leaves]
    shapes = [a.shape for a in arrays]
    dtypes = [a.dtype for a in arrays]
    sizes = [a.size for a in arrays]
    total = int(sum(sizes))
    dtype = np.result_type(*arrays) if arrays else np.dtype(np.float64)
    flat = np.empty(total, dtype=dtype)
    offsets = np.concatenate(([0], np.cumsum(sizes, dtype=np.int64))).astype(int)
    for a, start, stop in zip(arrays, offsets[:-1], offsets[1:], strict=True):
        flat[start:stop] = a.ravel()

    def unravel(vector: Array) -> Any:
        v = np.asarray(vector)
        if v.shape != (total,):
            raise InvalidArgumentError(
                f"unravel: expected a vector of shape ({total},), got shape {v.shape}"
            )
        pieces = [
            v[start:stop].astype(dt, copy=True).reshape(shape)
            for start, stop, dt, shape in zip(
                offsets[:-1], offsets[1:], dtypes, shapes, strict=True
            )
        ]
        return tree_unflatten(treedef, pieces)

    return flat, unravel
