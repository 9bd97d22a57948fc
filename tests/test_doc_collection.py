"""Every docstring example is collected: each module of funcnn/ and verification/ that
holds a ``>>>`` line matches one of the sybil patterns in conftest.py (a module one
folder deeper than the patterns reach would have its examples silently never run)."""

from __future__ import annotations

from pathlib import Path

import conftest

ROOT = Path(__file__).resolve().parent.parent


def test_every_module_with_examples_is_collected() -> None:
    modules = [p for top in ("funcnn", "verification") for p in (ROOT / top).rglob("*.py")]
    assert modules
    missed = [
        str(path.relative_to(ROOT))
        for path in modules
        if ">>>" in path.read_text(encoding="utf-8")
        and not conftest.docstrings.should_parse(path)
    ]
    assert not missed, f"docstring examples that sybil never runs: {missed}"
