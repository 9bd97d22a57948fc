"""Session hooks of the reliability suite: the counts summary, and soak tests kept opt-in.

At the end of a session that ran reliability tests, the counters of
:mod:`tests.reliability._tally` are printed as a terminal section; with
``FUNCNN_RELIABILITY_COUNTS=PATH`` in the environment they are also written to ``PATH``
as JSON (``python -m tests.reliability.counts`` does this). Soak tests run only when
selected by a ``-m`` expression that mentions ``soak`` (e.g. ``-m soak``), whatever the
project's ``addopts`` say.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.reliability._tally import COUNTS, LABELS

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    markexpr = str(config.getoption("markexpr", "") or "")
    if "soak" in markexpr:
        return
    skip = pytest.mark.skip(
        reason="soak test: run it with: python -m pytest -m soak tests/reliability"
    )
    for item in items:
        if item.get_closest_marker("soak") is not None and HERE in Path(item.path).parents:
            item.add_marker(skip)


def summary_lines(counts: dict[str, int], xfailed: int) -> list[str]:
    """The counters as aligned report lines, in :data:`LABELS` order."""
    lines = [f"{counts.get(key, 0):>9,}  {label}" for key, label in LABELS.items()]
    lines.append(f"{xfailed:>9,}  tests pinning known library bugs (xfail, strict)")
    return lines


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    if not COUNTS:
        return
    xfailed = len(terminalreporter.stats.get("xfailed", []))
    terminalreporter.section("funcnn reliability counts")
    for line in summary_lines(dict(COUNTS), xfailed):
        terminalreporter.write_line(line)
    target = os.environ.get("FUNCNN_RELIABILITY_COUNTS")
    if target:
        data = {"counts": dict(COUNTS), "xfailed": xfailed, "exitstatus": int(exitstatus)}
        Path(target).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
