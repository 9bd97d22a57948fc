"""Measure the reliability suite's counts and print them as a section of docs/reliability.md.

Usage (from the repository root)::

    python -m tests.reliability.counts            # the default run (about a minute)
    python -m tests.reliability.counts --soak     # plus the soak tests (a few minutes)

Runs ``pytest tests/reliability`` in a subprocess with ``FUNCNN_RELIABILITY_COUNTS``
set, so the session hook of ``conftest.py`` writes the counters to a JSON file, then
prints a Markdown section for docs/reliability.md. Exits with pytest's status.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.reliability._bugs import BUGS, FIXED
from tests.reliability._tally import LABELS

ROOT = Path(__file__).resolve().parents[2]


def measure(soak: bool) -> tuple[dict[str, int], int, int]:
    """``(counters, known bugs pinned by xfail, pytest exit status)``."""
    with tempfile.TemporaryDirectory() as scratch:
        target = Path(scratch) / "counts.json"
        env = dict(os.environ, FUNCNN_RELIABILITY_COUNTS=str(target))
        args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/reliability"]
        if soak:
            args += ["-m", "soak or not soak"]
        done = subprocess.run(args, cwd=ROOT, env=env, check=False)
        if not target.exists():
            raise SystemExit(f"pytest wrote no counts (exit status {done.returncode})")
        data = json.loads(target.read_text())
    return data["counts"], int(data["xfailed"]), done.returncode


def render(counts: dict[str, int], xfailed: int, soak: bool, status: int) -> str:
    shown = {k: v for k, v in LABELS.items() if soak or k != "soak_epochs"}
    rows = "\n".join(f"| {label} | {counts.get(key, 0):,} |" for key, label in shown.items())
    run = "`python -m tests.reliability.counts" + (" --soak`" if soak else "`")
    verdict = "all passed" if status == 0 else f"pytest exit status {status}"
    return f"""## Reliability

`tests/reliability/` feeds funcnn what other people's code produces and checks that it
says clearly what is wrong: a catalogue of bad inputs for every public function (exact
error type, the argument named, what was expected), hypothesis fuzzing of the whole API,
SIGKILLs in the middle of checkpoint writes, every flipped byte and every truncation of a
checkpoint, resumption after kills compared bit for bit, pickle-free loading, verified
downloads, and a soak run that watches memory. Measured by {run} ({verdict}):

| what | count |
|---|---|
{rows}
| library bugs found by these tests and fixed | {len(FIXED)} |
| library bugs found and still open (pinned by {xfailed} strict-xfail tests) | {len(BUGS)} |

`python -m pytest tests/reliability` runs it (under a minute); `python -m pytest -m soak
tests/reliability` adds the long version: 300 epochs of `funcnn train` with a checkpoint
each while memory is watched, and 300 SIGKILLs.
"""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    soak = "--soak" in args
    counts, xfailed, status = measure(soak)
    print(render(counts, xfailed, soak, status))
    return status


if __name__ == "__main__":
    sys.exit(main())
