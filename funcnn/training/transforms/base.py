"""The contract of a transform (:class:`Transform`), leaf paths and decay masks."""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.training.schedules import Schedule
from funcnn.typing import Array

__all__ = ["MASKS", "Mask", "Path", "Transform", "all_leaves", "check_mask", "weights_only"]

Path = tuple[int | str, ...]
"""Where a leaf sits in the params tree: list indices and dict keys, e.g. ``(0, "W")``."""

Mask = Callable[[Path, Array], bool]
"""Selects the leaves a transform acts on: ``mask(path, leaf) -> bool``."""


def weights_only(path: Path, leaf: Array) -> bool:
    """The default decay mask: weight matrices (``ndim >= 2``), never biases.

    For example:

        >>> import numpy as np
        >>> import funcnn as fn
        >>> import funcnn.training.transforms as tx
        >>> tx.weights_only((0, "W"), np.ones((2, 3))), tx.weights_only((0, "b"), np.ones(3))
        (True, False)
    """
    return leaf.ndim >= 2


def all_leaves(path: Path, leaf: Array) -> bool:
    """A mask that selects every leaf.

    For example:

        >>> import numpy as np
        >>> import funcnn as fn
        >>> import funcnn.training.transforms as tx
        >>> tx.add_decayed_weights(0.01, mask=tx.all_leaves).to_config()["mask"]
        'all_leaves'
    """
    return True


MASKS: dict[str, Mask] = {"weights_only": weights_only, "all_leaves": all_leaves}
"""Masks by name: a transform whose mask is one of these can be saved in a checkpoint."""


@dataclass(frozen=True)
class Transform(ABC):
    """One step of a chain: slots to initialise and an in-place kernel (see the module
    docstring). ``name`` is its :data:`TRANSFORMS` key; ``squares_gradient`` says that
    its state holds squares of the update (so a huge finite gradient could overflow it);
    ``needs_all_leaves`` that :meth:`prepare` reads every leaf of the running update (the
    chain then finishes the transforms before it on all leaves first).

        >>> import funcnn.training.transforms as tx
        >>> adam = tx.scale_by_adam()
        >>> isinstance(adam, tx.Transform), adam.name, adam.slot_names(), adam.squares_gradient
        (True, 'scale_by_adam', ('mu', 'nu'), True)
    """

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
                value = mask_name(value, f"{type(self).__name__}.{f.name}")
            config[f.name] = value
        return config


def mask_name(mask: Callable[..., Any], where: str) -> str:
    for key, known in MASKS.items():
        if known is mask:
            return key
    raise InvalidArgumentError(
        f"{where}: a custom mask cannot be saved; register it in funcnn.training."
        f"transforms.MASKS (one of {sorted(MASKS)} now) to save this optimizer"
    )


def check_mask(mask: Any) -> Mask:
    if not callable(mask):
        raise ArgumentTypeError(f"mask: expected a callable mask(path, leaf) -> bool, got {mask!r}")
    return mask  # type: ignore[no-any-return]


