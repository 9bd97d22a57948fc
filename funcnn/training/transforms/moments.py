"""The transforms that keep running state: momentum and the adaptive scalings (Adam,
RMSprop, Adagrad)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from funcnn.core.validation import check_learning_rate
from funcnn.errors import ArgumentTypeError
from funcnn.training.leaves import check_fraction, check_non_negative
from funcnn.training.transforms.base import Path, Transform
from funcnn.typing import Array

__all__ = [
    "ScaleByAdam",
    "ScaleByRms",
    "ScaleByRss",
    "Trace",
    "scale_by_adam",
    "scale_by_rms",
    "scale_by_rss",
    "trace",
]


def _ema(slot: Array, u: Array, decay: float, spare: Array) -> None:
    """``slot <- decay * slot + (1 - decay) * u`` in place (``spare`` is overwritten)."""
    slot *= decay
    np.multiply(u, 1.0 - decay, out=spare)
    slot += spare


def _ema_of_square(slot: Array, u: Array, decay: float, spare: Array) -> None:
    """``slot <- decay * slot + (1 - decay) * u^2`` in place (``spare`` is overwritten)."""
    slot *= decay
    np.multiply(u, u, out=spare)
    spare *= 1.0 - decay
    slot += spare


@dataclass(frozen=True)
class Trace(Transform):
    """Momentum: ``v <- momentum v + u``; ``u <- v``, or ``u + momentum v`` (Nesterov)."""

    name: ClassVar[str] = "trace"
    momentum: float
    nesterov: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "momentum", check_fraction("momentum", self.momentum))
        if not isinstance(self.nesterov, bool):
            raise ArgumentTypeError(f"nesterov: expected a bool, got {self.nesterov!r}")

    def slot_names(self) -> tuple[str, ...]:
        return ("velocity",)

    def apply(self, u: Array, p: Array, slots: Sequence[Array], scratch: Array, ctx: Any,
              index: int) -> None:
        (v,) = slots
        v *= self.momentum
        v += u
        if self.nesterov:
            np.multiply(v, self.momentum, out=scratch)
            u += scratch
        else:
            # u <- v exactly (x * 1 == x in IEEE arithmetic): np.copyto was measured 20x
            # slower here (AMD EPYC, float32) once the velocity of dead units decays into
            # subnormal numbers, the multiply not.
            np.multiply(v, 1.0, out=u)


@dataclass(frozen=True)
class ScaleByAdam(Transform):
    """Adam's bias-corrected moment ratio (see the module docstring)."""

    name: ClassVar[str] = "scale_by_adam"
    squares_gradient: ClassVar[bool] = True
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self) -> None:
        object.__setattr__(self, "b1", check_fraction("b1", self.b1))
        object.__setattr__(self, "b2", check_fraction("b2", self.b2))
        object.__setattr__(self, "eps", check_learning_rate(self.eps, "eps"))

    def slot_names(self) -> tuple[str, ...]:
        return ("mu", "nu")

    def prepare(self, updates: list[Array], params: list[Array], paths: list[Path],
                count: int) -> tuple[float, float]:
        k = count + 1
        return 1.0 - self.b1**k, 1.0 - self.b2**k

    def apply(self, u: Array, p: Array, slots: Sequence[Array], scratch: Array,
              ctx: tuple[float, float], index: int) -> None:
        m, v = slots
        c1, c2 = ctx
        _ema(m, u, self.b1, scratch)
        _ema_of_square(v, u, self.b2, scratch)
        np.divide(v, c2, out=scratch)
        np.sqrt(scratch, out=scratch)
        scratch += self.eps
        np.divide(m, c1, out=u)
        u /= scratch


@dataclass(frozen=True)
class ScaleByRms(Transform):
    """RMSprop's scaling, PyTorch's semantics (``eps`` outside the square root)."""

    name: ClassVar[str] = "scale_by_rms"
    squares_gradient: ClassVar[bool] = True
    alpha: float = 0.99
    eps: float = 1e-8
    centered: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "alpha", check_fraction("alpha", self.alpha))
        object.__setattr__(self, "eps", check_learning_rate(self.eps, "eps"))
        if not isinstance(self.centered, bool):
            raise ArgumentTypeError(f"centered: expected a bool, got {self.centered!r}")

    def slot_names(self) -> tuple[str, ...]:
        return ("square_avg", "grad_avg") if self.centered else ("square_avg",)

    def apply(self, u: Array, p: Array, slots: Sequence[Array], scratch: Array, ctx: Any,
              index: int) -> None:
        square_avg = slots[0]
        _ema_of_square(square_avg, u, self.alpha, scratch)
        if self.centered:
            grad_avg = slots[1]
            _ema(grad_avg, u, self.alpha, scratch)
            np.multiply(grad_avg, grad_avg, out=scratch)
            np.subtract(square_avg, scratch, out=scratch)
            # s - a^2 >= 0 in exact arithmetic; rounding can leave -tiny, which is 0.
            np.maximum(scratch, 0.0, out=scratch)
            np.sqrt(scratch, out=scratch)
        else:
            np.sqrt(square_avg, out=scratch)
        scratch += self.eps
        u /= scratch


@dataclass(frozen=True)
class ScaleByRss(Transform):
    """Adagrad's scaling by the root of the summed squares, PyTorch's semantics."""

    name: ClassVar[str] = "scale_by_rss"
    squares_gradient: ClassVar[bool] = True
    eps: float = 1e-10
    initial_accumulator_value: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "eps", check_learning_rate(self.eps, "eps"))
        object.__setattr__(
            self,
            "initial_accumulator_value",
            check_non_negative("initial_accumulator_value", self.initial_accumulator_value),
        )

    def slot_names(self) -> tuple[str, ...]:
        return ("sum_of_squares",)

    def init_slot(self, slot: str, leaf: Array) -> Array:
        return np.full_like(leaf, self.initial_accumulator_value)

    def apply(self, u: Array, p: Array, slots: Sequence[Array], scratch: Array, ctx: Any,
              index: int) -> None:
        (total,) = slots
        np.multiply(u, u, out=scratch)
        total += scratch
        np.sqrt(total, out=scratch)
        scratch += self.eps
        u /= scratch


def trace(momentum: float, nesterov: bool = False) -> Trace:
    """Momentum (or Nesterov momentum), slot ``velocity``.

    For example:

        >>> import funcnn as fn
        >>> import funcnn.training.transforms as tx
        >>> opt = fn.chain(tx.trace(0.9, nesterov=True), tx.scale_by_learning_rate(0.1))
        >>> opt.slot_names(), tx.trace(0.9).to_config()
        (('velocity',), {'name': 'trace', 'momentum': 0.9, 'nesterov': False})
    """
    return Trace(momentum, nesterov)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> ScaleByAdam:
    """Adam's moment ratio, slots ``mu`` and ``nu``.

    For example:

        >>> import funcnn as fn
        >>> import funcnn.training.transforms as tx
        >>> fn.chain(tx.scale_by_adam(b2=0.99), tx.scale_by_learning_rate(1e-3)).slot_names()
        ('mu', 'nu')
    """
    return ScaleByAdam(b1, b2, eps)


def scale_by_rms(alpha: float = 0.99, eps: float = 1e-8, centered: bool = False) -> ScaleByRms:
    """RMSprop's scaling (PyTorch's semantics), slots ``square_avg`` (and ``grad_avg``).

    For example:

        >>> import funcnn as fn
        >>> import funcnn.training.transforms as tx
        >>> tx.scale_by_rms().slot_names(), tx.scale_by_rms(centered=True).slot_names()
        (('square_avg',), ('square_avg', 'grad_avg'))
    """
    return ScaleByRms(alpha, eps, centered)


def scale_by_rss(eps: float = 1e-10, initial_accumulator_value: float = 0.0) -> ScaleByRss:
    """Adagrad's scaling (PyTorch's semantics), slot ``sum_of_squares``.

    For example:

        >>> import funcnn as fn
        >>> import funcnn.training.transforms as tx
        >>> fn.chain(tx.scale_by_rss(), tx.scale_by_learning_rate(0.1)).slot_names()
        ('sum_of_squares',)
    """
    return ScaleByRss(eps, initial_accumulator_value)
