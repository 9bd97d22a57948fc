"""A foreign program that ends before answering ``hello`` (a bad flag, a crash at
start-up) is named with its exit status and its last stderr lines, and the command line
exits 1, never 141 (the broken pipe on its stdin is not taken for ``| head``)."""

from __future__ import annotations

import sys

import pytest

import verification.__main__ as cli
from verification.interchange.foreign import check_foreign
from verification.interchange.foreign_protocol import ForeignError, ForeignProgram

USAGE = ("import sys; sys.stderr.write('usage: mlp [--serve]\\nmlp: error: unrecognized "
         "argument --bad\\n'); sys.exit(2)")
NAMED = (r"exited with status 2 before answering 'hello' \(stderr: usage: mlp \[--serve\] \| "
         r"mlp: error: unrecognized argument --bad\)$")


def test_a_program_gone_before_the_first_request_is_named() -> None:
    # It has exited before hello is written: the write meets a broken pipe, and so does
    # the flush when its stdin is closed. Neither may escape as BrokenPipeError.
    with ForeignProgram([sys.executable, "-c", USAGE]) as program:
        program._proc.wait()
        with pytest.raises(ForeignError, match=NAMED) as info:
            program.request({"op": "hello"})
    assert "\n" not in str(info.value)


def test_check_foreign_names_it() -> None:
    with pytest.raises(ForeignError, match=NAMED):
        check_foreign([sys.executable, "-c", USAGE])


def test_a_start_up_crash_names_the_signal() -> None:
    crash = "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"
    if sys.platform == "win32":
        pytest.skip("no POSIX signals")
    with pytest.raises(ForeignError, match=r"died of SIGSEGV before answering 'hello'$"):
        check_foreign([sys.executable, "-c", crash])


def test_the_command_line_says_so_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    command = f'{sys.executable} -c "{USAGE}"'
    for _ in range(3):  # the broken pipe is a race: try it a few times
        assert cli.main(["--foreign", command]) == 1
        err = capsys.readouterr().err
        assert err.startswith("funcnn-verify: error: --foreign: ") and err.count("\n") == 1
        assert "exited with status 2 before answering 'hello'" in err
