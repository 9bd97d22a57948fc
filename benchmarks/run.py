"""The benchmark runner: ``python -m benchmarks``, a table on stdout and a JSON file.

Usage::

    python -m benchmarks                              # everything, both OpenBLAS settings
    python -m benchmarks --openblas current           # one run, the environment as it is
    python -m benchmarks --quick --only A,C           # a smoke run on a small slice
    python -m benchmarks --from-json benchmarks/results/latest.json --markdown   # re-print

Sections (``--only``, comma-separated, case-insensitive): ``load`` (MNIST load time),
``alloc`` (fresh vs reused 400 KB gradient), ``blas`` (numpy's and scipy's OpenBLAS
alternating in one loop, see :mod:`benchmarks.blas`), ``A``, ``B``, ``C`` (training comparisons,
see :mod:`benchmarks.scenarios`), ``D`` (the verification suite against ``torch.autograd``
and JAX, :mod:`benchmarks.bench_verification`), ``E`` (peak RSS of a training run, see
:mod:`benchmarks.memory`). Every measured time is the median of ``--reps`` repetitions
(at least 5) and every target a ratio from the same run.

By default (``--openblas both``) the suite runs twice, each time in a fresh process:
first with ``OPENBLAS_CORETYPE`` as this machine sets it (``Haswell``, AVX2 kernels; set
to ``Haswell`` in that child process when the environment does not set it), then with
``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` removed from that one command's
environment, so that OpenBLAS picks its kernels itself (AVX-512 where the CPU has it). The
table shows both side by side. The variables are never changed anywhere else (not in
the tests, not in CI, not in this process). ``--openblas current`` runs once, in this
process, with the environment as it is.

The JSON (``--json``, default ``benchmarks/results/latest.json``, git-ignored) holds every
row with its raw repetitions, the environment of each run (threadpoolctl's report of the
BLAS libraries and the kernel set OpenBLAS chose) and the CPU share other processes used
while each section ran.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    OPENBLAS_TUNING_VARS,
    ForeignLoad,
    Quiet,
    Row,
    Target,
    environment,
    format_value,
    interleaved_times,
    median,
    progress,
)

__all__ = ["SECTIONS", "format_table", "main", "openblas_settings", "run_suite"]

SECTIONS = ("load", "alloc", "blas", "A", "B", "C", "D", "E")
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "latest.json"
MIN_REPS = 5
DEFAULT_REPS = 11
"""More than the minimum: on a 2-vCPU virtual machine two-threaded products vary by 2x
from one second to the next, and a median of 5 or 7 still flips ratios near 1."""
NOISY = 0.1
SPREAD = 0.25
MACHINE_CORETYPE = "Haswell"
"""The ``OPENBLAS_CORETYPE`` issue 7's machine sets: the first of the two settings."""


def openblas_settings(environ: Mapping[str, str]) -> list[tuple[str, dict[str, str]]]:
    """The two child environments issue 7 asks for, as ``(label, environment)``.

    First the environment as it is, with ``OPENBLAS_CORETYPE`` set to ``Haswell`` if it
    is not set at all (label ``Haswell``; ``as set`` when the environment sets it); then
    the same environment without ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` (label
    ``unset``). ``environ`` is not modified.
    """
    first = dict(environ)
    if first.get("OPENBLAS_CORETYPE") is None:
        first["OPENBLAS_CORETYPE"] = MACHINE_CORETYPE
        label = MACHINE_CORETYPE
    else:
        label = "as set"
    second = {k: v for k, v in environ.items() if k not in OPENBLAS_TUNING_VARS}
    return [(label, first), ("unset", second)]


def _parse_only(text: str | None) -> list[str]:
    if not text:
        return list(SECTIONS)
    by_lower = {name.lower(): name for name in SECTIONS}
    chosen = []
    for part in text.split(","):
        name = by_lower.get(part.strip().lower())
        if name is None:
            raise SystemExit(f"--only: unknown section {part.strip()!r}; choose from {SECTIONS}")
        chosen.append(name)
    return [name for name in SECTIONS if name in chosen]


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
        entry: dict[str, Any] = {"whole_section": meter.fraction()}
        if quiet is not None:
            calls = quiet.log[logged:]
            entry["rounds_redone"] = sum(int(c["discarded"]) for c in calls)
            levels = [v for c in calls for v in c["round_foreign_load"] if v is not None]
            entry["worst_kept_round"] = max(levels) if levels else None
        foreign[section] = entry
    return rows, profiles, data_info, foreign


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


def _describe_environment(runs: Sequence[Mapping[str, Any]]) -> str:
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


def _single_run(args: argparse.Namespace, label: str) -> dict[str, Any]:
    sections = _parse_only(args.only)
    reps = args.reps if args.reps is not None else (5 if args.quick else DEFAULT_REPS)
    if reps < MIN_REPS:
        raise SystemExit(f"--reps: at least {MIN_REPS} repetitions (medians), got {reps}")
    env = environment()
    started = time.perf_counter()
    quiet = None if args.no_quiet else Quiet(threshold=NOISY, retries=args.quiet_retries)
    rows, profiles, data, foreign = run_suite(
        sections,
        reps,
        quick=args.quick,
        peers=not args.skip_peers,
        profile=args.profile,
        quiet=quiet,
    )
    env_end = environment()
    env["load_average_at_end"] = env_end["load_average_1_5_15"]
    # threadpoolctl sees torch's / JAX's libraries only once they are imported.
    env["threadpool_info"] = env_end["threadpool_info"]
    return {
        "label": label,
        "environment": env,
        "data": data,
        "foreign_cpu_load": foreign,
        "reps": reps,
        "seconds": time.perf_counter() - started,
        "rows": [row.to_dict() for row in rows],
        "profiles": profiles,
    }


def _child_run(argv: Sequence[str], label: str, env: Mapping[str, str]) -> dict[str, Any]:
    """The suite in a fresh process with environment ``env``; its one run."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "run.json"
        command = [
            sys.executable,
            "-m",
            "benchmarks",
            *argv,
            "--openblas",
            "current",
            "--json",
            str(path),
            "--no-table",
            "--label",
            label,
        ]
        tuning = ", ".join(f"{k}={env.get(k)}" for k in OPENBLAS_TUNING_VARS)
        progress(f"running the suite in a child process ({label}: {tuning})")
        done = subprocess.run(command, cwd=ROOT, env=dict(env), check=False)
        if done.returncode != 0:
            raise SystemExit(f"the '{label}' run failed with exit code {done.returncode}")
        runs: list[dict[str, Any]] = json.loads(path.read_text())["runs"]
        return runs[0]


def _strip(argv: Sequence[str], flags: Sequence[str], with_value: Sequence[str]) -> list[str]:
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in flags:
            continue
        if name in with_value:
            skip = "=" not in arg
            continue
        out.append(arg)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the suite, print the table, write the JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small data slices and short loops: a smoke run, not a measurement",
    )
    parser.add_argument(
        "--json",
        metavar="PATH",
        default=str(DEFAULT_JSON),
        help="where to write the results as JSON (default: benchmarks/results/latest.json)",
    )
    parser.add_argument(
        "--only", metavar="LIST", help=f"sections to run, from {','.join(SECTIONS)}"
    )
    parser.add_argument(
        "--reps",
        type=int,
        default=None,
        help=f"repetitions per measurement (default {DEFAULT_REPS}, --quick 5; >= {MIN_REPS})",
    )
    parser.add_argument(
        "--skip-peers", action="store_true", help="do not import or time PyTorch and JAX"
    )
    parser.add_argument(
        "--openblas",
        choices=("both", "current"),
        default="both",
        help="both (default): run twice in child processes, OPENBLAS_CORETYPE as set "
        "(Haswell if unset) and without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE; current: run "
        "once here, the environment as it is",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="print a cProfile of one funcnn epoch per training scenario",
    )
    parser.add_argument(
        "--no-quiet",
        action="store_true",
        help="keep repetitions during which other processes used the CPUs (default: redo "
        "such rounds, waiting for a quiet moment, up to --quiet-retries times)",
    )
    parser.add_argument(
        "--quiet-retries",
        type=int,
        default=5,
        metavar="N",
        help="disturbed rounds redone per measurement at most (default 5)",
    )
    parser.add_argument(
        "--from-json",
        metavar="PATH",
        help="measure nothing: print the table of a JSON file this command wrote",
    )
    parser.add_argument(
        "--markdown", action="store_true", help="print the table as Markdown (for the README)"
    )
    parser.add_argument("--label", default="as set", help=argparse.SUPPRESS)
    parser.add_argument("--no-table", action="store_true", help=argparse.SUPPRESS)
    raw = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(raw)

    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        print(_describe_environment(saved["runs"]))
        print()
        print(format_table(saved["runs"], markdown=args.markdown))
        return 0
    if args.reps is not None and args.reps < MIN_REPS:
        raise SystemExit(f"--reps: at least {MIN_REPS} repetitions (medians), got {args.reps}")
    _parse_only(args.only)  # reject unknown sections before starting any child
    if args.openblas == "both":
        passed = _strip(raw, ["--no-table", "--markdown"], ["--json", "--label", "--openblas"])
        runs = []
        for label, env in openblas_settings(os.environ):
            run = _child_run(passed, label, env)
            if label == MACHINE_CORETYPE:
                run["openblas_note"] = (
                    "OPENBLAS_CORETYPE is not set in this environment; this run set it to "
                    f"{MACHINE_CORETYPE} (the setting issue 7 describes for this machine) in "
                    "its own child process only."
                )
            runs.append(run)
    else:
        runs = [_single_run(args, args.label)]

    result = {
        "schema": 1,
        "command": " ".join(["python -m benchmarks", *raw]),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": bool(args.quick),
        "runs": runs,
    }
    if not args.no_table:
        print(_describe_environment(runs))
        print()
        print(format_table(runs, markdown=args.markdown))
        for run in runs:
            for text in run.get("profiles", []):
                print(f"\n[{run['label']}] {text}")
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2, default=str) + "\n")
        if not args.no_table:
            print(f"\nJSON written to {path}")
    return 0
