"""Section H: a failing foreign-protocol check against a passing one.

Issue 22's target: checking a program over the foreign protocol
(:func:`verification.check_foreign`) must cost at most 3 times as much when the program
is wrong as when it is right, on the same problem. The program is
``tests/foreign/numpy_mlp.py`` (plain numpy, protocol version 2), correct and with every
gradient 1% too large (``--bug grad-scale``), on ``784-32-32-10`` with sigmoid and
softmax cross-entropy in float64 (``3-5-4-3`` with ``--quick``). Each repetition runs both
checks, taking turns (:func:`benchmarks.harness.interleaved_times`); each includes the
program's start-up. Rows: the two times (median), their ratio against the target, and
the loss evaluations and bytes sent by each (from the report's ``meta``); the section
raises if a verdict is not the expected one.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from benchmarks.harness import Quiet, Row, Target, interleaved_times, median, progress, ratio_row

__all__ = ["PROBLEM", "PROGRAM", "QUICK_PROBLEM", "run_foreign"]

PROGRAM = [sys.executable, str(Path(__file__).resolve().parents[1] / "tests" / "foreign"
                               / "numpy_mlp.py")]
PROBLEM = "784-32-32-10/sigmoid/softmax_cross_entropy/float64"
QUICK_PROBLEM = "3-5-4-3/sigmoid/softmax_cross_entropy/float64"


def run_foreign(reps: int, quick: bool, quiet: Quiet | None = None) -> list[Row]:
    """Time a passing and a failing check of the same problem ``reps`` times."""
    from verification.interchange.foreign import check_foreign

    only = QUICK_PROBLEM if quick else PROBLEM
    reports: dict[str, Any] = {}

    def case(name: str, extra: list[str]) -> Any:
        def run(rep: int) -> None:
            reports[name] = check_foreign([*PROGRAM, *extra], only=[only], timeout=600)

        return run

    progress(f"H: foreign check of {only}, correct and 1% wrong, x {reps}")
    times = interleaved_times({"pass": case("pass", []),
                               "fail": case("fail", ["--bug", "grad-scale"])},
                              reps, warmup=0, quiet=quiet)
    if not reports["pass"].passed or reports["fail"].passed:
        raise RuntimeError(f"H: expected pass and FAIL, got {reports['pass'].passed} and "
                           f"{reports['fail'].passed}")
    rows = [
        Row("H", f"H.{name}", f"foreign check, {words} program ({only})", median(times[name]),
            "s", note="numpy program, protocol 2, start-up included",
            samples=tuple(times[name]))
        for name, words in (("pass", "correct"), ("fail", "1% wrong"))
    ]
    rows.append(ratio_row("H", "H.fail/pass", "failing / passing foreign check",
                          times["fail"], times["pass"], Target("<=", 3.0)))
    for name in ("pass", "fail"):
        meta = reports[name].meta
        rows.append(Row("H", f"H.{name}.evaluations", f"loss evaluations, {name}",
                        float(meta["evaluations"]), "points"))
        rows.append(Row("H", f"H.{name}.sent", f"bytes sent to the program, {name}",
                        float(meta["bytes_sent"]) / 1e6, "MB"))
    return rows
