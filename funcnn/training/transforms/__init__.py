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

Layout: :mod:`~funcnn.training.transforms.base` (the contract, paths, masks),
:mod:`~funcnn.training.transforms.moments` (the transforms with state),
:mod:`~funcnn.training.transforms.scale` (the stateless ones); this package re-exports
them and holds :data:`TRANSFORMS`.
"""


from __future__ import annotations

import dataclasses
from typing import Any

from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.training.schedules import schedule_from_config
from funcnn.training.transforms.base import (
    MASKS,
    Mask,
    Path,
    Transform,
    all_leaves,
    weights_only,
)
from funcnn.training.transforms.moments import (
    ScaleByAdam,
    ScaleByRms,
    ScaleByRss,
    Trace,
    scale_by_adam,
    scale_by_rms,
    scale_by_rss,
    trace,
)
from funcnn.training.transforms.scale import (
    AddDecayedWeights,
    ClipByGlobalNorm,
    ScaleByLearningRate,
    add_decayed_weights,
    clip_by_global_norm,
    global_norm,
    scale_by_learning_rate,
)

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
    "global_norm",
    "scale_by_adam",
    "scale_by_learning_rate",
    "scale_by_rms",
    "scale_by_rss",
    "trace",
    "transform_from_config",
    "weights_only",
]


TRANSFORMS: dict[str, type[Transform]] = {
    t.name: t
    for t in (Trace, ScaleByAdam, ScaleByRms, ScaleByRss, AddDecayedWeights,
              ScaleByLearningRate, ClipByGlobalNorm)
}
"""Every transform class by its ``name``: how a saved chain is rebuilt."""


def transform_from_config(config: Any) -> Transform:
    """Rebuild a transform from :meth:`Transform.to_config` output.

    For example:

        >>> import funcnn as fn
        >>> import funcnn.training.transforms as tx
        >>> config = tx.trace(0.9, nesterov=True).to_config()
        >>> tx.transform_from_config(config) == tx.trace(0.9, nesterov=True)
        True
    """
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
