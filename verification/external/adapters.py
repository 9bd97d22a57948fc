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

__all__ = ["Adapted", "Layout", "bound", "from_batch", "from_per_sample", "from_update"]

ValueAndGrad = Callable[[Params, Array, Array], tuple[float, Params]]
UserFunction = Callable[[Any, Any, Any], Any]

_CHOICES = {
    "weights": ("in_out", "out_in"),
    "bias": ("vector", "column", "row", "first", "last", "none"),
    "data": ("rows", "columns"),
    "targets": ("labels", "one_hot"),
    "params": ("flat", "layers", "weights_biases", "biases_weights"),
}


@dataclass(frozen=True)
class Layout:
    """How an implementation stores its parameters and data.

    - ``weights``: ``"in_out"`` (``W`` is ``(n_in, n_out)``, ``z = a W + b``) or
      ``"out_in"`` (``(n_out, n_in)``, ``z = W a + b``);
    - ``bias``: ``"vector"`` ``(n,)``, ``"column"`` ``(n, 1)``, ``"row"`` ``(1, n)``, the
      bias trick: ``"first"`` / ``"last"``, the bias is the first / last input row
      of ``W`` (column for ``out_in``) and the data get a 1 in that place, or ``"none"``:
      a network without biases (funcnn's ``b`` are zero, and stay so);
    - ``data``: ``"rows"`` (``x`` is ``(B, n_in)``) or ``"columns"`` (``(n_in, B)``, and
      one-hot targets ``(C, B)``);
    - ``targets``: ``"labels"`` (integers ``(B,)``) or ``"one_hot"`` (float rows);
    - ``params``: ``"flat"`` (``[W1, b1, W2, b2, ...]``, or ``[W1, W2, ...]`` with the bias
      trick or no biases; gradients in the same order), ``"layers"`` (``[{"W": ...,
      "b": ...}, ...]``), ``"weights_biases"`` (two lists, ``([W1, W2, ...], [b1, b2,
      ...])``, as a class keeps ``self.weights`` and ``self.biases``) or
      ``"biases_weights"`` (the same, biases first, as Nielsen's ``backprop`` returns
      ``(nabla_b, nabla_w)``).
    """

    weights: Literal["in_out", "out_in"] = "in_out"
    bias: Literal["vector", "column", "row", "first", "last", "none"] = "vector"
    data: Literal["rows", "columns"] = "rows"
    targets: Literal["labels", "one_hot"] = "labels"
    params: Literal["flat", "layers", "weights_biases", "biases_weights"] = "flat"

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

    @property
    def biases(self) -> bool:
        """False for a network without biases."""
        return self.bias != "none"

    @property
    def split(self) -> bool:
        """True when weights and biases come as two lists."""
        return self.params in ("weights_biases", "biases_weights")


@dataclass(frozen=True)
class Adapted:
    """An implementation as funcnn's ``value_and_grad(params, x, y) -> (loss, grads)``,
    with what :func:`~verification.external.diagnosis.diagnose_mlp` needs to know of it:
    its ``layout`` (a network without biases) and, for :func:`from_update`, the ``lr``
    the gradient was read back with. The loss is None when the implementation computes
    none."""

    function: Callable[[Params, Array, Array], tuple[float | None, Params]]
    layout: Layout
    lr: float | None = None

    def __call__(self, params: Params, x: Array, y: Array) -> tuple[float | None, Params]:
        return self.function(params, x, y)


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
    own = layout.biases and not layout.trick  # a bias tensor of its own
    if layout.split:
        weights = [_weight(layer, layout) for layer in params]
        biases = [_bias(layer["b"], layout) for layer in params] if own else []
        return [weights, biases] if layout.params == "weights_biases" else [biases, weights]
    for layer in params:
        w = _weight(layer, layout)
        if layout.params == "layers":
            out.append({"W": w, "b": _bias(layer["b"], layout)} if own else {"W": w})
        else:
            out += [w, _bias(layer["b"], layout)] if own else [w]
    return out


def _names(spec: fn.MLP, layout: Layout) -> list[str]:
    per = ["W", "b"] if layout.biases and not layout.trick else ["W"]
    return [f"{k}{i + 1}" for i in range(spec.n_layers) for k in per]


def _user_leaves(grads: Any, spec: fn.MLP, layout: Layout, what: str) -> list[Array]:
    prefix = "d" if what == "grads" else ""
    names = [prefix + n for n in _names(spec, layout)]
    if layout.split:
        grads = _unsplit(grads, spec, layout, what)
    if layout.params == "layers":
        keys = ("W", "b") if layout.biases and not layout.trick else ("W",)
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


def _unsplit(grads: Any, spec: fn.MLP, layout: Layout, what: str) -> list[Any]:
    """Two lists (weights and biases, in ``layout``'s order) as one flat list."""
    first, second = ("weights", "biases")[:: 1 if layout.params == "weights_biases" else -1]
    if not (isinstance(grads, Sequence) and len(grads) == 2):
        raise InvalidArgumentError(
            f"{what}: expected two lists ({first}, {second}) (layout params="
            f"{layout.params!r}), got {type(grads).__name__}"
        )
    weights, biases = grads if first == "weights" else grads[::-1]
    n = spec.n_layers
    if len(weights) != n or len(biases) != (n if layout.biases and not layout.trick else 0):
        raise InvalidArgumentError(
            f"{what}: expected {n} weights and {n if layout.biases else 0} biases, got "
            f"{len(weights)} and {len(biases)}"
        )
    return [t for i in range(n) for t in ([weights[i], biases[i]] if len(biases) else [weights[i]])]


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
        elif not layout.biases:
            b = np.zeros(n_out)
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
    ``"weights biases"`` for two lists). Each call first sets them from ``params``.
    ``updates=True`` (for :func:`from_update`): ``f`` updates them itself, and what
    they hold after the call is returned as the new parameters beside ``f``'s result.
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
        if len(params) != len(keys):
            raise InvalidArgumentError(
                f"names: {len(keys)} names {keys} for {len(params)} parameter entries"
            )
        for name, value in zip(keys, params, strict=True):
            put(name, value)
        result = f(x, y)
        return (result, [get(name) for name in keys]) if updates else result

    return call
