"""The :class:`Loss` record and its two constructors, :func:`from_kernel` (an in-place
kernel) and :func:`from_sample` (each sample's value and gradient side by side).

A loss is the **mean over the batch** of a per-sample loss of outputs ``z`` (B, C) and
labels or targets ``y`` (see :mod:`funcnn.core.losses`, which holds the built-in ones and
the registry, and re-exports everything here). Besides its value and gradient a
:class:`Loss` declares what the verification package needs to check it: its per-sample
values, its kinks, the fewest outputs on which it is not constant, and the output
activation it applies.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.typing import Array, FloatArray

__all__ = ["LOSS_OUTPUTS", "KinkCoordinate", "Loss", "LossInto", "LossValueAndGrad", "SampleGrad",
           "SampleLoss", "dense_targets_of", "from_kernel", "from_sample", "one_hot_of"]

LossValueAndGrad = Callable[[FloatArray, Array], tuple[float, FloatArray]]
SampleLoss = Callable[[FloatArray, FloatArray], FloatArray]
"""``sample_loss(z, t) -> (...)``: each sample's loss for logits ``z`` (..., C) and dense
float targets ``t`` of the same shape; the loss is its mean over the batch axis."""
SampleGrad = Callable[[FloatArray, FloatArray], FloatArray]
"""``sample_grad(z, t) -> (..., C)``: the gradient of each sample's loss in its logits."""
KinkCoordinate = Callable[[FloatArray, FloatArray], FloatArray]
"""``coordinate(z, t) -> (..., C)``: the quantity whose value at a kink the loss lists."""
LossInto = Callable[[FloatArray, Array, FloatArray], float]
"""``into(z, y, dz) -> mean loss``: writes dL/dz into ``dz``; may overwrite ``z``."""


def one_hot_of(z: FloatArray, y: Array) -> FloatArray:
    """Dense float targets for validated ``y``: one-hot rows for labels, else ``y``."""
    if y.dtype.kind == "f":
        return y
    onehot = np.zeros_like(z)
    onehot[np.arange(len(z)), y] = 1
    return onehot


def dense_targets_of(z: FloatArray, y: Array) -> FloatArray:
    """Like :func:`one_hot_of`, except that with one output a label is the 0/1 target."""
    if y.dtype.kind != "f" and z.shape[1] == 1:
        return y.astype(z.dtype).reshape(-1, 1)
    return one_hot_of(z, y)


@dataclass(frozen=True)
class Loss:
    """A loss by name: ``value_and_grad(z, y) -> (mean loss, dloss/dz)``, pure.

    ``target_kind`` says what float targets must look like (see
    :func:`funcnn.core.validation.check_targets`). ``value_and_grad_into(z, y, dz)`` is
    an in-place kernel (it writes dL/dz into ``dz`` and may overwrite ``z``); the engine
    runs ``kernel``, which copies the pure function's result when none is given. Neither
    validates: call them only with outputs and targets that passed ``check_targets``.

    What the verification package needs to check the loss, declared with it:

    - ``sample_loss(z, t)`` (optional): each sample's loss for dense float targets,
      batched over any leading axes; the gradient checks evaluate it at millions of
      perturbed rows. Without it they call ``value_and_grad`` on the rows each
      perturbation moves, one call per perturbation (the same numbers, slower: 4.1 s
      instead of 3.5 s for Huber's 36 catalogue checks). The built-in losses leave it
      out: the checks run independent formulas for those
      (``verification.engine.common.reference``).
    - ``kinks``: the values of ``kink_coordinate(z, t)`` (by default the residual
      ``z - t``, entry by entry) where the loss's gradient is not differentiable, e.g.
      ``(-delta, delta)`` for Huber. Finite differences across a kink are then flagged
      and resolved instead of trusted. Empty: the loss is smooth in ``z``.
    - ``min_outputs``: the fewest outputs on which the loss is not constant in ``z``: 2
      for a loss that takes a softmax over the outputs (the softmax of one output is 1),
      else 1, the default. The catalogue and the foreign checks never pair a loss with a
      network of fewer outputs (a check whose exact gradient is 0 cannot fail); a loss
      that leaves it at 1 but is constant there is still reported, as inconclusive.
    - ``output``: the output activation the loss applies to ``z`` before scoring it:
      ``"softmax"`` (the softmax losses), ``"sigmoid"`` (binary cross-entropy),
      ``"tanh"``, ``"identity"`` (the loss scores ``z`` itself, e.g. ``mse``), or
      ``""``, the default: not declared. :func:`funcnn.predict_proba` reads
      class probabilities off a ``"softmax"`` or ``"sigmoid"`` output, and the diagnosis
      of other people's code names output-layer mistakes (a derivative applied twice, the
      softmax derivative written elementwise) only for a declared output.

    Targets in the checks' problems follow ``target_kind``: integer labels for a
    ``"distribution"`` loss, one-hot float targets otherwise.

    For example, a built-in one (see :func:`from_sample` to define a new one):

        >>> import numpy as np
        >>> import funcnn as fn
        >>> loss = fn.get_loss("softmax_cross_entropy")
        >>> value, dz = loss.value_and_grad(np.zeros((1, 2)), np.array([0]))
        >>> round(value, 4), dz, loss.target_kind
        (0.6931, array([[-0.5,  0.5]]), 'distribution')
    """

    name: str
    value_and_grad: LossValueAndGrad
    target_kind: str
    value_and_grad_into: LossInto | None = field(default=None, repr=False, compare=False)
    shifts_logits: bool = field(default=False, repr=False, compare=False)
    """Whether ``kernel`` leaves ``z`` shifted by its row maxima, so that an entry is its
    row's largest exactly when it reads 0 (the training loop counts hits from that)."""
    sample_loss: SampleLoss | None = field(default=None, repr=False, compare=False)
    kinks: tuple[float, ...] = ()
    kink_coordinate: KinkCoordinate | None = field(default=None, repr=False, compare=False)
    min_outputs: int = 1
    output: str = ""
    # The kernel the engine runs: the one given, else a copy of the pure result.
    kernel: LossInto = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_declarations(self)
        pure = self.value_and_grad

        def copy(z: FloatArray, y: Array, dz: FloatArray) -> float:
            value, grad = pure(z, y)
            np.copyto(dz, grad)
            return value

        object.__setattr__(self, "kernel", self.value_and_grad_into or copy)

    def kink_coordinates(self, z: FloatArray, t: FloatArray) -> FloatArray:
        """``kink_coordinate(z, t)``, by default the residual ``z - t`` (same shape)."""
        if self.kink_coordinate is None:
            out: FloatArray = z - t
            return out
        return self.kink_coordinate(z, t)


_TARGET_KINDS = ("distribution", "probability", "real")
LOSS_OUTPUTS = ("", "identity", "sigmoid", "softmax", "tanh")
"""The values :attr:`Loss.output` may take (``""``: not declared)."""


def _check_declarations(loss: Loss) -> None:
    """Construction-time checks of a :class:`Loss`'s fields (never in a hot loop)."""
    if not isinstance(loss.name, str) or not loss.name:
        raise ArgumentTypeError(f"name: expected a non-empty str, got {loss.name!r}")
    if loss.target_kind not in _TARGET_KINDS:
        raise InvalidArgumentError(
            f"target_kind: expected one of {list(_TARGET_KINDS)}, got {loss.target_kind!r}"
        )
    for arg in ("value_and_grad", "value_and_grad_into", "sample_loss", "kink_coordinate"):
        fn = getattr(loss, arg)
        if fn is not None and not callable(fn):
            raise ArgumentTypeError(f"{arg}: expected a callable, got {type(fn).__name__}")
    kinks = loss.kinks
    if not isinstance(kinks, tuple) or not all(
        isinstance(k, int | float) and not isinstance(k, bool) and math.isfinite(k)
        for k in kinks
    ):
        raise ArgumentTypeError(f"kinks: expected a tuple of finite numbers, got {kinks!r}")
    least = loss.min_outputs
    if isinstance(least, bool) or not isinstance(least, int):
        raise ArgumentTypeError(f"min_outputs: expected an int, got {type(least).__name__}")
    if least < 1:
        raise InvalidArgumentError(f"min_outputs: expected an int >= 1, got {least}")
    if not isinstance(loss.output, str) or loss.output not in LOSS_OUTPUTS:
        raise InvalidArgumentError(
            f"output: expected one of {list(LOSS_OUTPUTS)}, got {loss.output!r}"
        )


def from_kernel(
    name: str, into: LossInto, target_kind: str, *, shifts_logits: bool = False,
    min_outputs: int = 1, output: str = "",
) -> Loss:
    """A :class:`Loss` defined by its in-place kernel; the pure form runs it on a copy of
    ``z`` and a fresh gradient, so both paths compute the same bits."""

    def value_and_grad(z: FloatArray, y: Array) -> tuple[float, FloatArray]:
        dz = np.empty_like(z)
        return into(z.copy(), y, dz), dz

    return Loss(name, value_and_grad, target_kind, into, shifts_logits,
                min_outputs=min_outputs, output=output)


def from_sample(
    name: str,
    sample_loss: SampleLoss,
    sample_grad: SampleGrad,
    target_kind: str,
    *,
    kinks: tuple[float, ...] = (),
    kink_coordinate: KinkCoordinate | None = None,
    min_outputs: int = 1,
    output: str = "",
) -> Loss:
    """A :class:`Loss` from each sample's loss and its gradient, written side by side.

    ``sample_loss(z, t)`` and ``sample_grad(z, t)`` take logits ``z`` (..., C) and dense
    targets ``t`` (integer labels one-hot, or the 0/1 label itself for one output) in
    ``z``'s dtype; the loss is the mean of ``sample_loss`` over the batch and its
    gradient ``sample_grad / B``. ``kinks``, ``kink_coordinate``, ``min_outputs`` and
    ``output`` as in :class:`Loss`.
    """
    for arg, fn in (("sample_loss", sample_loss), ("sample_grad", sample_grad)):
        if not callable(fn):
            raise ArgumentTypeError(f"{arg}: expected a callable, got {type(fn).__name__}")

    def value_and_grad(z: FloatArray, y: Array) -> tuple[float, FloatArray]:
        t = dense_targets_of(z, y).astype(z.dtype, copy=False)
        batch = z.shape[0]
        value = float(np.sum(sample_loss(z, t))) / batch
        grad: FloatArray = np.asarray(sample_grad(z, t), dtype=z.dtype) / z.dtype.type(batch)
        return value, grad

    value_and_grad.__name__ = name if isinstance(name, str) else "loss"
    return Loss(name, value_and_grad, target_kind, sample_loss=sample_loss, kinks=kinks,
                kink_coordinate=kink_coordinate, min_outputs=min_outputs, output=output)


