"""The stateless transforms: decayed weights, the learning rate and global-norm clipping."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from funcnn.core.validation import check_learning_rate
from funcnn.training.leaves import check_non_negative, dot_finite
from funcnn.training.schedules import Schedule, as_schedule
from funcnn.training.transforms.base import Mask, Path, Transform, check_mask, weights_only
from funcnn.typing import Array

__all__ = [
    "AddDecayedWeights",
    "ClipByGlobalNorm",
    "ScaleByLearningRate",
    "add_decayed_weights",
    "clip_by_global_norm",
    "global_norm",
    "scale_by_learning_rate",
]


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
        check_mask(self.mask)

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


def add_decayed_weights(weight_decay: float, mask: Mask = weights_only) -> AddDecayedWeights:
    """``u + weight_decay * p`` on the masked leaves (default: weight matrices only).

    For example:

        >>> import numpy as np
        >>> import funcnn as fn
        >>> import funcnn.training.transforms as tx
        >>> opt = fn.chain(tx.add_decayed_weights(0.5), tx.scale_by_learning_rate(1.0))
        >>> params = [{"W": np.ones((1, 2)), "b": np.ones(2)}]
        >>> new, _ = opt.update(fn.tree_map(np.zeros_like, params), opt.init(params), params)
        >>> new[0]["W"], new[0]["b"]                  # the bias is not decayed
        (array([[0.5, 0.5]]), array([1., 1.]))
    """
    return AddDecayedWeights(weight_decay, mask)


def scale_by_learning_rate(lr: float | Schedule) -> ScaleByLearningRate:
    """``lr_t * u``, ``lr`` a number or a schedule.

    For example:

        >>> import funcnn as fn
        >>> import funcnn.training.transforms as tx
        >>> tx.scale_by_learning_rate(fn.Constant(0.1)).to_config()
        {'name': 'scale_by_learning_rate', 'schedule': {'name': 'constant', 'lr': 0.1}}
    """
    return ScaleByLearningRate(lr)  # type: ignore[arg-type]


def clip_by_global_norm(max_norm: float, eps: float = 1e-6) -> ClipByGlobalNorm:
    """Global 2-norm clipping (PyTorch's ``clip_grad_norm_``; ``eps=0`` is optax's).

    For example:

        >>> import numpy as np
        >>> import funcnn as fn
        >>> import funcnn.training.transforms as tx
        >>> opt = fn.chain(tx.clip_by_global_norm(1.0, eps=0.0), tx.scale_by_learning_rate(1.0))
        >>> params = [{"W": np.ones((1, 2)), "b": np.zeros(2)}]
        >>> grads = [{"W": np.array([[3.0, 4.0]]), "b": np.zeros(2)}]    # norm 5, clipped to 1
        >>> opt.update(grads, opt.init(params), params)[0][0]["W"]
        array([[0.4, 0.2]])
    """
    return ClipByGlobalNorm(max_norm, eps)
