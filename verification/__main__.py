"""Command line of the verification suite: ``python -m verification`` or ``funcnn-verify``.

Runs the catalogue (:mod:`verification.catalogue.suite`), printing one line per group of
checks as it finishes, one line per check that did not pass, and a summary, none wider
than 100 characters. ``--verbose`` prints a line per check and the table of every
checked tensor; ``--json`` prints the full report as JSON instead (``--json PATH``
writes it to a file). Exit status 0 only if every row passed (``pass`` or
``subgradient``), 1 if any failed or was inconclusive, 2 for a usage error (one line on
stderr); a closed pipe (``| head``) ends quietly.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

from funcnn.cli.args import seed
from funcnn.cli.errors import BROKEN_PIPE_STATUS, exit_quietly_on_broken_pipe
from verification.catalogue.suite import Check, build_catalogue, run_checks, select
from verification.engine.common.arguments import check_extra_losses
from verification.interchange.golden import export_golden
from verification.reporting.report import Report

__all__ = ["build_parser", "main"]


# The widest line the default output prints.
WIDTH = 100


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser(prog: str = "funcnn-verify") -> argparse.ArgumentParser:
    """The argument parser; ``prog`` is the command as typed (``funcnn verify`` from
    :mod:`funcnn.cli`), which every message and the header name."""
    parser = _Parser(
        prog=prog,
        description=(
            "Check every gradient funcnn computes against scipy finite differences "
            "(activations, softmax, losses, dense layer, whole networks in float64 and "
            "float32). Exit status 0 only if everything passes."
        ),
    )
    parser.add_argument("--quick", action="store_true",
                        help="reduced catalogue for CI (well under 30 s)")
    parser.add_argument("--json", metavar="PATH", type=Path, nargs="?", const=Path("-"),
                        help="print the full report as JSON instead of text, or with PATH "
                             "write it there")
    parser.add_argument("--export-golden", metavar="DIR", type=Path,
                        help="write golden values (fixed-seed problems, losses, gradients) "
                             "to DIR as manifest.json + data.bin (see docs/golden-format.md) "
                             "and exit, without running any check")
    parser.add_argument("--large", action="store_true",
                        help="with --export-golden: add the large networks (about 43 MB)")
    parser.add_argument("--compare-golden", metavar="RESULTS", type=Path,
                        help="compare another program's outputs on the golden cases (a JSON "
                             "file, see docs/golden-format.md) with the golden files of "
                             "--golden DIR by funcnn's rule; print a verdict per case, and "
                             "hints for failing outputs")
    parser.add_argument("--golden", metavar="DIR", type=Path,
                        help="with --compare-golden: the golden directory the program read")
    parser.add_argument("--foreign", metavar="CMD",
                        help="check another program's MLP gradients: run CMD (a shell-style "
                             "command line) and talk to it over stdin/stdout (see "
                             "docs/foreign-protocol.md)")
    parser.add_argument("--loss", metavar="MODULE:ATTR", action="append", default=[],
                        help="with --foreign or --export-golden: also check (export) the "
                             "funcnn.Loss MODULE.ATTR, e.g. a head built with "
                             "verification.external.heads.head (the current directory is "
                             "searched first; repeatable)")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                        help="with --foreign: seconds to wait for each answer (default 60)")
    parser.add_argument("--max-answer-bytes", type=int, default=None, metavar="BYTES",
                        help="with --foreign: the longest answer line read (default 64 MiB)")
    parser.add_argument("--quiet", "-q", action="store_true",
                        help="with --foreign: no progress lines on stderr")
    parser.add_argument("--seed", type=seed, default=0,
                        help="seed of every random draw (default 0)")
    parser.add_argument("--only", metavar="PATTERN", action="append", default=[],
                        help="run only checks whose name matches PATTERN (shell wildcards "
                             "or substring; repeatable), e.g. 'network/784-32-32-10/*'")
    parser.add_argument("--list", action="store_true",
                        help="list the selected checks and exit")
    parser.add_argument("--brief", action="store_true",
                        help="also print the table of rows that did not pass")
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="print a line per check and the table of every row")
    parser.add_argument("--plot", metavar="PATH", type=_png_path,
                        help="draw the signed relative error of every failing tensor as a "
                             "heat map to PATH (.png; needs matplotlib)")
    parser.set_defaults(prog=prog)
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


def _fit(line: str) -> str:
    return line if len(line) <= WIDTH else line[: WIDTH - 3] + "..."


def _status(result: Report) -> str:
    verdicts = {row.verdict for row in result.rows}
    if not result.passed:
        return "FAIL" if "fail" in verdicts else "INCONCLUSIVE"
    return "subgradient" if "subgradient" in verdicts else "pass"


def _by_group(checks: Sequence[Check], out: TextIO) -> Callable[
    [int, int, Check, Report, float], None
]:
    """Progress as one line per group of checks, when its last check is done."""
    left = {check.group: 0 for check in checks}
    for check in checks:
        left[check.group] += 1
    size = dict(left)
    done: dict[str, list[Report]] = {group: [] for group in left}
    seconds: dict[str, float] = dict.fromkeys(left, 0.0)

    def report(index: int, total: int, check: Check, result: Report, took: float) -> None:
        group = check.group
        done[group].append(result)
        seconds[group] += took
        left[group] -= 1
        if not result.passed:
            bad = result.failures[0]
            where = "" if bad.worst_index is None else f" at {list(bad.worst_index)}"
            print(_fit(f"  {_status(result)} {check.name}: {bad.tensor}{where}"), file=out,
                  flush=True)
        if left[group] == 0:
            merged = Report.combine(done[group])
            checks_text = f"{size[group]:>3} check" + ("s" if size[group] != 1 else " ")
            print(_fit(f"{group:<16} {checks_text} {len(merged.rows):>5} rows  "
                       f"{_status(merged):<12} {seconds[group]:7.2f}s"), file=out, flush=True)

    return report


def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, prog: str = "funcnn-verify"
) -> int:
    """Run the suite with command-line arguments ``argv``; return the exit status.

    ``prog`` names the command in the header and in every message.
    """
    stream = out or sys.stdout
    try:
        args = build_parser(prog).parse_args(None if argv is None else list(argv))
        code = _run(args, stream)
        stream.flush()
        return code
    except BrokenPipeError:  # `python -m verification | head`: stop quietly
        return exit_quietly_on_broken_pipe() if out is None else BROKEN_PIPE_STATUS


def _run(args: argparse.Namespace, stream: TextIO) -> int:
    if args.export_golden is not None:
        return _export(args, stream)
    if args.foreign is not None:
        return _foreign(args, stream)
    if args.compare_golden is not None or args.golden is not None:
        return _compare_golden(args, stream)
    checks = select(build_catalogue(quick=args.quick), args.only)
    if not checks:
        patterns = ", ".join(repr(p) for p in args.only)
        print(f"{args.prog}: error: --only: no check matches {patterns} (see --list)",
              file=sys.stderr)
        return 2
    if args.list:
        for check in checks:
            print(f"{check.name}  ({check.group}{', quick' if check.quick else ''})", file=stream)
        return 0
    to_stdout = args.json == Path("-")
    text = io.StringIO() if to_stdout else stream  # --json alone: only the JSON on stdout
    print(f"{args.prog}: {len(checks)} checks, seed {args.seed}"
          + (" (quick)" if args.quick else ""), file=text, flush=True)
    progress = (_progress(text, max(len(c.name) for c in checks)) if args.verbose
                else _by_group(checks, text))
    report = run_checks(checks, seed=args.seed, progress=progress)
    if args.verbose or args.brief:
        shown = report if args.verbose else Report(report.failures, report.meta)
        print(file=text)
        print(shown.table() if shown.rows else report.summary(), file=text)
    else:
        print(report.summary(), file=text)
    print(_fit(f"data: {', '.join(report.meta.get('data', [])) or 'none'}; "
               f"total {report.meta.get('seconds', 0):.1f} s"), file=text)
    if to_stdout:
        print(report.to_json(), file=stream)
    elif args.json is not None:
        report.write_json(args.json)
        print(f"report written to {args.json}", file=stream)
    if args.plot is not None:
        _write_plot(report, args.plot, text)  # not into --json on stdout
    return 0 if report.passed else 1


def _export(args: argparse.Namespace, stream: TextIO) -> int:
    """``--export-golden DIR [--large]``: write the golden files, run nothing else."""
    try:
        losses = [_import_loss(text) for text in args.loss]
        cases = export_golden(args.export_golden, seed=args.seed, large=args.large,
                              losses=losses)
    except ValueError as exc:
        print(f"{args.prog}: error: {_flagged(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{args.prog}: error: --export-golden {args.export_golden}: {exc}",
              file=sys.stderr)
        return 2
    print(f"golden values of {len(cases)} cases written to {args.export_golden}", file=stream)
    return 0


def _compare_golden(args: argparse.Namespace, stream: TextIO) -> int:
    """``--compare-golden RESULTS --golden DIR``: another program's outputs, judged."""
    from funcnn.errors import DataFormatError
    from verification.interchange.golden_results import case_lines, compare_results

    if args.compare_golden is None or args.golden is None:
        flag = "--golden DIR" if args.golden is None else "--compare-golden RESULTS"
        print(f"{args.prog}: error: --compare-golden and --golden go together: {flag} "
              "is missing", file=sys.stderr)
        return 2
    try:
        report = compare_results(args.compare_golden, args.golden)
    except DataFormatError as exc:
        print(f"{args.prog}: error: --compare-golden: {exc}", file=sys.stderr)
        return 2
    if args.json == Path("-"):
        print(report.to_json(), file=stream)
        return 0 if report.passed else 1
    lines = case_lines(report)
    for line in lines:
        print(_fit(line), file=stream)
    shown = report if args.verbose else Report(report.failures, report.meta)
    if shown.rows:
        print(file=stream)
        print(shown.table(), file=stream)
    failed = sum(line.startswith("FAIL") for line in lines)
    left = len(report.meta["not_compared"])
    print(f"{len(lines)} cases compared: {len(lines) - failed} passed, {failed} failed"
          f"{f'; {left} golden cases not in the results' if left else ''} -> "
          f"{'PASSED' if report.passed else 'FAILED'}", file=stream)
    if args.json is not None:
        report.write_json(args.json)
        print(f"report written to {args.json}", file=stream)
    return 0 if report.passed else 1


def _foreign(args: argparse.Namespace, stream: TextIO) -> int:
    """``--foreign CMD [--timeout S]``: check another program's gradients."""
    from verification.interchange.foreign import ForeignError, check_foreign
    from verification.interchange.foreign_protocol import MAX_ANSWER_BYTES

    if not args.timeout > 0:
        print(f"{args.prog}: error: --timeout {args.timeout:g}: expected seconds > 0",
              file=sys.stderr)
        return 2
    cap = MAX_ANSWER_BYTES if args.max_answer_bytes is None else args.max_answer_bytes
    if cap < 1:
        print(f"{args.prog}: error: --max-answer-bytes {cap}: expected bytes >= 1",
              file=sys.stderr)
        return 2
    try:
        losses = [_import_loss(text) for text in args.loss]
        check_extra_losses(losses)
    except ValueError as exc:
        print(f"{args.prog}: error: {_flagged(exc)}", file=sys.stderr)
        return 2
    try:
        report = check_foreign(args.foreign, seed=args.seed, timeout=args.timeout,
                               quick=args.quick, only=args.only, max_answer_bytes=cap,
                               progress=None if args.quiet else sys.stderr, losses=losses)
    except ForeignError as exc:
        print(f"{args.prog}: error: --foreign: {exc}", file=sys.stderr)
        return 1
    if args.json == Path("-"):
        print(report.to_json(), file=stream)
        return 0 if report.passed else 1
    shown = report if args.verbose else Report(report.failures, report.meta)
    print(shown.table() if shown.rows else report.summary(), file=stream)
    if shown.rows:
        print(report.summary(), file=stream)
    for problem, text in report.meta.get("diagnosis", {}).items():
        print(f"\n{problem}:\n{text}", file=stream)
    if args.json is not None:
        report.write_json(args.json)
        print(f"report written to {args.json}", file=stream)
    return 0 if report.passed else 1


def _flagged(exc: ValueError) -> str:
    """An error about ``--loss``, which names the flag (``losses[i]`` is the i-th)."""
    text = str(exc)
    return text if text.startswith("--loss") else f"--loss: {text}"


def _import_loss(text: str) -> Any:
    """The :class:`funcnn.Loss` named by ``--loss MODULE:ATTR``; a ``ValueError`` naming
    the flag when it does not import or is not one."""
    import importlib

    from funcnn.core.losses import Loss

    module, _, attr = text.partition(":")
    if not module or not attr:
        raise ValueError(f"--loss {text!r}: expected MODULE:ATTR (an importable module and "
                         "the name of a funcnn.Loss in it)")
    if os.getcwd() not in sys.path:  # a module beside the user, as `python -m` would see
        sys.path.insert(0, os.getcwd())
    try:
        value = importlib.import_module(module)
    except ImportError as exc:
        raise ValueError(f"--loss {text!r}: cannot import {module!r} ({exc})") from None
    for part in attr.split("."):
        if not hasattr(value, part):
            raise ValueError(f"--loss {text!r}: {module!r} has no {attr!r}") from None
        value = getattr(value, part)
    if not isinstance(value, Loss):
        raise ValueError(f"--loss {text!r}: expected a funcnn.Loss, got "
                         f"{type(value).__name__}")
    return value


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
