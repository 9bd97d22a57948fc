"""A loss beyond funcnn's registry in the foreign checks: a head the program declares in
``hello`` (``heads``), or any :class:`funcnn.Loss` given to ``check_foreign(losses=...)``,
is checked on the rows a registry loss gets, in float64 and float32; a planted wrong
output delta fails and the diagnosis names the output step."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import funcnn as fn
from verification import ForeignError, check_foreign
from verification.external.heads import head
from verification.interchange.foreign_messages import check_heads
from verification.interchange.foreign_problems import foreign_problems

PROGRAM = [sys.executable, str(Path(__file__).parent / "foreign" / "numpy_mlp.py")]
QUADRATIC = head("sigmoid", "squared", outputs="sum", half=True, name="sigmoid_quadratic")


def _rows(report: Any) -> list[tuple[str, str]]:
    return [(row.check, row.verdict) for row in report.rows]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_declared_head_is_checked_and_passes(dtype: str) -> None:
    report = check_foreign([*PROGRAM, "--dtype", dtype, "--declare-head"],
                           only=["2-3-1/sigmoid/sigmoid_quadratic",
                                 "3-5-4-3/tanh/sigmoid_quadratic"])
    checks = {row.check.split(":")[0] for row in report.rows}
    assert f"foreign/2-3-1/sigmoid/sigmoid_quadratic/{dtype}" in checks
    assert f"foreign/3-5-4-3/tanh/sigmoid_quadratic/{dtype}" in checks
    assert report.passed, [r for r in _rows(report) if r[1] == "fail"]


def test_a_python_loss_is_checked_without_a_declaration() -> None:
    with pytest.raises(ForeignError, match="no problem matches"):
        check_foreign(PROGRAM, only=["sigmoid_quadratic"])
    report = check_foreign(PROGRAM, quick=True, only=["sigmoid_quadratic"],
                           losses=[QUADRATIC])
    assert report.passed and len(report.rows) > 4


def test_a_wrong_output_delta_fails_and_the_diagnosis_names_it() -> None:
    report = check_foreign([*PROGRAM, "--declare-head", "--bug", "quadratic-delta"],
                           only=["2-3-1/sigmoid/sigmoid_quadratic/float64"])
    assert not report.passed
    diagnosis = report.meta["diagnosis"]["foreign/2-3-1/sigmoid/sigmoid_quadratic/float64"]
    assert "ROOT CAUSE  output delta: is not dL/dz of sigmoid_quadratic" in diagnosis, diagnosis


def test_head_declarations_are_checked_field_by_field() -> None:
    known = list(fn.LOSSES)
    good = {"output": "sigmoid", "loss": "squared"}
    assert check_heads({"heads": {"q": good}}, known) == {
        "q": {"output": "sigmoid", "loss": "squared", "outputs": "mean", "half": False}}
    bad = [
        ([1], "heads: expected an object from loss names to heads, got a list"),
        ({"mse": good}, r"heads\['mse'\]: expected a new loss name"),
        ({"q": 3}, r"heads\['q'\]: expected an object with output and loss, got an integer"),
        ({"q": {**good, "scale": 2}}, r"heads\['q'\]: unknown field 'scale'"),
        ({"q": {"loss": "squared"}}, r"heads\['q'\].output: missing"),
        ({"q": {**good, "output": "relu"}}, r"heads\['q'\].output: 'relu', expected one of"),
        ({"q": {**good, "half": 1}}, r"heads\['q'\].half: an integer, expected one of"),
        ({"q": {"output": "tanh", "loss": "cross_entropy"}},
         r"heads\['q'\].loss: cross_entropy needs output softmax or sigmoid"),
    ]
    for heads, message in bad:
        with pytest.raises(ForeignError, match="answer to 'hello': " + message):
            check_heads({"heads": heads}, known)


def test_extra_losses_get_the_rows_of_a_registry_loss() -> None:
    softmax_squared = head("softmax", "squared", name="softmax_squared")
    problems = foreign_problems({}, extra=[QUADRATIC, softmax_squared])
    mine = {p[:3] for p in problems if p[2] in ("sigmoid_quadratic", "softmax_squared")}
    # A softmax head needs two outputs: the XOR rows move to the two-output network.
    assert ("2-3-1", "sigmoid", "sigmoid_quadratic") in mine
    assert ("2-3-2", "sigmoid", "softmax_squared") in mine
    assert ("2-3-1", "sigmoid", "softmax_squared") not in mine
    assert ("784-128-10", "relu", "softmax_squared") in mine


def test_bad_losses_arguments_are_named() -> None:
    with pytest.raises(fn.ArgumentTypeError, match=r"losses\[0\]: expected a funcnn.Loss"):
        check_foreign(PROGRAM, losses=["mse"])  # type: ignore[list-item]
    taken = r"losses\[1\]: name 'sigmoid_quadratic' is taken"
    with pytest.raises(fn.InvalidArgumentError, match=taken):
        check_foreign(PROGRAM, losses=[QUADRATIC, QUADRATIC])
