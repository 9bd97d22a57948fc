"""The benchmark suite's sections run in this process: their rows and the foreign load.

:func:`run_suite` runs the chosen sections (``load``, ``import``, ``alloc``, ``blas``,
``A``-``C``, ``D``, ``E``, ``F``, ``G``, ``Gfull``, ``H``; see :mod:`benchmarks.run`) one
after the other and notes, per section, the share of the CPUs other processes used meanwhile. A
failing verification benchmark (scenario D) becomes a row instead of stopping the suite.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from benchmarks.harness import (
    ForeignLoad,
    Quiet,
    Row,
    Target,
    interleaved_times,
    median,
    progress,
)

__all__ = ["MIN_REPS", "SECTIONS", "run_suite"]

SECTIONS = ("load", "import", "alloc", "blas", "A", "B", "C", "D", "E", "F", "G", "Gfull", "H")
MIN_REPS = 5


def _load_rows(reps: int, quiet: Quiet | None) -> list[Row]:
    from benchmarks.data import load_seconds

    first = load_seconds()  # also warms the file cache: the timed loads read it
    if isinstance(first, str):
        return [
            Row(
                "load",
                "load.mnist",
                "load_mnist() from the gz files",
                None,
                "s",
                Target("<", 0.5),
                f"failed: {first}",
            )
        ]
    samples = interleaved_times({"load": lambda _: load_seconds()}, reps, 0, quiet=quiet)["load"]
    return [
        Row(
            "load",
            "load.mnist",
            "load_mnist() from the gz files",
            median(samples),
            "s",
            Target("<", 0.5),
            "uint8 arrays, structure and SHA-256 checks included",
            tuple(samples),
        )
    ]


def _as_rows(items: Iterable[Any]) -> list[Row]:
    rows = []
    for item in items:
        if isinstance(item, Row):
            rows.append(item)
        elif isinstance(item, Mapping):
            row = Row.from_dict(item)
            if row.scenario == "?":
                row = Row.from_dict({**item, "scenario": "D"})
            rows.append(row)
        else:
            raise TypeError(f"bench_verification returned a {type(item).__name__}, not a row")
    return rows


def _verification_rows(reps: int, quick: bool, quiet: Quiet | None) -> list[Row]:
    """Scenario D (:mod:`benchmarks.bench_verification`); a failure becomes a row."""
    try:
        from benchmarks.bench_verification import run

        return _as_rows(run(quick=quick, reps=reps, quiet=quiet))
    except Exception as exc:  # reported as a row: one broken section must not hide the others
        return [
            Row(
                "D",
                "D.error",
                "verification benchmark",
                None,
                "s",
                note=f"failed: {type(exc).__name__}: {exc}",
            )
        ]


def run_suite(
    sections: Sequence[str],
    reps: int,
    *,
    quick: bool,
    peers: bool,
    profile: bool,
    quiet: Quiet | None = None,
) -> tuple[list[Row], list[str], dict[str, Any], dict[str, Any]]:
    """Run ``sections``; return the rows, the profiles (if asked), the data's description
    and, per section, the share of the CPUs other processes used meanwhile (and, with
    ``quiet``, the rounds redone because of them)."""
    rows: list[Row] = []
    profiles: list[str] = []
    data_info: dict[str, Any] = {}
    foreign: dict[str, Any] = {}
    data: Any = None
    for section in sections:
        meter = ForeignLoad()
        logged = len(quiet.log) if quiet is not None else 0
        if section == "load":
            progress("load: timing load_mnist()")
            rows += _load_rows(reps, quiet)
        elif section == "import":
            from benchmarks.startup import run_startup

            progress("import: import funcnn and funcnn --help in fresh processes")
            rows += run_startup(reps, quiet)
        elif section == "alloc":
            from benchmarks.alloc import run_alloc

            progress("alloc: fresh vs reused 400 KB gradient")
            rows += run_alloc(reps, steps=100 if quick else 2000, quiet=quiet)
        elif section == "blas":
            from benchmarks.blas import run_blas_mix

            progress("blas: numpy's and scipy's OpenBLAS alternating in one loop")
            rows += run_blas_mix(reps, steps=20 if quick else 100, quiet=quiet)
        elif section in ("A", "B", "C"):
            from benchmarks.data import load
            from benchmarks.scenarios import SCENARIOS, profile_funcnn, run_scenario

            if data is None:
                data = load(limit=4096 if quick else None)
                data_info = {"source": data.source, "n_train": int(data.x_train.shape[0])}
            rows += run_scenario(
                SCENARIOS[section], data, reps, peers=peers, quick=quick, quiet=quiet
            )
            if profile:
                profiles.append(profile_funcnn(SCENARIOS[section], data, quick))
        elif section == "D":
            progress("D: verification benchmark")
            rows += _verification_rows(reps, quick, quiet)
        elif section == "E":
            from benchmarks.memory import run_memory

            progress("E: peak RSS of a training run (subprocess)")
            rows += run_memory(quick)
        elif section == "F":
            from benchmarks.estimator import run_estimators

            rows += run_estimators(reps, quick, quiet)
        elif section == "G":
            from benchmarks.distributed import run_distributed

            rows += run_distributed(reps, quick)
        elif section == "Gfull":
            from benchmarks.distributed import run_whole

            rows += run_whole(quick)
        elif section == "H":
            from benchmarks.foreign import run_foreign

            rows += run_foreign(reps, quick, quiet)
        entry: dict[str, Any] = {"whole_section": meter.fraction()}
        if quiet is not None:
            calls = quiet.log[logged:]
            entry["rounds_redone"] = sum(int(c["discarded"]) for c in calls)
            levels = [v for c in calls for v in c["round_foreign_load"] if v is not None]
            entry["worst_kept_round"] = max(levels) if levels else None
        foreign[section] = entry
    return rows, profiles, data_info, foreign


