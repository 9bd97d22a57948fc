"""Every network row of the catalogue can fail: a gradient of zeros, a sign-flipped one
and a classic derivative bug fail each row, and a problem whose exact gradient is
identically zero is itself reported as a failure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from funcnn.core.losses import get_loss
from funcnn.core.network import value_and_grad
from funcnn.core.pytree import tree_leaves
from verification.catalogue.suite import (
    DTYPES,
    XOR_TWO_CLASS,
    build_catalogue,
    check_network_case,
    network_case,
    network_matrix,
)
from verification.engine.bounds.error_model import gradient_error_bound
from verification.engine.bounds.tolerances import MODEL_SAFETY, rtol_for
from verification.engine.network_check import check_network
from verification.external import conformance

_CLASSIC: dict[str, Callable[[Any, Any], Any]] = {
    "tanh": lambda z, a: 1 - a,
    "sigmoid": lambda z, a: z * (1 - z),
    "relu": lambda z, a: np.ones_like(z),
    "leaky_relu": lambda z, a: (z > 0).astype(z.dtype),
    "softplus": lambda z, a: a,
}


def _classic(spec: Any, x: Any, y: Any, loss: str, act: str) -> Callable[[Any], Any]:
    """The textbook implementation with ``act``'s derivative replaced by a classic bug;
    for identity (no derivative to get wrong) funcnn's gradient with the 1/B forgotten."""
    if act == "identity":
        return lambda p: [{k: g * len(x) for k, g in layer.items()}
                          for layer in value_and_grad(spec, p, x, y, loss)[1]]
    right = conformance._act

    def wrong(name: str, z: Any) -> Any:
        a, d = right(name, z)
        # An activation without a classic bug of its own gets its derivative doubled.
        return a, _CLASSIC[name](z, a) if name in _CLASSIC else 2 * d

    def grad(p: Any) -> Any:
        original, conformance._act = conformance._act, wrong
        try:
            return conformance.textbook_value_and_grad(spec, loss)(p, x, y)[1]
        finally:
            conformance._act = original
    return grad


def _quick_rows() -> list[tuple[str, str, str, Any]]:
    names = {c.name for c in build_catalogue(quick=True)}
    return [(a, act, loss, d) for a, act, loss in network_matrix() for d in DTYPES
            if f"network/{a}/{act}/{loss}/{np.dtype(d)}" in names]


@pytest.mark.parametrize(("arch", "act", "loss", "dtype"), _quick_rows())
def test_quick_rows_fail_zero_sign_flipped_and_classic_bugs(
    arch: str, act: str, loss: str, dtype: Any
) -> None:
    spec, params, x, y, _ = network_case(arch, act, loss, dtype, 0)
    bugs: dict[str, Callable[[Any], Any]] = {
        "zero": lambda p: [{k: np.zeros_like(v) for k, v in layer.items()} for layer in p],
        "sign": lambda p: [{k: -g for k, g in layer.items()}
                           for layer in value_and_grad(spec, p, x, y, loss)[1]],
        "classic": _classic(spec, x, y, loss, act),
    }
    for label, grad_fn in bugs.items():
        report = check_network(spec, params, x, y, loss, grad_fn=grad_fn, mode="directional")
        assert not report.passed, f"{label} passed {arch}/{act}/{loss}"


def _rows() -> list[Any]:
    """Every row; the two largest architectures (seconds each) only with ``-m slow``."""
    big = ("784-500-250-100-10", "784-100-200-10")
    return [pytest.param(*row, d, marks=[pytest.mark.slow] if row[0] in big else [])
            for row in network_matrix() for d in DTYPES]


@pytest.mark.parametrize(("arch", "act", "loss", "dtype"), _rows())
def test_every_row_has_entries_a_zero_gradient_cannot_match(
    arch: str, act: str, loss: str, dtype: Any
) -> None:
    # No finite difference needed: if the tolerance covers every |gradient| entry, zeros
    # (and sign flips, off by 2 |g|) pass whatever the numerical derivative says.
    spec, params, x, y, _ = network_case(arch, act, loss, dtype, 0)
    grads = tree_leaves(value_and_grad(spec, params, x, y, loss)[1])
    bounds = tree_leaves(gradient_error_bound(spec, params, x, y, loss, dtype))
    decisive = [np.abs(g) > 2 * (MODEL_SAFETY * b + rtol_for(dtype) * np.abs(g))
                for g, b in zip(grads, bounds, strict=True)]
    assert any(np.any(d) for d in decisive), f"{arch}/{act}/{loss}/{np.dtype(dtype)}"


def test_no_one_output_network_gets_a_softmax() -> None:
    for arch, _, loss in network_matrix():
        assert not (arch == "2-3-1" and get_loss(loss).min_outputs > 1)
    assert XOR_TWO_CLASS.sizes[-1] == 2


def test_an_identically_zero_gradient_is_a_failure() -> None:
    report = check_network_case("2-3-1", "sigmoid", "softmax_cross_entropy")
    assert not report.passed
    (row,) = [r for r in report.rows if r.tensor == "problem"]
    assert row.verdict == "inconclusive" and "identically zero" in row.note
