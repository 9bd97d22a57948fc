"""Tests for mkdocs_hooks: Sphinx roles in rendered docstrings become links to the API
reference (public objects) or plain code spans (internal ones), never literal roles or
``~a.b`` targets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mkdocs_hooks import _lookup, documented, on_page_content, resolve

ROOT = Path(__file__).resolve().parent.parent
ROLE_IN_SOURCE = re.compile(r":(func|class|meth|mod|attr|data|exc|obj):`([^`]+)`")


def test_a_public_target_becomes_a_cross_reference_however_it_is_spelled() -> None:
    want = '<autoref identifier="funcnn.training.loop.fit"><code>{}</code></autoref>'
    assert on_page_content(":func:<code>funcnn.fit</code>") == want.format("funcnn.fit")
    assert on_page_content(":func:<code>fn.fit</code>") == want.format("fn.fit")
    assert on_page_content(":func:<code>~funcnn.training.loop.fit</code>") == want.format("fit")
    assert on_page_content(":class:<code>Layout</code>") == (
        '<autoref identifier="verification.external.adapters.Layout"><code>Layout</code>'
        "</autoref>")


def test_a_method_of_a_public_class_links_to_its_member() -> None:
    html = on_page_content(":meth:<code>~verification.Report.plot</code>")
    assert html == ('<autoref identifier="verification.reporting.report.Report.plot">'
                    "<code>plot</code></autoref>")


def test_an_internal_target_stays_code_showing_only_its_last_name() -> None:
    html = "(:func:<code>~funcnn.core.engine.forward</code>, :mod:<code>funcnn.core.engine</code>)"
    assert on_page_content(html) == "(<code>forward</code>, <code>funcnn.core.engine</code>)"


def test_code_without_a_role_is_left_alone() -> None:
    html = "<code>~a.b</code> and :not-a-role:<code>x</code>"
    assert on_page_content(html) == html


def _roles() -> list[tuple[str, str]]:
    found = []
    for package in ("funcnn", "verification"):
        for path in sorted((ROOT / package).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            module = module.removesuffix(".__init__")
            found += [(module, t) for _, t in ROLE_IN_SOURCE.findall(path.read_text())]
    return found


def test_every_role_in_the_docstrings_renders_without_a_tilde_or_role() -> None:
    roles = _roles()
    assert len(roles) > 300  # the scan sees the docstrings
    for module, target in roles:
        html = on_page_content(f"<p>:func:<code>{target}</code></p>")
        assert "~" not in html and ":func:" not in html, (module, target, html)


def test_every_role_names_something_that_exists() -> None:
    # A role the hook cannot place anywhere (a typo, a renamed object) would silently
    # render as plain code: each must name a public object, or one of its own module
    # (or of a class there) when written bare.
    import importlib

    missing = []
    for module, target in _roles():
        if resolve(target) is not False or "{" in target:  # "{" : an f-string's docstring
            continue
        name = target.lstrip("~").removesuffix("()")
        mod = importlib.import_module(module)
        owners = [mod, *(v for v in vars(mod).values() if isinstance(v, type))]
        if _lookup(f"{module}.{name}") is None and not any(
            hasattr(owner, name.split(".")[0]) for owner in owners
        ):
            missing.append((module, target))
    assert missing == [], missing


@pytest.mark.parametrize("name", ["fit", "make_step", "check_gradients", "Layout"])
def test_the_reference_anchors_what_the_links_point_at(name: str) -> None:
    assert any(ident.endswith(f".{name}") for ident in documented().values())
