"""The classic-mistake suite: six correct MLPs in the conventions people write
(tests/diagnosis_conventions.py), float64 and float32, pass with no false alarm, and
each classic mistake planted in them is named at the right step with the right kind in
at least 95% of cases, never at a wrong step. The measured table is the one in
docs/check-your-own.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.diagnosis_conventions import CONVENTIONS, Row, measure, table

SEEDS = (0, 1)
DOCS = Path(__file__).resolve().parents[1] / "docs" / "check-your-own.md"


@pytest.fixture(scope="module")
def measured() -> tuple[list[Row], list[str]]:
    return measure(SEEDS, (np.float64, np.float32))


def test_six_conventions_with_at_least_fifteen_mistakes_each() -> None:
    assert len(CONVENTIONS) >= 6
    assert all(len(c.mistakes) >= 15 for c in CONVENTIONS.values())


def test_no_false_alarm_and_no_wrong_step(measured: tuple[list[Row], list[str]]) -> None:
    rows, misses = measured
    assert sum(r.false_alarms for r in rows) == 0, "\n".join(misses)
    assert sum(r.wrong_step for r in rows) == 0, "\n".join(misses)


def test_the_right_step_and_mistake_in_at_least_95_percent(
    measured: tuple[list[Row], list[str]],
) -> None:
    rows, misses = measured
    for row in rows:
        assert row.named >= 0.95 * row.cases, (row, misses)


def test_the_docs_table_is_the_measured_one(measured: tuple[list[Row], list[str]]) -> None:
    assert table(measured[0]) in DOCS.read_text(), table(measured[0])
