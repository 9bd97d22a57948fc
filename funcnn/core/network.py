"""The network as pure functions: apply, loss, value_and_grad, grad and input_grad.

Each validates its arguments once, then runs the backprop engine
(:mod:`funcnn.core.engine`) on fresh buffers, so results are new arrays and inputs are
never modified. ``forward`` / ``backward`` expose the two passes separately (the
verification suite holds them to backprop's invariants); the ``*_unchecked`` variants
skip validation for callers that validated once up front. The checks themselves
(``check_params``, ``check_inputs``) are in :mod:`funcnn.core.arguments`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from funcnn.core import engine
from funcnn.core.arguments import check_inputs, check_params, checked_batch
from funcnn.core.blocks import packed_like
from funcnn.core.losses import Loss
from funcnn.core.spec import MLP
from funcnn.core.validation import all_finite, overflow_error
from funcnn.errors import NonFiniteError
from funcnn.typing import Array, FloatArray, Params

__all__ = [
    "Trace",
    "apply",
    "apply_unchecked",
    "backward",
    "check_inputs",
    "check_params",
    "forward",
    "grad",
    "input_grad",
    "loss",
    "value_and_grad",
    "value_and_grad_unchecked",
]


@dataclass(frozen=True)
class Trace:
    """What the forward pass keeps for backward: per layer its input and pre-activation.

    ``inputs[l]`` is ``a_{l}`` (``inputs[0]`` is ``x``), ``pre[l]`` is ``z_{l+1}``;
    ``pre[-1]`` are the logits.
    """

    inputs: tuple[FloatArray, ...]
    pre: tuple[FloatArray, ...]

    @property
    def logits(self) -> FloatArray:
        """The network's output, shape ``(B, n_out)``."""
        return self.pre[-1]


def _split(params: Params) -> tuple[list[FloatArray], list[FloatArray]]:
    return [layer["W"] for layer in params], [layer["b"] for layer in params]


def _fresh_forward(
    spec: MLP, params: Params, x: FloatArray, *, input_grad: bool = False
) -> tuple[FloatArray, engine.Buffers]:
    """The engine's forward pass on fresh buffers: the logits and the buffers."""
    W, b = _split(params)
    buf = engine.allocate(spec, x.shape[0], x.dtype, input_grad=input_grad)
    return engine.forward(engine.activations_of(spec), W, b, x, buf), buf


def forward(spec: MLP, params: Params, x: FloatArray) -> Trace:
    """Run the network on validated ``x`` (B, n_in), keeping what backward needs."""
    _, buf = _fresh_forward(spec, params, x)
    return Trace((x, *buf.a), buf.z)


def backward(spec: MLP, params: Params, trace: Trace, dlogits: FloatArray) -> Params:
    """Gradients of a scalar with respect to every parameter, given ``d/dlogits``.

    Returns a new params-shaped list; ``trace`` and ``dlogits`` are not modified.
    """
    W, _ = _split(params)
    x = trace.inputs[0]
    buf = engine.Buffers(
        z=tuple(z.copy() for z in trace.pre),  # backward's scratch: keep the trace intact
        a=trace.inputs[1:],
        dz=(*(np.empty_like(z) for z in trace.pre[:-1]), dlogits),
        dx=None,
    )
    grads, _ = _fresh_grads(params)
    engine.backward(engine.activations_of(spec), W, x, buf, _sink(grads))
    return grads


def _fresh_grads(params: Params) -> tuple[Params, FloatArray]:
    """Uninitialised params-shaped gradients, packed in one block (also returned), so
    one read checks them all."""
    block, views = packed_like([leaf for layer in params for leaf in (layer["W"], layer["b"])])
    return [{"W": views[i], "b": views[i + 1]} for i in range(0, len(views), 2)], block


def _sink(grads: Params) -> engine.Sink:
    return engine.store_gradients([g["W"] for g in grads], [g["b"] for g in grads])


def apply_unchecked(spec: MLP, params: Params, x: FloatArray) -> FloatArray:
    """Logits ``(B, n_out)`` for validated 2-D ``x`` (a fresh array)."""
    return forward(spec, params, x).logits


def apply(spec: MLP, params: Params, x: ArrayLike) -> FloatArray:
    """The network's logits for ``x``.

    ``x`` of shape ``(B, n_in)`` gives ``(B, n_out)``; one sample ``(n_in,)`` gives
    ``(n_out,)``. ``x`` must have the params' dtype; the result has it too.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec = fn.MLP((4, 8, 3), activation="tanh")
        >>> rng = np.random.default_rng(0)
        >>> params = fn.init(spec, rng)
        >>> fn.apply(spec, params, rng.random((5, 4))).shape      # a batch of 5
        (5, 3)
        >>> fn.apply(spec, params, np.zeros(4)).shape             # one sample
        (3,)
    """
    dtype = check_params(spec, params, finite=False)
    batch = check_inputs(spec, x, dtype, finite=False)
    with np.errstate(all="ignore"):
        logits, buf = _fresh_forward(spec, params, batch)
        finite = buf.pre_activations_finite()
    if not finite:
        raise _non_finite("apply", spec, params, batch)
    return logits[0] if np.ndim(x) == 1 else logits


def value_and_grad_unchecked(
    spec: MLP, params: Params, x: FloatArray, y: Array, loss: Loss, *, input_grad: bool = False
) -> tuple[float, Params, FloatArray | None]:
    """The engine on fresh buffers, for arguments that already passed validation:
    ``(mean loss, grads, dL/dx if input_grad else None)``, whatever their values."""
    result = _engine_pass(spec, params, x, y, loss, input_grad=input_grad, check=False)
    assert result is not None  # only a check returns None
    return result


def _value_and_grad_finite(
    what: str, spec: MLP, params: Params, x: FloatArray, y: Array, loss: Loss,
    *, input_grad: bool = False,
) -> tuple[float, Params, FloatArray | None]:
    """:func:`value_and_grad_unchecked` for arguments validated in all but their values,
    raising unless everything it returns is finite, naming the argument at fault.

    Instead of reading the params and ``x`` up front it reads what the engine makes: the
    pre-activations (which a NaN or inf in the params or ``x`` reaches, see
    :meth:`~funcnn.core.engine.Buffers.pre_activations_finite`), the loss and the
    gradients' block; a bad argument is searched for only after a failure.
    """
    with np.errstate(all="ignore"):
        result = _engine_pass(spec, params, x, y, loss, input_grad=input_grad, check=True)
    if result is None:
        raise _non_finite(what, spec, params, x)
    return result


def _engine_pass(
    spec: MLP, params: Params, x: FloatArray, y: Array, loss: Loss,
    *, input_grad: bool, check: bool,
) -> tuple[float, Params, FloatArray | None] | None:
    """Forward, loss and backward on fresh buffers; with ``check``, None as soon as the
    pre-activations, the loss or the gradients are not all finite."""
    logits, buf = _fresh_forward(spec, params, x, input_grad=input_grad)
    if check and not buf.pre_activations_finite():
        return None
    value = loss.kernel(logits, y, buf.dz[-1])
    if check and not math.isfinite(value):
        return None
    grads, block = _fresh_grads(params)
    W, _ = _split(params)
    engine.backward(engine.activations_of(spec), W, x, buf, _sink(grads), input_grad=input_grad)
    if check and not (all_finite(block) and (buf.dx is None or all_finite(buf.dx))):
        return None
    return value, grads, buf.dx


def _non_finite(what: str, spec: MLP, params: Params, x: FloatArray) -> NonFiniteError:
    """The error for a non-finite result: an ``InvalidArgumentError`` naming a NaN or inf
    in the params or ``x`` is raised from here; otherwise the result overflowed."""
    check_params(spec, params)
    check_inputs(spec, x, x.dtype)
    return overflow_error(what, x.dtype)


def loss(
    spec: MLP,
    params: Params,
    x: ArrayLike,
    y: ArrayLike,
    loss: str | Loss = "softmax_cross_entropy",
) -> float:
    """Mean loss over the batch of the network's outputs on ``x`` against ``y``.

    ``y``: integer labels ``(B,)`` or float targets ``(B, n_out)`` of the params' dtype
    (for one sample ``x`` of shape ``(n_in,)``: a scalar label or ``(n_out,)`` targets).

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec = fn.MLP((4, 8, 3), activation="tanh")
        >>> rng = np.random.default_rng(0)
        >>> x, y = rng.random((5, 4)), np.array([0, 1, 2, 1, 0])
        >>> zeros = fn.tree_map(np.zeros_like, fn.init(spec, rng))   # uniform outputs
        >>> bool(np.isclose(fn.loss(spec, zeros, x, y), np.log(3)))
        True
        >>> fn.loss(spec, zeros, x, np.eye(3)[y], "mse") > 0         # float targets
        True
    """
    batch, targets, resolved = checked_batch(spec, params, x, y, loss)
    with np.errstate(all="ignore"):
        logits, buf = _fresh_forward(spec, params, batch)
        if buf.pre_activations_finite():
            value = resolved.kernel(logits, targets, buf.dz[-1])
            if math.isfinite(value):
                return value
    raise _non_finite("loss", spec, params, batch)


def value_and_grad(
    spec: MLP,
    params: Params,
    x: ArrayLike,
    y: ArrayLike,
    loss: str | Loss = "softmax_cross_entropy",
) -> tuple[float, Params]:
    """The mean loss and its gradient with respect to every parameter, by backprop.

    Arguments as for :func:`loss`. The gradient has exactly the structure, shapes and
    dtype of ``params``; it is computed by the same engine, on fresh arrays, as the
    training step applies (:func:`funcnn.make_step`).

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec = fn.MLP((4, 8, 3), activation="tanh")
        >>> rng = np.random.default_rng(0)
        >>> params = fn.init(spec, rng)
        >>> x, y = rng.random((5, 4)), np.array([0, 1, 2, 1, 0])
        >>> value, grads = fn.value_and_grad(spec, params, x, y)
        >>> bool(np.isclose(value, fn.loss(spec, params, x, y)))
        True
        >>> [g["W"].shape for g in grads]                           # shaped like params
        [(4, 8), (8, 3)]
        >>> h = 1e-6                                                # a finite difference agrees
        >>> moved = fn.tree_map(np.copy, params)
        >>> moved[1]["b"][0] += h
        >>> bool(np.isclose((fn.loss(spec, moved, x, y) - value) / h, grads[1]["b"][0], rtol=1e-4))
        True
    """
    batch, targets, resolved = checked_batch(spec, params, x, y, loss)
    value, grads, _ = _value_and_grad_finite(
        "value_and_grad", spec, params, batch, targets, resolved
    )
    return value, grads


def grad(
    spec: MLP,
    params: Params,
    x: ArrayLike,
    y: ArrayLike,
    loss: str | Loss = "softmax_cross_entropy",
) -> Params:
    """The gradient of the mean loss with respect to every parameter (as ``jax.grad``):
    :func:`value_and_grad` without the value.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec = fn.MLP((4, 8, 3), activation="tanh")
        >>> rng = np.random.default_rng(0)
        >>> params = fn.init(spec, rng)
        >>> x, y = rng.random((5, 4)), np.array([0, 1, 2, 1, 0])
        >>> grads = fn.grad(spec, params, x, y)
        >>> all(np.array_equal(g, v) for g, v in zip(fn.tree_leaves(grads),
        ...     fn.tree_leaves(fn.value_and_grad(spec, params, x, y)[1])))
        True
    """
    return value_and_grad(spec, params, x, y, loss)[1]


def input_grad(
    spec: MLP,
    params: Params,
    x: ArrayLike,
    y: ArrayLike,
    loss: str | Loss = "softmax_cross_entropy",
) -> FloatArray:
    """The gradient of the mean loss with respect to the inputs ``x``, shape of ``x``
    (e.g. for saliency maps or adversarial examples); arguments as for :func:`loss`.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec = fn.MLP((4, 8, 3), activation="tanh")
        >>> rng = np.random.default_rng(0)
        >>> params = fn.init(spec, rng)
        >>> x, y = rng.random((5, 4)), np.array([0, 1, 2, 1, 0])
        >>> fn.input_grad(spec, params, x, y).shape
        (5, 4)
    """
    batch, targets, resolved = checked_batch(spec, params, x, y, loss)
    _, _, dx = _value_and_grad_finite(
        "input_grad", spec, params, batch, targets, resolved, input_grad=True
    )
    assert dx is not None
    return dx[0] if np.ndim(x) == 1 else dx
