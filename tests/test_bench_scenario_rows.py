"""A training scenario's rows (benchmarks/scenario_rows.py): each ratio divides the right
implementations, carries its target and, when a side is absent, the note saying why."""

from __future__ import annotations

from benchmarks.harness import Row
from benchmarks.scenario_cases import Cases
from benchmarks.scenario_rows import Measured, scenario_rows
from benchmarks.scenarios import SCENARIOS

REPS = 5


def _measured(times: dict[str, float], fit_times: dict[int, float] | None = None) -> Measured:
    built = Cases(
        notes={"funcnn": "fit", "torch": "torch absent", "jax": "jax absent", "1t": "no 1t"},
        losses={"funcnn": 0.25, "gemm": float("nan")},
        fit_epoch_times=dict(fit_times or {}),
    )
    t = {name: [value] * REPS for name, value in times.items()}
    return Measured(built, 8, 1024, t, t["funcnn"], list, {"funcnn": 0.5, "numpy": 2.0})


def _by_key(rows: list[Row]) -> dict[str, Row]:
    return {row.key: row for row in rows}


def test_batched_rows_divide_the_right_sides_with_the_issues_targets() -> None:
    times = {"funcnn": 2.0, "loop": 1.0, "numpy": 4.0, "gemm": 0.5, "gemm_gather": 1.0}
    rows = scenario_rows(SCENARIOS["A"], _measured(times))
    keys = [row.key for row in rows]
    assert keys[:2] == ["A.funcnn", "A.loop"]
    assert keys[-2:] == ["A.faults.funcnn", "A.faults.numpy"]
    assert "A.funcnn_validation" not in keys  # fit reported no epoch times
    row = _by_key(rows)
    expected = {
        "A.funcnn/numpy": (0.5, 1.0),
        "A.funcnn/numpy_0.9": (0.5, 0.9),
        "A.loop/numpy": (0.25, 1.0),
        "A.loop/funcnn": (0.5, 1.15),
        "A.funcnn/gemm": (4.0, None),
        "A.numpy/gemm": (8.0, None),
        "A.gemm_gather/gemm": (2.0, None),
        "A.funcnn/gemm_gather": (2.0, 1.15),
    }
    for key, (value, bound) in expected.items():
        target = row[key].target
        assert row[key].value == value and row[key].unit == "ratio", key
        assert (target.bound if target else None) == bound, key
    for key, note in [
        ("A.funcnn/torch", "torch absent"),
        ("A.funcnn/jax", "jax absent"),
        ("A.funcnn_1t/funcnn", "no 1t"),
        ("A.gemm/gemm_1t", "no 1t"),
        ("A.torch", "torch absent"),
        ("A.funcnn_1t", "no 1t"),
    ]:
        assert row[key].status == "skipped" and row[key].note == note, key
    assert row["A.funcnn/torch"].target is not None and row["A.funcnn/torch"].target.bound == 0.7
    assert row["A.funcnn"].extra["last_epoch_mean_loss"] == 0.25
    assert "last_epoch_mean_loss" not in row["A.gemm"].extra  # NaN: no loss to report
    assert row["A.gemm"].note == "5 matmuls per step into preallocated outputs"
    assert row["A.faults.numpy"].value == 2.0


def test_per_sample_rows_and_fits_validation_overhead() -> None:
    times = {"funcnn": 3.0, "homework": 2.0, "numpy": 4.0}
    fit_times = {r: 2.5 for r in range(REPS)}
    rows = scenario_rows(SCENARIOS["C"], _measured(times, fit_times))
    row = _by_key(rows)
    assert [r.key for r in rows][:3] == ["C.funcnn", "C.funcnn_validation", "C.homework"]
    assert row["C.funcnn_validation"].value == 0.5
    assert row["C.funcnn_validation"].samples == (0.5,) * REPS
    assert row["C.funcnn/homework"].value == 1.5
    assert row["C.funcnn/homework"].target is not None
    assert row["C.funcnn/homework"].target.bound == 1.2
    assert row["C.numpy/homework"].value == 2.0 and row["C.numpy/homework"].target is None
    assert row["C.funcnn/torch"].note == "torch absent"
    assert not any(key.startswith(("C.loop", "C.gemm", "C.jax")) for key in row)
