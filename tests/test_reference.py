"""Tests for docs/reference.md: the API reference documents the public API, each object
once, and nothing internal (issue 25)."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import funcnn
import verification
from mkdocs_hooks import reference_members

REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference.md"
INTERNAL = {"run", "count_at_max", "count_correct", "apply_unchecked", "evaluate_unchecked",
            "value_and_grad_unchecked", "Buffers", "dense_into", "softmax_into", "allocate"}


def _members() -> list[tuple[str, str, object]]:
    members = reference_members(REFERENCE.read_text(encoding="utf-8"))
    assert len(members) > 150  # the parse sees the page
    return [(m, n, getattr(importlib.import_module(m), n)) for m, n in members]


def test_every_top_level_name_is_documented() -> None:
    documented = {id(obj) for _, _, obj in _members()}
    for package in (funcnn, verification):
        missing = [n for n in package.__all__ if id(getattr(package, n)) not in documented]
        assert missing == [], f"{package.__name__}: not in docs/reference.md: {missing}"


def test_the_adapters_are_documented() -> None:
    from verification.external import adapters

    documented = {(m, n) for m, n, _ in _members()}
    assert {("verification.external.adapters", n) for n in adapters.__all__} <= documented


def test_no_object_is_documented_twice() -> None:
    seen: dict[int, str] = {}
    for module, name, obj in _members():
        if isinstance(obj, (type, type(len))) or callable(obj):
            where = f"{module}.{name}"
            assert id(obj) not in seen, f"{where} is also documented as {seen[id(obj)]}"
            seen[id(obj)] = where
    names = [n for _, n, _ in _members()]
    assert sorted({n for n in names if names.count(n) > 1}) == []


def test_only_public_names_are_documented() -> None:
    for module, name, _ in _members():
        assert not name.startswith("_") and name not in INTERNAL, f"{module}.{name}"
        exported = getattr(importlib.import_module(module), "__all__", None)
        if exported is not None:  # funcnn.errors and funcnn.typing: every name is public
            assert name in exported, f"{module}.{name} is not in its module's __all__"


def test_examples_render_as_code_blocks() -> None:
    # mkdocstrings renders a docstring as Markdown: an example at the prose's indentation
    # becomes a nested blockquote, and ``["W"]`` in it a broken reference link (a strict
    # build fails on it). Indented by four more, it is a code block; sybil runs it either way.
    import inspect

    for module, name, obj in _members():
        doc = inspect.getdoc(obj) or ""
        lines = doc.splitlines()
        for i, line in enumerate(lines):
            if line.lstrip().startswith(">>>") and (i == 0 or not lines[i - 1].strip()):
                assert line.startswith("    "), f"{module}.{name}: {line.strip()}"


def test_generated_docstrings_examples_run() -> None:
    # sybil runs the examples written in the source; a docstring built at import time (the
    # per-activation and per-loss functions, from a template) is not in the source, so its
    # example runs here, with the flags sybil uses.
    import doctest
    import inspect

    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    finder, ran = doctest.DocTestFinder(recurse=False), 0
    for module, name, obj in _members():
        doc = getattr(obj, "__doc__", None)
        if not callable(obj) or not isinstance(doc, str) or ">>>" not in doc:
            continue
        # The module that defines it (a re-exported class's docstring is in its own).
        defining = inspect.getmodule(obj) or importlib.import_module(module)
        if doc.strip() in inspect.getsource(defining):
            continue
        for test in finder.find(obj, f"{module}.{name}", globs={}):
            runner = doctest.DocTestRunner(optionflags=flags)
            runner.run(test)
            assert runner.failures == 0, f"{module}.{name}: its example fails"
            ran += 1
    assert ran >= 22  # each activation's and loss's pair of functions ran its example


def _attribute_docstrings(module: str) -> dict[str, str]:
    """``name: docstring`` for each module-level assignment followed by a string."""
    import ast
    import inspect
    import itertools

    body = ast.parse(inspect.getsource(importlib.import_module(module))).body
    found = {}
    for node, after in itertools.pairwise(body):
        if (
            isinstance(node, ast.Assign | ast.AnnAssign)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    found[target.id] = after.value.value
    return found


def test_attribute_docstrings_examples_run() -> None:
    # A constant's or alias's docstring (``ACTIVATIONS``, ``Params``) is a string after
    # the assignment, which mkdocstrings renders but sybil does not read: its example runs here.
    import doctest

    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    parser, ran = doctest.DocTestParser(), []
    for module, name, _ in _members():
        doc = _attribute_docstrings(module).get(name)
        if doc is None or ">>>" not in doc:
            continue
        test = parser.get_doctest(doc, {}, f"{module}.{name}", module, 0)
        runner = doctest.DocTestRunner(optionflags=flags)
        runner.run(test)
        assert runner.failures == 0, f"{module}.{name}: its example fails"
        ran.append(name)
    assert {"ACTIVATIONS", "LOSSES", "SCHEMES", "Params"} <= set(ran)


def test_every_documented_function_and_class_has_an_example() -> None:
    """Issue 25: each public function (and class) in the reference shows a short example.
    ``inspect.getdoc`` also sees the docstrings built at import time (the per-activation
    and per-loss functions); the tests above run those examples."""
    missing = [
        f"{module}.{name}"
        for module, name, obj in _members()
        if (inspect.isroutine(obj) or inspect.isclass(obj))
        and ">>>" not in (inspect.getdoc(obj) or "")
    ]
    assert missing == [], f"no example in the docstring of: {missing}"
