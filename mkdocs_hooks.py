"""mkdocs hook: render the docstrings' Sphinx roles (``:func:`init```) as links.

The docstrings are written for ``help()`` and Sphinx-style readers; mkdocstrings renders
them as Markdown, where a role shows up as the literal text ``:func:`` before a code
span. This drops the role and, as in Sphinx, shows only ``name`` for a target written
``~a.b.name``. A target that names an object of the API reference (``docs/reference.md``,
however it is spelled: ``fn.fit``, ``funcnn.training.loop.fit``, a bare ``Layout``)
becomes a cross-reference that mkdocs-autorefs turns into a link; a strict build fails if
its anchor is missing. Internal objects (not in the reference) stay plain code.
"""

from __future__ import annotations

import importlib
import re
from functools import cache
from pathlib import Path
from typing import Any

_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|exc|obj):<code>(~?)([^<]*)</code>")
_DIRECTIVE = re.compile(r"^::: (\S+)\n((?:[ \t]+\S.*\n?)*)", re.M)
_MEMBER = re.compile(r"^\s+- (\w+)\s*$", re.M)
_REFERENCE = Path(__file__).parent / "docs" / "reference.md"


def reference_members(text: str) -> list[tuple[str, str]]:
    """``(module, name)`` for every member a ``::: module`` directive of ``text`` lists."""
    return [
        (module, name)
        for module, options in _DIRECTIVE.findall(text)
        for name in _MEMBER.findall(options)
    ]


@cache
def documented(reference: Path = _REFERENCE) -> dict[int, str]:
    """The reference's objects, by ``id``: the identifier mkdocstrings anchors them at.

    Each module rendered is in it too (its own identifier), so ``:mod:`` roles link.
    """
    text = reference.read_text(encoding="utf-8")
    found = {id(importlib.import_module(m)): m for m, _ in _DIRECTIVE.findall(text)}
    for module, name in reference_members(text):
        found.setdefault(id(getattr(importlib.import_module(module), name)), f"{module}.{name}")
    return found


def _lookup(target: str) -> list[Any] | None:
    """The chain of objects ``target`` names (module, then each attribute), or None."""
    parts = target.split(".")
    for split in range(len(parts), 0, -1):
        try:
            chain: list[Any] = [importlib.import_module(".".join(parts[:split]))]
        except ImportError:
            continue
        try:
            for part in parts[split:]:
                chain.append(getattr(chain[-1], part))
        except AttributeError:
            return None
        return chain
    return None


def resolve(target: str, reference: Path = _REFERENCE) -> str | bool | None:
    """The reference's identifier for a role's ``target``; None when the target exists
    but is not in the reference (internal); False when nothing by that name exists."""
    target = target.lstrip("~").removesuffix("()")
    if target.startswith("fn."):  # the docs' ``import funcnn as fn``
        target = f"funcnn.{target[3:]}"
    known = documented(reference)
    candidates = [target, f"funcnn.{target}", f"verification.{target}"]
    # A bare name a module's docstring uses for its own objects (``:class:`Layout```).
    candidates += [i for i in known.values() if i.endswith(f".{target}")][:1]
    for candidate in candidates:
        chain = _lookup(candidate)
        if chain is None:
            continue
        ident = known.get(id(chain[-1]))
        if ident is not None:
            return ident
        # A method or attribute of a class in the reference: rendered as its member.
        owner = known.get(id(chain[-2])) if len(chain) > 1 else None
        last = candidate.rpartition(".")[2]
        if owner is not None and isinstance(chain[-2], type) and not last.startswith("_"):
            return f"{owner}.{last}"
        return None
    return False


def _link(match: re.Match[str]) -> str:
    tilde, target = match.groups()
    code = f"<code>{target.rpartition('.')[2] if tilde else target}</code>"
    ident = resolve(target)
    if not ident:
        return code
    return f'<autoref identifier="{ident}">{code}</autoref>'


def on_page_content(html: str, **kwargs: Any) -> str:
    return _ROLE.sub(_link, html)
