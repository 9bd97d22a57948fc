"""The explicit update of a hand-written loop: :func:`sgd_step`, ``params - lr * grads``.

The one-line path of the README's loop (``value_and_grad``, then ``sgd_step``), pure like
the rest of the core: new arrays, inputs untouched. The optimizers of
:mod:`funcnn.training.optimizers` end every update with the same :func:`descend`.
"""

from __future__ import annotations

import numpy as np

from funcnn.core.blocks import packed_like
from funcnn.core.pytree import tree_unflatten
from funcnn.core.validation import all_finite, check_finite, check_learning_rate
from funcnn.errors import NonFiniteError
from funcnn.training.leaves import check_like, descend, param_leaves
from funcnn.typing import Params

__all__ = ["sgd_step"]


def sgd_step(params: Params, grads: Params, lr: float) -> Params:
    """``params - lr * grads``, leaf by leaf, as new arrays (inputs are not modified).

    ``grads`` must have the structure, shapes and dtypes of ``params``, both finite;
    ``lr`` must be a finite number > 0. One pass reads each pair of leaves: finiteness
    is checked on the result, which is finite exactly when both inputs are (and nothing
    overflowed); only then are the inputs searched to name the culprit.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> params = [{"W": np.ones((2, 2)), "b": np.zeros(2)}]
        >>> grads = [{"W": np.full((2, 2), 2.0), "b": np.ones(2)}]
        >>> new = fn.sgd_step(params, grads, lr=0.25)
        >>> new[0]["W"], new[0]["b"]
        (array([[0.5, 0.5],
               [0.5, 0.5]]), array([-0.25, -0.25]))
        >>> params[0]["b"]                                           # the inputs are untouched
        array([0., 0.])
    """
    rate = check_learning_rate(lr)
    p_leaves, treedef = param_leaves(params, finite=False)
    g_leaves = check_like("grads", grads, p_leaves, treedef)
    # One block for all the new leaves (when they share a dtype): one read checks them.
    block, out = (
        packed_like(p_leaves)
        if all(p.dtype == p_leaves[0].dtype for p in p_leaves)
        else (None, [np.empty_like(p) for p in p_leaves])
    )
    with np.errstate(all="ignore"):
        for p, g, o in zip(p_leaves, g_leaves, out, strict=True):
            descend(p, g, rate, o)
    if not (all_finite(block) if block is not None else all(map(all_finite, out))):
        index = next(i for i, o in enumerate(out) if not all_finite(o))
        check_finite(f"params leaf {index}", p_leaves[index])
        check_finite(f"grads leaf {index}", g_leaves[index])
        raise NonFiniteError(
            f"sgd_step: params leaf {index} - lr * grads leaf {index} overflows "
            f"{out[index].dtype}; use a smaller lr"
        )
    updated: Params = tree_unflatten(treedef, out)
    return updated
