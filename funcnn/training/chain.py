"""An optimizer is a chain of transforms: pure ``init`` / ``update``, and one in-place kernel.

The chain follows optax's shape, except that ``update`` returns the new parameters rather
than an additive update::

    opt = chain(clip_by_global_norm(1.0), trace(0.9), scale_by_learning_rate(0.1))
    state = opt.init(params)                          # pytree of arrays (checkpointable)
    params, state = opt.update(grads, state, params)  # new arrays; inputs untouched

Each update starts from ``u = g``, runs every transform of
:mod:`funcnn.training.transforms` in order on each leaf, and ends with ``p <- p - u``.
That loop is written once, in :meth:`Optimizer.apply_in_place`: :meth:`Optimizer.update`
runs it on private copies, ``fit`` and ``make_step`` on their own buffers, so the two
give the same bits. The overflow check is written once too: when a transform keeps
squares of the gradient, a finite gradient whose square overflows is refused before
anything is modified (the state would become inf and the steps 0 or NaN).

The state is a dict of arrays: ``"count"`` (0-d int64, the updates applied) plus each
transform's slots (:meth:`Optimizer.slot_names`), each shaped like ``params``. Slot names
must be unique in a chain. Recipes (:mod:`funcnn.training.optimizers`) are chains that
remember their name and settings, which is what their config holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, NotRequired, TypedDict, cast

import numpy as np
from numpy.typing import NDArray

from funcnn.core.pytree import TreeDef, tree_unflatten
from funcnn.core.validation import all_finite, check_count
from funcnn.errors import ArgumentTypeError, InvalidArgumentError, NonFiniteError
from funcnn.training.leaves import check_like, dot_finite, param_leaves
from funcnn.training.schedules import Schedule
from funcnn.training.transforms import (
    Path,
    ScaleByLearningRate,
    Transform,
    transform_from_config,
)
from funcnn.typing import Array, IntLike, Params

__all__ = ["OptState", "Optimizer", "chain", "check_optimizer", "leaf_paths", "make_state"]


class OptState(TypedDict):
    """An optimizer's state, as :meth:`Optimizer.init` and :meth:`Optimizer.update` return it.

    ``count`` is the number of updates applied (a 0-d int64 array); the other keys are the
    transforms' slots (:meth:`Optimizer.slot_names`), each shaped like the params.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> state = fn.adam(0.1).init([{"W": np.ones((2, 3)), "b": np.zeros(3)}])
        >>> sorted(state), state["count"].dtype, state["mu"][0]["W"].shape
        (['count', 'mu', 'nu'], dtype('int64'), (2, 3))
    """

    count: NDArray[np.int64]
    velocity: NotRequired[Params]
    """momentum (:func:`~funcnn.training.transforms.trace`): the running velocity."""
    mu: NotRequired[Params]
    """Adam: the first-moment (mean) estimate."""
    nu: NotRequired[Params]
    """Adam: the second-moment (uncentred variance) estimate."""
    square_avg: NotRequired[Params]
    """RMSprop: the running mean of squared gradients."""
    grad_avg: NotRequired[Params]
    """centred RMSprop: the running mean of gradients."""
    sum_of_squares: NotRequired[Params]
    """Adagrad: the summed squared gradients."""


def make_state(count: int, slots: Mapping[str, Any]) -> OptState:
    """``{"count": count as a 0-d int64 array, **slots}``: the state of any optimizer."""
    state = {"count": np.array(count, dtype=np.int64), **slots}
    # The slot names are the optimizer's (slot_names()), which check_state verifies.
    return cast(OptState, state)


@lru_cache(maxsize=64)
def leaf_paths(treedef: TreeDef) -> list[Path]:
    """The path of every leaf of ``treedef``, in leaf order: ``[(0, "W"), (0, "b"), ...]``."""
    if treedef.kind == "leaf":
        return [()]
    keys = treedef.keys if treedef.kind == "dict" else range(len(treedef.children))
    return [
        (key, *rest)
        for key, child in zip(keys, treedef.children, strict=True)
        for rest in leaf_paths(child)
    ]


@dataclass(frozen=True)
class Optimizer:
    """A chain of transforms (see the module docstring); build one with :func:`chain` or
    a recipe such as :func:`funcnn.sgd`.

    ``recipe`` and ``settings`` are the recipe's name and keyword arguments (its config);
    ``title`` names it in messages.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> import funcnn.training.transforms as tx
        >>> opt = fn.chain(tx.trace(0.9), tx.scale_by_learning_rate(0.1))
        >>> opt.slot_names(), sorted(opt.init([{"W": np.ones((2, 2)), "b": np.zeros(2)}]))
        (('velocity',), ['count', 'velocity'])
    """

    transforms: tuple[Transform, ...]
    recipe: str | None = None
    settings: tuple[tuple[str, Any], ...] = ()
    title: str = field(default="chain", compare=False)

    def __post_init__(self) -> None:
        for t in self.transforms:
            if not isinstance(t, Transform):
                raise ArgumentTypeError(
                    f"transforms: expected funcnn transforms, got {type(t).__name__}"
                )
        names = [name for t in self.transforms for name in t.slot_names()]
        if len(set(names)) != len(names):
            raise InvalidArgumentError(
                f"transforms: two transforms keep the same slot ({sorted(names)}); "
                "a chain holds each kind of state once"
            )

    def __repr__(self) -> str:
        if self.recipe is not None:
            args = ", ".join(f"{key}={value!r}" for key, value in self.settings)
            return f"{self.recipe}({args})"
        return f"chain({', '.join(map(repr, self.transforms))})"

    # ------------------------------------------------------------------ questions

    def slot_names(self) -> tuple[str, ...]:
        """Names of the params-shaped entries of the state, besides ``"count"``."""
        return tuple(name for t in self.transforms for name in t.slot_names())

    def plain_learning_rate(self) -> Schedule | None:
        """The schedule when this optimizer is a plain learning-rate step
        (``p <- p - lr_t g``, nothing else), else None."""
        if len(self.transforms) == 1 and isinstance(self.transforms[0], ScaleByLearningRate):
            return self.transforms[0].schedule
        return None

    @property
    def schedule(self) -> Schedule:
        """The learning-rate schedule (of the chain's one ``scale_by_learning_rate``)."""
        found = [t.schedule for t in self.transforms if isinstance(t, ScaleByLearningRate)]
        if len(found) != 1:
            raise InvalidArgumentError(
                f"{self.title}: has {len(found)} learning-rate transforms, not one"
            )
        return found[0]

    def learning_rate(self, step: IntLike) -> float:
        """The learning rate of update number ``step`` (0-based): an int, a numpy integer
        or the 0-d array ``state["count"]``."""
        return self.schedule(step)

    # ------------------------------------------------------------------ pure API

    def init(self, params: Any) -> OptState:
        """Fresh state for ``params`` (any pytree of float32/float64 arrays): count 0."""
        leaves, treedef = param_leaves(params)
        slots = {
            name: tree_unflatten(treedef, [t.init_slot(name, p) for p in leaves])
            for t in self.transforms
            for name in t.slot_names()
        }
        return make_state(0, slots)

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
        updates = [g.copy() for g in g_leaves]
        new_slots = {name: [a.copy() for a in leaves] for name, leaves in slot_leaves.items()}
        out = [np.empty_like(p) for p in p_leaves]
        scratch = [np.empty_like(p) for p in p_leaves]
        self.apply_in_place(p_leaves, updates, new_slots, scratch, count, treedef, out)
        slots = {name: tree_unflatten(treedef, leaves) for name, leaves in new_slots.items()}
        return tree_unflatten(treedef, out), make_state(count + 1, slots)

    def check_state(
        self, state: Any, p_leaves: list[Array], treedef: TreeDef, *, finite: bool = True
    ) -> tuple[int, dict[str, list[Array]]]:
        """Validate ``state`` against params leaves; return the count and slot leaves
        (with ``finite``, NaN and inf in the slots are rejected)."""
        if not isinstance(state, dict):
            raise ArgumentTypeError(
                f"state: expected a dict from {self.title}.init, got {type(state).__name__}"
            )
        expected = {"count", *self.slot_names()}
        if set(state) != expected:
            raise InvalidArgumentError(
                f"state: expected keys {sorted(expected)} for {self.title}, "
                f"got {sorted(map(str, state))}"
            )
        count = check_count("state['count']", state["count"])
        slot_leaves = {
            name: check_like(f"state[{name!r}]", state[name], p_leaves, treedef, finite=finite)
            for name in self.slot_names()
        }
        return count, slot_leaves

    def overflows(self, grads: list[Array]) -> str | None:
        """Why applying these (finite) gradient leaves would overflow the state of a
        transform that squares them, or None. Checked before anything is modified, so an
        update either happens in full or not at all."""
        squaring = [t for t in self.transforms if t.squares_gradient]
        if not squaring:
            return None
        for index, g in enumerate(grads):
            # The cheap test first; the exact one only when the sum of squares overflows.
            with np.errstate(over="ignore"):
                if dot_finite(g) or all_finite(np.square(g)):
                    continue
            return (
                f"the gradient's square overflows {g.dtype} in grads leaf {index} "
                f"(|g| up to {float(np.max(np.abs(g))):.3g}), so the state of "
                f"{squaring[0].name} ({', '.join(squaring[0].slot_names()) or 'its norm'}) "
                "would become inf; scale the inputs or the loss down"
            )
        return None

    # ------------------------------------------------------------------ the kernel

    def apply_in_place(
        self,
        params: list[Array],
        updates: list[Array],
        slots: dict[str, list[Array]],
        scratch: list[Array],
        count: int,
        treedef: TreeDef,
        out: list[Array],
    ) -> None:
        """Write the updated params into ``out`` (which may alias ``params``).

        ``updates`` start as the gradients and are overwritten, as are ``scratch``;
        ``slots`` are updated in place; ``count`` is the number of updates applied
        before this one. Nothing is checked: callers validated the arguments.
        """
        paths = leaf_paths(treedef)
        segments = self._segments
        for k, segment in enumerate(segments):
            steps = [
                (t.apply, t.prepare(updates, params, paths, count),
                 [slots[name] for name in t.slot_names()])
                for t in segment
            ]
            last = k == len(segments) - 1
            for i, (p, u, s) in enumerate(zip(params, updates, scratch, strict=True)):
                for apply, ctx, own in steps:
                    apply(u, p, [leaves[i] for leaves in own], s, ctx, i)
                if last:  # while u is in cache; nothing later reads this leaf's params
                    np.subtract(p, u, out=out[i])
        if not segments:
            for p, u, o in zip(params, updates, out, strict=True):
                np.subtract(p, u, out=o)

    @cached_property
    def _segments(self) -> list[tuple[Transform, ...]]:
        """The chain cut before each transform that reads all leaves in ``prepare``."""
        cuts: list[list[Transform]] = [[]]
        for t in self.transforms:
            if t.needs_all_leaves and cuts[-1]:
                cuts.append([])
            cuts[-1].append(t)
        return [tuple(c) for c in cuts if c]

    # ------------------------------------------------------------------ config

    def to_config(self) -> dict[str, Any]:
        """A JSON-serialisable description; ``optimizer_from_config`` inverts it."""
        if self.recipe is not None:
            config: dict[str, Any] = {"name": self.recipe}
            for key, value in self.settings:
                config[key] = value.to_config() if isinstance(value, Schedule) else value
            return config
        return {"name": "chain", "transforms": [t.to_config() for t in self.transforms]}


def chain(*parts: Transform | Optimizer) -> Optimizer:
    """An optimizer running ``parts`` in order: transforms, or optimizers whose transforms
    are spliced in (``chain(clip_by_global_norm(1.0), sgd(0.1))``).

        >>> import numpy as np
        >>> import funcnn as fn
        >>> from funcnn.training.transforms import clip_by_global_norm
        >>> opt = fn.chain(clip_by_global_norm(1.0), fn.sgd(0.1))   # clip, then step
        >>> params = [{"W": np.zeros((1, 2)), "b": np.zeros(2)}]
        >>> grads = [{"W": np.array([[30.0, 0.0]]), "b": np.array([0.0, 40.0])}]   # norm 50
        >>> new, _ = opt.update(grads, opt.init(params), params)
        >>> np.round(new[0]["W"], 12), np.round(new[0]["b"], 12)
        (array([[-0.06,  0.  ]]), array([ 0.  , -0.08]))
    """
    transforms: list[Transform] = []
    for part in parts:
        if isinstance(part, Optimizer):
            transforms.extend(part.transforms)
        elif isinstance(part, Transform):
            transforms.append(part)
        else:
            raise ArgumentTypeError(
                f"chain: expected funcnn transforms or optimizers, got {type(part).__name__}"
            )
    return Optimizer(tuple(transforms))


def chain_from_config(config: dict[str, Any]) -> Optimizer:
    """The inverse of a plain chain's :meth:`Optimizer.to_config`."""
    parts = config.get("transforms")
    extra = sorted(set(config) - {"name", "transforms"})
    if not isinstance(parts, list) or extra:
        raise InvalidArgumentError(
            "config: a chain's config is {'name': 'chain', 'transforms': [...]}"
            + (f"; unexpected {extra}" if extra else "")
        )
    return Optimizer(tuple(transform_from_config(part) for part in parts))


def check_optimizer(optimizer: Any, name: str = "optimizer") -> Optimizer:
    """``optimizer`` if it is a funcnn :class:`Optimizer`, else a clear ``TypeError``."""
    if not isinstance(optimizer, Optimizer):
        raise ArgumentTypeError(
            f"{name}: expected a funcnn Optimizer (e.g. funcnn.sgd(0.1)), got "
            f"{type(optimizer).__name__}"
        )
    return optimizer

