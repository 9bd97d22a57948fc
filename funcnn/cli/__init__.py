"""The ``funcnn`` command line: ``train`` an MLP on MNIST, ``evaluate`` a checkpoint, ``verify``.

``funcnn train`` with no arguments trains the 784-128-10 ReLU network (``normal:0.02``
init, SGD with learning rate 0.1, batch 128, 8 epochs, pixels scaled to [0, 1], float32)
and prints its test accuracy. It writes, into ``--out`` (default
``runs/<sizes>-<activation>-<optimizer>-seed<seed>``; a directory holding another run
is refused unless ``--force``), ``checkpoint.npz`` (after every epoch, atomically: an
interrupted run continues exactly with ``--resume``), ``history.json``,
``metrics.json``, ``report.txt`` and, when matplotlib is installed, PNG plots. ``--limit``
cuts the training set only; ``--test-limit`` the test set. Errors are one line on stderr
that starts with the command as typed (``funcnn train: error: ...``) and names the flag,
and a non-zero exit status: 2 for bad usage or input, 1 when training diverges or fails
otherwise, 130 when interrupted. A closed pipe (``funcnn evaluate CKPT | head``) ends
quietly.

The modules: :mod:`~funcnn.cli.args` (the parser), :mod:`~funcnn.cli.train`,
:mod:`~funcnn.cli.evaluate`, :mod:`~funcnn.cli.verify` (the commands),
:mod:`~funcnn.cli.config` (a run's settings), :mod:`~funcnn.cli.report` (files written
after training), :mod:`~funcnn.cli.errors` (how failures are reported).
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from funcnn.cli.args import COMMANDS, build_parser, join_negative_values, parse
from funcnn.cli.errors import (
    RunDivergedError,
    RunInterruptedError,
    UsageError,
    exit_quietly_on_broken_pipe,
    fail,
)
from funcnn.errors import FuncnnError, NonFiniteError

__all__ = ["command_prog", "main"]


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    stream = sys.stdout if out is None else out
    prog = command_prog(args_list)
    try:
        code = _dispatch(args_list, stream)
        # Flushed here, not at exit, so that a closed pipe is caught below.
        stream.flush()
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader went away (`funcnn evaluate CKPT | head`): stop quietly, as coreutils do.
        return exit_quietly_on_broken_pipe()
    except UsageError as exc:
        message = str(exc)
        # argparse's messages already start with the command ("funcnn train: error: ...").
        return fail(message if message.startswith("funcnn") else f"{prog}: error: {message}", 2)
    except (RunDivergedError, NonFiniteError) as exc:
        return fail(f"{prog}: error: {exc}", 1)
    except FuncnnError as exc:
        return fail(f"{prog}: error: {exc}", 2)
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        return fail(f"{prog}: error: {exc}", 2)
    except RunInterruptedError as exc:
        return fail(f"{prog}: {exc}", 130)
    except KeyboardInterrupt:
        return fail(f"{prog}: interrupted", 130)
    except Exception as exc:  # the CLI promises one line, never a traceback
        if os.environ.get("FUNCNN_DEBUG"):
            raise
        return fail(
            f"{prog}: internal error: {type(exc).__name__}: {exc} "
            "(set FUNCNN_DEBUG=1 for the traceback)",
            1,
        )


def command_prog(args_list: list[str]) -> str:
    """The command as typed, which every message of it starts with: ``funcnn train``,
    ``funcnn evaluate``, ``funcnn verify``, or ``funcnn`` before a command is named."""
    first = args_list[0] if args_list else ""
    return f"funcnn {first}" if first in COMMANDS else "funcnn"


def _dispatch(args_list: list[str], out: TextIO) -> int:
    if args_list[:1] == ["verify"]:
        from funcnn.cli.verify import run_verify

        return run_verify(args_list[1:])
    parser = build_parser()
    try:
        args = parse(parser, join_negative_values(args_list))
    except SystemExit as exc:  # --help and friends
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    if args.command == "train":
        from funcnn.cli.train import run_train

        return run_train(args, out)
    if args.command == "evaluate":
        from funcnn.cli.evaluate import run_evaluate

        return run_evaluate(args, out)
    parser.print_help(sys.stderr)
    return 2
