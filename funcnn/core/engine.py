"""The backprop engine: one forward and one backward pass, written once against buffers.

Forward: ``a_0 = x``; for each layer ``z_l = a_{l-1} W_l + b_l`` (:func:`dense_into`)
and, except after the last layer, ``a_l = act_l(z_l)`` (the activation's
``value_into``); the last ``z`` are the logits. Backward walks the layers in reverse:
``dz_{l-1} = (dz_l W_l^T) * act'(z_{l-1})``, handing each layer's input and ``dz_l``
to a *sink* that turns them into the weight and bias gradients.

Every path runs these two functions. :func:`funcnn.value_and_grad` and friends run them
on fresh buffers (so results are new arrays); the training step
(:mod:`funcnn.training.step`) runs them on buffers it reuses from step to step, with a
sink that stores the gradients or, for plain SGD, applies them. Nothing here validates:
callers check their arguments once, at their boundary.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from funcnn.core.activations import Activation, get_activation
from funcnn.core.blocks import packed_empty
from funcnn.core.dense import bias_grad_into, dense_into, input_grad_into, weight_grad_into
from funcnn.core.spec import MLP
from funcnn.core.validation import all_finite
from funcnn.typing import FloatArray

__all__ = [
    "Buffers",
    "Sink",
    "activations_of",
    "allocate",
    "backward",
    "forward",
    "store_gradients",
]

Sink = Callable[[int, FloatArray, FloatArray], None]
"""``sink(layer, a_in, dz)``: called once per layer, last layer first, with the layer's
input ``a_in`` (B, n_in) and the loss gradient ``dz`` (B, n_out) at its output, after
the layer's weights were last read by backprop (so a sink may update them in place)."""


@dataclass(frozen=True)
class Buffers:
    """The arrays one forward and backward pass writes, for a batch of ``B`` rows.

    ``z[l]`` (B, n_{l+1}): pre-activations (``z[-1]`` the logits); ``a[l]``: the hidden
    activations; ``dz[l]``: the loss gradient at ``z[l]``; ``dx`` (B, n_in): the gradient
    at the input, when asked for. Backward uses ``z`` as scratch (they hold the
    activations' derivatives afterwards). ``z_block``: the 1-D array the ``z`` are
    consecutive views of (None after :meth:`rows`), so one read checks them all.
    """

    z: tuple[FloatArray, ...]
    a: tuple[FloatArray, ...]
    dz: tuple[FloatArray, ...]
    dx: FloatArray | None
    z_block: FloatArray | None = None

    def rows(self, r: int) -> Buffers:
        """The same buffers cut to the first ``r`` rows (a smaller last batch)."""
        z, a, dz = (tuple(v[:r] for v in arrays) for arrays in (self.z, self.a, self.dz))
        return Buffers(z, a, dz, None if self.dx is None else self.dx[:r])

    def pre_activations_finite(self) -> bool:
        """Whether every ``z`` is finite, read right after :func:`forward`.

        A NaN or inf in ``x``, in ``W_l`` or in ``b_l`` reaches every entry of a row or a
        column of ``z_l = a W_l + b_l`` (``inf * 0`` is NaN), before any activation can
        saturate it away; so finite ``z`` means finite inputs and params, and no overflow
        in the forward pass, for the cost of reading the (small) ``z``. Call it under
        ``np.errstate(all="ignore")``, as the engine's callers run: the quick test, one
        dot product ``z . z``, may overflow; only then does the elementwise test run.
        """
        block = self.z_block
        if block is None:
            return all(all_finite(z) for z in self.z)
        return math.isfinite(block.dot(block)) or bool(np.isfinite(block).all())


def allocate(spec: MLP, rows: int, dtype: Any, *, input_grad: bool = False) -> Buffers:
    """Uninitialised :class:`Buffers` for ``rows`` samples of ``spec`` in ``dtype``."""
    widths = spec.sizes[1:]
    z_block, z = packed_empty([(rows, w) for w in widths], dtype)

    def empty(width: int) -> FloatArray:
        return np.empty((rows, width), dtype=dtype)

    return Buffers(
        z=tuple(z),
        a=tuple(empty(w) for w in widths[:-1]),
        dz=tuple(empty(w) for w in widths),
        dx=empty(spec.n_in) if input_grad else None,
        z_block=z_block,
    )


def activations_of(spec: MLP) -> tuple[Activation, ...]:
    """The hidden layers' activations, looked up now in the activation table."""
    return tuple(get_activation(name) for name in spec.hidden_activations)


def forward(
    acts: Sequence[Activation],
    W: Sequence[FloatArray],
    b: Sequence[FloatArray],
    x: FloatArray,
    buf: Buffers,
) -> FloatArray:
    """Run the network on ``x`` (B, n_in), filling ``buf.z`` and ``buf.a``; the logits."""
    a = x
    last = len(W) - 1
    for i in range(last + 1):
        z = buf.z[i]
        dense_into(W[i], b[i], a, z)
        if i < last:
            a = buf.a[i]
            acts[i].value_kernel(z, a)
    return buf.z[-1]


def backward(
    acts: Sequence[Activation],
    W: Sequence[FloatArray],
    x: FloatArray,
    buf: Buffers,
    sink: Sink,
    *,
    input_grad: bool = False,
) -> None:
    """Backpropagate ``buf.dz[-1]`` (the loss gradient at the logits, set by the caller
    after :func:`forward` on the same ``x``) through every layer, calling ``sink`` per
    layer. With ``input_grad`` the gradient at ``x`` lands in ``buf.dx``; otherwise the
    first layer's input gradient, a product as large as the first forward one, is skipped.
    """
    g = buf.dz[-1]
    for i in range(len(W) - 1, -1, -1):
        if i > 0:
            input_grad_into(W[i], g, buf.dz[i - 1])
        elif input_grad and buf.dx is not None:
            input_grad_into(W[0], g, buf.dx)
        sink(i, x if i == 0 else buf.a[i - 1], g)
        if i > 0:
            z = buf.z[i - 1]
            acts[i - 1].derivative_kernel(z, buf.a[i - 1], z)
            g = buf.dz[i - 1]
            g *= z


def store_gradients(gW: Sequence[FloatArray], gb: Sequence[FloatArray]) -> Sink:
    """The sink that writes each layer's gradients into ``gW[l]`` and ``gb[l]``."""

    def sink(i: int, a_in: FloatArray, g: FloatArray) -> None:
        weight_grad_into(a_in, g, gW[i])
        bias_grad_into(g, gb[i])

    return sink
