"""Tests for funcnn.core.initializers: shapes, dtypes, statistics and bit-reproducibility."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funcnn as fn
from tests.strategies import specs

SPEC = fn.MLP((784, 500, 250, 100, 10), "tanh")


@given(
    specs(),
    st.sampled_from(sorted(fn.SCHEMES)),
    st.integers(0, 2**32 - 1),
    st.sampled_from([np.float32, np.float64]),
)
def test_same_seed_same_bits(spec: fn.MLP, scheme: str, seed: int, dtype: Any) -> None:
    a = fn.init(spec, np.random.default_rng(seed), scheme, dtype)
    b = fn.init(spec, np.random.default_rng(seed), scheme, dtype)
    for la, lb, (n_in, n_out) in zip(a, b, spec.layer_shapes, strict=True):
        assert la["W"].shape == (n_in, n_out) and la["b"].shape == (n_out,)
        assert la["W"].dtype == dtype and la["b"].dtype == dtype
        assert la["W"].tobytes() == lb["W"].tobytes()
        assert la["b"].tobytes() == lb["b"].tobytes()


def test_float32_is_float64_rounded() -> None:
    p64 = fn.init(SPEC, np.random.default_rng(3), "glorot_normal", np.float64)
    p32 = fn.init(SPEC, np.random.default_rng(3), "glorot_normal", np.float32)
    for l64, l32 in zip(p64, p32, strict=True):
        np.testing.assert_array_equal(l64["W"].astype(np.float32), l32["W"])


@pytest.mark.parametrize(
    ("scheme", "expected_std"),
    [
        ("glorot_uniform", lambda i, o: math.sqrt(6 / (i + o)) / math.sqrt(3)),
        ("glorot_normal", lambda i, o: math.sqrt(2 / (i + o))),
        ("he_normal", lambda i, o: math.sqrt(2 / i)),
        ("he_uniform", lambda i, o: math.sqrt(6 / i) / math.sqrt(3)),
        ("lecun_normal", lambda i, o: math.sqrt(1 / i)),
        ("inverse_max_fan_normal", lambda i, o: math.sqrt(1 / max(i, o))),
        ("normal:0.02", lambda i, o: 0.02),
    ],
)
def test_weight_statistics(scheme: str, expected_std: Any) -> None:
    params = fn.init(SPEC, np.random.default_rng(0), scheme)
    for layer, (n_in, n_out) in zip(params, SPEC.layer_shapes, strict=True):
        W = layer["W"]
        n = W.size
        assert abs(W.mean()) < 5 * expected_std(n_in, n_out) / math.sqrt(n)
        assert W.std() == pytest.approx(expected_std(n_in, n_out), rel=0.1 + 5 / math.sqrt(n))
        np.testing.assert_array_equal(layer["b"], 0)


def test_glorot_uniform_bounds() -> None:
    params = fn.init(SPEC, np.random.default_rng(1))
    for layer, (n_in, n_out) in zip(params, SPEC.layer_shapes, strict=True):
        assert np.abs(layer["W"]).max() <= math.sqrt(6 / (n_in + n_out))


def test_normal_with_constant_bias() -> None:
    params = fn.init(fn.MLP((784, 128, 10)), np.random.default_rng(0), "normal:0.01:0.01")
    for layer in params:
        np.testing.assert_array_equal(layer["b"], 0.01)
    assert params[0]["W"].std() == pytest.approx(0.01, rel=0.02)
    same = fn.init(fn.MLP((784, 128, 10)), np.random.default_rng(0), fn.normal(0.01, 0.01))
    np.testing.assert_array_equal(same[0]["W"], params[0]["W"])


def test_callable_scheme_and_its_shape_check() -> None:
    def ones(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[Any, Any]:
        return np.ones((n_in, n_out)), np.zeros(n_out)

    params = fn.init(fn.MLP((3, 2)), np.random.default_rng(0), ones, np.float32)
    assert params[0]["W"].dtype == np.float32
    np.testing.assert_array_equal(params[0]["W"], 1)

    def wrong(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[Any, Any]:
        return np.ones((n_out, n_in)), np.zeros(n_out)

    with pytest.raises(ValueError, match=r"scheme: layer 0 expected W \(3, 2\)"):
        fn.init(fn.MLP((3, 2)), np.random.default_rng(0), wrong)


@pytest.mark.parametrize("scheme", ["xavier", "normal:", "normal:abc", "normal:1:2:3", "normal:-1"])
def test_unknown_scheme(scheme: str) -> None:
    with pytest.raises(ValueError, match="std|scheme"):
        fn.init(fn.MLP((3, 2)), np.random.default_rng(0), scheme)


def test_bad_rng_and_dtype() -> None:
    with pytest.raises(TypeError, match="rng: expected a numpy.random.Generator"):
        fn.init(fn.MLP((3, 2)), 0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="dtype: expected float32 or float64"):
        fn.init(fn.MLP((3, 2)), np.random.default_rng(0), dtype=np.int32)
