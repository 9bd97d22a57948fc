"""Protocol version 2 (verification.interchange.foreign_loss): the program keeps the
problem and is sent only moves, so a failing check costs about what a passing one does;
the verdicts are those of version 1, which is still served; progress goes to the stream
asked for (stderr on the command line, unless --quiet)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest

import verification.__main__ as cli
from funcnn.typing import FloatArray
from verification.catalogue.suite import network_case
from verification.engine.common.layout import Directions
from verification.engine.evaluators.generic_loss import GenericLoss
from verification.interchange.foreign import _kink_pattern, check_foreign
from verification.interchange.foreign_loss import ForeignLoss
from verification.interchange.foreign_messages import PROTOCOL, PROTOCOL_V1
from verification.interchange.foreign_protocol import ForeignError, ForeignProgram
from verification.reporting.report import Report

FOREIGN = Path(__file__).parent / "foreign"
PROGRAM = [sys.executable, str(FOREIGN / "numpy_mlp.py")]
MID = "784-32-32-10/sigmoid/softmax_cross_entropy/float64"


def _rows(report: Report) -> list[tuple[str, str, str, float]]:
    return [(r.check, r.tensor, r.verdict, r.max_abs_error) for r in report.rows]


@pytest.mark.parametrize("bug", ["", "grad-scale"])
def test_version_1_is_still_served_with_the_same_verdicts(bug: str) -> None:
    only = ["2-3-2/relu/*/float64", "2-3-1/tanh/*/float64"]
    extra = ["--bug", bug] if bug else []
    new = check_foreign([*PROGRAM, *extra], only=only, timeout=60)
    old = check_foreign([*PROGRAM, *extra, "--protocol", "1"], only=only, timeout=60)
    assert (new.meta["protocol"], old.meta["protocol"]) == (PROTOCOL, PROTOCOL_V1)
    assert new.passed is (not bug) and old.passed is (not bug)
    # The same points, so the same losses: every row alike, to the last digit.
    assert _rows(new) == _rows(old)


def test_the_evaluator_sends_the_points_version_1_sends() -> None:
    spec, params, x, y, _ = network_case("2-3-2", "relu", "softmax_cross_entropy",
                                         np.float64, 0)
    loss = "softmax_cross_entropy"
    with ForeignProgram(PROGRAM, timeout=60) as program:
        program.request({"op": "hello"})
        ours = ForeignLoss(program, spec, params, x, y, loss, "float64", 1.0)

        def batched(thetas: FloatArray) -> FloatArray:
            from funcnn.core.pytree import ravel

            unravel = ravel(params)[1]
            return program.losses(spec, [unravel(t) for t in thetas], x, y, loss, "float64")

        generic = GenericLoss(lambda p: float(program.losses(spec, [p], x, y, loss,
                                                             "float64")[0]),
                              params, batched_loss=batched,
                              pattern_fn=_kink_pattern(spec, x, y, loss))
        index = np.array([0, 3, 3, 12, 5])
        t = np.array([1e-3, -2.0, 2.0, 0.5, 1e-8])
        assert ours.value == generic.value
        for got, want in zip(ours.coordinates(index, t), generic.coordinates(index, t),
                             strict=True):
            np.testing.assert_array_equal(got, want)
        assert ours.coordinates(index, t)[1].any()  # a step of 2 crosses a relu kink
        rng = np.random.default_rng(0)
        dirs = Directions((0, 2, 2), tuple(rng.standard_normal(s) for s in (6, 6, 6)))
        k, steps = np.array([2, 0, 1, 2]), np.array([0.1, -0.3, 1.5, -1e-4])
        for got, want in zip(ours.directions(dirs, k, steps),
                             generic.directions(dirs, k, steps), strict=True):
            np.testing.assert_array_equal(got, want)


def test_a_failing_check_costs_about_what_a_passing_one_does() -> None:
    good = check_foreign(PROGRAM, only=[MID], timeout=60)
    bad = check_foreign([*PROGRAM, "--bug", "grad-scale"], only=[MID], timeout=60)
    assert good.passed and not bad.passed
    # x and the parameters go out once per problem (and per value_and_grad): version 1
    # sent them again with each of about 18,000 points, some 9.9 GB.
    assert bad.meta["bytes_sent"] < 3 * good.meta["bytes_sent"], (
        bad.meta["bytes_sent"], good.meta["bytes_sent"])
    # The conformance rows localise the failing tensors in-process (funcnn's own loss);
    # the second look, against the program's loss, does not bisect them again: as many
    # program evaluations as a passing check (version 1's bisection took about 1,300).
    assert bad.meta["evaluations"] <= 2 * good.meta["evaluations"], (
        bad.meta["evaluations"], good.meta["evaluations"])
    localised = [r for r in bad.failures if r.check.endswith("foreign vs numeric")]
    assert {r.tensor for r in localised} == {f"params[{i}]['{k}']" for i in range(3)
                                             for k in "Wb"}
    assert all("re-check" in r.note and r.worst_index is not None for r in localised)
    assert bad.meta["messages"] < 150
    worst = {r.tensor for r in bad.failures if r.check.endswith("foreign grads vs foreign loss")}
    assert worst == {"params[0]['W']", "params[0]['b']", "params[1]['W']", "params[1]['b']",
                     "params[2]['W']", "params[2]['b']"}


def test_a_wrong_moves_answer_is_one_line() -> None:
    spec, params, x, y, _ = network_case("2-3-1", "tanh", "mse", np.float64, 0)
    server = [sys.executable, "-c", (
        "import json, sys\n"
        "for line in sys.stdin:\n"
        "    m = json.loads(line)\n"
        "    print(json.dumps({'loss': 0.5} if m['op'] == 'problem' else {'losses': [1.0]}),"
        " flush=True)\n")]
    with ForeignProgram(server, timeout=60) as program:
        evaluator = ForeignLoss(program, spec, params, x, y, "mse", "float64", 1.0)
        assert evaluator.value == 0.5
        with pytest.raises(ForeignError, match=r"^answer to 'moves': losses: shape \(1,\), "
                                               r"expected \(2,\)$"):
            evaluator.coordinates(np.array([0, 1]), np.array([0.1, 0.1]))


def test_progress_goes_where_it_is_asked(capsys: pytest.CaptureFixture[str]) -> None:
    only = ["2-3-1/tanh/*/float64"]
    check_foreign(PROGRAM, only=only, timeout=60)
    assert capsys.readouterr() == ("", "")  # nothing unless asked
    stream = io.StringIO()
    check_foreign([*PROGRAM, "--protocol", "1"], only=only, timeout=60, progress=stream)
    lines = stream.getvalue().splitlines()
    assert "speaks funcnn-foreign/1" in lines[0]
    assert lines[1] == "[1/1] foreign/2-3-1/tanh/binary_cross_entropy/float64 ..."
    assert lines[2].startswith("[1/1] foreign/2-3-1/tanh/binary_cross_entropy/float64: pass, ")
    assert lines[2].endswith(" loss evaluations")
    out = io.StringIO()
    command = " ".join(PROGRAM)
    assert cli.main(["--foreign", command, "--only", only[0]], out=out) == 0
    err = capsys.readouterr().err
    assert "[1/1] foreign/2-3-1/tanh/binary_cross_entropy/float64: pass" in err
    assert "loss evaluations" not in out.getvalue()
    assert cli.main(["--foreign", command, "--only", only[0], "--quiet"], out=out) == 0
    assert capsys.readouterr().err == ""


def test_a_wrong_loss_is_located_by_conformance_at_the_cost_of_a_passing_check() -> None:
    # The gradient is funcnn's, the loss is not: the conformance row of the loss value
    # fails, and the second look (against that loss) is not bisected again.
    good = check_foreign(PROGRAM, only=[MID], timeout=60)
    bad = check_foreign([*PROGRAM, "--bug", "loss-extra"], only=[MID], timeout=60)
    assert any(r.tensor == "loss value" for r in bad.failures)
    own = [r for r in bad.failures if r.check.endswith("foreign grads vs foreign loss")]
    assert own and all("not localised" in r.note for r in own)
    assert bad.meta["evaluations"] <= 2 * good.meta["evaluations"]
