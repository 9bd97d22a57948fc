"""The example that checks a buggy textbook MLP prints the diagnosis it promises: the
root cause and each of the other three wrong lines, and nothing for the fixed class."""

from __future__ import annotations

import pytest

from examples import check_textbook_mlp


def test_the_example_names_the_four_wrong_lines(capsys: pytest.CaptureFixture[str]) -> None:
    as_written, fixed = check_textbook_mlp.main([])
    out = capsys.readouterr().out.splitlines()
    root = [line for line in out if line.startswith("ROOT CAUSE")]
    assert root == [
        "ROOT CAUSE  layer 2 delta: evaluates the activation derivative at the activation "
        "a = sigmoid(z) instead of the pre-activation z: sigmoid'(a) where sigmoid'(z) belongs"
    ]
    assert [f.kind for f in as_written.wrong] == [
        "derivative-at-activation",
        "weight-pre-activation",
        "derivative-formula-on-z",
        "bias-sum",
    ]
    assert sum(line.startswith("ALSO WRONG") for line in out) == 3
    assert fixed.ok
    assert out[-1].endswith("every step of backprop is right.")
