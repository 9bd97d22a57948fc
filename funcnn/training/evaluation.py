"""Evaluation of a network on a data set: :func:`evaluate` and its unchecked twin, which
:func:`funcnn.fit` runs after every epoch on its test or validation data."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from funcnn.core import engine
from funcnn.core.losses import Loss, get_loss
from funcnn.core.network import check_params
from funcnn.core.spec import MLP
from funcnn.errors import NonFiniteError
from funcnn.training.plan import check_dataset
from funcnn.training.step import count_correct
from funcnn.typing import Array, FloatArray, Params

__all__ = ["evaluate", "evaluate_unchecked"]


def evaluate_unchecked(
    spec: MLP, params: Params, x: FloatArray, y: Array, loss: Loss, chunk: int = 4096
) -> tuple[float, float | None]:
    """Mean loss and accuracy on validated data, through the engine in chunks."""
    W = [layer["W"] for layer in params]
    b = [layer["b"] for layer in params]
    acts = engine.activations_of(spec)
    n = x.shape[0]
    buf = engine.allocate(spec, min(chunk, n), x.dtype)
    total, correct = 0.0, 0
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        part = buf.rows(stop - start)
        logits = engine.forward(acts, W, b, x[start:stop], part)
        correct += count_correct(logits, y[start:stop]) or 0
        # Every loss is a mean over the batch, so chunk means combine weighted by size.
        total += loss.kernel(logits, y[start:stop], part.dz[-1]) * (stop - start)
    return total / n, (correct / n if spec.n_out > 1 else None)


def evaluate(
    spec: MLP,
    params: Params,
    x: ArrayLike,
    y: ArrayLike,
    loss: str | Loss = "softmax_cross_entropy",
) -> tuple[float, float | None]:
    """Mean loss and accuracy of the network on a data set, in chunks of 4096 samples.

    ``x`` is ``(N, n_in)`` in the params' dtype, ``y`` integer labels ``(N,)`` or float
    targets ``(N, n_out)``. Accuracy is the fraction of samples whose target class (the
    label, or the targets' largest entry) has the largest logit, a tie counting as
    correct; it is ``None`` when the network has a single output. Raises
    ``NonFiniteError`` if the loss overflows.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec = fn.MLP((4, 3))
        >>> params = [{"W": np.eye(4, 3), "b": np.zeros(3)}]    # logits = the first 3 inputs
        >>> x = np.array([[1.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 3.0, 0], [1.0, 0, 0, 0]])
        >>> loss, accuracy = fn.evaluate(spec, params, x, np.array([0, 1, 2, 2]))
        >>> accuracy
        0.75
        >>> loss > 0
        True
    """
    dtype = check_params(spec, params)
    resolved = get_loss(loss)
    xs, ys = check_dataset(spec, x, y, dtype, resolved, ("x", "y"))
    with np.errstate(all="ignore"):
        value, accuracy = evaluate_unchecked(spec, params, xs, ys, resolved)
    if not math.isfinite(value):
        raise NonFiniteError(
            f"evaluate: the mean loss is {value}: the network's outputs overflow for these "
            "params and inputs"
        )
    return value, accuracy
