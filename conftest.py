"""Runs every code example in the docs with sybil, as part of the default pytest run.

- README.md and docs/*.md: each ```python block runs (one namespace per page, blocks in
  order); each ```pycon block is a doctest whose output is compared; each ```console
  block's ``$ funcnn ...`` commands run in a shell and their output is compared
  (tests/docs_console.py; ``<!-- console: not run: REASON -->`` marks one that cannot
  run); ```bash and ```text blocks are shown, not run. ``<!-- skip: next -->`` skips the
  next block.
- funcnn/ and verification/: the ``>>>`` examples in docstrings run as doctests.

Each page runs in its own temporary working directory, so examples that write files
(checkpoints, plots) leave nothing behind.
"""

from __future__ import annotations

import doctest
import os
import shutil
import tempfile
from collections.abc import Iterable
from typing import Any

from sybil import Document, Region, Sybil
from sybil.evaluators.doctest import DocTestEvaluator
from sybil.parsers.abstract.doctest import DocTestStringParser
from sybil.parsers.markdown import CodeBlockParser, PythonCodeBlockParser, SkipParser
from sybil.parsers.rest import DocTestParser

from tests.docs_console import ConsoleParser

OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


class PyconParser:
    """```pycon blocks: interactive sessions, run as doctests with their output compared."""

    def __init__(self) -> None:
        self.blocks = CodeBlockParser("pycon")
        self.doctests = DocTestStringParser(DocTestEvaluator(OPTIONFLAGS))

    def __call__(self, document: Document) -> Iterable[Region]:
        for block in self.blocks(document):
            source = block.parsed
            if not source.lstrip().startswith(">>>"):
                raise ValueError(
                    f"{document.path}, {document.line_column(block.start)}: a pycon block "
                    "must start with '>>> ' (use ```python for code without output)"
                )
            for region in self.doctests(source, document.path):
                region.adjust(block, source)
                yield region


def _enter_tmp_dir(namespace: dict[str, Any]) -> None:
    namespace["_sybil_cwd"] = os.getcwd()
    namespace["_sybil_tmp"] = tempfile.mkdtemp(prefix="funcnn-docs-")
    os.chdir(namespace["_sybil_tmp"])


def _leave_tmp_dir(namespace: dict[str, Any]) -> None:
    os.chdir(namespace["_sybil_cwd"])
    shutil.rmtree(namespace["_sybil_tmp"])


markdown = Sybil(
    name="docs",
    parsers=[
        SkipParser(),
        PythonCodeBlockParser(doctest_optionflags=OPTIONFLAGS),
        PyconParser(),
        ConsoleParser(),
    ],
    patterns=["README.md", "docs/*.md"],
    setup=_enter_tmp_dir,
    teardown=_leave_tmp_dir,
)

docstrings = Sybil(
    name="docstrings",
    parsers=[DocTestParser(optionflags=OPTIONFLAGS)],
    patterns=["funcnn/*.py", "funcnn/*/*.py", "funcnn/*/*/*.py", "verification/*.py",
              "verification/*/*.py", "verification/*/*/*.py"],
    setup=_enter_tmp_dir,
    teardown=_leave_tmp_dir,
)

pytest_collect_file = (markdown + docstrings).pytest()
