"""The benchmark runs as text: the environment and noise notes, and the results table.

:func:`format_table` puts the rows of one or more runs (the JSON's ``runs``) side by
side, as aligned text or Markdown; :func:`describe_environment` says what each run ran
on and warns where other processes or widely spread repetitions make timings unreliable.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import OPENBLAS_TUNING_VARS, Row, format_value
from benchmarks.suite import MIN_REPS

__all__ = ["NOISY", "SPREAD", "describe_environment", "format_table"]

NOISY = 0.1
SPREAD = 0.25


def _status_text(row: Row) -> str:
    status = row.status
    if status in ("pass", "miss") and row.margin is not None:
        return f"{status} ({row.margin:.2f}x)"
    return status


def format_table(runs: Sequence[Mapping[str, Any]], *, markdown: bool = False) -> str:
    """The runs' rows side by side: value per run, target, status per run; with
    ``markdown`` as a Markdown table (for the README), else aligned plain text."""
    labels = [str(run["label"]) for run in runs]
    per_run = [[Row.from_dict(r) for r in run["rows"]] for run in runs]
    keys: list[str] = []
    for rows in per_run:
        keys += [row.key for row in rows if row.key not in keys]
    lookup = [{row.key: row for row in rows} for rows in per_run]
    header = ["", "measurement", "unit", *labels, "target", *(f"status ({lb})" for lb in labels)]
    table = [header]
    notes = []
    for key in keys:
        present = [rows.get(key) for rows in lookup]
        first = next(row for row in present if row is not None)
        target = first.target.describe(first.unit) if first.target else ""
        values = [format_value(r.value, r.unit) if r else "" for r in present]
        statuses = [_status_text(r) if r else "" for r in present]
        table.append([first.scenario, first.label, first.unit, *values, target, *statuses])
        if first.note and first.status == "skipped":
            notes.append(f"  {first.key}: {first.note}")
    if markdown:
        lines = ["| " + " | ".join(line).rstrip() + " |" for line in table]
        lines.insert(
            1, "|" + "|".join("---" if i < 2 else "---:" for i in range(len(header))) + "|"
        )
        return "\n".join(lines)
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = []
    for index, line in enumerate(table):
        cells = [
            cell.ljust(width) if i < 3 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    if notes:
        lines += ["", "skipped:", *notes]
    return "\n".join(lines)


def _timed_foreign_load(entry: Mapping[str, Any]) -> float | None:
    """The foreign CPU load that matters: the worst kept round when rounds were guarded,
    else the whole section's."""
    worst = entry.get("worst_kept_round")
    return float(worst) if worst is not None else entry.get("whole_section")


def _widely_spread(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """``key (IQR/median)`` of the timed rows whose repetitions spread over ``SPREAD``."""
    out = []
    for row in rows:
        samples = sorted(float(v) for v in row.get("samples", ()))
        if row.get("unit") not in ("s", "s/epoch", "us/step") or len(samples) < MIN_REPS:
            continue
        q1, mid, q3 = statistics.quantiles(samples, n=4)
        if mid > 0 and (q3 - q1) / mid > SPREAD:
            out.append(f"{row['key']} ({(q3 - q1) / mid:.0%})")
    return out


def describe_environment(runs: Sequence[Mapping[str, Any]]) -> str:
    lines = []
    for run in runs:
        env = run["environment"]
        tuning = ", ".join(f"{k}={env['env'].get(k)}" for k in OPENBLAS_TUNING_VARS)
        lines.append(
            f"[{run['label']}] {env['cpu']} ({env['cpu_count']} CPUs), python {env['python']}, "
            f"numpy {env['numpy']}, BLAS: {env['blas']}; {tuning}; load average at start "
            f"{env['load_average_1_5_15']}; data: {run.get('data', {}).get('source', '-')}"
        )
        shares = []
        noisy = []
        for section, entry in run.get("foreign_cpu_load", {}).items():
            level = _timed_foreign_load(entry)
            if level is None:
                continue
            redone = entry.get("rounds_redone") or 0
            shares.append(
                f"{section} {level:.0%}" + (f" ({redone} rounds redone)" if redone else "")
            )
            if level > NOISY:
                noisy.append(section)
        if shares:
            lines.append(
                f"[{run['label']}] CPU share used by other processes while timing: "
                + ", ".join(shares)
            )
        if noisy:
            lines.append(
                f"WARNING [{run['label']}]: other processes used over {NOISY:.0%} of the CPUs "
                f"while {', '.join(noisy)} ran; those timings are unreliable (re-run on a quiet "
                "machine)."
            )
    for run in runs:
        blas = [
            entry
            for entry in run["environment"].get("threadpool_info", [])
            if entry.get("user_api") == "blas"
        ]
        if len(blas) > 1:
            names = ", ".join(
                f"{Path(str(e.get('filepath'))).name} ({e.get('num_threads')} threads)"
                for e in blas
            )
            lines.append(
                f"NOTE [{run['label']}]: {len(blas)} BLAS libraries loaded: {names}. Mixing their "
                "calls in one loop makes their thread pools compete"
                + (" (see the 'blas' rows)." if "blas" in run.get("foreign_cpu_load", {}) else ".")
            )
    for run in runs:
        spread = _widely_spread(run["rows"])
        if spread:
            lines.append(
                f"NOTE [{run['label']}]: repetitions spread widely (interquartile range over "
                f"{SPREAD:.0%} of the median) in {', '.join(spread)}: ratios near a bound may "
                "flip from run to run; the JSON keeps every repetition and each ratio's "
                "paired median."
            )
    for run in runs:
        if run.get("openblas_note"):
            lines.append(f"NOTE [{run['label']}]: {run['openblas_note']}")
    if len(runs) == 1 and not runs[0]["environment"]["openblas_tuning_set"]:
        lines.append(
            "NOTE: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are not set: this is the 'unset' "
            "setting only (run with --openblas both for both settings)."
        )
    return "\n".join(lines)


