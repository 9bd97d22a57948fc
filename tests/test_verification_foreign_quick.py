"""--quick with a foreign program: every activation and loss on a small network, one-
and multi-output heads, a network whose hidden-to-hidden W is not square, and one large
problem; a wrong softmax cross-entropy gradient and a transposed backprop fail on the
small problems alone."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from funcnn.core.activations import ACTIVATIONS
from funcnn.core.losses import LOSSES
from verification.interchange.foreign import check_foreign
from verification.interchange.foreign_problems import (
    NON_SQUARE,
    QUICK_LARGE,
    foreign_problems,
    problem_case,
)

PROGRAM = [sys.executable, str(Path(__file__).parent / "foreign" / "numpy_mlp.py")]
SMALL = ["2-3-*", f"{NON_SQUARE.name}/*"]


def test_quick_covers_every_activation_loss_and_head() -> None:
    quick = foreign_problems({"dtypes": ["float64"]}, quick=True)
    small = [p for p in quick if not p[0].startswith("784-")]
    assert {p[1] for p in small} == set(ACTIVATIONS)
    assert {p[2] for p in small} == set(LOSSES)
    outputs = {problem_case(*p[:3], p[3], 0)[0].n_out for p in small}
    assert 1 in outputs and max(outputs) > 1  # one-output and multi-output heads
    hidden = [problem_case(*p[:3], p[3], 0)[0].sizes[1:-1] for p in small]
    assert any(len(set(h)) > 1 for h in hidden if len(h) > 1)  # W between hidden: n x m
    assert [p for p in quick if p[0].startswith("784-")] == [(*QUICK_LARGE, "float64")]
    assert len(quick) <= 13
    # both dtypes: the small problems in each, the large one once
    both = foreign_problems({}, quick=True)
    assert len(both) == 2 * len(small) + 1


def test_the_non_square_network_is_drawn_like_the_catalogues() -> None:
    spec, params, x, y = problem_case(NON_SQUARE.name, "relu", "mse", "float32", 0)
    assert spec.sizes == (3, 5, 4, 3) and params[1]["W"].shape == (5, 4)
    assert x.dtype == "float32" and y.shape == (x.shape[0], 3) and y.dtype == "float32"
    again = problem_case(NON_SQUARE.name, "relu", "mse", "float32", 0)
    assert all((a["W"] == b["W"]).all() for a, b in zip(params, again[1], strict=True))
    labels = problem_case(NON_SQUARE.name, "tanh", "softmax_cross_entropy", "float64", 0)[3]
    assert labels.dtype.kind == "i"


def test_the_whole_quick_run_passes_for_a_correct_program() -> None:
    report = check_foreign(PROGRAM, quick=True, timeout=60)
    assert report.passed, report.table()
    assert report.meta["problems"] == len(foreign_problems({"dtypes": ["float64"]},
                                                           quick=True))


@pytest.mark.parametrize("bug", ["softmax-ce", "transposed"])
def test_quick_catches_it_on_the_small_problems(bug: str) -> None:
    report = check_foreign([*PROGRAM, "--bug", bug], quick=True, only=SMALL, timeout=60)
    failed = {row.check.split(":")[0].split("/")[1] for row in report.failures}
    assert not report.passed and failed, report.table()
    if bug == "transposed":
        assert NON_SQUARE.name in failed  # not only where W is a vector
