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

from verification.catalogue import Check, build_catalogue, run_checks, select
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
    parser.add_argument("--export-golden", metavar="PATH", type=Path,
                        help="write golden values (fixed-seed problems, losses, gradients) "
                             "to PATH (.npz; layout in verification.golden)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of every random draw (default 0)")
    parser.add_argument("--only", metavar="PATTERN", action="append", default=[],
                        help="run only checks whose name matches PATTERN (shell wildcards "
                             "or substring; repeatable), e.g. 'network/784-32-32-10/*'")
    parser.add_argument("--list", action="store_true",
                        help="list the selected checks and exit")
    parser.add_argument("--brief", action="store_true",
                        help="print only rows that did not pass, then the summary")
    parser.add_argument("--plot", metavar="PATH", type=_png_path,
                        help="draw the signed relative error of every failing tensor as a "
                             "heat map to PATH (.png; needs matplotlib)")
    return parser


def _png_path(text: str) -> Path:
    if not text.lower().endswith(".png"):
        raise argparse.ArgumentTypeError(f"expected a file name ending in .png, got {text!r}")
    return Path(text)


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
    checks = select(build_catalogue(quick=args.quick), args.only)
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
    if args.plot is not None:
        _write_plot(report, args.plot, stream)
    if args.export_golden is not None:
        cases = export_golden(args.export_golden, seed=args.seed, quick=args.quick)
        print(f"golden values of {len(cases)} cases written to {args.export_golden}",
              file=stream)
    return 0 if report.passed else 1


def _write_plot(report: Report, path: Path, stream: TextIO) -> None:
    failing = [row for row in report.rows if row.verdict == "fail" and row.errors is not None]
    if not failing:
        print(f"--plot: no failing tensor to draw; {path} not written", file=stream)
        return
    report.plot(path)
    print(f"heat map of {min(len(failing), 12)} failing tensor(s) written to {path}",
          file=stream)


if __name__ == "__main__":
    sys.exit(main())
