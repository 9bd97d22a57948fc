"""mkdocs hook: render the docstrings' Sphinx roles (``:func:`init```) as plain code.

The docstrings are written for ``help()`` and Sphinx-style readers; mkdocstrings renders
them as Markdown, where a role would show up as the literal text ``:func:`` before the
code span. This drops the role and keeps the code span.
"""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|exc|obj):(?=<code>)")


def on_page_content(html: str, **kwargs: Any) -> str:
    return _ROLE.sub("", html)
