"""Command line of the verification suite: ``python -m verification`` or ``funcnn-verify``.

Runs the catalogue (:mod:`verification.catalogue`), printing one progress line per check
as it finishes, then the table of every checked tensor and a summary. Exit status 0
only if every row passed (``pass`` or ``subgradient``), 1 if any failed or was
inconclusive, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from verification.catalogue import Check, catalogue, run_checks, select
from verification.golden import export_golden
from verification.report import Report

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by ``funcnn verify``)."""
    parser = argparse.ArgumentParser(
        prog="funcnn-verify",
        description=(
            "Check every gradient funcnn computes against scipy finite differences "
            "(activations, softmax, losses, dense layer, whole networks in float64 and "
            "float32). Exit status 0 only if everything passes."
        ),
    )
    parser.add_argument("--quick", action="store_true",
                        help="reduced catalogue for CI (well under 30 s)")
    parser.add_argument("--json", metavar="PATH", type=Path,
                        help="write the full report as JSON to PATH")
    parser.add_argument("--export-golden", metavar="DIR", type=Path,
                        help="write golden values (fixed-seed problems, losses, gradients) "
                             "to DIR as manifest.json + data.bin (see docs/golden-format.md) "
                             "and exit, without running any check")
    parser.add_argument("--large", action="store_true",
                        help="with --export-golden: add the large networks (about 43 MB)")
    parser.add_argument("--foreign", metavar="CMD",
                        help="check another program's MLP gradients: run CMD (a shell-style "
                             "command line) and talk to it over stdin/stdout (see "
                             "docs/foreign-protocol.md)")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                        help="with --foreign: seconds to wait for each answer (default 60)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of every random draw (default 0)")
    parser.add_argument("--only", metavar="PATTERN", action="append", default=[],
                        help="run only checks whose name matches PATTERN (shell wildcards "
                             "or substring; repeatable), e.g. 'network/784-32-32-10/*'")
    parser.add_argument("--list", action="store_true",
                        help="list the selected checks and exit")
    parser.add_argument("--brief", action="store_true",
                        help="print only rows that did not pass, then the summary")
    return parser


def _progress(out: TextIO, name_width: int = 64) -> Callable[
    [int, int, Check, Report, float], None
]:
    def report(index: int, total: int, check: Check, result: Report, seconds: float) -> None:
        width = len(str(total))
        verdicts = {row.verdict for row in result.rows}
        if not result.passed:
            status = "FAIL" if "fail" in verdicts else "INCONCLUSIVE"
        else:
            status = "subgradient" if "subgradient" in verdicts else "pass"
        line = (f"[{index + 1:>{width}}/{total}] {check.name:<{name_width}} {status:<12} "
                f"{seconds:7.2f}s")
        if not result.passed:
            bad = result.failures[0]
            where = "" if bad.worst_index is None else f" at {list(bad.worst_index)}"
            line += f"  <- {bad.tensor}{where}"
        print(line, file=out, flush=True)

    return report


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the suite with command-line arguments ``argv``; return the exit status."""
    stream = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(None if argv is None else list(argv))
    if args.export_golden is not None:
        return _export(args, stream)
    if args.foreign is not None:
        return _foreign(args, stream)
    checks = select(catalogue(quick=args.quick), args.only)
    if not checks:
        print(f"funcnn-verify: no check matches {args.only}", file=sys.stderr)
        return 2
    if args.list:
        for check in checks:
            print(f"{check.name}  ({check.group}{', quick' if check.quick else ''})", file=stream)
        return 0
    print(f"funcnn-verify: {len(checks)} checks, seed {args.seed}"
          + (" (quick)" if args.quick else ""), file=stream, flush=True)
    name_width = max(len(c.name) for c in checks)
    report = run_checks(checks, seed=args.seed, progress=_progress(stream, name_width))
    shown = Report(report.failures, report.meta) if args.brief else report
    print(file=stream)
    print(shown.table() if shown.rows else report.summary(), file=stream)
    print(f"data: {', '.join(report.meta.get('data', [])) or 'none'}; "
          f"total {report.meta.get('seconds', 0):.1f} s", file=stream)
    if args.json is not None:
        report.write_json(args.json)
        print(f"report written to {args.json}", file=stream)
    return 0 if report.passed else 1


def _export(args: argparse.Namespace, stream: TextIO) -> int:
    """``--export-golden DIR [--large]``: write the golden files, run nothing else."""
    try:
        cases = export_golden(args.export_golden, seed=args.seed, large=args.large)
    except OSError as exc:
        print(f"funcnn-verify: --export-golden {args.export_golden}: {exc}", file=sys.stderr)
        return 2
    print(f"golden values of {len(cases)} cases written to {args.export_golden}", file=stream)
    return 0


def _foreign(args: argparse.Namespace, stream: TextIO) -> int:
    """``--foreign CMD [--timeout S]``: check another program's gradients."""
    from verification.foreign import ForeignError, check_foreign

    if not args.timeout > 0:
        print(f"funcnn-verify: --timeout {args.timeout:g}: expected seconds > 0", file=sys.stderr)
        return 2
    try:
        report = check_foreign(args.foreign, seed=args.seed, timeout=args.timeout,
                               quick=args.quick, only=args.only)
    except ForeignError as exc:
        print(f"funcnn-verify: --foreign: {exc}", file=sys.stderr)
        return 1
    shown = Report(report.failures, report.meta) if args.brief else report
    print(shown.table() if shown.rows else report.summary(), file=stream)
    for problem, text in report.meta.get("diagnosis", {}).items():
        print(f"\n{problem}:\n{text}", file=stream)
    if args.json is not None:
        report.write_json(args.json)
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
