"""Layouts: how a notebook stores an MLP's parameters and data, and the conversions
between that and funcnn's layout.

A :class:`Layout` says it (weights ``(out, in)``, data as columns, ``(n, 1)`` biases,
the bias trick, no biases, one-hot targets, a flat list or two lists of weights and
biases); :func:`to_user_params`, :func:`to_user_data` and :func:`from_user_grads`
convert, and a tensor that does not fit raises :class:`~funcnn.InvalidArgumentError`
naming it, the shape expected and, when another layout would fit, which. The wrappers
that use them are in :mod:`verification.external.adapters`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

import funcnn as fn
from funcnn.errors import InvalidArgumentError
from funcnn.typing import Array, FloatArray, Params

__all__ = ["Layout", "from_user_grads", "to_user_data", "to_user_params"]

_CHOICES = {
    "weights": ("in_out", "out_in"),
    "bias": ("vector", "column", "row", "first", "last", "none"),
    "data": ("rows", "columns", "pairs"),
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
    - ``data``: ``"rows"`` (``x`` is ``(B, n_in)``), ``"columns"`` (``(n_in, B)``, and
      one-hot targets ``(C, B)``) or ``"pairs"``: a list of ``(x, y)`` pairs, one per
      sample, each a column (``(n_in, 1)`` and ``(C, 1)``), as a textbook's mini-batch
      (both ``x`` and ``y`` are that list);
    - ``targets``: ``"labels"`` (integers ``(B,)``) or ``"one_hot"`` (float rows);
    - ``params``: ``"flat"`` (``[W1, b1, W2, b2, ...]``, or ``[W1, W2, ...]`` with the bias
      trick or no biases; gradients in the same order), ``"layers"`` (``[{"W": ...,
      "b": ...}, ...]``), ``"weights_biases"`` (two lists, ``([W1, W2, ...], [b1, b2,
      ...])``, as a class keeps ``self.weights`` and ``self.biases``) or
      ``"biases_weights"`` (the same, biases first, as Nielsen's ``backprop`` returns
      ``(nabla_b, nabla_w)``).

    The defaults, ``Layout()``, are the first choice of each: ``weights="in_out"``,
    ``bias="vector"``, ``data="rows"``, ``targets="labels"``, ``params="flat"``, i.e.
    funcnn's shapes with the parameters as a flat ``[W1, b1, W2, b2, ...]`` list:

        >>> Layout()
        Layout(weights='in_out', bias='vector', data='rows', targets='labels', params='flat')
        >>> Layout(weights="out_in", data="columns").bias
        'vector'
    """

    weights: Literal["in_out", "out_in"] = "in_out"
    bias: Literal["vector", "column", "row", "first", "last", "none"] = "vector"
    data: Literal["rows", "columns", "pairs"] = "rows"
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


def _fit(
    what: str, name: str, got: Array, want: tuple[int, ...], layout: Layout, lenient: bool = False
) -> Array:
    """``got`` if it has shape ``want`` (or, ``lenient``, its transpose), else an error
    saying which layout would fit."""
    if got.shape == want or (lenient and got.ndim == 2 and got.shape[::-1] == want):
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
    ``layout``, in funcnn's layout and ``params``' dtype.

    A weight gradient stored the other way round (``(out, in)`` where ``(in, out)``
    belongs) in some layers but not all is a mistake in those layers, not a layout: it
    is passed on as it is, in funcnn's orientation of shape ``(n_out, n_in)``, for the
    diagnosis to name. When every layer has it, it is the layout, and an error says so.
    """
    leaves = iter(_user_leaves(grads, spec, layout, what))
    prefix = "d" if what == "grads" else ""
    lenient = what == "grads" and not layout.trick
    out: Params = []
    flipped = []
    for index, layer in enumerate(params):
        n_in, n_out = layer["W"].shape
        rows = n_in + 1 if layout.trick else n_in
        shape = (n_out, rows) if layout.weights == "out_in" else (rows, n_out)
        leaf = next(leaves)
        w = _fit(what, f"{prefix}W{index + 1}", leaf, shape, layout, lenient)
        if w.shape != shape:
            flipped.append((f"{prefix}W{index + 1}", leaf, shape))
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
    if flipped and len(flipped) == len(params):
        _fit(what, *flipped[0], layout)  # raises, naming the layout that would fit
    return out


def to_user_data(x: FloatArray, y: Array, spec: fn.MLP, layout: Layout) -> tuple[Any, Any]:
    """``x`` and ``y`` in ``layout``: ones for the bias trick, one-hot, columns, pairs."""
    if layout.trick:
        ones = np.ones((x.shape[0], 1), dtype=x.dtype)
        x = np.hstack([ones, x] if layout.bias == "first" else [x, ones])
    if layout.targets == "one_hot" and np.asarray(y).dtype.kind in "iu":
        y = fn.one_hot(y, spec.n_out, dtype=x.dtype) if spec.n_out > 1 else y.reshape(-1, 1)
    if layout.data == "pairs":
        targets = np.asarray(y).reshape(len(x), -1)
        pairs = [(x[i][:, None].copy(), targets[i][:, None].copy()) for i in range(len(x))]
        return pairs, pairs
    if layout.data == "columns":
        return x.T.copy(), (y.T.copy() if np.ndim(y) == 2 else y.copy())
    return x.copy(), np.array(y, copy=True)
