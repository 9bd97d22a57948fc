"""The registry tables in the docs are the registries' own: generated text, kept in step.

Each table sits between ``<!-- NAME-table:start -->`` and ``<!-- NAME-table:end -->``; on a
mismatch the failure shows the text to paste.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from funcnn.cli.args import settings_table
from funcnn.training.optimizers import optimizer_table
from funcnn.training.schedules import schedule_table

DOCS = Path(__file__).resolve().parents[1] / "docs"

TABLES: dict[str, tuple[str, Callable[[], str]]] = {
    "optimizer": ("training.md", optimizer_table),
    "schedule": ("training.md", schedule_table),
    "settings": ("cli.md", settings_table),
}


def table_in(page: str, name: str) -> str:
    """The text between the page's start and end markers of table ``name``."""
    text = (DOCS / page).read_text(encoding="utf-8")
    found = re.search(
        rf"<!-- {name}-table:start -->\n(.*?)\n<!-- {name}-table:end -->", text, re.DOTALL
    )
    assert found is not None, f"docs/{page}: no {name} table markers"
    return found.group(1)


@pytest.mark.parametrize("name", sorted(TABLES))
def test_docs_table_is_generated_from_its_registry(name: str) -> None:
    page, generate = TABLES[name]
    expected = generate()
    assert table_in(page, name) == expected, (
        f"docs/{page}: the {name} table is out of date; replace it with:\n{expected}"
    )
