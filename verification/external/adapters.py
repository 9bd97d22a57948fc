"""Adapters: a notebook-style MLP as a funcnn-layout ``value_and_grad`` in a few lines.

funcnn's checks take ``value_and_grad(params, x, y) -> (mean loss, grads)`` with
``params`` a list of ``{"W": (n_in, n_out), "b": (n_out,)}``, ``x`` of shape ``(B,
n_in)`` and ``y`` integer labels. Notebooks store things otherwise; a :class:`Layout`
says how, and one of three wrappers turns the notebook's function into funcnn's:

- :func:`from_batch`: ``f(params, x, y) -> (loss, grads)`` on a whole batch;
- :func:`from_per_sample`: the same on one sample at a time (averaged over the batch);
- :func:`from_update`: ``step(params, x, y)`` that updates the weights itself (in place
  or returning new ones); the gradients are read back as ``(old - new) / lr``.

Layouts compose: weights ``(out, in)``, data as columns, the bias trick (a 1 added to
each layer's input, the bias inside ``W``), ``(n, 1)`` or ``(1, n)`` biases, one-hot
targets, parameters as a flat ``[W1, b1, W2, b2, ...]`` list. Shapes that do not fit
the layout raise :class:`~funcnn.InvalidArgumentError` naming the tensor, the shape
expected and, when another layout would fit, which.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import funcnn as fn
from funcnn.errors import InvalidArgumentError
from funcnn.typing import Array, FloatArray, Params
from verification.external.layout import (
    Layout,
    from_user_grads,
    to_user_data,
    to_user_params,
)

__all__ = ["Adapted", "Layout", "bound", "from_batch", "from_per_sample", "from_update"]

ValueAndGrad = Callable[[Params, Array, Array], tuple[float, Params]]
UserFunction = Callable[[Any, Any, Any], Any]


@dataclass(frozen=True)
class Adapted:
    """An implementation as funcnn's ``value_and_grad(params, x, y) -> (loss, grads)``,
    with what :func:`~verification.external.diagnosis.diagnose_mlp` needs to know of it:
    its ``layout`` (a network without biases) and, for :func:`from_update`, the ``lr``
    the gradient was read back with. The loss is None when the implementation computes
    none.

        >>> import funcnn as fn
        >>> spec = fn.MLP((3, 2))
        >>> adapted = from_batch(lambda p, x, y: fn.value_and_grad(spec, p, x, y), spec)
        >>> isinstance(adapted, Adapted), adapted.layout == Layout(), adapted.lr
        (True, True, None)
    """

    function: Callable[[Params, Array, Array], tuple[float | None, Params]]
    layout: Layout
    lr: float | None = None

    def __call__(self, params: Params, x: Array, y: Array) -> tuple[float | None, Params]:
        return self.function(params, x, y)


def _loss(value: Any, reduction: str, batch: int) -> float | None:
    if value is None:
        return None
    try:
        loss = float(np.asarray(value).reshape(()))
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"loss: expected one number, got {type(value).__name__} {np.shape(value)}"
        ) from None
    return loss / batch if reduction == "sum" else loss


def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "sum"):
        raise InvalidArgumentError(f"reduction: expected 'mean' or 'sum', got {reduction!r}")


def _split_result(result: Any, loss: bool, name: str) -> tuple[Any, Any]:
    """``(loss, grads)`` from what ``f`` returned: the pair, or the grads alone."""
    if not loss:
        return None, result
    if not (isinstance(result, tuple) and len(result) == 2):
        raise InvalidArgumentError(
            f"{name}: expected to return (loss, grads), got {type(result).__name__} "
            "(pass loss=False for a function that returns only the gradients)"
        )
    return result[0], result[1]


def from_batch(
    f: UserFunction,
    spec: fn.MLP,
    layout: Layout | None = None,
    *,
    reduction: str = "mean",
    loss: bool = True,
) -> Adapted:
    """``f(params, x, y) -> (loss, grads)`` in ``layout`` as funcnn's ``value_and_grad``.

    ``reduction="sum"``: ``f``'s loss is the sum over the batch (its gradient that of
    the sum); both are divided by the batch size to give funcnn's mean. ``loss=False``:
    ``f`` returns only the gradients (the diagnosis then checks no loss value).

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec = fn.MLP((3, 2))
        >>> def notebook_grad(params, x, y):          # W is (out, in), data as columns
        ...     W, b = params
        ...     value, (g,) = fn.value_and_grad(spec, [{"W": W.T, "b": b}], x.T, y)
        ...     return value, [g["W"].T, g["b"]]
        >>> layout = Layout(weights="out_in", data="columns")
        >>> value_and_grad = from_batch(notebook_grad, spec, layout)
        >>> params = fn.init(spec, np.random.default_rng(0))
        >>> x, y = np.ones((4, 3)), np.array([0, 1, 1, 0])
        >>> value, grads = value_and_grad(params, x, y)        # funcnn's layout in and out
        >>> [g["W"].shape for g in grads], bool(np.isclose(value, fn.loss(spec, params, x, y)))
        ([(3, 2)], True)
    """
    layout = layout or Layout()
    _check_reduction(reduction)

    def value_and_grad(params: Params, x: Array, y: Array) -> tuple[float | None, Params]:
        xs, ys = to_user_data(np.asarray(x), np.asarray(y), spec, layout)
        value, user_grads = _split_result(f(to_user_params(params, layout), xs, ys), loss, "f")
        grads = from_user_grads(user_grads, params, spec, layout)
        batch = len(x)
        if reduction == "sum":
            grads = fn.tree_map(lambda g: g / batch, grads)
        return _loss(value, reduction, batch), grads

    return Adapted(value_and_grad, layout)


def _mean(*leaves: FloatArray) -> FloatArray:
    out: FloatArray = np.mean(leaves, axis=0).astype(leaves[0].dtype)
    return out


def from_per_sample(
    f: UserFunction, spec: fn.MLP, layout: Layout | None = None, *, loss: bool = True
) -> Adapted:
    """``f(params, x, y) -> (loss, grads)`` for one sample, averaged over the batch.

    Each sample is passed with a batch axis of one in ``layout``'s orientation: ``x``
    is ``(1, n_in)`` for rows, ``(n_in, 1)`` for columns (one-hot ``y`` likewise).
    ``loss=False``: ``f`` returns only the gradients.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec = fn.MLP((3, 2))
        >>> def per_sample(params, x, y):                  # x is (1, n_in): one sample
        ...     value, (g,) = fn.value_and_grad(spec, [{"W": params[0], "b": params[1]}], x, y)
        ...     return value, [g["W"], g["b"]]
        >>> value_and_grad = from_per_sample(per_sample, spec)
        >>> params = fn.init(spec, np.random.default_rng(0))
        >>> x, y = np.arange(12.0).reshape(4, 3) / 10, np.array([0, 1, 1, 0])
        >>> value, grads = value_and_grad(params, x, y)      # the mean over the 4 samples
        >>> bool(np.allclose(grads[0]["W"], fn.grad(spec, params, x, y)[0]["W"]))
        True
    """
    one = from_batch(f, spec, layout, loss=loss)

    def value_and_grad(params: Params, x: Array, y: Array) -> tuple[float | None, Params]:
        parts = [one(params, x[i : i + 1], y[i : i + 1]) for i in range(len(x))]
        values = [p[0] for p in parts]
        value = None if None in values else float(np.mean([v for v in values if v is not None]))
        grads = fn.tree_map(_mean, *[p[1] for p in parts])
        return value, grads

    return Adapted(value_and_grad, one.layout)


def from_update(
    step: UserFunction,
    spec: fn.MLP,
    layout: Layout | None = None,
    *,
    lr: float,
    reduction: str = "mean",
) -> Adapted:
    """A training step that updates the weights itself, as ``value_and_grad``.

    ``step(params, x, y)`` returns the loss (having updated ``params`` in place) or
    ``(loss, new_params)``; the gradient is ``(old - new) / lr`` for plain gradient
    descent with learning rate ``lr``. A step that returns None computes no loss.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec = fn.MLP((3, 2))
        >>> def train_step(params, x, y):                  # updates the weights in place
        ...     value, (g,) = fn.value_and_grad(spec, [{"W": params[0], "b": params[1]}], x, y)
        ...     params[0] -= 0.1 * g["W"]
        ...     params[1] -= 0.1 * g["b"]
        ...     return value
        >>> value_and_grad = from_update(train_step, spec, lr=0.1)
        >>> params = fn.init(spec, np.random.default_rng(0))
        >>> x, y = np.arange(12.0).reshape(4, 3) / 10, np.array([0, 1, 1, 0])
        >>> value, grads = value_and_grad(params, x, y)      # (old - new) / lr
        >>> bool(np.allclose(grads[0]["b"], fn.grad(spec, params, x, y)[0]["b"]))
        True
    """
    layout = layout or Layout()
    _check_reduction(reduction)
    if not (isinstance(lr, int | float) and np.isfinite(lr) and lr > 0):
        raise InvalidArgumentError(f"lr: expected a positive number, got {lr!r}")

    def value_and_grad(params: Params, x: Array, y: Array) -> tuple[float | None, Params]:
        xs, ys = to_user_data(np.asarray(x), np.asarray(y), spec, layout)
        new = to_user_params(params, layout)
        result = step(new, xs, ys)
        value, new = (result[0], result[1]) if isinstance(result, tuple) else (result, new)
        delta = from_user_grads(new, params, spec, layout, "params")
        # (old - new) / lr, with funcnn's params as ``old``: new is old - lr g.
        scale = lr * (len(x) if reduction == "sum" else 1)
        grads: Params = [
            {k: (layer[k] - d[k]) / layer[k].dtype.type(scale) for k in ("W", "b")}
            for layer, d in zip(params, delta, strict=True)
        ]
        if not layout.biases:
            grads = [{"W": g["W"], "b": np.zeros_like(g["b"])} for g in grads]
        return _loss(value, reduction, len(x)), grads

    return Adapted(value_and_grad, layout, float(lr))


def bound(
    f: Callable[..., Any], where: Any, names: str | Sequence[str], *, updates: bool = False
) -> UserFunction:
    """``f(x, y)`` that reads its parameters from module globals or an object's
    attributes, as ``g(params, x, y)`` for the adapters above.

    ``where``: a dict (``globals()``) or an object (``self``); ``names``: the names the
    parameters go to, in the order of the layout (``"W1 b1 W2 b2"`` for a flat layout,
    ``"weights biases"`` for two lists, one name for the whole list, as in
    ``self.layers``). Each call first sets them from ``params``.
    ``updates=True`` (for :func:`from_update`): ``f`` updates them itself, and what
    they hold after the call is returned as the new parameters beside ``f``'s result.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec, net = fn.MLP((3, 2)), {"W": None, "b": None}   # a script's globals, say
        >>> def script_grad(x, y):                 # reads net["W"], net["b"]; returns value, grads
        ...     value, (g,) = fn.value_and_grad(spec, [{"W": net["W"], "b": net["b"]}], x, y)
        ...     return value, [g["W"], g["b"]]
        >>> value_and_grad = from_batch(bound(script_grad, net, "W b"), spec)
        >>> params = fn.init(spec, np.random.default_rng(0))
        >>> value, grads = value_and_grad(params, np.ones((4, 3)), np.array([0, 1, 1, 0]))
        >>> grads[0]["W"].shape, net["W"] is not None
        ((3, 2), True)
    """
    keys = names.split() if isinstance(names, str) else list(names)

    def put(name: str, value: Any) -> None:
        if isinstance(where, dict):
            where[name] = value
        else:
            setattr(where, name, value)

    def get(name: str) -> Any:
        return where[name] if isinstance(where, dict) else getattr(where, name)

    def call(params: Any, x: Any, y: Any) -> Any:
        if len(keys) == 1:
            params = [params]
        if len(params) != len(keys):
            raise InvalidArgumentError(
                f"names: {len(keys)} names {keys} for {len(params)} parameter entries"
            )
        for name, value in zip(keys, params, strict=True):
            put(name, value)
        result = f(x, y)
        new = [get(name) for name in keys]
        return (result, new[0] if len(keys) == 1 else new) if updates else result

    return call
