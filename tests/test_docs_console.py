"""The docs' console blocks are run and compared (tests/docs_console.py): a wrong output, a
wrong exit status or an unmarked block that cannot run fails; only a reasoned marker skips."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sybil import Document

from tests.docs_console import ConsoleParser, _commands, run_console


def _run(source: str, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> str | None:
    monkeypatch.chdir(cwd)
    example: Any = SimpleNamespace(parsed=((), source))
    return run_console(example)


def _regions(text: str) -> list[Any]:
    return list(ConsoleParser()(Document(text, "page.md")))


def test_a_block_splits_into_commands_and_their_output() -> None:
    source = "$ echo a\na\n\n$ echo $?\n0\n"
    assert _commands(source) == [("echo a", "a\n\n"), ("echo $?", "0\n")]


def test_output_and_exit_status_are_compared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = (
        "$ funcnn train --lr 0\n"
        "funcnn train: error: --lr: expected a finite number > 0, got ...\n"
        "$ echo $?\n2\n"
    )
    assert _run(good, tmp_path, monkeypatch) is None
    wrong_status = good.replace("\n2\n", "\n0\n")
    assert "$ echo $?" in str(_run(wrong_status, tmp_path, monkeypatch))
    wrong_text = good.replace("finite number", "positive number")
    failure = str(_run(wrong_text, tmp_path, monkeypatch))
    assert failure.startswith("$ funcnn train --lr 0") and "finite number" in failure
    # stderr and stdout both count, in order, and each command runs in the page's directory.
    assert _run("$ echo out; echo err >&2; pwd\nout\nerr\n" f"{tmp_path}\n", tmp_path,
                monkeypatch) is None


def test_a_block_needing_a_missing_program_is_skipped_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("FUNCNN_REQUIRE_TOOLCHAINS", raising=False)
    example: Any = SimpleNamespace(parsed=(("no-such-program-xyz",), "$ echo a\nb\n"))
    with pytest.raises(pytest.skip.Exception, match="needs no-such-program-xyz"):
        run_console(example)
    # Under CI the program is required: its absence fails the block.
    monkeypatch.setenv("CI", "true")
    caught: BaseException | None = None
    try:  # a skip raised here must fail the test, not skip it
        run_console(example)
    except BaseException as error:
        caught = error
    assert isinstance(caught, pytest.fail.Exception), repr(caught)
    assert "needs no-such-program-xyz" in str(caught) and "CI requires" in str(caught)


def test_only_a_block_marked_with_a_reason_is_not_run() -> None:
    block = "```console\n$ funcnn train\nepoch 1/8 ...\n```\n"
    assert len(_regions("text\n\n" + block)) == 1
    assert _regions("<!-- console: not run: takes minutes -->\n" + block) == []
    assert _regions("<!-- console: needs: node, gcc -->\n" + block)[0].parsed[0] == (
        "node", "gcc")
    with pytest.raises(ValueError, match="needs a reason"):
        _regions("<!-- console: not run: -->\n" + block)
    with pytest.raises(ValueError, match=r"must start with '\$ '"):
        _regions("<!-- console: needs: node -->\n```console\nnode x.js\n```\n")
    with pytest.raises(ValueError, match=r"must start with '\$ '"):
        _regions("```console\nfuncnn train\n```\n")
