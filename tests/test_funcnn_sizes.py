"""The guide's sizes: no module of funcnn/ over 400 lines, and no function of funcnn/ or
verification/ over 80 (with its docstring and signature), so that each reads as one job
(GUIDE.md, "Small readable modules"). verification/'s modules have their own, stricter
layout test (test_verification_layers)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "funcnn"
VERIFICATION = PACKAGE.parent / "verification"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def _modules(package: Path = PACKAGE) -> list[tuple[str, str]]:
    found = [(p.relative_to(package.parent).as_posix(), p.read_text(encoding="utf-8"))
             for p in sorted(package.rglob("*.py"))]
    assert len(found) > 40  # the scan sees the package
    return found


def test_no_module_is_over_400_lines() -> None:
    long = [f"{name}: {len(text.splitlines())} lines" for name, text in _modules()
            if len(text.splitlines()) > MAX_MODULE_LINES]
    assert long == []


def test_no_function_is_over_80_lines() -> None:
    long = [
        f"{name}:{node.lineno} {node.name}: {node.end_lineno - node.lineno + 1} lines"
        for name, text in _modules() + _modules(VERIFICATION)
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []
