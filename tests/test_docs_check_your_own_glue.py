"""docs/check-your-own.md keeps its promise of at most three lines of glue: in every
example that wraps code with an adapter, the statements other than imports number three
or fewer (the code being checked, written as people write it, is not glue)."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs" / "check-your-own.md"
ADAPTERS = ("from_batch(", "from_per_sample(", "from_update(")


def glue_blocks(text: str) -> list[list[str]]:
    """The ``pycon`` blocks that call an adapter, as their non-import statements."""
    blocks = re.findall(r"```pycon\n(.*?)```", text, flags=re.S)
    out = []
    for block in blocks:
        statements = [line[4:] for line in block.splitlines() if line.startswith(">>> ")]
        if any("def " in s for s in statements) or not any(
            a in s for s in statements for a in ADAPTERS
        ):
            continue
        out.append([s for s in statements if not s.startswith(("from ", "import "))])
    return out


def test_every_adapter_example_has_at_most_three_lines_of_glue() -> None:
    blocks = glue_blocks(DOCS.read_text())
    assert len(blocks) >= 7  # column data, per-sample, summed, fused, globals, class, no bias
    for statements in blocks:
        assert len(statements) <= 3, statements


def test_the_count_sees_a_fourth_line() -> None:
    text = "```pycon\n>>> a = 1\n>>> b = 2\n>>> c = 3\n>>> from_batch(f, spec)\n```"
    assert [len(b) for b in glue_blocks(text)] == [4]
