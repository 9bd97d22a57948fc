"""How the command line fails: usage errors naming the flag, one-line messages, closed pipes.

Every failure ends as one line on stderr and an exit status: 2 for bad usage or input,
1 when training diverges or fails otherwise, 130 when interrupted. A closed pipe
(``funcnn evaluate CKPT | head -4``) ends quietly, as coreutils do.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import TypeVar

from funcnn.errors import FuncnnError

__all__ = [
    "RunDivergedError",
    "RunInterruptedError",
    "UsageError",
    "exit_quietly_on_broken_pipe",
    "fail",
    "flag_of",
    "flagged",
]

# What a shell reports for a process killed by SIGPIPE (128 + 13), as for `yes | head -1`.
BROKEN_PIPE_STATUS = 141


class UsageError(Exception):
    """A command-line usage error (exit status 2); the message names the flag."""


class RunDivergedError(Exception):
    """Training diverged (exit status 1); the message says what to try."""


class RunInterruptedError(Exception):
    """Ctrl-C (exit status 130); the message says how to continue."""


# Library parameter names and the train flag that sets each, for messages.
FLAG_OF = {
    "lr": "--lr",
    "momentum": "--momentum",
    "nesterov": "--nesterov",
    "weight_decay": "--weight-decay",
    "gamma": "--decay-factor",
    "step_size": "--decay-every",
    "total_steps": "--epochs",
    "final_lr": "--final-lr",
    "activation": "--activation",
    "sizes": "--sizes",
    "loss": "--loss",
}

# ``name: rest`` or ``name[3]: rest`` at the start of a funcnn error message.
_PARAM = re.compile(r"^(?P<base>[a-z_0-9]+)(?P<index>\[[^\]]*\])?: (?P<rest>.*)$", re.DOTALL)

T = TypeVar("T")


def flagged(build: Callable[[], T], flag: str | None = None, whole: tuple[str, ...] = ()) -> T:
    """Run ``build``; a funcnn error about a parameter is re-raised naming its flag.

    With ``flag`` (``""`` for a positional argument), every error is put under it; a
    library parameter name in ``whole``
    (the name of the flag's whole value, like ``scheme`` for ``--init``) is dropped so
    the message does not say the same thing twice. Without ``flag``, the parameter name
    at the start of the message is mapped by :func:`flag_of`.
    """
    try:
        return build()
    except FuncnnError as exc:
        message = str(exc)
        match = _PARAM.match(message)
        if flag is not None:
            if match is not None and match["base"] in whole and not match["index"]:
                message = match["rest"]
            raise UsageError(f"{flag}: {message}" if flag else message) from exc
        flag_name = None if match is None else flag_of(match["base"])
        if match is None or flag_name is None:
            raise
        index = match["index"] or ""
        raise UsageError(f"{flag_name}{index}: {match['rest']}") from exc


def flag_of(name: str) -> str | None:
    """The train flag that sets the library parameter ``name``: :data:`FLAG_OF`, else a
    registered optimizer's setting (``b1`` is ``--beta1``); None for neither."""
    from funcnn.cli.args import optimizer_settings, setting_key

    if name in FLAG_OF:
        return FLAG_OF[name]
    key = setting_key(name)
    return "--" + key.replace("_", "-") if key in optimizer_settings() else None


def fail(message: str, code: int) -> int:
    """Print ``message`` as one line on stderr; return ``code``."""
    print(" ".join(message.split()), file=sys.stderr)
    return code


def exit_quietly_on_broken_pipe() -> int:
    """After a ``BrokenPipeError`` on stdout: silence it for good and return 141.

    Python flushes stdout once more at exit, which would fail again and print "Exception
    ignored ..."; pointing the descriptor at /dev/null makes that flush a no-op.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout replaced by an object without a descriptor
        pass
    return BROKEN_PIPE_STATUS
