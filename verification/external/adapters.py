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
from typing import Any, Literal

import numpy as np

import funcnn as fn
from funcnn.errors import InvalidArgumentError
from funcnn.typing import Array, FloatArray, Params

__all__ = ["Layout", "from_batch", "from_per_sample", "from_update"]

ValueAndGrad = Callable[[Params, Array, Array], tuple[float, Params]]
UserFunction = Callable[[Any, Any, Any], Any]

_CHOICES = {
    "weights": ("in_out", "out_in"),
    "bias": ("vector", "column", "row", "first", "last"),
    "data": ("rows", "columns"),
    "targets": ("labels", "one_hot"),
    "params": ("flat", "layers"),
}


@dataclass(frozen=True)
class Layout:
    """How an implementation stores its parameters and data.

    - ``weights``: ``"in_out"`` (``W`` is ``(n_in, n_out)``, ``z = a W + b``) or
      ``"out_in"`` (``(n_out, n_in)``, ``z = W a + b``);
    - ``bias``: ``"vector"`` ``(n,)``, ``"column"`` ``(n, 1)``, ``"row"`` ``(1, n)``, or
      the bias trick: ``"first"`` / ``"last"``, the bias is the first / last input row
      of ``W`` (column for ``out_in``) and the data get a 1 in that place;
    - ``data``: ``"rows"`` (``x`` is ``(B, n_in)``) or ``"columns"`` (``(n_in, B)``, and
      one-hot targets ``(C, B)``);
    - ``targets``: ``"labels"`` (integers ``(B,)``) or ``"one_hot"`` (float rows);
    - ``params``: ``"flat"`` (``[W1, b1, W2, b2, ...]``, or ``[W1, W2, ...]`` with the bias
      trick; gradients in the same order) or ``"layers"`` (``[{"W": ..., "b": ...}, ...]``).

    The defaults, ``Layout()``, are the first choice of each: ``weights="in_out"``,
    ``bias="vector"``, ``data="rows"``, ``targets="labels"``, ``params="flat"``, i.e.
    funcnn's shapes with the parameters as a flat ``[W1, b1, W2, b2, ...]`` list:

        >>> Layout()
        Layout(weights='in_out', bias='vector', data='rows', targets='labels', params='flat')
        >>> Layout(weights="out_in", data="columns").bias
        'vector'
    """

    weights: Literal["in_out", "out_in"] = "in_out"
    bias: Literal["vector", "column", "row", "first", "last"] = "vector"
    data: Literal["rows", "columns"] = "rows"
    targets: Literal["labels", "one_hot"] = "labels"
    params: Literal["flat", "layers"] = "flat"

    def __post_init__(self) -> None:
        for name, choices in _CHOICES.items():
            if getattr(self, name) not in choices:
                raise InvalidArgumentError(
                    f"{name}: expected one of {choices}, got {getattr(self, name)!r}"
                )

    @property
    def trick(self) -> bool:
        """True for the bias trick (the bias inside ``W``)."""
        return self.bias in ("first", "last")


def _weight(layer: dict[str, Array], layout: Layout) -> Array:
    w, b = layer["W"], layer["b"]
    if layout.trick:
        w = np.vstack([b[None, :], w] if layout.bias == "first" else [w, b[None, :]])
    return w.T.copy() if layout.weights == "out_in" else w.copy()


def _bias(b: Array, layout: Layout) -> Array:
    shapes = {"vector": b.shape, "column": (-1, 1), "row": (1, -1)}
    return b.reshape(shapes[layout.bias]).copy()


def to_user_params(params: Params, layout: Layout) -> list[Any]:
    """funcnn ``params`` in ``layout`` (new arrays; the implementation may modify them)."""
    out: list[Any] = []
    for layer in params:
        w = _weight(layer, layout)
        if layout.params == "layers":
            out.append({"W": w} if layout.trick else {"W": w, "b": _bias(layer["b"], layout)})
        else:
            out += [w] if layout.trick else [w, _bias(layer["b"], layout)]
    return out


def _names(spec: fn.MLP, layout: Layout) -> list[str]:
    per = ["W"] if layout.trick else ["W", "b"]
    return [f"{k}{i + 1}" for i in range(spec.n_layers) for k in per]


def _user_leaves(grads: Any, spec: fn.MLP, layout: Layout, what: str) -> list[Array]:
    prefix = "d" if what == "grads" else ""
    names = [prefix + n for n in _names(spec, layout)]
    if layout.params == "layers":
        keys = ("W",) if layout.trick else ("W", "b")
        if not isinstance(grads, Sequence) or not all(isinstance(g, dict) for g in grads):
            raise InvalidArgumentError(
                f"{what}: expected a list of {{{', '.join(repr(k) for k in keys)}}} dicts "
                f"(layout params='layers'), got {type(grads).__name__}"
            )
        leaves = [g.get(k) for g in grads for k in keys]
    elif isinstance(grads, Sequence) and not isinstance(grads, str | bytes):
        leaves = list(grads)
    else:
        raise InvalidArgumentError(
            f"{what}: expected a sequence [{', '.join(names)}] (layout "
            f"params='flat'), got {type(grads).__name__}"
        )
    if len(leaves) != len(names):
        raise InvalidArgumentError(
            f"{what}: got {len(leaves)} tensors, expected {len(names)}: [{', '.join(names)}]"
        )
    return [np.asarray(leaf) for leaf in leaves]


def _fit(what: str, name: str, got: Array, want: tuple[int, ...], layout: Layout) -> Array:
    if got.shape == want:
        return got
    hint = ""
    if got.ndim == 2 and got.shape[::-1] == want:
        other = "in_out" if layout.weights == "out_in" else "out_in"
        hint = f" (it is the transpose: weights={other!r}?)" if "W" in name else ""
    elif got.size == int(np.prod(want)):
        hint = f" (same size: a different bias layout than {layout.bias!r}?)"
    raise InvalidArgumentError(
        f"{what}: {name} has shape {got.shape}, expected {want} for layout "
        f"weights={layout.weights!r}, bias={layout.bias!r}{hint}"
    )


def from_user_grads(
    grads: Any, params: Params, spec: fn.MLP, layout: Layout, what: str = "grads"
) -> Params:
    """The implementation's gradients (or, with ``what="params"``, parameters) in
    ``layout``, in funcnn's layout and ``params``' dtype."""
    leaves = iter(_user_leaves(grads, spec, layout, what))
    prefix = "d" if what == "grads" else ""
    out: Params = []
    for index, layer in enumerate(params):
        n_in, n_out = layer["W"].shape
        rows = n_in + 1 if layout.trick else n_in
        shape = (n_out, rows) if layout.weights == "out_in" else (rows, n_out)
        w = _fit(what, f"{prefix}W{index + 1}", next(leaves), shape, layout)
        w = w.T if layout.weights == "out_in" else w
        if layout.trick:
            b, w = (w[0], w[1:]) if layout.bias == "first" else (w[-1], w[:-1])
        else:
            b_shape = _bias(layer["b"], layout).shape
            b = _fit(what, f"{prefix}b{index + 1}", next(leaves), b_shape, layout).reshape(n_out)
        dtype = layer["W"].dtype
        out.append({"W": np.ascontiguousarray(w, dtype=dtype), "b": np.asarray(b, dtype=dtype)})
    return out


def to_user_data(x: FloatArray, y: Array, spec: fn.MLP, layout: Layout) -> tuple[Array, Array]:
    """``x`` and ``y`` in ``layout``: ones for the bias trick, one-hot, columns."""
    if layout.trick:
        ones = np.ones((x.shape[0], 1), dtype=x.dtype)
        x = np.hstack([ones, x] if layout.bias == "first" else [x, ones])
    if layout.targets == "one_hot" and np.asarray(y).dtype.kind in "iu":
        y = fn.one_hot(y, spec.n_out, dtype=x.dtype) if spec.n_out > 1 else y.reshape(-1, 1)
    if layout.data == "columns":
        return x.T.copy(), (y.T.copy() if np.ndim(y) == 2 else y.copy())
    return x.copy(), np.array(y, copy=True)


def _loss(value: Any, reduction: str, batch: int) -> float:
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


def from_batch(
    f: UserFunction, spec: fn.MLP, layout: Layout | None = None, *, reduction: str = "mean"
) -> ValueAndGrad:
    """``f(params, x, y) -> (loss, grads)`` in ``layout`` as funcnn's ``value_and_grad``.

    ``reduction="sum"``: ``f``'s loss is the sum over the batch (its gradient that of
    the sum); both are divided by the batch size to give funcnn's mean.

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

    def value_and_grad(params: Params, x: Array, y: Array) -> tuple[float, Params]:
        xs, ys = to_user_data(np.asarray(x), np.asarray(y), spec, layout)
        result = f(to_user_params(params, layout), xs, ys)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise InvalidArgumentError(
                f"f: expected to return (loss, grads), got {type(result).__name__}"
            )
        grads = from_user_grads(result[1], params, spec, layout)
        batch = len(x)
        if reduction == "sum":
            grads = fn.tree_map(lambda g: g / batch, grads)
        return _loss(result[0], reduction, batch), grads

    return value_and_grad


def _mean(*leaves: FloatArray) -> FloatArray:
    out: FloatArray = np.mean(leaves, axis=0).astype(leaves[0].dtype)
    return out


def from_per_sample(f: UserFunction, spec: fn.MLP, layout: Layout | None = None) -> ValueAndGrad:
    """``f(params, x, y) -> (loss, grads)`` for one sample, averaged over the batch.

    Each sample is passed with a batch axis of one in ``layout``'s orientation: ``x``
    is ``(1, n_in)`` for rows, ``(n_in, 1)`` for columns (one-hot ``y`` likewise).

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
    one = from_batch(f, spec, layout)

    def value_and_grad(params: Params, x: Array, y: Array) -> tuple[float, Params]:
        parts = [one(params, x[i : i + 1], y[i : i + 1]) for i in range(len(x))]
        value = float(np.mean([p[0] for p in parts]))
        grads = fn.tree_map(_mean, *[p[1] for p in parts])
        return value, grads

    return value_and_grad


def from_update(
    step: UserFunction,
    spec: fn.MLP,
    layout: Layout | None = None,
    *,
    lr: float,
    reduction: str = "mean",
) -> ValueAndGrad:
    """A training step that updates the weights itself, as ``value_and_grad``.

    ``step(params, x, y)`` returns the loss (having updated ``params`` in place) or
    ``(loss, new_params)``; the gradient is ``(old - new) / lr`` for plain gradient
    descent with learning rate ``lr``.

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

    def value_and_grad(params: Params, x: Array, y: Array) -> tuple[float, Params]:
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
        return _loss(value, reduction, len(x)), grads

    return value_and_grad
