"""Tests for verification.reporting.patterns: every hint is stated for the bug it describes (planted
in funcnn's own gradient) and for no other, and reports print them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import funcnn as fn
from verification.engine.network_check import check_network
from verification.reporting.patterns import hints, ratio_causes
from verification.reporting.report import Report

SPEC = fn.MLP((6, 6, 4), "sigmoid")
BATCH = 8


def _case() -> tuple[fn.Params, Any, Any]:
    rng = np.random.default_rng(0)
    params = fn.init(SPEC, rng, "glorot_normal")
    x = rng.normal(size=(BATCH, SPEC.n_in))
    y = rng.integers(0, SPEC.n_out, BATCH)
    return params, x, y


def _report(bug: Callable[[list[dict[str, Any]]], None]) -> Report:
    params, x, y = _case()

    def grad_fn(p: fn.Params) -> fn.Params:
        grads = [{k: v.copy() for k, v in layer.items()} for layer in
                 fn.value_and_grad(SPEC, p, x, y)[1]]
        bug(grads)
        return grads

    return check_network(SPEC, params, x, y, grad_fn=grad_fn, mode="full")


def _scale(layer: int, key: str, k: float) -> Callable[[list[dict[str, Any]]], None]:
    def bug(g: list[dict[str, Any]]) -> None:
        g[layer][key] = g[layer][key] * k

    return bug


@pytest.mark.parametrize(
    ("bug", "tensor", "expected"),
    [
        (_scale(0, "W", 2.0), "params[0]['W']", "analytic = 2 x numeric on every entry: "
         "likely an extra factor 2"),
        (_scale(0, "W", 0.5), "params[0]['W']", "a missing factor 2"),
        (_scale(1, "b", -1.0), "params[1]['b']", "a sign flip"),
        (_scale(1, "W", BATCH), "params[1]['W']", "a sum where the loss takes the mean, over 8"),
        (_scale(1, "W", 1 / BATCH), "params[1]['W']", "a mean (1/8) where the loss takes the sum"),
        (_scale(1, "W", 4), "params[1]['W']", "over 4 terms (a batch of 4 samples, or 4 outputs)"),
        (_scale(1, "W", -2.0), "params[1]['W']", "a sign flip and an extra factor 2"),
        (_scale(1, "W", 2 / 3), "params[1]['W']",
         "a factor 1.5 missing, or a factor 0.666667 (2/3) too many"),
        (_scale(0, "b", 0.0), "params[0]['b']", "the analytic gradient is all zeros"),
    ],
)
def test_uniform_ratio_and_zero_hints(bug: Any, tensor: str, expected: str) -> None:
    report = _report(bug)
    assert [row.tensor for row in report.failures] == [tensor]
    assert expected in report.failures[0].hint
    assert expected in report.table()


def test_transposed_square_weight_gradient_is_named() -> None:
    def bug(g: list[dict[str, Any]]) -> None:
        g[0]["W"] = g[0]["W"].T.copy()

    (row,) = _report(bug).failures
    assert row.hint.startswith("analytic = numeric transposed")


@pytest.mark.parametrize(("axis", "what"), [(0, "rows"), (1, "columns")])
def test_permuted_rows_or_columns_are_named(axis: int, what: str) -> None:
    def bug(g: list[dict[str, Any]]) -> None:
        g[0]["W"] = np.roll(g[0]["W"], 1, axis=axis)

    (row,) = _report(bug).failures
    assert f"the analytic {what} are the numerical {what} in another order" in row.hint
    assert "transposed" not in row.hint


def test_failures_confined_to_one_row_or_column() -> None:
    def row_bug(g: list[dict[str, Any]]) -> None:
        g[0]["W"][2] *= 1.5

    def col_bug(g: list[dict[str, Any]]) -> None:
        g[0]["W"][:, 3] += 0.1

    assert "only row 2 fails" in _report(row_bug).failures[0].hint
    assert "only column 3 fails" in _report(col_bug).failures[0].hint


def test_no_hint_for_a_scattered_error() -> None:
    def bug(g: list[dict[str, Any]]) -> None:
        g[0]["W"][1, 2] += 0.1
        g[0]["W"][4, 0] -= 0.1

    (row,) = _report(bug).failures
    assert row.hint == ""


def test_failures_only_at_kinks_are_named() -> None:
    a = np.array([0.3, 1.0, 2.0])
    n = np.array([0.5, 1.0, 2.0])
    failed = np.array([True, False, False])
    text = hints(a, n, np.full(3, 1e-9), failed, at_kink=np.array([True, False, False]))
    assert "every failing entry sits on a kink" in text
    assert "kink" not in hints(a, n, np.full(3, 1e-9), failed, at_kink=np.zeros(3, bool))


def test_ratio_causes_words() -> None:
    assert "sign flip" in ratio_causes(-1.0)
    assert "a factor 0.81 missing, or a factor 1.23457 too many" in ratio_causes(1.2345679)


def test_print_report_shows_the_table_with_failed_over_total() -> None:
    report = _report(_scale(0, "b", 2.0))
    text = str(report)
    assert text == report.table()
    assert "failed" in text.splitlines()[0]
    assert "6/6" in text and "0/36" in text
    assert "Report(" not in text
    assert "hints:" in text


def test_errors_stay_out_of_json_and_have_the_tensor_shape() -> None:
    report = _report(_scale(0, "W", 2.0))
    (row,) = report.failures
    assert row.errors is not None and row.errors.shape == (6, 6)
    np.testing.assert_allclose(row.errors, 0.5, rtol=1e-6)
    again = Report.from_json(report.to_json())
    assert again.failures[0].hint == row.hint
    assert again.failures[0].errors is None
