"""Tests for verification.reporting.report: rows as data, rendered as a table and as JSON."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from funcnn.errors import DataFormatError, InvalidArgumentError
from verification.reporting.report import VERDICTS, CheckRow, Report


def _rows() -> tuple[CheckRow, ...]:
    return (
        CheckRow(
            "net",
            "params[0]['W']",
            (3, 4),
            "full",
            "float64",
            "pass",
            n_checked=12,
            step=1e-3,
            max_abs_error=1e-13,
            max_rel_error=1e-9,
            error_estimate=2e-12,
            tolerance=5e-12,
            ratio=0.02,
            worst_index=(2, 1),
            analytic=0.5,
            numeric=0.5,
        ),
        CheckRow(
            "net",
            "params[0]['b']",
            (4,),
            "full",
            "float32",
            "fail",
            n_checked=4,
            max_abs_error=0.1,
            worst_index=(3,),
            analytic=1.0,
            numeric=0.9,
            n_failed=1,
            kinks=2,
            kinks_resolved=1,
            subgradient=1,
            note="a note",
        ),
        CheckRow("net", "loss value", (), "exact", "float64", "subgradient"),
    )


def test_passed_failures_and_summary() -> None:
    report = Report(_rows(), {"seed": 3})
    assert not report.passed
    assert [row.tensor for row in report.failures] == ["params[0]['b']"]
    assert report.summary() == "3 rows: 1 pass, 1 subgradient, 1 fail -> FAILED"
    assert Report(_rows()[::2]).passed
    assert Report().passed and Report().summary().endswith("PASSED")


def test_table_names_tensor_worst_index_and_values() -> None:
    table = Report(_rows()).table()
    lines = table.splitlines()
    assert lines[0].split()[:4] == ["check", "tensor", "shape", "mode"]
    assert "params[0]['b']" in table and "[3]" in table and "FAIL" in table
    assert "a=1.00e+00" in table and "n=9.00e-01" in table and "2(1r,1s)" in table
    assert lines[-1] == Report(_rows()).summary()


def test_json_round_trip(tmp_path: Path) -> None:
    report = Report(_rows(), {"seed": 3, "data": ["mnist"]})
    path = tmp_path / "report.json"
    report.write_json(path)
    doc = json.loads(path.read_text())
    assert doc["passed"] is False and doc["format"] == "funcnn-verification-report/1"
    assert doc["rows"][2]["step"] is None  # nan is written as null
    again = Report.from_json(path.read_text())
    assert again.meta == report.meta
    for a, b in zip(again.rows, report.rows, strict=True):
        for key, value in a.__dict__.items():
            other = getattr(b, key)
            if isinstance(value, float) and math.isnan(value):
                assert math.isnan(other)
            else:
                assert value == other


def test_bad_rows_and_documents() -> None:
    with pytest.raises(InvalidArgumentError, match="verdict: expected one of"):
        CheckRow("c", "t", (), "full", "float64", "maybe")
    with pytest.raises(DataFormatError):
        Report.from_json("[1, 2]")
    with pytest.raises(DataFormatError, match="unknown fields"):
        Report.from_json(json.dumps({"rows": [{"check": "c", "colour": "red"}]}))
    assert VERDICTS == ("pass", "subgradient", "inconclusive", "fail")
    assert not CheckRow("c", "t", (), "full", "float64", "inconclusive").passed


def test_combine_and_rename() -> None:
    a = Report(_rows()[:1], {"x": 1})
    b = Report(_rows()[1:], {"y": 2})
    both = Report.combine([a, b], {"z": 3})
    assert len(both.rows) == 3 and both.meta == {"x": 1, "y": 2, "z": 3}
    assert (a + b).rows == both.rows
    assert {row.check for row in both.named("other").rows} == {"other"}
