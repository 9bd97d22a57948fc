"""Tests for the verification command line (python -m verification / funcnn-verify)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import verification.__main__ as cli
from funcnn.core.losses import get_loss
from verification.catalogue.suite import build_catalogue
from verification.reporting.report import Report


def test_quick_run_passes_in_a_subprocess() -> None:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "verification", "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stdout + done.stderr
    # A concise summary: a header, one line per group of checks, the result, the data.
    lines = done.stdout.splitlines()
    groups = {check.group for check in build_catalogue(quick=True)}
    assert len(lines) == 1 + len(groups) + 2, done.stdout
    assert {line.split()[0] for line in lines[1:-2]} == groups
    assert lines[-2].endswith("-> PASSED")
    assert max(map(len, lines)) <= 100
    assert seconds < 60  # the CI budget is 30 s; this machine is shared


def test_verbose_prints_every_check_and_json_prints_only_json() -> None:
    only = ["--only", "activation/relu/*", "--only", "dense/float64"]
    status, text = _run([*only, "--verbose"])
    assert status == 0 and text.count("\n[") == 3
    assert "network" not in text and "max_rel" in text  # the table of every row
    status, text = _run([*only, "--json"])
    doc = json.loads(text)  # nothing but the JSON document on stdout
    assert status == 0 and doc["passed"] and len({row["check"] for row in doc["rows"]}) == 3


def test_a_negative_seed_is_a_one_line_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "verification", "--seed", "-1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "funcnn-verify: error: argument --seed: expected an integer >= 0, got -1 "
        "(see 'funcnn-verify --help')"
    ]


def _run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    status = cli.main(argv, out=out)
    return status, out.getvalue()


def test_only_json_and_exit_status(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    status, text = _run(
        [
            "--only",
            "activation/relu/*",
            "--only",
            "dense/float64",
            "--json",
            str(path),
            "--seed",
            "3",
        ]
    )
    assert status == 0
    assert "activations        2 checks     2 rows  subgradient" in text
    assert "dense              1 check      3 rows  pass" in text
    doc = json.loads(path.read_text())
    assert doc["passed"] and doc["meta"]["seed"] == 3
    assert {row["check"] for row in doc["rows"]} == {
        "activation/relu/float64",
        "activation/relu/float32",
        "dense/float64",
    }
    assert Report.from_json(path.read_text()).passed


def test_failing_check_gives_exit_status_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import funcnn as fn
    from funcnn.core import activations

    broken = fn.Activation("tanh", fn.tanh, lambda z, a: 1 - a, ())
    monkeypatch.setitem(activations.ACTIVATIONS, "tanh", broken)
    status, text = _run(["--only", "activation/tanh/float64", "--brief"])
    assert status == 1
    assert "  FAIL activation/tanh/float64: derivative at [" in text
    assert "1 rows: 1 fail -> FAILED" in text


def test_usage_errors_list_and_golden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _run(["--only", "no-such-check"])[0] == 2
    with pytest.raises(SystemExit) as excinfo:
        cli.main(["--seed", "x"])
    assert excinfo.value.code == 2
    status, text = _run(["--list", "--quick", "--only", "network/2-3-1/*"])
    assert status == 0 and text.count("network/2-3-1/") == 14


def test_export_golden_runs_no_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_checks(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("--export-golden ran the catalogue")

    monkeypatch.setattr(cli, "run_checks", no_checks)
    monkeypatch.setattr(cli, "build_catalogue", no_checks)
    status, text = _run(["--export-golden", str(tmp_path / "g"), "--seed", "3"])
    assert status == 0 and "cases written to" in text
    assert json.loads((tmp_path / "g" / "manifest.json").read_text())["seed"] == 3
    (tmp_path / "file").write_text("x")
    assert _run(["--export-golden", str(tmp_path / "file" / "g")])[0] == 2


def test_plot_writes_a_heat_map_of_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import funcnn as fn
    from funcnn.core import activations

    target = tmp_path / "fail.png"
    status, text = _run(["--only", "activation/tanh/float64", "--plot", str(target)])
    assert status == 0 and "nothing" not in text and "no failing tensor to draw" in text
    assert not target.exists()
    broken = fn.Activation("tanh", fn.tanh, lambda z, a: 1 - a, ())
    monkeypatch.setitem(activations.ACTIVATIONS, "tanh", broken)
    status, text = _run(["--only", "activation/tanh/float64", "--plot", str(target)])
    assert status == 1 and f"written to {target}" in text
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit) as excinfo:
        cli.main(["--plot", str(tmp_path / "x.pdf")])
    assert excinfo.value.code == 2


FOREIGN = [sys.executable, str(Path(__file__).parent / "foreign" / "numpy_mlp.py")]
REGISTRY_MSE = get_loss("mse")


def test_loss_flag_imports_a_loss_for_foreign_and_golden(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command = " ".join(FOREIGN)
    only = ["--only", "2-3-1/sigmoid/sigmoid_quadratic/float64", "--quiet"]
    assert cli.main(["--foreign", command, *only]) == 1  # not checked without it: no problem
    assert "no problem matches" in capsys.readouterr().err
    out = io.StringIO()
    assert cli.main(["--foreign", command, *only, "--loss",
                     "tests.primitives:QUADRATIC_HEAD"], out=out) == 0
    assert cli.main(["--foreign", f"{command} --bug quadratic-delta", *only, "--loss",
                     "tests.primitives:QUADRATIC_HEAD"], out=out) == 1
    assert "ROOT CAUSE  output delta" in out.getvalue()
    assert cli.main(["--export-golden", str(tmp_path), "--loss",
                     "tests.primitives:QUADRATIC_HEAD"], out=out) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert "network/2-3-1/sigmoid/sigmoid_quadratic/float64" in {c["id"] for c in
                                                                 manifest["cases"]}


@pytest.mark.parametrize(("value", "message"), [
    ("tests.primitives", "--loss 'tests.primitives': expected MODULE:ATTR"),
    ("tests.no_such_module:x", "--loss 'tests.no_such_module:x': cannot import"),
    ("tests.primitives:nothing", "--loss 'tests.primitives:nothing': 'tests.primitives' "
                                 "has no 'nothing'"),
    ("tests.primitives:huber", "--loss 'tests.primitives:huber': expected a funcnn.Loss, "
                               "got function"),
    ("tests.test_verification_cli:REGISTRY_MSE", "--loss: losses[0]: name 'mse' is taken"),
])
@pytest.mark.parametrize("flag", ["--foreign", "--export-golden"])
def test_a_loss_flag_that_names_no_new_loss_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, message: str, flag: str
) -> None:
    target = " ".join(FOREIGN) if flag == "--foreign" else str(tmp_path / "golden")
    assert cli.main([flag, target, "--loss", value, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
