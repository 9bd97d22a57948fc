"""Learning-rate schedules: pure functions of the optimizer's step count.

A schedule maps the number of updates already applied, ``step = 0, 1, 2, ...``, to the
learning rate of the next update. Schedules are frozen dataclasses, so they compare by
value and round-trip through :meth:`Schedule.to_config` / :func:`schedule_from_config`
(which is how checkpoints store them):

- :class:`Constant`: ``lr``
- :class:`StepDecay`: ``lr * gamma ** (step // step_size)``
- :class:`Cosine`: ``final_lr + (lr - final_lr) * (1 + cos(pi * min(step, total_steps)
  / total_steps)) / 2``, i.e. from ``lr`` at step 0 down to ``final_lr`` at
  ``total_steps``, then flat.

Steps count optimizer updates (minibatches), not epochs; to decay once per epoch use
``step_size = batches_per_epoch``.
"""

from __future__ import annotations

import dataclasses
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from funcnn.core.validation import check_count, check_learning_rate, check_positive_int
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.typing import IntLike

__all__ = [
    "SCHEDULES",
    "Constant",
    "Cosine",
    "Schedule",
    "StepDecay",
    "as_schedule",
    "schedule_from_config",
    "schedule_table",
]


@dataclass(frozen=True)
class Schedule(ABC):
    """Base class: ``schedule(step) -> float``, the learning rate after ``step`` updates.

    For example:

        >>> import funcnn as fn
        >>> schedule = fn.StepDecay(0.1, step_size=2, gamma=0.5)
        >>> isinstance(schedule, fn.Schedule), [schedule(step) for step in range(5)]
        (True, [0.1, 0.1, 0.05, 0.05, 0.025])
    """

    def __call__(self, step: IntLike) -> float:
        """The rate after ``step`` updates: an int, numpy integer or 0-d integer array
        (an optimizer's ``state["count"]``), >= 0."""
        return self.value(check_count("step", step))

    @abstractmethod
    def value(self, step: int) -> float:
        """The learning rate at ``step`` (a non-negative int; not validated)."""

    @abstractmethod
    def to_config(self) -> dict[str, Any]:
        """A JSON-serialisable description; :func:`schedule_from_config` inverts it."""


@dataclass(frozen=True)
class Constant(Schedule):
    """The same learning rate ``lr`` at every step (a finite number > 0).

    For example:

        >>> import funcnn as fn
        >>> schedule = fn.Constant(0.1)
        >>> schedule(0), schedule(10_000), schedule.to_config()
        (0.1, 0.1, {'name': 'constant', 'lr': 0.1})
    """

    lr: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", check_learning_rate(self.lr))

    def value(self, step: int) -> float:
        return self.lr

    def to_config(self) -> dict[str, Any]:
        return {"name": "constant", "lr": self.lr}


@dataclass(frozen=True)
class StepDecay(Schedule):
    """``lr * gamma ** (step // step_size)``: multiply by ``gamma`` every ``step_size`` steps.

    ``gamma`` must lie in ``(0, 1]``; ``step_size`` is a positive int.

        >>> from funcnn import StepDecay
        >>> schedule = StepDecay(0.1, step_size=10, gamma=0.5)
        >>> [schedule.value(step) for step in (0, 9, 10, 25)]
        [0.1, 0.1, 0.05, 0.025]
    """

    lr: float
    step_size: int
    gamma: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", check_learning_rate(self.lr))
        object.__setattr__(self, "step_size", check_positive_int("step_size", self.step_size))
        gamma = check_learning_rate(self.gamma, "gamma")
        if gamma > 1:
            raise InvalidArgumentError(f"gamma: expected a number in (0, 1], got {gamma}")
        object.__setattr__(self, "gamma", gamma)

    def value(self, step: int) -> float:
        # A float power underflows to 0.0 after very many decays; keep the rate positive.
        return max(self.lr * self.gamma ** (step // self.step_size), math.ulp(0.0))

    def to_config(self) -> dict[str, Any]:
        return {
            "name": "step",
            "lr": self.lr,
            "step_size": self.step_size,
            "gamma": self.gamma,
        }


@dataclass(frozen=True)
class Cosine(Schedule):
    """Cosine decay from ``lr`` at step 0 to ``final_lr`` at ``total_steps``, then constant.

    ``0 <= final_lr <= lr``; ``total_steps`` is a positive int.

        >>> from funcnn import Cosine
        >>> schedule = Cosine(0.1, total_steps=100)
        >>> [round(schedule.value(step), 12) for step in (0, 50, 100, 1000)]
        [0.1, 0.05, 0.0, 0.0]
    """

    lr: float
    total_steps: int
    final_lr: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", check_learning_rate(self.lr))
        object.__setattr__(self, "total_steps", check_positive_int("total_steps", self.total_steps))
        final = self.final_lr
        if isinstance(final, bool) or not isinstance(final, int | float):
            raise ArgumentTypeError(f"final_lr: expected a number, got {final!r}")
        if not (math.isfinite(final) and 0 <= final <= self.lr):
            raise InvalidArgumentError(
                f"final_lr: expected a number in [0, lr={self.lr}], got {final}"
            )
        object.__setattr__(self, "final_lr", float(final))

    def value(self, step: int) -> float:
        fraction = min(step, self.total_steps) / self.total_steps
        rate = self.final_lr + (self.lr - self.final_lr) * 0.5 * (1 + math.cos(math.pi * fraction))
        # At the very end with final_lr = 0 the rate is 0: an update that changes nothing,
        # which is what the formula says; callers that need lr > 0 use final_lr > 0.
        return rate

    def to_config(self) -> dict[str, Any]:
        return {
            "name": "cosine",
            "lr": self.lr,
            "total_steps": self.total_steps,
            "final_lr": self.final_lr,
        }


SCHEDULES: dict[str, type[Schedule]] = {"constant": Constant, "step": StepDecay, "cosine": Cosine}
"""Every schedule class by the ``name`` its config carries: how checkpoints rebuild them, the
CLI's ``--schedule`` choices and the schedule table of ``docs/training.md``."""


def schedule_table() -> str:
    """The Markdown table of :data:`SCHEDULES` that ``docs/training.md`` shows."""
    rows = ["| name | class | fields (defaults) |", "|---|---|---|"]
    for name, kind in SCHEDULES.items():
        fields = ", ".join(
            f"`{f.name}`" if f.default is dataclasses.MISSING else f"`{f.name}={f.default!r}`"
            for f in dataclasses.fields(kind)
        )
        rows.append(f"| `{name}` | `{kind.__name__}` | {fields} |")
    return "\n".join(rows)


def as_schedule(lr: float | Schedule, name: str = "lr") -> Schedule:
    """A :class:`Schedule` from a number (:class:`Constant`) or a schedule (passed through).

    For example:

        >>> import funcnn as fn
        >>> fn.as_schedule(0.1)
        Constant(lr=0.1)
        >>> fn.as_schedule(fn.Cosine(0.1, total_steps=10))
        Cosine(lr=0.1, total_steps=10, final_lr=0.0)
    """
    if isinstance(lr, Schedule):
        return lr
    return Constant(check_learning_rate(lr, name))


def schedule_from_config(config: Any) -> Schedule:
    """Rebuild a schedule from :meth:`Schedule.to_config` output.

    For example:

        >>> import funcnn as fn
        >>> config = fn.StepDecay(0.1, step_size=10).to_config()
        >>> config
        {'name': 'step', 'lr': 0.1, 'step_size': 10, 'gamma': 0.1}
        >>> fn.schedule_from_config(config) == fn.StepDecay(0.1, step_size=10)
        True
    """
    if not isinstance(config, dict):
        raise ArgumentTypeError(f"config: expected a dict, got {type(config).__name__}")
    args = dict(config)
    name = args.pop("name", None)
    if not isinstance(name, str) or name not in SCHEDULES:
        raise InvalidArgumentError(
            f"config: unknown schedule {name!r}; expected one of {sorted(SCHEDULES)}"
        )
    try:
        return SCHEDULES[name](**args)
    except TypeError as exc:
        raise InvalidArgumentError(f"config: bad arguments for schedule {name!r}: {exc}") from exc
