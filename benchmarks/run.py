"""The benchmark runner: ``python -m benchmarks``, a table on stdout and a JSON file.

Usage::

    python -m benchmarks                              # everything, both OpenBLAS settings
    python -m benchmarks --openblas current           # one run, the environment as it is
    python -m benchmarks --quick --only A,C           # a smoke run on a small slice
    python -m benchmarks --from-json benchmarks/results/latest.json --markdown   # re-print

Sections (``--only``, comma-separated, case-insensitive): ``load`` (MNIST load time),
``import`` (``import funcnn`` and ``funcnn --help`` against ``import numpy``, see
:mod:`benchmarks.startup`), ``alloc`` (fresh vs reused 400 KB gradient), ``blas``
(numpy's and scipy's OpenBLAS alternating in one loop, see :mod:`benchmarks.blas`), ``A``,
``B``, ``C`` (training comparisons, see :mod:`benchmarks.scenarios`), ``D`` (the
verification suite against ``torch.autograd`` and JAX, :mod:`benchmarks.bench_verification`),
``E`` (peak RSS of a training run, see :mod:`benchmarks.memory`), ``F`` (funcnn's
scikit-learn ``MLPClassifier`` against scikit-learn's own on MNIST, time and test accuracy,
see :mod:`benchmarks.estimator`), ``G`` and ``Gfull`` (black-box full mode on a
1M-parameter network, serial against loky processes and a local Dask cluster, and the
whole full mode once on every core; see :mod:`benchmarks.distributed`), ``H`` (a failing
foreign-protocol check against a passing one, see :mod:`benchmarks.foreign`). Every measured
time is the median of ``--reps`` repetitions (at least 5) and every target a ratio from
the same run, except the absolute bounds on ``load`` and ``import`` (which also has its
ratios).

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
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.harness import OPENBLAS_TUNING_VARS, Quiet, environment, progress
from benchmarks.report import NOISY, describe_environment, format_table
from benchmarks.suite import MIN_REPS, SECTIONS, run_suite

__all__ = ["SECTIONS", "format_table", "main", "openblas_settings", "run_suite"]

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "latest.json"
DEFAULT_REPS = 11
"""More than the minimum: on a 2-vCPU virtual machine two-threaded products vary by 2x
from one second to the next, and a median of 5 or 7 still flips ratios near 1."""
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


def _parser() -> argparse.ArgumentParser:
    """The command line: what to measure, then :func:`_add_output_options`."""
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
    _add_output_options(parser)
    return parser


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    """The options for noise handling and output (and the child runs' hidden ones)."""
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


def _print_runs(runs: Sequence[Mapping[str, Any]], markdown: bool, profiles: bool) -> None:
    """The environment notes, the table and (with ``profiles``) the profiles of ``runs``
    on stdout."""
    print(describe_environment(runs))
    print()
    print(format_table(runs, markdown=markdown))
    if not profiles:
        return
    for run in runs:
        for text in run.get("profiles", []):
            print(f"\n[{run['label']}] {text}")


def _both_settings(raw: Sequence[str]) -> list[dict[str, Any]]:
    """The suite in two child processes, one per :func:`openblas_settings`."""
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
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the suite, print the table, write the JSON."""
    raw = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(raw)

    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        _print_runs(saved["runs"], args.markdown, profiles=False)
        return 0
    if args.reps is not None and args.reps < MIN_REPS:
        raise SystemExit(f"--reps: at least {MIN_REPS} repetitions (medians), got {args.reps}")
    _parse_only(args.only)  # reject unknown sections before starting any child
    runs = _both_settings(raw) if args.openblas == "both" else [_single_run(args, args.label)]

    result = {
        "schema": 1,
        "command": " ".join(["python -m benchmarks", *raw]),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "quick": bool(args.quick),
        "runs": runs,
    }
    if not args.no_table:
        _print_runs(runs, args.markdown, profiles=True)
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2, default=str) + "\n")
        if not args.no_table:
            print(f"\nJSON written to {path}")
    return 0
