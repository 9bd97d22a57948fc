"""mkdocs hooks for the API reference: Sphinx roles as links; the registries' functions.

The docstrings are written for ``help()`` and Sphinx-style readers; mkdocstrings renders
them as Markdown, where a role shows up as the literal text ``:func:`` before a code
span. This drops the role and, as in Sphinx, shows only ``name`` for a target written
``~a.b.name``. A target that names an object of the API reference (``docs/reference.md``,
however it is spelled: ``fn.fit``, ``funcnn.training.loop.fit``, a bare ``Layout``)
becomes a cross-reference that mkdocs-autorefs turns into a link; a strict build fails if
its anchor is missing. Internal objects (not in the reference) stay plain code.

It also renders the per-activation and per-loss functions (``relu``, ``relu_derivative``,
``mse``, ``mse_grad``, ...), which mkdocstrings cannot: they are bound by tuple unpacking
(``relu, relu_derivative = _pure("relu")``) and their docstrings are built at import time,
so its static analysis sees no functions there. A line of the page such as

    <!-- registry functions: funcnn.core.activations.ACTIVATIONS {name} {name}_derivative -->

stands for the module-level functions named by each pattern, for each entry of the
registry, in the registry's order: so the list comes from the registry, never by hand.
Each is rendered as mkdocstrings renders a member (a heading anchored at its identifier,
``funcnn.core.activations.relu``, so cross-references link; its signature; its docstring,
example included), and an entry without its function fails the build.
"""

from __future__ import annotations

import importlib
import inspect
import re
from functools import cache
from pathlib import Path
from typing import Any

_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|exc|obj):<code>(~?)([^<]*)</code>")
_DIRECTIVE = re.compile(r"^::: (\S+)\n((?:[ \t]+\S.*\n?)*)", re.M)
_MEMBER = re.compile(r"^\s+- (\w+)\s*$", re.M)
_REGISTRY = re.compile(r"^<!-- registry functions: ([\w.]+)\.(\w+) ((?:\S+ ?)+) -->$", re.M)
_REFERENCE = Path(__file__).parent / "docs" / "reference.md"
_MEMBER_HEADING = "####"  # the level of a member of a ``heading_level: 3`` directive


def reference_members(text: str) -> list[tuple[str, str]]:
    """``(module, name)`` for every member a ``::: module`` directive of ``text`` lists,
    then every function its registry lines stand for (see :func:`registry_functions`)."""
    listed = [
        (module, name)
        for module, options in _DIRECTIVE.findall(text)
        for name in _MEMBER.findall(options)
    ]
    return listed + registry_functions(text)


def registry_functions(text: str) -> list[tuple[str, str]]:
    """``(module, name)`` of each function the registry lines of ``text`` stand for."""
    return [(m, n) for line in _REGISTRY.finditer(text) for m, n in _expand(line)]


def _expand(line: re.Match[str]) -> list[tuple[str, str]]:
    module, registry, patterns = line.groups()
    entries = getattr(importlib.import_module(module), registry)
    return [(module, p.format(name=key)) for key in entries for p in patterns.split()]


class _Source(str):
    """An annotation kept as the source text (``from __future__ import annotations``)."""

    __slots__ = ()

    def __repr__(self) -> str:  # what inspect.Signature shows
        return str(self)


def _signature(obj: Any) -> str:
    """``obj``'s signature as written: ``(z: FloatArray) -> FloatArray``."""

    def source(annotation: Any) -> Any:
        return _Source(annotation) if isinstance(annotation, str) else annotation

    signature = inspect.signature(obj)
    parameters = [p.replace(annotation=source(p.annotation))
                  for p in signature.parameters.values()]
    return str(signature.replace(parameters=parameters,
                                 return_annotation=source(signature.return_annotation)))


def render_function(module: str, name: str) -> str:
    """Markdown for the function ``module.name``, as mkdocstrings renders a member."""
    obj = getattr(importlib.import_module(module), name, None)
    doc = inspect.getdoc(obj) if callable(obj) else None
    if not doc:
        raise ValueError(f"docs/reference.md: no documented function {module}.{name}")
    return (f"{_MEMBER_HEADING} `{name}` {{ #{module}.{name} }}\n\n"
            f"```python\n{name}{_signature(obj)}\n```\n\n{doc}\n")


def _render_registry(line: re.Match[str]) -> str:
    return "\n".join(render_function(module, name) for module, name in _expand(line))


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


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    return _REGISTRY.sub(_render_registry, markdown)


def on_page_content(html: str, **kwargs: Any) -> str:
    return _ROLE.sub(_link, html)
