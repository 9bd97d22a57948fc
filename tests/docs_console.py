"""```console blocks in the docs, run and checked: each ``$ command`` line runs in a shell
in the page's temporary directory, and its output (stdout and stderr, interleaved as on a
terminal) must match the lines below it up to the next ``$``.

``...`` in the expected output matches anything (doctest's ELLIPSIS): for times, and for
digits that depend on the CPU's BLAS kernels. ``funcnn``, ``funcnn-verify`` and ``python``
are the funcnn under test (this tree) run by the test's interpreter. ``$?`` is the
previous command's exit status, so ``$ echo $?`` shows it. The repository's
``examples/`` is reachable as ``examples/`` in the page's directory.

A block that cannot run in CI is marked on the line before it with
``<!-- console: not run: REASON -->``; the reason is required. A block that needs another
program is marked ``<!-- console: needs: node -->`` (names separated by commas): it runs
wherever they are installed and is skipped, saying which is missing, elsewhere; under
CI (``CI=true`` or ``FUNCNN_REQUIRE_TOOLCHAINS``, as for the example programs' tests)
a missing program fails the block instead.
"""

from __future__ import annotations

import atexit
import doctest
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pytest
from sybil import Document, Example, Region
from sybil.parsers.markdown import CodeBlockParser

__all__ = ["ConsoleParser", "run_console"]

ROOT = Path(__file__).resolve().parents[1]
# Seconds one command may take (the slowest, a short training run with its plots, takes
# a few on a quiet machine).
TIMEOUT = 120
NOT_RUN = re.compile(r"<!--\s*console:\s*not run:\s*(?P<reason>[^>]*?)\s*-->\s*$")
NEEDS = re.compile(r"<!--\s*console:\s*needs:\s*(?P<tools>[^>]*?)\s*-->\s*$")
_CHECKER = doctest.OutputChecker()
_FLAGS = doctest.ELLIPSIS


class ConsoleParser:
    """Every ```console block: run and checked, or marked not run with a reason."""

    def __init__(self) -> None:
        self.blocks = CodeBlockParser("console", evaluator=run_console)

    def __call__(self, document: Document) -> Iterable[Region]:
        for region in self.blocks(document):
            before = document.text[: region.start].rstrip("\n").rsplit("\n", 1)[-1]
            marker = NOT_RUN.search(before)
            if marker is not None:
                if not marker["reason"]:
                    raise ValueError(
                        f"{document.path}, {document.line_column(region.start)}: "
                        "'console: not run:' needs a reason"
                    )
                continue
            needs = NEEDS.search(before)
            tools = [] if needs is None else [t.strip() for t in needs["tools"].split(",")]
            region.parsed = (tuple(t for t in tools if t), region.parsed)
            if not str(region.parsed[1]).startswith("$ "):
                raise ValueError(
                    f"{document.path}, {document.line_column(region.start)}: a console "
                    "block must start with '$ ' (or be marked <!-- console: not run: REASON -->)"
                )
            yield region


def _commands(source: str) -> list[tuple[str, str]]:
    """``(command, expected output)`` pairs of a console block."""
    pairs: list[tuple[str, list[str]]] = []
    for line in source.splitlines():
        if line.startswith("$ "):
            pairs.append((line[2:], []))
        else:
            pairs[-1][1].append(line)
    return [(command, "".join(o + "\n" for o in out)) for command, out in pairs]


def _shims() -> Path:
    """A directory of ``funcnn``, ``funcnn-verify`` and ``python`` running this tree."""
    shims = Path(tempfile.mkdtemp(prefix="funcnn-console-"))
    atexit.register(shutil.rmtree, shims, ignore_errors=True)
    for name, module in (("funcnn", "-m funcnn "), ("funcnn-verify", "-m verification "),
                         ("python", "")):
        path = shims / name
        path.write_text(f'#!/bin/sh\nexec "{sys.executable}" {module}"$@"\n')
        path.chmod(0o755)
    return shims


_SHIMS: list[Path] = []


def _env() -> dict[str, str]:
    if not _SHIMS:
        _SHIMS.append(_shims())
    path = os.pathsep.join([str(_SHIMS[0]), os.environ.get("PATH", "")])
    python_path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    # Unbuffered, so that stdout and stderr interleave as they do on a terminal.
    return {**os.environ, "PATH": path, "PYTHONPATH": python_path, "PYTHONUNBUFFERED": "1",
            "COLUMNS": "100"}


def run_console(example: Example) -> str | None:
    """Run the block's commands in order; the first whose output differs fails it."""
    tools, source = example.parsed
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        text = f"console block needs {', '.join(missing)}, not installed here"
        if os.environ.get("CI") == "true" or os.environ.get("FUNCNN_REQUIRE_TOOLCHAINS"):
            pytest.fail(text + " (CI requires it)")
        pytest.skip(text)
    if not Path("examples").exists():
        Path("examples").symlink_to(ROOT / "examples", target_is_directory=True)
    status = 0
    env = _env()
    for command, want in _commands(str(source)):
        done = subprocess.run(
            ["bash", "-c", f"(exit {status}); {command}"],
            cwd=os.getcwd(),  # the page's temporary directory (see conftest.py)
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        status = done.returncode
        got = "".join(line.rstrip() + "\n" for line in done.stdout.splitlines())
        if not _CHECKER.check_output(want, got, _FLAGS):
            return f"$ {command}\n" + _CHECKER.output_difference(
                doctest.Example(command, want), got, _FLAGS
            )
    return None
