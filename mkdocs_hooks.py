"""mkdocs hook: render the docstrings' Sphinx roles (``:func:`init```) as plain code.

The docstrings are written for ``help()`` and Sphinx-style readers; mkdocstrings renders
them as Markdown, where a role would show up as the literal text ``:func:`` before the
code span. This drops the role and keeps the code span; as in Sphinx, a target written
``~a.b.name`` shows only ``name``.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|exc|obj):<code>(~?)([^<]*)</code>")


def _code(match: re.Match[str]) -> str:
    target = match.group(2)
    return f"<code>{target.rpartition('.')[2] if match.group(1) else target}</code>"


def on_page_content(html: str, **kwargs: Any) -> str:
    return _ROLE.sub(_code, html)
