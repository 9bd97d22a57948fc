"""docs/check-your-own.md runs as written and prints what it shows.

Its ``python`` blocks run in order in one namespace and its ``pycon`` blocks are
doctests in that namespace, as the docs CI runs them with sybil; this test keeps the
walkthrough's printed diagnoses real even where the docs are not collected.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path
from typing import Any

PAGE = Path(__file__).resolve().parent.parent / "docs" / "check-your-own.md"
BLOCK = re.compile(r"^```(python|pycon)\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_the_walkthrough_runs_and_its_output_is_real() -> None:
    text = PAGE.read_text(encoding="utf-8")
    blocks = BLOCK.findall(text)
    assert sum(kind == "pycon" for kind, _ in blocks) >= 8
    namespace: dict[str, Any] = {"__name__": "check_your_own"}
    parser, runner = doctest.DocTestParser(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for index, (kind, source) in enumerate(blocks):
        if kind == "python":
            exec(compile(source, f"{PAGE.name} block {index}", "exec"), namespace)
            continue
        test = parser.get_doctest(source, namespace, f"block {index}", str(PAGE), 0)
        result = runner.run(test, clear_globs=False)
        assert result.failed == 0, f"{PAGE.name}: pycon block {index} printed something else"
