"""Optimizers as pure ``init`` / ``update`` pairs (the explicit one-line path,
:func:`~funcnn.training.explicit.sgd_step`, is re-exported from here).

The optimizers follow optax's shape, except that ``update`` returns the new parameters
rather than an additive update::

    opt = sgd(0.1, momentum=0.9, nesterov=True)      # or adam(1e-3), ...
    state = opt.init(params)                          # pytree of arrays (checkpointable)
    params, state = opt.update(grads, state, params)  # new arrays; inputs untouched

With ``t`` the number of updates already applied (``state["count"]``), ``lr_t`` the
learning-rate schedule at ``t`` (:mod:`funcnn.training.schedules`; a number means constant), ``g``
the gradient and ``wd`` the weight decay, every optimizer computes a direction ``d`` and
then

    p <- p - lr_t * (d + wd * p)     for weight matrices (leaves with ndim >= 2)
    p <- p - lr_t * d                for biases (1-D leaves): biases are never decayed

Weight decay is **decoupled** (Loshchilov & Hutter's AdamW / SGDW): the decay term is
added after the optimizer has processed the raw gradient, so it does not enter momentum
or Adam's moment estimates. For plain SGD this equals L2 regularisation with coefficient
``wd / 2``. The directions:

- SGD: ``d = g``
- SGD with momentum ``mu`` (PyTorch's convention, no dampening): ``v <- mu v + g`` with
  ``v_0 = 0``; ``d = v``, or with Nesterov ``d = g + mu v`` (using the new ``v``)
- Adam: ``m <- b1 m + (1 - b1) g``, ``v <- b2 v + (1 - b2) g^2``, with ``k = t + 1``:
  ``d = (m / (1 - b1^k)) / (sqrt(v / (1 - b2^k)) + eps)``

Arithmetic happens in the params' dtype (hyperparameters are Python floats, rounded to
it). The state is a dict of arrays: ``"count"`` (0-d int64) plus ``"velocity"`` (SGD with
momentum) or ``"mu"`` and ``"nu"`` (Adam), each shaped like ``params``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict, cast

import numpy as np
from numpy.typing import NDArray

from funcnn.core.pytree import TreeDef, tree_unflatten
from funcnn.core.validation import all_finite, check_learning_rate
from funcnn.errors import ArgumentTypeError, InvalidArgumentError, NonFiniteError
from funcnn.training.explicit import sgd_step
from funcnn.training.leaves import (
    check_count,
    check_fraction,
    check_like,
    check_non_negative,
    descend,
    dot_finite,
    param_leaves,
)
from funcnn.training.schedules import Schedule, as_schedule, schedule_from_config
from funcnn.typing import Array, IntLike, Params

__all__ = [
    "SGD",
    "Adam",
    "OptState",
    "Optimizer",
    "adam",
    "optimizer_from_config",
    "sgd",
    "sgd_step",
]


class OptState(TypedDict):
    """An optimizer's state, as :meth:`Optimizer.init` and :meth:`Optimizer.update` return it.

    ``count`` is the number of updates applied (a 0-d int64 array); the other keys are the
    optimizer's slots (:meth:`Optimizer.slot_names`), each shaped like the params.
    """

    count: NDArray[np.int64]
    velocity: NotRequired[Params]
    """:func:`sgd` with momentum: the running velocity."""
    mu: NotRequired[Params]
    """:func:`adam`: the first-moment (mean) estimate."""
    nu: NotRequired[Params]
    """:func:`adam`: the second-moment (uncentred variance) estimate."""


def make_state(count: int, slots: Mapping[str, Any]) -> OptState:
    """``{"count": count as a 0-d int64 array, **slots}``: the state of any optimizer."""
    state = {"count": np.array(count, dtype=np.int64), **slots}
    # The slot names are the optimizer's (slot_names()), which check_state verifies.
    return cast(OptState, state)


@dataclass(frozen=True)
class Optimizer(ABC):
    """Base class of funcnn's optimizers: pure ``init`` / ``update`` plus a config.

    Subclasses define :meth:`slot_names` (their params-shaped state entries) and
    ``_apply``, one in-place kernel that both the pure :meth:`update` and the training
    loop's buffer-reusing fast path run, so the two give the same bits.
    """

    lr: float | Schedule = field(compare=False)
    weight_decay: float = 0.0
    # Optimizers compare by their schedule, so sgd(0.1) == sgd(Constant(0.1)).
    schedule: Schedule = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "schedule", as_schedule(self.lr))
        object.__setattr__(
            self, "weight_decay", check_non_negative("weight_decay", self.weight_decay)
        )

    def slot_names(self) -> tuple[str, ...]:
        """Names of the params-shaped entries of the state, besides ``"count"``."""
        return ()

    def init(self, params: Any) -> OptState:
        """Fresh state for ``params`` (any pytree of float32/float64 arrays): count 0, zeros."""
        leaves, treedef = param_leaves(params)
        zeros = {
            slot: tree_unflatten(treedef, [np.zeros_like(p) for p in leaves])
            for slot in self.slot_names()
        }
        return make_state(0, zeros)

    def update(self, grads: Any, state: OptState, params: Any) -> tuple[Any, OptState]:
        """One step: ``(new_params, new_state)`` as new arrays; arguments are not modified.

        ``grads`` and every slot of ``state`` must match ``params`` in structure, shapes
        and dtypes; ``grads`` must be finite.
        """
        p_leaves, treedef = param_leaves(params)
        g_leaves = check_like("grads", grads, p_leaves, treedef, finite=True)
        count, slot_leaves = self.check_state(state, p_leaves, treedef)
        overflow = self.overflows(g_leaves)
        if overflow is not None:
            raise NonFiniteError(f"update: {overflow}; nothing was updated")
        # The kernel works in place: give it private copies.
        scratch_g = [g.copy() for g in g_leaves]
        new_slots = {name: [a.copy() for a in leaves] for name, leaves in slot_leaves.items()}
        out = [np.empty_like(p) for p in p_leaves]
        scratch = [np.empty_like(p) for p in p_leaves]
        self._apply(p_leaves, scratch_g, new_slots, scratch, count, out)
        slots = {name: tree_unflatten(treedef, leaves) for name, leaves in new_slots.items()}
        return tree_unflatten(treedef, out), make_state(count + 1, slots)

    def check_state(
        self, state: Any, p_leaves: list[Array], treedef: TreeDef, *, finite: bool = True
    ) -> tuple[int, dict[str, list[Array]]]:
        """Validate ``state`` against params leaves; return the count and slot leaves
        (with ``finite``, NaN and inf in the slots are rejected)."""
        if not isinstance(state, dict):
            raise ArgumentTypeError(
                f"state: expected a dict from {type(self).__name__}.init, got "
                f"{type(state).__name__}"
            )
        expected = {"count", *self.slot_names()}
        if set(state) != expected:
            raise InvalidArgumentError(
                f"state: expected keys {sorted(expected)} for {type(self).__name__}, "
                f"got {sorted(map(str, state))}"
            )
        count = check_count(state["count"])
        slot_leaves = {
            name: check_like(f"state[{name!r}]", state[name], p_leaves, treedef, finite=finite)
            for name in self.slot_names()
        }
        return count, slot_leaves

    def overflows(self, grads: list[Array]) -> str | None:
        """Why applying these (finite) gradient leaves would overflow the optimizer's
        state, or None. Checked before anything is modified, so an update either happens
        in full or not at all; only Adam, whose second moment squares the gradient, can
        overflow silently (its steps would become 0, not inf)."""
        return None

    def learning_rate(self, step: IntLike) -> float:
        """The learning rate of update number ``step`` (0-based): an int, a numpy integer
        or the 0-d array ``state["count"]``."""
        return self.schedule(step)

    @abstractmethod
    def to_config(self) -> dict[str, Any]:
        """A JSON-serialisable description; :func:`optimizer_from_config` inverts it."""

    @abstractmethod
    def _apply(
        self,
        params: list[Array],
        grads: list[Array],
        slots: dict[str, list[Array]],
        scratch: list[Array],
        count: int,
        out: list[Array],
    ) -> None:
        """Write the updated params into ``out`` (which may alias ``params``).

        Updates ``slots`` in place and may overwrite ``grads`` and ``scratch``; ``count``
        is the number of updates applied before this one.
        """

    def _finish(
        self, p: Array, d: Array, spare: Array, lr: float, out: Array, d_writable: bool
    ) -> None:
        """``out = p - lr * (d + wd * p)`` (no decay for 1-D leaves), leaving ``p`` intact.

        ``spare`` is a scratch buffer distinct from ``d``; ``d`` is overwritten only when
        ``d_writable``.
        """
        wd = self.weight_decay
        if wd and p.ndim >= 2:
            np.multiply(p, wd, out=spare)
            spare += d
            d = spare
        descend(p, d, lr, out, d if d is spare or d_writable else spare)


@dataclass(frozen=True)
class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum or Nesterov momentum.

    ``lr``: a finite number > 0 or a :class:`~funcnn.training.schedules.Schedule`; ``momentum``
    in ``[0, 1)``; ``nesterov`` needs ``momentum > 0``; ``weight_decay >= 0`` (decoupled,
    weight matrices only). See the module docstring for the formulas.
    """

    momentum: float = 0.0
    nesterov: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "momentum", check_fraction("momentum", self.momentum))
        if not isinstance(self.nesterov, bool):
            raise ArgumentTypeError(f"nesterov: expected a bool, got {self.nesterov!r}")
        if self.nesterov and self.momentum == 0:
            raise InvalidArgumentError("nesterov: Nesterov momentum needs momentum > 0")

    def slot_names(self) -> tuple[str, ...]:
        return ("velocity",) if self.momentum else ()

    def _apply(
        self,
        params: list[Array],
        grads: list[Array],
        slots: dict[str, list[Array]],
        scratch: list[Array],
        count: int,
        out: list[Array],
    ) -> None:
        lr = self.schedule.value(count)
        mu = self.momentum
        for i, (p, g, s, o) in enumerate(zip(params, grads, scratch, out, strict=True)):
            if not mu:
                self._finish(p, g, s, lr, o, d_writable=True)
                continue
            v = slots["velocity"][i]
            v *= mu
            v += g
            if self.nesterov:
                np.multiply(v, mu, out=s)
                g += s
                self._finish(p, g, s, lr, o, d_writable=True)
            else:
                self._finish(p, v, g, lr, o, d_writable=False)

    def to_config(self) -> dict[str, Any]:
        return {
            "name": "sgd",
            "lr": self.schedule.to_config(),
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "weight_decay": self.weight_decay,
        }


@dataclass(frozen=True)
class Adam(Optimizer):
    """Adam (Kingma & Ba), with decoupled weight decay (AdamW) when ``weight_decay > 0``.

    ``b1`` and ``b2`` in ``[0, 1)``, ``eps > 0``. See the module docstring for the formula.
    """

    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "b1", check_fraction("b1", self.b1))
        object.__setattr__(self, "b2", check_fraction("b2", self.b2))
        object.__setattr__(self, "eps", check_learning_rate(self.eps, "eps"))

    def slot_names(self) -> tuple[str, ...]:
        return ("mu", "nu")

    def overflows(self, grads: list[Array]) -> str | None:
        for index, g in enumerate(grads):
            # The cheap test first; the exact one only when the sum of squares overflows.
            with np.errstate(over="ignore"):
                if dot_finite(g) or all_finite(np.square(g)):
                    continue
            return (
                f"the gradient's square overflows {g.dtype} in grads leaf {index} "
                f"(|g| up to {float(np.max(np.abs(g))):.3g}), so Adam's second moment "
                "'nu' would become inf; scale the inputs or the loss down"
            )
        return None

    def _apply(
        self,
        params: list[Array],
        grads: list[Array],
        slots: dict[str, list[Array]],
        scratch: list[Array],
        count: int,
        out: list[Array],
    ) -> None:
        lr = self.schedule.value(count)
        b1, b2 = self.b1, self.b2
        k = count + 1
        c1 = 1.0 - b1**k
        c2 = 1.0 - b2**k
        for i, (p, g, s, o) in enumerate(zip(params, grads, scratch, out, strict=True)):
            m, v = slots["mu"][i], slots["nu"][i]
            m *= b1
            np.multiply(g, 1.0 - b1, out=s)
            m += s
            v *= b2
            np.multiply(g, g, out=s)
            s *= 1.0 - b2
            v += s
            np.divide(v, c2, out=s)
            np.sqrt(s, out=s)
            s += self.eps
            np.divide(m, c1, out=g)
            g /= s
            self._finish(p, g, s, lr, o, d_writable=True)

    def to_config(self) -> dict[str, Any]:
        return {
            "name": "adam",
            "lr": self.schedule.to_config(),
            "b1": self.b1,
            "b2": self.b2,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
        }


def sgd(
    lr: float | Schedule,
    *,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
) -> SGD:
    """Plain SGD, SGD with momentum, or with Nesterov momentum (see :class:`SGD`)."""
    return SGD(lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov)


def adam(
    lr: float | Schedule = 1e-3,
    *,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> Adam:
    """Adam, or AdamW with ``weight_decay > 0`` (see :class:`Adam`)."""
    return Adam(lr, weight_decay=weight_decay, b1=b1, b2=b2, eps=eps)


def optimizer_from_config(config: Any) -> Optimizer:
    """Rebuild an optimizer from :meth:`Optimizer.to_config` output."""
    if not isinstance(config, dict):
        raise ArgumentTypeError(f"config: expected a dict, got {type(config).__name__}")
    args = dict(config)
    name = args.pop("name", None)
    kinds: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam}
    if not isinstance(name, str) or name not in kinds:
        raise InvalidArgumentError(
            f"config: unknown optimizer {name!r}; expected one of {sorted(kinds)}"
        )
    lr = args.pop("lr", None)
    schedule = schedule_from_config(lr) if isinstance(lr, dict) else lr
    try:
        return kinds[name](schedule, **args)
    except TypeError as exc:
        raise InvalidArgumentError(f"config: bad arguments for optimizer {name!r}: {exc}") from exc
