"""Tests for verification.catalogue.training_step: the applied gradient is checked, and a bug that
only the training step has (not value_and_grad) fails the check."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import funcnn as fn
from funcnn.core import engine
from funcnn.training import step as step_module
from verification.catalogue.training_step import check_training_step

CASES = [("relu", "softmax_cross_entropy"), ("tanh", "mse"), ("sigmoid", "binary_cross_entropy")]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("optimizer", ["sgd", "momentum"])
@pytest.mark.parametrize(("activation", "loss"), CASES)
def test_the_applied_gradient_passes(activation: str, loss: str, optimizer: str,
                                     dtype: Any) -> None:
    report = check_training_step(activation, loss, dtype, optimizer)
    assert report.passed, report
    # Every parameter tensor is checked, besides the loss-value row.
    assert len(report.rows) == 1 + 2 * 3


def test_a_fused_sgd_update_that_skips_the_biases_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    real = step_module._sgd_sink

    def biases_untouched(W: Any, b: Any, gW: Any, gb: Any, fused: Any) -> Any:
        return real(W, [v.copy() for v in b], gW, gb, fused)

    monkeypatch.setattr(step_module, "_sgd_sink", biases_untouched)
    report = check_training_step("relu", "softmax_cross_entropy", np.float64, "sgd")
    assert {row.tensor for row in report.failures} == {f"params[{i}]['b']" for i in range(3)}
    # The stored-gradient path does not use that sink: it still passes.
    assert check_training_step("relu", "softmax_cross_entropy", np.float64, "momentum").passed


def test_weights_updated_before_backprop_reads_them_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    def sink_first(acts: Any, W: Any, x: Any, buf: Any, sink: Any, *, input_grad: bool = False
                   ) -> None:
        g = buf.dz[-1]
        for i in range(len(W) - 1, -1, -1):
            sink(i, x if i == 0 else buf.a[i - 1], g)  # updates W[i] before it is used
            if i > 0:
                np.matmul(g, W[i].T, out=buf.dz[i - 1])
                acts[i - 1].derivative_kernel(buf.z[i - 1], buf.a[i - 1], buf.z[i - 1])
                g = buf.dz[i - 1]
                g *= buf.z[i - 1]

    monkeypatch.setattr(engine, "backward", sink_first)
    report = check_training_step("tanh", "mse", np.float64, "sgd")
    failed = {row.tensor for row in report.failures}
    assert "params[0]['W']" in failed and "params[2]['W']" not in failed


def test_a_wrong_activation_kernel_fails_the_step_and_value_and_grad_alike(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One definition: a bug planted in tanh's derivative reaches every path.
    def no_square(z: Any, a: Any, out: Any) -> None:
        np.subtract(1, a, out=out)

    buggy = fn.elementwise("tanh", fn.ACTIVATIONS["tanh"].value_kernel, no_square)
    monkeypatch.setitem(fn.ACTIVATIONS, "tanh", buggy)
    for optimizer in ("sgd", "momentum"):
        assert not check_training_step("tanh", "mse", np.float64, optimizer).passed
    from verification.catalogue.suite import check_network_case

    assert not check_network_case("784-32-32-10", "tanh", "softmax_cross_entropy").passed


def test_an_unknown_optimizer_is_named() -> None:
    with pytest.raises(fn.InvalidArgumentError, match=r"optimizer: expected one of"):
        check_training_step("relu", "mse", np.float64, "adam")
