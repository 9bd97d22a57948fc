"""Tests for funcnn.core.spec: the MLP dataclass validates and normalises its fields."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

import funcnn as fn
from tests.strategies import unknown_name

UNKNOWN_ACTIVATION = unknown_name(fn.ACTIVATIONS)


def test_normalises_lists_to_tuples_and_is_hashable() -> None:
    spec = fn.MLP([784, 32, 32, 10], ["sigmoid", "tanh"])
    assert spec.sizes == (784, 32, 32, 10)
    assert spec.activation == ("sigmoid", "tanh")
    assert hash(spec) == hash(fn.MLP((784, 32, 32, 10), ("sigmoid", "tanh")))


def test_derived_properties() -> None:
    spec = fn.MLP((784, 32, 32, 10), "sigmoid")
    assert (spec.n_in, spec.n_out, spec.n_layers) == (784, 10, 3)
    assert spec.hidden_activations == ("sigmoid", "sigmoid")
    assert spec.layer_shapes == ((784, 32), (32, 32), (32, 10))
    assert spec.n_params == 26506


def test_frozen() -> None:
    spec = fn.MLP((2, 3, 1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.sizes = (1, 2)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("sizes", "activation", "message"),
    [
        ((784,), "relu", "at least 2 sizes"),
        ((), "relu", "at least 2 sizes"),
        ((784, 0, 10), "relu", "sizes[1]"),
        ((784, -3, 10), "relu", "sizes[1]"),
        ((784, 128, 10), UNKNOWN_ACTIVATION, f"unknown activation '{UNKNOWN_ACTIVATION}'"),
        ((784, 128, 10), ("relu", "relu"), "2 per-layer activations for 1 hidden"),
        ((784, 32, 32, 10), ("relu",), "1 per-layer activations for 2 hidden"),
    ],
)
def test_invalid_specs_raise_value_error(sizes: Any, activation: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        fn.MLP(sizes, activation)


@pytest.mark.parametrize("sizes", ["784,10", 784, (784.0, 10), (True, 10)])
def test_wrong_types_raise_type_error(sizes: Any) -> None:
    with pytest.raises(TypeError, match="sizes"):
        fn.MLP(sizes)
