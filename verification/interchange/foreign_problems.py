"""Which problems a foreign program is checked on, and each problem's fixed-seed data.

Every row of the catalogue's network matrix (:func:`verification.catalogue.suite.network_matrix`)
the program supports, plus :data:`NON_SQUARE`: a small network whose two hidden layers
differ in width, so that its hidden-to-hidden ``W`` is not square (an implementation
that mixes up ``n_in`` and ``n_out``, or reads ``W`` transposed, is not hidden by a
square matrix). ``--quick`` keeps, from these, every activation and every loss on a
small network (one-output and multi-output heads alike), the non-square network, and
784-32-32-10 with sigmoid and cross-entropy in one dtype: about 10 s for a program in
Python.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from funcnn.core.activations import ACTIVATIONS
from funcnn.core.initializers import init
from funcnn.core.losses import LOSSES, Loss, get_loss
from funcnn.core.spec import MLP
from funcnn.typing import Array, FloatArray, Params
from verification.catalogue.data import problem_rng, sample_batch
from verification.catalogue.suite import (
    DTYPES,
    Architecture,
    loss_rows,
    network_case,
    network_matrix,
)
from verification.engine.common.reference import dense_targets
from verification.interchange.foreign_messages import check_hello

__all__ = ["NON_SQUARE", "QUICK_LARGE", "Problem", "foreign_problems", "problem_case"]

Problem = tuple[str, str, str, str]
"""(architecture, activation, loss, dtype)."""

NON_SQUARE = Architecture("3-5-4-3", (3, 5, 4, 3), "tanh", "glorot_normal")
"""Two hidden layers of different widths and three outputs."""

NON_SQUARE_BATCH = 8
"""Samples of the non-square network's batch (uniform inputs, random labels)."""

QUICK_LARGE = ("784-32-32-10", "sigmoid", "softmax_cross_entropy")
"""The one large problem of ``--quick`` (directional mode)."""

def _rows(extra: Sequence[Loss] = ()) -> list[tuple[str, str, str]]:
    """The network matrix's rows and the non-square network's, built by the same rule:
    every activation with cross-entropy, every loss with its own activation; then the
    same rows for each loss of ``extra`` (losses outside the registry)."""
    own = [(NON_SQUARE.name, act, "softmax_cross_entropy") for act in sorted(ACTIVATIONS)]
    own += [(NON_SQUARE.name, NON_SQUARE.activation, loss) for loss in sorted(LOSSES)
            if loss != "softmax_cross_entropy"]
    added = [row for loss in extra for row in
             [*loss_rows(loss), (NON_SQUARE.name, NON_SQUARE.activation, loss.name)]]
    return network_matrix() + own + added


def _small(row: tuple[str, str, str]) -> bool:
    return not row[0].startswith("784-")


def _quick(rows: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Every activation and every loss at least once on a small network, the
    non-square network, and :data:`QUICK_LARGE`; first rows first."""
    small = [r for r in rows if _small(r)]
    chosen: dict[tuple[str, str, str], None] = {}
    for act in sorted({r[1] for r in small}):
        chosen.setdefault(next(r for r in small if r[1] == act))
    for loss in sorted({r[2] for r in small}):
        chosen.setdefault(next(r for r in small if r[2] == loss))
    deep = [r for r in small if r[0] == NON_SQUARE.name]
    if deep:
        preferred = (NON_SQUARE.name, NON_SQUARE.activation, "softmax_cross_entropy")
        chosen.setdefault(preferred if preferred in deep else deep[0])
    return list(chosen)


def foreign_problems(
    supported: dict[str, Any], quick: bool = False, only: Iterable[str] = (),
    extra: Sequence[Loss] = (),
) -> list[Problem]:
    """(arch, activation, loss, dtype) the program declared it supports: every row of
    the network matrix and of :data:`NON_SQUARE` (``quick``: see the module docstring).

    ``supported`` is the ``hello`` answer: its ``dtypes``, ``activations`` and
    ``losses``, each a list of names (missing or null: all; names funcnn does not know
    are ignored). A list of another type raises
    :class:`~verification.interchange.foreign_messages.ForeignError` naming it.
    ``extra``: losses outside funcnn's registry (the caller's, and the heads the
    ``hello`` answer declares), each given the rows a registry loss gets.
    """
    declared = check_hello(supported)
    acts = set(_or_all(declared["activations"], sorted(ACTIVATIONS)))
    losses = set(_or_all(declared["losses"], sorted(LOSSES))) | {loss.name for loss in extra}
    dtypes = [str(np.dtype(d)) for d in DTYPES if str(np.dtype(d)) in
              set(_or_all(declared["dtypes"], ["float64", "float32"]))]
    rows = [r for r in _rows(extra) if r[1] in acts and r[2] in losses]
    if not quick:
        chosen = [(*r, d) for d in dtypes for r in rows]
    else:
        small = _quick(rows)
        chosen = [(*r, d) for d in dtypes for r in small]
        if QUICK_LARGE in rows and dtypes:
            chosen.append((*QUICK_LARGE, dtypes[0]))
    pats = list(only)
    return [p for p in chosen if not pats or any(
        fnmatch.fnmatchcase("/".join(p), pat) or pat in "/".join(p) for pat in pats)]


def _or_all(names: list[str] | None, every: list[str]) -> list[str]:
    return every if names is None else names


def problem_case(arch: str, activation: str, loss: str | Loss, dtype: Any, seed: int
                 ) -> tuple[MLP, Params, FloatArray, Array]:
    """``(spec, params, x, y)`` of a problem: the catalogue's
    (:func:`~verification.catalogue.suite.network_case`), or the non-square network's,
    drawn the same way (its initializer, uniform inputs, integer labels for the softmax
    cross-entropies and one-hot targets otherwise)."""
    if arch != NON_SQUARE.name:
        case = network_case(arch, activation, loss, dtype, seed)
        return case[0], case[1], case[2], case[3]
    rng = problem_rng(seed, f"foreign/{arch}/{activation}/{get_loss(loss).name}")
    spec = MLP(NON_SQUARE.sizes, activation)
    params = init(spec, rng, NON_SQUARE.scheme, dtype=dtype)
    x, labels, _ = sample_batch(spec.n_in, spec.n_out, NON_SQUARE_BATCH, rng)
    y: Array = (labels if get_loss(loss).target_kind == "distribution"
                else dense_targets(labels, len(labels), spec.n_out).astype(dtype))
    return spec, params, x.astype(dtype), y
