"""The registry tables in the docs are the registries' own: generated text, kept in step.

Each table sits between ``<!-- NAME-table:start -->`` and ``<!-- NAME-table:end -->``; on a
mismatch the failure shows the text to paste.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import funcnn as fn
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


def documented(kind: str) -> set[str]:
    """The names docs/core.md documents for ``kind``: the first column of the table under
    "## Activations" or "## Losses", or the backticked names of the "Schemes:" sentence."""
    text = (DOCS / "core.md").read_text(encoding="utf-8")
    if kind == "scheme":
        found = re.search(r"^Schemes: (.*?)(?:\.|$)\n\n", text, re.MULTILINE | re.DOTALL)
        assert found is not None, "docs/core.md: no 'Schemes:' sentence"
        return set(re.findall(r"`([a-z_0-9]+)`", found.group(1)))
    heading = {"activation": "## Activations", "loss": "## Losses"}[kind]
    section = text.split(heading + "\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_0-9]+)`", section, re.MULTILINE))


def registered(kind: str) -> set[str]:
    """The names of ``kind``'s registry."""
    registries: dict[str, dict[str, Any]] = {
        "activation": fn.ACTIVATIONS, "loss": fn.LOSSES, "scheme": fn.SCHEMES
    }
    return set(registries[kind])


@pytest.mark.parametrize("kind", ["activation", "loss", "scheme"])
def test_core_docs_document_every_registered_name(kind: str) -> None:
    assert documented(kind) == registered(kind), (
        f"docs/core.md: document the {kind}s {sorted(registered(kind) - documented(kind))}, "
        f"drop {sorted(documented(kind) - registered(kind))}"
    )
