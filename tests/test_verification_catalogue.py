"""Tests for verification.catalogue.suite: complete coverage, no false failures over many
seeds (saturated sigmoids and near-kink pre-activations included), and failures when
a component is broken."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcnn as fn
from tests.strategies import specs
from verification.catalogue.suite import (
    ARCHITECTURES,
    build_catalogue,
    check_activation,
    check_cross_entropy,
    check_dense,
    check_losses,
    check_network_case,
    check_softmax,
    select,
)
from verification.engine.network_check import check_network

DTYPES = [np.float64, np.float32]


def test_catalogue_covers_everything_once() -> None:
    full = build_catalogue()
    names = [c.name for c in full]
    assert len(names) == len(set(names))
    quick = build_catalogue(quick=True)
    assert {c.name for c in quick} < set(names)
    for dtype in ("float64", "float32"):
        for act in fn.ACTIVATIONS:
            assert f"activation/{act}/{dtype}" in names
        for arch in ARCHITECTURES:
            # A one-output network's softmax losses run on the two-class XOR network.
            prefixes = ("network/2-3-1/", "network/2-3-2/") if arch == "2-3-1" else (
                f"network/{arch}/",)
            networks = [n for n in names if n.startswith(prefixes) and n.endswith(dtype)]
            acts = {n.split("/")[2] for n in networks}
            losses = {n.split("/")[3] for n in networks}
            assert acts == set(fn.ACTIVATIONS) and losses == set(fn.LOSSES)
    groups = {c.group for c in full}
    assert groups == {
        "activations",
        "softmax",
        "cross_entropy",
        "losses",
        "dense",
        "invariants",
        "networks",
        "training",
        "conformance",
    }
    # The applied training gradient: every activation x loss x dtype x way of applying it.
    steps = {n for n in names if n.startswith("train-step/")}
    assert len(steps) == len(fn.ACTIVATIONS) * len(fn.LOSSES) * 2 * 2
    assert [c.name for c in select(full, ["network/2-3-1/relu/*/float32"])] == [
        "network/2-3-1/relu/binary_cross_entropy/float32"
    ]
    assert len(select(full, ["softmax/"])) == 2


@settings(max_examples=8, deadline=None)
@given(st.integers(0, 2**31 - 1), st.sampled_from(DTYPES))
def test_component_checks_pass_for_any_seed(seed: int, dtype: Any) -> None:
    for report in (
        check_softmax(dtype, seed=seed),
        check_cross_entropy(dtype, "labels", seed=seed),
        check_cross_entropy(dtype, "onehot", seed=seed),
        check_losses(dtype, seed=seed),
        check_dense(dtype, seed=seed),
    ):
        assert report.passed, report.table()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(fn.ACTIVATIONS))
def test_activation_checks_pass(name: str, dtype: Any) -> None:
    report = check_activation(name, dtype)
    assert report.passed, report.table()
    if name in ("relu", "leaky_relu"):
        assert report.rows[0].subgradient >= 1  # z = 0 is on the grid


def _only_degenerate(report: Any) -> bool:
    return {row.tensor for row in report.failures} == {"problem"}


def _targets(loss: str, n_out: int, rng: np.random.Generator, batch: int, dtype: Any) -> Any:
    labels = rng.integers(0, max(n_out, 2), size=batch)
    if loss in ("softmax_cross_entropy", "softmax_then_cross_entropy"):
        return labels if n_out > 1 else np.zeros(batch, dtype=int)
    if loss == "mse":
        return rng.normal(size=(batch, n_out)).astype(dtype)
    return rng.random((batch, n_out)).astype(dtype)


@given(
    specs(max_layers=3, max_width=6),
    st.sampled_from(sorted(fn.LOSSES)),
    st.integers(0, 2**31 - 1),
    st.integers(1, 6),
)
def test_property_random_networks_pass_full_check_in_float64(
    spec: fn.MLP, loss: str, seed: int, batch: int
) -> None:
    rng = np.random.default_rng(seed)
    params = fn.init(spec, rng, "glorot_normal")
    x = rng.normal(size=(batch, spec.n_in)) * rng.choice([0.5, 1.0, 3.0])
    y = _targets(loss, spec.n_out, rng, batch, np.float64)
    report = check_network(spec, params, x, y, loss, mode="full")
    # A problem whose exact gradient is identically zero (one softmax output, all relus
    # dead) is reported as undecidable: it cannot tell a right gradient from zeros.
    assert report.passed or _only_degenerate(report), report.table()


@given(
    specs(max_layers=3, max_width=6), st.sampled_from(sorted(fn.LOSSES)), st.integers(0, 2**31 - 1)
)
def test_no_false_failures_in_float32(spec: fn.MLP, loss: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    params = fn.init(spec, rng, "glorot_normal", dtype=np.float32)
    x = rng.normal(size=(5, spec.n_in)).astype(np.float32)
    y = _targets(loss, spec.n_out, rng, 5, np.float32)
    report = check_network(spec, params, x, y, loss, mode="full")
    # A problem whose exact gradient is identically zero (one softmax output, all relus
    # dead) is reported as undecidable: it cannot tell a right gradient from zeros.
    assert report.passed or _only_degenerate(report), report.table()


@given(
    st.sampled_from(["sigmoid", "tanh", "softplus"]),
    st.sampled_from(DTYPES),
    st.sampled_from([6.0, 15.0, 40.0]),
    st.integers(0, 2**31 - 1),
)
def test_no_false_failures_with_saturated_activations(
    activation: str, dtype: Any, std: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    spec = fn.MLP((8, 7, 6, 4), activation)
    params = fn.init(spec, rng, f"normal:{std}", dtype=dtype)
    # Keep the logits moderate so the loss itself is not saturated: scale the last layer.
    params[-1] = {"W": (params[-1]["W"] / std).astype(dtype), "b": params[-1]["b"]}
    x = rng.normal(size=(6, 8)).astype(dtype)
    y = rng.integers(0, 4, size=6)
    report = check_network(spec, params, x, y, mode="full")
    assert report.passed, report.table()


@given(
    st.sampled_from(["relu", "leaky_relu"]),
    st.sampled_from(DTYPES),
    st.sampled_from([0.0, 1e-12, 1e-9, 1e-6, 1e-4]),
    st.integers(0, 2**31 - 1),
)
def test_no_false_failures_near_kinks(
    activation: str, dtype: Any, offset: float, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    spec = fn.MLP((8, 7, 6, 4), activation)
    params = fn.init(spec, rng, "he_normal", dtype=dtype)
    x = rng.normal(size=(6, 8)).astype(dtype)
    # Move the biases so sample 0's first-layer pre-activations sit within `offset` of 0.
    z = x[:1].astype(np.float64) @ params[0]["W"].astype(np.float64) + params[0]["b"]
    shift = offset * rng.choice([-1.0, 1.0], size=7)
    params[0]["b"] = (params[0]["b"] - z[0] + shift).astype(dtype)
    y = rng.integers(0, 4, size=6)
    report = check_network(spec, params, x, y, mode="full")
    assert report.passed, report.table()


_NETWORK_CHECKS = [c for c in build_catalogue() if c.group == "networks"]


@settings(max_examples=6, deadline=None)
@given(st.sampled_from(_NETWORK_CHECKS), st.integers(0, 2**31 - 1))
def test_any_catalogue_network_passes_at_any_seed(check: Any, seed: int) -> None:
    # The catalogue's own rows (big MNIST networks included), at seeds other than the
    # default 0 that `python -m verification` uses.
    report = check.run(seed)
    assert report.passed, report.table()


@pytest.mark.parametrize("arch", ["2-3-2", "784-32-32-10"])
def test_network_cases_of_the_catalogue(arch: str) -> None:
    report = check_network_case(arch, "sigmoid", "softmax_cross_entropy", np.float32, seed=7)
    assert report.passed, report.table()
    assert report.meta["data"] in ("mnist", "random", "xor")


def test_exact_invariants_run_before_any_finite_difference() -> None:
    groups = [c.group for c in build_catalogue()]
    first_numeric = min(i for i, g in enumerate(groups) if g != "invariants")
    assert set(groups[:first_numeric]) == {"invariants"}
    assert "invariants" not in groups[first_numeric:]
    tensors = [row.tensor for row in check_softmax().rows]
    assert tensors[:2] == ["jacobian symmetric (bitwise)", "jacobian rows sum to 0"]
    assert tensors[2] == "softmax_jacobian"


def test_broken_components_fail_their_check() -> None:
    diagonal = check_softmax(jacobian=lambda s: s[..., :, None] * np.eye(s.shape[-1]))
    bad = {row.tensor for row in diagonal.failures}
    assert {
        "softmax_jacobian",
        "softmax_vjp vs J^T g (analytic J)",
        "jacobian rows sum to 0",
    } <= bad
    worst = next(row for row in diagonal.failures if row.tensor == "softmax_jacobian")
    assert worst.worst_index is not None and len(worst.worst_index) == 3
    composed = check_cross_entropy(jacobian=lambda s: s[..., :, None] * np.eye(s.shape[-1]))
    assert {row.tensor for row in composed.failures} == {
        "dL/dz explicit composed (-y/p through softmax_jacobian)",
        "explicit composed vs fused",
    }
    wrong_vjp = check_softmax(vjp=lambda s, g: s * g)
    assert {row.tensor for row in wrong_vjp.failures} == {
        "softmax_vjp vs J^T g (scipy J)",
        "softmax_vjp vs J^T g (analytic J)",
    }
    leaky_relu = fn.Activation(
        "relu", fn.relu, lambda z, a: np.where(z > 0, 1.0, 0.1).astype(z.dtype), (0.0,)
    )
    act = check_activation("relu", activation=leaky_relu)
    (row,) = act.failures
    from verification.catalogue.suite import activation_points

    assert row.worst_index is not None and activation_points()[row.worst_index[0]] < 0

    def dense_without_bias_sum(layer: Any, x: Any, g: Any) -> Any:
        grads, dx = fn.dense_vjp(layer, x, g)
        return {"W": grads["W"], "b": g[0]}, dx

    dense = check_dense(vjp=dense_without_bias_sum)
    assert [row.tensor for row in dense.failures] == ["params['b']"]
