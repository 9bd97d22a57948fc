"""Tests for verification.interchange.foreign: a correct foreign program passes, buggy ones fail the
right rows, and protocol faults (crash, hang, bad JSON, wrong shape, NaN) give one
clear line with the program ended."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

import verification.__main__ as cli
from verification.interchange.foreign import check_foreign, foreign_problems
from verification.interchange.foreign_protocol import ForeignError, ForeignProgram

SERVER = [sys.executable, str(Path(__file__).parent / "foreign" / "funcnn_server.py")]
XOR = ["2-3-2/sigmoid/softmax_cross_entropy/float64"]


def test_a_correct_program_passes_every_check() -> None:
    report = check_foreign(SERVER, only=[*XOR, "2-3-1/relu/*/float32"], timeout=30)
    assert report.passed, report.table()
    checks = {row.check for row in report.rows}
    assert any(c.endswith("foreign grads vs foreign loss") for c in checks)
    assert any(c.endswith("foreign vs numeric") for c in checks)
    assert report.meta["problems"] == 2


def test_both_encodings_work() -> None:
    assert check_foreign(SERVER, only=XOR, encoding="list", timeout=30).passed


def test_a_gradient_off_by_one_percent_fails_conformance_and_its_own_loss() -> None:
    report = check_foreign([*SERVER, "--bug", "grad-scale"], only=XOR, timeout=30)
    failed = {row.check for row in report.failures}
    assert f"foreign/{XOR[0]}" in failed
    assert f"foreign/{XOR[0]}: foreign grads vs foreign loss" in failed


def test_a_loss_its_gradient_ignores_fails_against_its_own_loss() -> None:
    report = check_foreign([*SERVER, "--bug", "loss-mismatch"], only=XOR, timeout=30)
    own = [r for r in report.failures if r.check.endswith("foreign grads vs foreign loss")]
    assert own and {r.tensor for r in own} >= {"params[0]['W']", "params[1]['W']"}
    cross = [r for r in report.failures if r.check == f"foreign/{XOR[0]}"]
    assert [r.tensor for r in cross] == ["loss value"]  # its gradients match funcnn's


@pytest.mark.parametrize(("bug", "message"), [
    ("crash", r"exited with status 3 before answering 'value_and_grad' \(stderr: "
              r"segmentation fault \(pretend\)\)"),
    ("bad-json", r"answer to 'value_and_grad' is not JSON .*'loss = 0.5, grads = \.\.\.'"),
    ("bad-shape", r"grads\[0\]\['W'\]: shape \(3, 2\), expected \(2, 3\)"),
    ("nan", r"grads\[0\]\['b'\]: not finite \(nan at index \[0\]\)"),
])
def test_protocol_faults_give_one_clear_line(bug: str, message: str) -> None:
    with pytest.raises(ForeignError, match=message) as info:
        check_foreign([*SERVER, "--bug", bug], only=XOR, timeout=30)
    assert "\n" not in str(info.value)


def test_a_hung_program_is_killed_after_the_timeout() -> None:
    with ForeignProgram([*SERVER, "--bug", "hang"], timeout=30) as program:
        program.request({"op": "hello"})
        program.timeout = 1.0
        with pytest.raises(ForeignError, match=r"no answer to 'value_and_grad' within 1 s "
                                               r"\(killed; see --timeout\)"):
            check_foreign_once(program)
        assert program._proc.returncode is not None


def check_foreign_once(program: ForeignProgram) -> None:
    import numpy as np

    from verification.catalogue.suite import network_case

    spec, params, x, y, _ = network_case("2-3-2", "sigmoid", "softmax_cross_entropy",
                                         np.float64, 0)
    program.value_and_grad(spec, params, x, y, "softmax_cross_entropy", "float64")


def test_a_missing_program_is_one_line() -> None:
    with pytest.raises(ForeignError,
                       match=r"cannot start 'no-such-program-h17 --serve': .*No such file"):
        check_foreign("no-such-program-h17 --serve")


def test_problems_follow_what_the_program_supports() -> None:
    chosen = foreign_problems({"activations": ["relu", "sigmoid"],
                               "losses": ["mse", "softmax_cross_entropy"], "dtypes": ["float32"]})
    assert ("2-3-2", "relu", "softmax_cross_entropy", "float32") in chosen
    assert ("2-3-1", "sigmoid", "mse", "float32") in chosen
    assert all(p[1] in ("relu", "sigmoid") and p[2] in ("mse", "softmax_cross_entropy")
               and p[3] == "float32" for p in chosen)
    assert foreign_problems({}, quick=True, only=["784-32-32-10"]) == [
        ("784-32-32-10", "sigmoid", "softmax_cross_entropy", "float64"),
    ]
    assert foreign_problems({"dtypes": ["float32"]}, quick=True, only=["784-32-32-10"]) == [
        ("784-32-32-10", "sigmoid", "softmax_cross_entropy", "float32"),
    ]


def test_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    command = " ".join(SERVER)
    assert cli.main(["--foreign", command, "--only", XOR[0], "--brief"], out=out) == 0
    assert "PASSED" in out.getvalue()
    capsys.readouterr()
    status = cli.main(["--foreign", command + " --bug crash", "--only", XOR[0], "--quiet"],
                      out=out)
    assert status == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("funcnn-verify: error: --foreign: ") and "\n" not in err
    # Without --quiet the progress lines come first, the error is still the last line.
    assert cli.main(["--foreign", command + " --bug crash", "--only", XOR[0]], out=out) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("[1/1] foreign/") and lines[-1].startswith(
        "funcnn-verify: error: --foreign: ")


def test_a_failing_problem_gets_the_root_cause_diagnosis(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import types

    calls: list[tuple[object, ...]] = []

    def diagnose_mlp(spec: object, value_and_grad: object, loss: str, **kwargs: object) -> str:
        import numpy as np

        params, x = kwargs["params"], kwargs["x"]
        calls.append((spec, loss))
        value, _ = value_and_grad(params, x[:1], np.zeros(1, dtype=np.int64))  # type: ignore[operator,index]
        return f"root cause: planted (loss {value:.3f})"

    fake = types.ModuleType("verification.external.diagnosis")
    fake.diagnose_mlp = diagnose_mlp  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "verification.external.diagnosis", fake)
    bad = check_foreign([*SERVER, "--bug", "grad-scale"], only=XOR, timeout=30)
    assert bad.meta["diagnosis"][f"foreign/{XOR[0]}"].startswith("root cause: planted")
    assert len(calls) == 1
    good = check_foreign(SERVER, only=XOR, timeout=30)
    assert "diagnosis" not in good.meta and len(calls) == 1


def test_a_diagnosis_that_does_not_apply_is_reported_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import types

    from funcnn.errors import InvalidArgumentError

    def diagnose_mlp(*args: object, **kwargs: object) -> str:
        raise InvalidArgumentError("loss: not covered")

    fake = types.ModuleType("verification.external.diagnosis")
    fake.diagnose_mlp = diagnose_mlp  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "verification.external.diagnosis", fake)
    bad = check_foreign([*SERVER, "--bug", "grad-scale"], only=XOR, timeout=30)
    assert bad.meta["diagnosis"][f"foreign/{XOR[0]}"] == "no diagnosis: loss: not covered"


def test_the_real_diagnosis_names_the_root_cause() -> None:
    bad = check_foreign([*SERVER, "--bug", "grad-scale"], only=XOR, timeout=30)
    text = bad.meta["diagnosis"][f"foreign/{XOR[0]}"]
    assert "ROOT CAUSE  output delta" in text and "1.01 x the right value" in text
