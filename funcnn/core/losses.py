"""Loss functions on network outputs, each with its gradient with respect to them.

A loss takes outputs ``z`` of shape ``(B, C)`` (the last layer's logits) and ``y``,
either integer labels ``(B,)`` or float targets ``(B, C)``, and returns the **mean over
the batch** of a per-sample loss. Per-sample conventions:

- ``softmax_cross_entropy``: ``-sum_c y_c log softmax(z)_c``, fused and computed by
  log-sum-exp, so logits of any size are safe. Gradient ``(softmax(z) sum(y) - y) / B``,
  i.e. ``(softmax(z) - y) / B`` for one-hot targets.
- ``softmax_then_cross_entropy``: the same loss the explicit, from-scratch way: ``p =
  softmax(z)``, then ``-sum y log p`` with gradient ``-y / p`` backpropagated through the
  full per-sample softmax Jacobian ``diag(p) - p p^T``. ``p`` is clipped below at the
  dtype's smallest normal number (``np.finfo(dtype).tiny``), so a probability of exactly
  0 gives the finite loss ``-log(tiny)`` (708.4 in float64, 87.3 in float32) instead of
  inf; as long as no probability underflows it equals the fused loss.
- ``mse``: ``mean_c (z_c - y_c)^2``; gradient ``2 (z - y) / (B C)``.
- ``binary_cross_entropy``: sigmoid outputs, fused from logits:
  ``mean_c softplus(z_c) - y_c z_c``; gradient ``(sigmoid(z) - y) / (B C)``.
- ``softmax_binary_cross_entropy``: binary cross-entropy on softmax probabilities,
  ``mean_c -(y_c log p_c + (1 - y_c) log(1 - p_c))`` with ``p`` clipped to
  ``[tiny, 1 - epsneg]`` (``np.finfo`` of the dtype), backpropagated through the softmax VJP.

Integer labels are one-hot encoded to width C; for the losses other than the two
cross-entropies, when ``C == 1`` a label is the 0/1 target itself. Each loss is
available by name through :func:`get_loss` and as plain functions
``name(z, y) -> float`` and ``name_grad(z, y) -> (B, C)`` that validate their inputs.

A new loss is one :class:`Loss`; :func:`from_sample` builds one from its per-sample
value and gradient side by side, with where its gradient has kinks (Huber at
``|z - t| = delta``), which is all the verification package needs to check it:

>>> import numpy as np
>>> def huber(z, t):                     # per sample, mean over the outputs
...     r = np.abs(z - t)
...     return np.mean(np.where(r <= 1, 0.5 * r * r, r - 0.5), axis=-1)
>>> def huber_grad(z, t):
...     return np.clip(z - t, -1, 1) / z.shape[-1]
>>> loss = from_sample("huber", huber, huber_grad, "real", kinks=(-1.0, 1.0))
>>> loss.value_and_grad(np.array([[0.0, 3.0]]), np.array([[0.5, 0.0]]))
(1.3125, array([[-0.25,  0.5 ]]))
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from funcnn.core.activations import ACTIVATIONS
from funcnn.core.loss_record import (
    KinkCoordinate,
    Loss,
    LossInto,
    LossValueAndGrad,
    SampleGrad,
    SampleLoss,
    dense_targets_of,
    from_kernel,
    from_sample,
    one_hot_of,
)
from funcnn.core.softmax import softmax, softmax_into, softmax_jacobian, softmax_vjp
from funcnn.core.validation import check_finite, check_result_finite, check_targets, ensure_array
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.typing import Array, FloatArray

__all__ = [
    "LOSSES",
    "KinkCoordinate",
    "Loss",
    "LossInto",
    "LossValueAndGrad",
    "SampleGrad",
    "SampleLoss",
    "binary_cross_entropy",
    "binary_cross_entropy_grad",
    "checked_value_and_grad",
    "from_kernel",
    "from_sample",
    "get_loss",
    "mse",
    "mse_grad",
    "softmax_binary_cross_entropy",
    "softmax_binary_cross_entropy_grad",
    "softmax_cross_entropy",
    "softmax_cross_entropy_grad",
    "softmax_then_cross_entropy",
    "softmax_then_cross_entropy_grad",
]

def _softmax_cross_entropy(z: FloatArray, y: Array, dz: FloatArray) -> float:
    # Per sample: log(sum(exp(z - max))) - (z_y - max); gradient (softmax(z) - y) / B.
    r, c = int(z.shape[0]), int(z.shape[1])
    sums = softmax_into(z, dz)  # z is now shifted: its row maxima are 0
    if y.dtype.kind == "f":
        value = (float(np.dot(np.log(sums[:, 0]), y.sum(axis=1))) - float(np.vdot(y, z))) / r
        dz *= np.sum(y, axis=1, keepdims=True)
        dz -= y
        dz /= r
        return value
    if r == 1:
        # One sample (per-sample SGD): scalars are cheaper than array bookkeeping.
        label = int(y[0])
        dz[0, label] -= 1
        return float(math.log(float(sums[0, 0])) - float(z[0, label]))
    flat = np.arange(0, r * c, c)
    flat += y
    value = (float(np.log(sums).sum()) - float(z.reshape(-1).take(flat).sum())) / r
    dz.reshape(-1)[flat] -= 1
    dz /= r
    return value


def _clipped_probabilities(z: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Softmax ``s`` and ``s`` clipped below at the smallest normal number."""
    s = softmax(z)
    return s, np.maximum(s, np.finfo(z.dtype).tiny)


def _softmax_then_cross_entropy(z: FloatArray, y: Array, dz: FloatArray) -> float:
    batch = int(z.shape[0])
    t = one_hot_of(z, y)
    s, p = _clipped_probabilities(z)
    value = -float(np.sum(t * np.log(p))) / batch
    dp = -t / p / batch
    # The explicit path on purpose: materialise each sample's C x C Jacobian.
    np.einsum("bij,bi->bj", softmax_jacobian(s), dp, out=dz)
    return value


def _mse(z: FloatArray, y: Array, dz: FloatArray) -> float:
    np.subtract(z, dense_targets_of(z, y), out=dz)
    flat = dz.reshape(-1)
    value = float(np.dot(flat, flat)) / flat.size
    dz *= z.dtype.type(2 / flat.size)
    return value


def _binary_cross_entropy(z: FloatArray, y: Array, dz: FloatArray) -> float:
    t = dense_targets_of(z, y)
    # softplus(z) - t z per entry; its derivative sigmoid(z) - t: the activations' kernels.
    ACTIVATIONS["softplus"].value_kernel(z, dz)
    dz -= t * z
    value = float(np.mean(dz))
    ACTIVATIONS["sigmoid"].value_kernel(z, dz)
    dz -= t
    dz *= z.dtype.type(1 / z.size)
    return value


def _softmax_binary_cross_entropy(z: FloatArray, y: Array, dz: FloatArray) -> float:
    t = dense_targets_of(z, y)
    s = softmax(z)
    info = np.finfo(z.dtype)
    p = np.clip(s, info.tiny, 1 - info.epsneg)
    value = -float(np.mean(t * np.log(p) + (1 - t) * np.log1p(-p)))
    dp = (-t / p + (1 - t) / (1 - p)) * z.dtype.type(1 / z.size)
    np.copyto(dz, softmax_vjp(s, dp))
    return value


LOSSES: dict[str, Loss] = {
    loss.name: loss
    for loss in (
        # The three softmax losses need two outputs: a softmax over one is constant.
        from_kernel("softmax_cross_entropy", _softmax_cross_entropy, "distribution",
                    shifts_logits=True, min_outputs=2, output="softmax"),
        from_kernel("softmax_then_cross_entropy", _softmax_then_cross_entropy, "distribution",
                    min_outputs=2, output="softmax"),
        from_kernel("mse", _mse, "real", output="identity"),
        from_kernel("binary_cross_entropy", _binary_cross_entropy, "probability",
                    output="sigmoid"),
        from_kernel("softmax_binary_cross_entropy", _softmax_binary_cross_entropy, "probability",
                    min_outputs=2, output="softmax"),
    )
}
"""Every loss funcnn knows, by name.

For example:

    >>> import funcnn as fn
    >>> fn.LOSSES["mse"].target_kind, "softmax_cross_entropy" in fn.LOSSES
    ('real', True)
"""


def get_loss(loss: str | Loss) -> Loss:
    """A :class:`Loss` by name (or passed through); unknown names list the known ones.

    For example:

        >>> import funcnn as fn
        >>> fn.get_loss("mse").target_kind
        'real'
        >>> fn.get_loss("nll")
        Traceback (most recent call last):
        ...
        funcnn.errors.InvalidArgumentError: loss: unknown loss 'nll'...
    """
    if isinstance(loss, Loss):
        return loss
    try:
        return LOSSES[loss]
    except (KeyError, TypeError):
        raise InvalidArgumentError(
            f"loss: unknown loss {loss!r}; expected one of {sorted(LOSSES)}"
        ) from None


def checked_value_and_grad(loss: str | Loss, z: Any, y: Any) -> tuple[float, FloatArray]:
    """``loss``'s ``(mean value, dL/dz)`` with ``z`` and ``y`` validated first, for any
    :class:`Loss` (what the module-level ``name`` / ``name_grad`` functions run)."""
    return _checked(get_loss(loss), z, y)


def _checked(loss: Loss, z: Any, y: Any) -> tuple[float, FloatArray]:
    outputs = ensure_array("z", z)
    if outputs.dtype not in (np.float32, np.float64):
        raise ArgumentTypeError(f"z: expected float32 or float64, got {outputs.dtype}")
    if outputs.ndim != 2 or outputs.shape[0] == 0 or outputs.shape[1] == 0:
        raise InvalidArgumentError(f"z: expected a non-empty (B, C) array, got {outputs.shape}")
    check_finite("z", outputs)
    targets = check_targets(y, outputs.shape[0], outputs.shape[1], outputs.dtype, loss.target_kind)
    with np.errstate(all="ignore"):
        value, dz = loss.value_and_grad(outputs, targets)
    check_result_finite(f"{loss.name}(z, y)", outputs.dtype, value, dz)
    return value, dz


def _public_pair(name: str) -> tuple[Callable[[Any, Any], float], Callable[[Any, Any], FloatArray]]:
    loss = LOSSES[name]

    def value(z: Any, y: Any) -> float:
        return _checked(loss, z, y)[0]

    def grad(z: Any, y: Any) -> FloatArray:
        return _checked(loss, z, y)[1]

    value.__name__, grad.__name__ = name, f"{name}_grad"
    example = _DOC.format(name=name, value=_EXAMPLES[name][0], grad=_EXAMPLES[name][1])
    value.__doc__ = (
        f"Mean ``{name}`` loss of outputs ``z`` (B, C) against labels or targets ``y``.\n"
        + example
    )
    grad.__doc__ = (
        f"Gradient of :func:`{name}` with respect to ``z``; shape and dtype of ``z``.\n"
        + example
    )
    return value, grad


# Each built-in's value and gradient for one sample, logits [0, 0] and label 0, worked
# out by hand (log 2 = 0.6931): the example its docstrings show (tests/test_reference.py
# runs them).
_EXAMPLES = {
    "softmax_cross_entropy": ("0.6931", "[[-0.5,  0.5]]"),
    "softmax_then_cross_entropy": ("0.6931", "[[-0.5,  0.5]]"),
    "mse": ("0.5", "[[-1.,  0.]]"),
    "binary_cross_entropy": ("0.6931", "[[-0.25,  0.25]]"),
    "softmax_binary_cross_entropy": ("0.6931", "[[-0.5,  0.5]]"),
}

_DOC = """
    For example, one sample with logits ``[0, 0]`` and label 0:

        >>> import numpy as np
        >>> import funcnn as fn
        >>> z, y = np.zeros((1, 2)), np.array([0])
        >>> round(fn.{name}(z, y), 4), fn.{name}_grad(z, y)
        ({value}, array({grad}))
    """


softmax_cross_entropy, softmax_cross_entropy_grad = _public_pair("softmax_cross_entropy")
softmax_then_cross_entropy, softmax_then_cross_entropy_grad = _public_pair(
    "softmax_then_cross_entropy"
)
mse, mse_grad = _public_pair("mse")
binary_cross_entropy, binary_cross_entropy_grad = _public_pair("binary_cross_entropy")
softmax_binary_cross_entropy, softmax_binary_cross_entropy_grad = _public_pair(
    "softmax_binary_cross_entropy"
)
