"""Tests for funcnn.core.pytree: flatten/unflatten, map, structure equality and ravel."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given

import funcnn as fn
from tests.strategies import problems


def test_leaves_follow_sorted_dict_keys_and_list_order() -> None:
    tree = [{"b": 1, "W": 2}, ({"z": 3, "a": 4},)]
    assert fn.tree_leaves(tree) == [2, 1, 4, 3]
    leaves, treedef = fn.tree_flatten(tree)
    assert fn.tree_unflatten(treedef, leaves) == [{"W": 2, "b": 1}, ({"a": 4, "z": 3},)]


def test_structure_equality() -> None:
    a = [{"W": np.ones(2), "b": np.ones(1)}]
    assert fn.tree_structure(a) == fn.tree_structure([{"W": 0, "b": 0}])
    assert fn.tree_structure(a) != fn.tree_structure([{"W": 0}])
    assert fn.tree_structure(a) != fn.tree_structure(({"W": 0, "b": 0},))
    assert str(fn.tree_structure(a)) == "[{'W': *, 'b': *}]"


def test_tree_map_multiple_trees_and_mismatch() -> None:
    a = [{"W": np.ones(2), "b": np.zeros(1)}]
    out = fn.tree_map(lambda x, y: x + 2 * y, a, a)
    np.testing.assert_array_equal(out[0]["W"], [3.0, 3.0])
    with pytest.raises(ValueError, match="tree_map: tree 1 has structure"):
        fn.tree_map(lambda x, y: x, a, [{"W": 1}])


def test_unflatten_wrong_leaf_count() -> None:
    _, treedef = fn.tree_flatten([1, 2])
    with pytest.raises(ValueError, match="expected 2 leaves"):
        fn.tree_unflatten(treedef, [1])


@given(problems())
def test_ravel_round_trip_is_bit_exact(problem: Any) -> None:
    params = problem[1]
    flat, unravel = fn.ravel(params)
    assert flat.ndim == 1 and flat.dtype == params[0]["W"].dtype
    assert flat.size == sum(leaf.size for leaf in fn.tree_leaves(params))
    back = unravel(flat)
    assert fn.tree_structure(back) == fn.tree_structure(params)
    for a, b in zip(fn.tree_leaves(back), fn.tree_leaves(params), strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    flat[:] = 0  # unravel returned copies, so this cannot reach back
    assert any(leaf.any() for leaf in fn.tree_leaves(back)) or not any(
        leaf.any() for leaf in fn.tree_leaves(params)
    )


def test_ravel_order_and_unravel_shape_check() -> None:
    params = [{"W": np.array([[1.0, 2.0]]), "b": np.array([3.0, 4.0])}]
    flat, unravel = fn.ravel(params)
    np.testing.assert_array_equal(flat, [1, 2, 3, 4])
    with pytest.raises(ValueError, match=r"unravel: expected a vector of shape \(4,\)"):
        unravel(np.zeros(5))
