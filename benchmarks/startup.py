"""Start-up time: ``import funcnn`` and ``funcnn --help`` in fresh interpreters.

Issue 23: ``import funcnn`` at most 0.2 s on a machine where ``import numpy`` takes
0.12 s, and ``funcnn --help`` likewise. Each case is a new ``python -c`` process, timed
from launch to exit as a user waits for it (interpreter start-up included), the cases
taking turns, and ``import numpy`` measured in the same run as the baseline. The targets
are the issue's 0.2 s and, for other machines, its ratio to numpy: 0.2 / 0.12.

Every module is read from compiled byte code, as from an installed package: the children
run without ``PYTHONDONTWRITEBYTECODE`` and with ``PYTHONPYCACHEPREFIX`` pointing to a
temporary directory, which one untimed warm-up run per case fills (so nothing is written
into the source tree, and an environment that disables byte code does not time the
compiler).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from benchmarks.harness import Quiet, Row, Target, interleaved_times, median, ratio_row

__all__ = ["CASES", "TARGET_SECONDS", "child_environment", "run_startup"]

ROOT = Path(__file__).resolve().parents[1]

TARGET_SECONDS = 0.2
"""Issue 23's bound for ``import funcnn`` and ``funcnn --help``."""
NUMPY_SECONDS = 0.12
"""``import numpy`` on the machine where the issue set the bound."""

CASES: dict[str, str] = {
    "numpy": "import numpy",
    "funcnn": "import funcnn",
    # What the ``funcnn`` console script runs.
    "help": "import sys; from funcnn.cli import main; sys.exit(main(['--help']))",
}
"""The ``python -c`` code of each case."""


def child_environment(environ: Mapping[str, str], cache_dir: str) -> dict[str, str]:
    """``environ`` with byte code written to, and read from, ``cache_dir``."""
    env = {k: v for k, v in environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = cache_dir
    return env


def _run(code: str, env: Mapping[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"python -c {code!r} failed: {done.stderr.decode().strip()}")


def run_startup(reps: int, quiet: Quiet | None = None) -> list[Row]:
    """The three cases' wall times and funcnn's ratios to numpy."""
    with tempfile.TemporaryDirectory(prefix="funcnn-pycache-") as cache:
        env = child_environment(os.environ, cache)
        cases = {name: (lambda _, code=code: _run(code, env)) for name, code in CASES.items()}
        times = interleaved_times(cases, reps, warmup=2, quiet=quiet)
    note = "fresh python -c process, interpreter start-up included; byte code cached"
    ratio_bound = TARGET_SECONDS / NUMPY_SECONDS
    ratio_note = f"issue 23: {TARGET_SECONDS} s where import numpy takes {NUMPY_SECONDS} s"
    return [
        Row(
            "import",
            "import.numpy",
            "python -c 'import numpy' (baseline)",
            median(times["numpy"]),
            "s",
            None,
            note,
            tuple(times["numpy"]),
        ),
        Row(
            "import",
            "import.funcnn",
            "python -c 'import funcnn'",
            median(times["funcnn"]),
            "s",
            Target("<=", TARGET_SECONDS),
            note,
            tuple(times["funcnn"]),
        ),
        Row(
            "import",
            "import.help",
            "funcnn --help",
            median(times["help"]),
            "s",
            Target("<=", TARGET_SECONDS),
            note,
            tuple(times["help"]),
        ),
        ratio_row(
            "import",
            "import.funcnn/numpy",
            "import funcnn / import numpy",
            times["funcnn"],
            times["numpy"],
            Target("<=", ratio_bound),
            ratio_note,
        ),
        ratio_row(
            "import",
            "import.help/numpy",
            "funcnn --help / import numpy",
            times["help"],
            times["numpy"],
            Target("<=", ratio_bound),
            ratio_note,
        ),
    ]
