"""Section H of the benchmark suite (:mod:`benchmarks.foreign`).

No timing is asserted (timings are the suite's output): the section must run both
checks, get the verdicts it expects, and give the ratio of its own times against the
issue's target of 3.
"""

from __future__ import annotations

import pytest

from benchmarks import foreign
from benchmarks.harness import Target
from benchmarks.suite import SECTIONS


def test_section_h_times_a_failing_check_against_a_passing_one() -> None:
    rows = {row.key: row for row in foreign.run_foreign(reps=1, quick=True)}
    value = {key: row.value for key, row in rows.items() if row.value is not None}
    assert set(value) == set(rows)  # nothing skipped
    for name in ("pass", "fail"):
        assert value[f"H.{name}"] > 0 and rows[f"H.{name}"].unit == "s"
        assert len(rows[f"H.{name}"].samples) == 1
    ratio = rows["H.fail/pass"]
    assert ratio.target == Target("<=", 3.0) and ratio.unit == "ratio"
    assert value["H.fail/pass"] == pytest.approx(value["H.fail"] / value["H.pass"])
    # Counted from the reports: the points the program evaluated and the bytes sent.
    assert value["H.fail.evaluations"] >= value["H.pass.evaluations"] > 0
    assert value["H.fail.sent"] > 0 and value["H.pass.sent"] > 0
    assert "H" in SECTIONS


def test_section_h_raises_when_a_verdict_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    # A "correct" program that fails (here: the bug planted in both) is not a measurement.
    monkeypatch.setattr(foreign, "PROGRAM", [*foreign.PROGRAM, "--bug", "grad-scale"])
    with pytest.raises(RuntimeError, match="expected pass and FAIL"):
        foreign.run_foreign(reps=1, quick=True)
