"""Tests for mkdocs_hooks: Sphinx roles in rendered docstrings become links to the API
reference (public objects) or plain code spans (internal ones), never literal roles or
``~a.b`` targets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mkdocs_hooks import (
    _lookup,
    documented,
    on_page_content,
    on_page_markdown,
    render_function,
    resolve,
)

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


# ---------------------------------------------- the functions rendered from the registries


def _registry_functions() -> list[tuple[str, str, object]]:
    """Every per-activation and per-loss function, from the registries themselves (not
    from the hook's reading of the page): what the reference must render."""
    from funcnn.core import activations, losses

    found = []
    for module, registry, suffixes in ((activations, activations.ACTIVATIONS, ("", "_derivative")),
                                       (losses, losses.LOSSES, ("", "_grad"))):
        for key in registry:
            for suffix in suffixes:
                found.append((module.__name__, key + suffix, getattr(module, key + suffix)))
    assert len(found) >= 22  # 6 activations and 5 losses, two functions each
    return found


def test_the_hook_renders_every_registry_function_with_its_docstring() -> None:
    import inspect

    page = (ROOT / "docs" / "reference.md").read_text(encoding="utf-8")
    markdown = on_page_markdown(page)
    assert "registry functions:" not in markdown  # every registry line was replaced
    for module, name, obj in _registry_functions():
        heading = f"#### `{name}` {{ #{module}.{name} }}\n"
        assert markdown.count(heading) == 1, f"{module}.{name} is not rendered once"
        section = markdown.split(heading)[1].split("\n#### ")[0]
        assert section.startswith(f"\n```python\n{name}(z: "), (name, section[:80])
        doc = inspect.getdoc(obj) or ""
        assert ">>>" in doc and doc in section, f"{module}.{name}: its docstring is not shown"


def test_a_registry_entry_without_its_function_fails_the_build() -> None:
    with pytest.raises(ValueError, match="no documented function funcnn.core.losses.huber_grad"):
        render_function("funcnn.core.losses", "huber_grad")


def test_the_registry_functions_are_in_the_reference_with_their_identifiers() -> None:
    # What the links (``:func:`mse``` in mse_grad's docstring) resolve to: the anchors above.
    for module, name, obj in _registry_functions():
        assert documented()[id(obj)] == f"{module}.{name}"
    assert on_page_content(":func:<code>mse</code>") == (
        '<autoref identifier="funcnn.core.losses.mse"><code>mse</code></autoref>')


def test_the_site_config_runs_the_hook_and_registers_its_anchors() -> None:
    # Without the hook the registry lines are comments and render nothing; without the
    # autorefs plugin listed (its scan of the page's headings), links to them break.
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert re.search(r"^hooks:\n  - mkdocs_hooks\.py$", config, re.M)
    assert re.search(r"^plugins:\n(?:  (?:- \w+|#.*)\n)*  - autorefs$", config, re.M)
    assert re.search(r"^  - attr_list$", config, re.M)  # the headings' { #identifier }


def test_the_built_site_shows_every_registry_function(tmp_path: Path) -> None:
    # The whole build, as CI's docs job runs it (which runs this test; the main job has
    # no mkdocs): each function is a heading at its identifier, with its docstring and
    # example, and mse_grad's ``:func:`mse``` is a link to mse's heading.
    import html
    import inspect
    import os
    import subprocess
    import sys

    pytest.importorskip("mkdocs", reason="the docs extra is not installed (CI's docs job has it)")
    pytest.importorskip("mkdocstrings")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
                    "--site-dir", str(tmp_path / "site")], cwd=ROOT, env=env, check=True)
    page = (tmp_path / "site" / "reference" / "index.html").read_text(encoding="utf-8")
    for module, name, obj in _registry_functions():
        start = page.index(f'<h4 id="{module}.{name}"')
        section = page[start:page.find("<h4 ", start + 1)]
        doc = inspect.getdoc(obj) or ""
        example = [line.strip() for line in doc.splitlines() if ">>>" in line]
        assert html.escape(example[-1], quote=False) in section, f"{module}.{name}"
        assert f'<span class="n">{name}</span>' in section  # the signature
    link = r'<a class="autorefs autorefs-internal"[^>]* href="#funcnn\.core\.losses\.mse"'
    assert re.search(link, page)
