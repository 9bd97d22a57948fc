"""Parameter updates. :func:`sgd_step` is the explicit one-line path."""

from __future__ import annotations

from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.pytree import tree_leaves, tree_map, tree_structure
from funcnn.typing import Params
from funcnn.validation import check_finite, check_learning_rate

__all__ = ["sgd_step"]


def sgd_step(params: Params, grads: Params, lr: float) -> Params:
    """``params - lr * grads``, leaf by leaf, as new arrays (inputs are not modified).

    ``grads`` must have the structure, shapes and dtypes of ``params``; ``lr`` must be a
    finite number > 0.
    """
    rate = check_learning_rate(lr)
    if tree_structure(grads) != tree_structure(params):
        raise InvalidArgumentError(
            f"grads: structure {tree_structure(grads)} does not match params "
            f"{tree_structure(params)}"
        )
    for index, (p, g) in enumerate(zip(tree_leaves(params), tree_leaves(grads), strict=True)):
        if getattr(g, "shape", None) != getattr(p, "shape", None):
            raise InvalidArgumentError(
                f"grads: leaf {index} has shape {getattr(g, 'shape', None)}, params has "
                f"{getattr(p, 'shape', None)}"
            )
        if getattr(g, "dtype", None) != getattr(p, "dtype", None):
            raise ArgumentTypeError(
                f"grads: leaf {index} has dtype {getattr(g, 'dtype', None)}, params has "
                f"{getattr(p, 'dtype', None)}"
            )
        check_finite(f"grads leaf {index}", g)
    updated: Params = tree_map(lambda p, g: p - rate * g, params, grads)
    return updated
