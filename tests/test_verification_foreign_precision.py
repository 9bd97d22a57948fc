"""Verdicts for the precision a foreign program computes in: a correct program that
declares only float32 (and answers its ``loss`` messages in float32) passes, as does one
that declares only float64; a planted bug in either still fails, on the rows that
compare the program's gradient with finite differences of its own loss."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from verification.catalogue.suite import network_case
from verification.engine.bounds.settings import Settings
from verification.engine.bounds.tolerances import EPS64, STEP_UNIT
from verification.interchange.foreign import check_foreign, loss_precision

PROGRAM = [sys.executable, str(Path(__file__).parent / "foreign" / "numpy_mlp.py")]
XOR = ["2-3-1/*", "2-3-2/*"]
OWN = "foreign grads vs foreign loss"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_correct_single_precision_program_passes(dtype: str) -> None:
    report = check_foreign([*PROGRAM, "--dtype", dtype], only=XOR, timeout=60)
    assert report.passed, report.table()
    verdicts = {row.verdict for row in report.rows}
    assert verdicts <= {"pass", "subgradient"}, verdicts  # not even inconclusive
    assert all(f"/{dtype}" in row.check for row in report.rows)  # only what it declares
    assert any(row.check.endswith(OWN) for row in report.rows)


def test_the_float32_quick_network_passes_decisively() -> None:
    # Before the fix this problem's own-loss rows were inconclusive, and 12 XOR rows failed.
    report = check_foreign([*PROGRAM, "--dtype", "float32"], quick=True,
                           only=["784-32-32-10/*"], timeout=60)
    assert report.passed and report.meta["problems"] == 1, report.table()
    assert {row.verdict for row in report.rows} == {"pass"}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("bug", "only"), [
    ("grad-scale", "2-3-2/sigmoid/softmax_cross_entropy/*"),
    ("tanh-square", "2-3-1/tanh/*"),
    ("loss-extra", "2-3-1/relu/binary_cross_entropy/*"),
    ("bias-sum", "2-3-2/sigmoid/softmax_binary_cross_entropy/*"),
])
def test_a_planted_bug_fails_against_the_programs_own_loss(dtype: str, bug: str,
                                                           only: str) -> None:
    report = check_foreign([*PROGRAM, "--dtype", dtype, "--bug", bug], only=[only],
                           timeout=60)
    assert not report.passed
    assert any(row.check.endswith(OWN) for row in report.failures), report.table()


def test_the_loss_precision_follows_the_dtype() -> None:
    spec, params, x, y, _ = network_case("2-3-1", "tanh", "mse", np.float64, 0)
    noise64, settings64 = loss_precision(spec, params, x, y, "mse", "float64")
    noise32, settings32 = loss_precision(spec, params, x, y, "mse", "float32")
    ratio = float(np.finfo(np.float32).eps) / EPS64
    assert settings64 == Settings()
    assert noise32 == pytest.approx(noise64 * ratio)
    assert settings32.step_unit == pytest.approx(STEP_UNIT * ratio ** 0.2)
    assert not settings32.screen  # the three-point screen assumes float64 noise
