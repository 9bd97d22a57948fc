"""A foreign program that answers ``{"error": ...}`` (docs/foreign-protocol.md): the check
stops with one line that carries the program's own words, whichever request it refused.

The program is a few lines of Python written for each test, so what it says is known
exactly and appears nowhere else.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from verification import ForeignError, check_foreign

XOR = ["2-3-2/sigmoid/softmax_cross_entropy/float64"]

PROGRAM = '''
import json, sys
for line in sys.stdin:
    msg = json.loads(line)
    if msg["op"] == {refuse!r}:
        answer = {{"error": {text!r}}}
    elif msg["op"] == "hello":
        answer = {{"protocol": "funcnn-foreign/1", "dtypes": ["float64"]}}
    else:
        answer = {{"oops": "no such answer expected in this test"}}
    print(json.dumps({{"id": msg["id"], **answer}}), flush=True)
'''


def _program(tmp_path: Path, refuse: str, text: str) -> list[str]:
    path = tmp_path / "refusing.py"
    path.write_text(PROGRAM.format(refuse=refuse, text=text))
    return [sys.executable, str(path)]


@pytest.mark.parametrize("op", ["hello", "value_and_grad"])
def test_the_programs_error_text_is_in_the_message(tmp_path: Path, op: str) -> None:
    text = "cannot allocate 3.2 GB for layer 2 (out of memory)"
    with pytest.raises(ForeignError) as info:
        check_foreign(_program(tmp_path, op, text), only=XOR, timeout=30)
    message = str(info.value)
    assert re.search(rf"answer to '{op}'", message), message
    assert text in message, message
    assert "\n" not in message
