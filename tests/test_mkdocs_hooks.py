"""Tests for mkdocs_hooks: Sphinx roles in rendered docstrings become plain code spans."""

from __future__ import annotations

from mkdocs_hooks import on_page_content


def test_a_role_is_dropped_and_its_code_kept() -> None:
    assert on_page_content("see :func:<code>fn.init</code>.") == "see <code>fn.init</code>."
    assert on_page_content(":mod:<code>verification.engine</code>") == (
        "<code>verification.engine</code>")


def test_a_tilde_target_shows_only_its_last_name() -> None:
    html = "(:class:<code>~verification.reporting.report.Report</code>)"
    assert on_page_content(html) == "(<code>Report</code>)"


def test_code_without_a_role_is_left_alone() -> None:
    html = "<code>~a.b</code> and :not-a-role:<code>x</code>"
    assert on_page_content(html) == html
