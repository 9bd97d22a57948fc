"""``funcnn verify``: the gradient verification suite, with its own flags, usage errors one line."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import NoReturn

from funcnn.cli.errors import UsageError

__all__ = ["PROG", "run_verify"]

# The command as typed: the suite's header and messages name it, not ``funcnn-verify``.
PROG = "funcnn verify"


def run_verify(args: Sequence[str]) -> int:
    """Run ``python -m verification`` with ``args``; return its exit status."""
    # Imported on demand: the suite is a separate package and most commands never need it.
    try:
        module = importlib.import_module("verification.__main__")
    except ImportError as exc:
        raise UsageError(f"{PROG}: error: the verification suite is not available ({exc})") from exc
    build = getattr(module, "build_parser", None)
    if callable(build):
        # Parse once with the suite's own parser, but make usage errors one line.
        parser = build(PROG)

        def error(message: str) -> NoReturn:
            raise UsageError(f"{PROG}: error: {message} (see '{PROG} --help')")

        setattr(parser, "error", error)  # noqa: B010 - replaces a bound method on purpose
        try:
            parser.parse_args(list(args))
        except SystemExit as exc:  # --help
            return exc.code if isinstance(exc.code, int) else 0
    try:
        result = module.main(list(args), prog=PROG)
    except SystemExit as exc:  # its argparse exits on --help and usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return int(result or 0)
