"""The building blocks of every optimizer: small per-leaf gradient transformations.

Each transform turns the running update ``u`` of one parameter leaf ``p`` (at first the
gradient ``g``) into the next, in place, keeping its own slots (params-shaped state)
beside it. :class:`~funcnn.training.chain.Optimizer` runs a chain of them, leaf by leaf,
then applies ``p <- p - u``. With ``t`` the number of updates already applied:

- :func:`trace` (momentum, PyTorch's convention without dampening): ``v <- mu v + u``;
  ``u <- v``, or with Nesterov ``u <- u + mu v`` (the new ``v``). Slot ``velocity``.
- :func:`scale_by_adam`: ``m <- b1 m + (1 - b1) u``, ``v <- b2 v + (1 - b2) u^2``, with
  ``k = t + 1``: ``u <- (m / (1 - b1^k)) / (sqrt(v / (1 - b2^k)) + eps)``. Slots ``mu``,
  ``nu``.
- :func:`scale_by_rms` (PyTorch's RMSprop): ``s <- alpha s + (1 - alpha) u^2``;
  ``u <- u / (sqrt(s) + eps)``, or centred: ``a <- alpha a + (1 - alpha) u`` and
  ``u <- u / (sqrt(s - a^2) + eps)``. Slots ``square_avg`` (and ``grad_avg``).
- :func:`scale_by_rss` (PyTorch's Adagrad): ``s <- s + u^2`` (``s_0`` =
  ``initial_accumulator_value``); ``u <- u / (sqrt(s) + eps)``. Slot ``sum_of_squares``.
- :func:`add_decayed_weights`: ``u <- u + wd p`` on the leaves ``mask(path, p)`` selects
  (default :func:`weights_only`, ``p.ndim >= 2``: biases are never decayed). After the
  optimizer's scaling and before the learning rate this is decoupled weight decay
  (Loshchilov & Hutter's AdamW / SGDW).
- :func:`scale_by_learning_rate`: ``u <- lr_t u`` with ``lr_t`` a number or a
  :class:`~funcnn.training.schedules.Schedule` of ``t``.
- :func:`clip_by_global_norm` (PyTorch's ``clip_grad_norm_``): with ``n`` the 2-norm of
  all leaves of ``u`` together, ``u <- u * min(1, max_norm / (n + eps))``.

Arithmetic happens in the params' dtype (hyperparameters are Python floats). A transform
checks its hyperparameters when it is built; its kernel checks nothing. Transforms are
frozen dataclasses: they compare by value and their config is their fields
(:data:`TRANSFORMS` rebuilds them). Left out: transforms that change the structure of
the tree, and per-leaf learning rates.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from funcnn.core.validation import check_learning_rate
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.training.leaves import check_fraction, check_non_negative, dot_finite
from funcnn.training.schedules import Schedule, as_schedule, schedule_from_config
from funcnn.typing import Array

__all__ = [
    "MASKS",
    "TRANSFORMS",
    "AddDecayedWeights",
    "ClipByGlobalNorm",
    "Mask",
    "Path",
    "ScaleByAdam",
    "ScaleByLearningRate",
    "ScaleByRms",
    "ScaleByRss",
    "Trace",
    "Transform",
    "add_decayed_weights",
    "all_leaves",
    "clip_by_global_norm",
    "scale_by_adam",
    "scale_by_learning_rate",
    "scale_by_rms",
    "scale_by_rss",
    "trace",
    "transform_from_config",
    "weights_only",
]

Path = tuple[int | str, ...]
"""Where a leaf sits in the params tree: list indices and dict keys, e.g. ``(0, "W")``."""

Mask = Callable[[Path, Array], bool]
"""Selects the leaves a transform acts on: ``mask(path, leaf) -> bool``."""


def weights_only(path: Path, leaf: Array) -> bool:
    """The default decay mask: weight matrices (``ndim >= 2``), never biases."""
    return leaf.ndim >= 2


def all_leaves(path: Path, leaf: Array) -> bool:
    """A mask that selects every leaf."""
    return True


MASKS: dict[str, Mask] = {"weights_only": weights_only, "all_leaves": all_leaves}
"""Masks by name: a transform whose mask is one of these can be saved in a checkpoint."""


@dataclass(frozen=True)
class Transform(ABC):
    """One step of a chain: slots to initialise and an in-place kernel (see the module
    docstring). ``name`` is its :data:`TRANSFORMS` key; ``squares_gradient`` says that
    its state holds squares of the update (so a huge finite gradient could overflow it);
    ``needs_all_leaves`` that :meth:`prepare` reads every leaf of the running update (the
    chain then finishes the transforms before it on all leaves first)."""

    name: ClassVar[str]
    squares_gradient: ClassVar[bool] = False
    needs_all_leaves: ClassVar[bool] = False

    def slot_names(self) -> tuple[str, ...]:
        """The params-shaped state entries this transform keeps."""
        return ()

    def init_slot(self, slot: str, leaf: Array) -> Array:
        """The initial value of ``slot`` for one params leaf (zeros unless overridden)."""
        return np.zeros_like(leaf)

    def prepare(self, updates: list[Array], params: list[Array], paths: list[Path],
                count: int) -> Any:
        """What the kernel needs for this step, computed once for all leaves."""
        return None

    @abstractmethod
    def apply(self, u: Array, p: Array, slots: Sequence[Array], scratch: Array, ctx: Any,
              index: int) -> None:
        """Transform ``u`` (leaf ``index``, params ``p``) in place, updating ``slots``;
        ``scratch`` is a spare buffer shaped like ``p``; ``ctx`` is :meth:`prepare`'s."""

    def to_config(self) -> dict[str, Any]:
        """``{"name": ..., field: value, ...}``: schedules by their config, masks by name."""
        config: dict[str, Any] = {"name": self.name}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Schedule):
                value = value.to_config()
            elif callable(value):
                value = _mask_name(value, f"{type(self).__name__}.{f.name}")
            config[f.name] = value
        return config


def _mask_name(mask: Callable[..., Any], where: str) -> str:
    for key, known in MASKS.items():
        if known is mask:
            return key
    raise InvalidArgumentError(
        f"{where}: a custom mask cannot be saved; register it in funcnn.training."
        f"transforms.MASKS (one of {sorted(MASKS)} now) to save this optimizer"
    )


def _check_mask(mask: Any) -> Mask:
    if not callable(mask):
        raise ArgumentTypeError(f"mask: expected a callable mask(path, leaf) -> bool, got {mask!r}")
    return mask  # type: ignore[no-any-return]


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
            np.copyto(u, v)


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


@dataclass(frozen=True)
class AddDecayedWeights(Transform):
    """``u <- u + weight_decay * p`` on the leaves ``mask(path, p)`` selects."""

    name: ClassVar[str] = "add_decayed_weights"
    weight_decay: float
    mask: Mask = weights_only

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "weight_decay", check_non_negative("weight_decay", self.weight_decay)
        )
        _check_mask(self.mask)

    def prepare(self, updates: list[Array], params: list[Array], paths: list[Path],
                count: int) -> list[bool]:
        return [bool(self.mask(path, p)) for path, p in zip(paths, params, strict=True)]

    def apply(self, u: Array, p: Array, slots: Sequence[Array], scratch: Array,
              ctx: list[bool], index: int) -> None:
        if self.weight_decay and ctx[index]:
            np.multiply(p, self.weight_decay, out=scratch)
            u += scratch


@dataclass(frozen=True)
class ScaleByLearningRate(Transform):
    """``u <- lr_t u``: ``lr`` a finite number > 0 or a schedule (kept as ``schedule``)."""

    name: ClassVar[str] = "scale_by_learning_rate"
    schedule: Schedule

    def __post_init__(self) -> None:
        object.__setattr__(self, "schedule", as_schedule(self.schedule, "lr"))

    def prepare(self, updates: list[Array], params: list[Array], paths: list[Path],
                count: int) -> float:
        return self.schedule.value(count)

    def apply(self, u: Array, p: Array, slots: Sequence[Array], scratch: Array, ctx: float,
              index: int) -> None:
        np.multiply(u, ctx, out=u)


@dataclass(frozen=True)
class ClipByGlobalNorm(Transform):
    """Scale all leaves together so that their 2-norm is at most about ``max_norm``."""

    name: ClassVar[str] = "clip_by_global_norm"
    squares_gradient: ClassVar[bool] = True
    needs_all_leaves: ClassVar[bool] = True
    max_norm: float
    eps: float = 1e-6

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_norm", check_learning_rate(self.max_norm, "max_norm"))
        object.__setattr__(self, "eps", check_non_negative("eps", self.eps))

    def prepare(self, updates: list[Array], params: list[Array], paths: list[Path],
                count: int) -> float:
        return min(1.0, self.max_norm / (global_norm(updates) + self.eps))

    def apply(self, u: Array, p: Array, slots: Sequence[Array], scratch: Array, ctx: float,
              index: int) -> None:
        np.multiply(u, ctx, out=u)


def global_norm(leaves: list[Array]) -> float:
    """The 2-norm of all leaves together, as a Python float (no overflow for finite
    leaves: a sum of squares that overflows is redone on leaves scaled by their maximum)."""
    total = 0.0
    for leaf in leaves:
        flat = leaf.reshape(-1)
        total += float(np.dot(flat, flat)) if dot_finite(leaf) else math.inf
    if math.isfinite(total):
        return math.sqrt(total)
    top = max(float(np.max(np.abs(leaf))) for leaf in leaves)
    scaled = 0.0
    for leaf in leaves:
        flat = leaf.reshape(-1).astype(np.float64) / top
        scaled += float(np.dot(flat, flat))
    return top * math.sqrt(scaled)


def trace(momentum: float, nesterov: bool = False) -> Trace:
    """Momentum (or Nesterov momentum), slot ``velocity``."""
    return Trace(momentum, nesterov)


def scale_by_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> ScaleByAdam:
    """Adam's moment ratio, slots ``mu`` and ``nu``."""
    return ScaleByAdam(b1, b2, eps)


def scale_by_rms(alpha: float = 0.99, eps: float = 1e-8, centered: bool = False) -> ScaleByRms:
    """RMSprop's scaling (PyTorch's semantics), slots ``square_avg`` (and ``grad_avg``)."""
    return ScaleByRms(alpha, eps, centered)


def scale_by_rss(eps: float = 1e-10, initial_accumulator_value: float = 0.0) -> ScaleByRss:
    """Adagrad's scaling (PyTorch's semantics), slot ``sum_of_squares``."""
    return ScaleByRss(eps, initial_accumulator_value)


def add_decayed_weights(weight_decay: float, mask: Mask = weights_only) -> AddDecayedWeights:
    """``u + weight_decay * p`` on the masked leaves (default: weight matrices only)."""
    return AddDecayedWeights(weight_decay, mask)


def scale_by_learning_rate(lr: float | Schedule) -> ScaleByLearningRate:
    """``lr_t * u``, ``lr`` a number or a schedule."""
    return ScaleByLearningRate(lr)  # type: ignore[arg-type]


def clip_by_global_norm(max_norm: float, eps: float = 1e-6) -> ClipByGlobalNorm:
    """Global 2-norm clipping (PyTorch's ``clip_grad_norm_``; ``eps=0`` is optax's)."""
    return ClipByGlobalNorm(max_norm, eps)


TRANSFORMS: dict[str, type[Transform]] = {
    t.name: t
    for t in (Trace, ScaleByAdam, ScaleByRms, ScaleByRss, AddDecayedWeights,
              ScaleByLearningRate, ClipByGlobalNorm)
}
"""Every transform class by its ``name``: how a saved chain is rebuilt."""


def transform_from_config(config: Any) -> Transform:
    """Rebuild a transform from :meth:`Transform.to_config` output."""
    if not isinstance(config, dict):
        raise ArgumentTypeError(f"config: expected a dict, got {type(config).__name__}")
    args = dict(config)
    name = args.pop("name", None)
    if not isinstance(name, str) or name not in TRANSFORMS:
        raise InvalidArgumentError(
            f"config: unknown transform {name!r}; expected one of {sorted(TRANSFORMS)}"
        )
    kind = TRANSFORMS[name]
    for f in dataclasses.fields(kind):
        value = args.get(f.name)
        if isinstance(value, dict):
            args[f.name] = schedule_from_config(value)
        elif f.name == "mask" and isinstance(value, str):
            if value not in MASKS:
                raise InvalidArgumentError(
                    f"config: unknown mask {value!r}; expected one of {sorted(MASKS)}"
                )
            args[f.name] = MASKS[value]
    try:
        return kind(**args)
    except TypeError as exc:
        raise InvalidArgumentError(f"config: bad arguments for transform {name!r}: {exc}") from exc
