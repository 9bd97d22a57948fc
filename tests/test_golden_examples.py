"""The C and JavaScript golden readers in examples/ (each implements a small MLP and
checks it against exported golden files using only JSON / the flat index and raw
arrays): they pass every supported case and fail the tanh cases when the tanh
derivative loses its square, and so do the JavaScript reader's outputs written with
``--results`` and judged by ``--compare-golden`` (the C reader's:
test_verification_golden_results.py). They skip only where gcc or node is missing, and fail
instead under CI=true (or FUNCNN_REQUIRE_TOOLCHAINS); the last test asserts that, with
the tool present, they really ran."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from verification.__main__ import main
from verification.interchange.foreign import check_foreign
from verification.interchange.golden import export_golden

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SUPPORTED = {"softmax_cross_entropy", "binary_cross_entropy", "mse"}
RAN: set[str] = set()


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("golden")
    export_golden(path)
    return path


def _expected(golden: Path) -> tuple[int, int, int]:
    """(supported, unsupported, tanh) network cases of the export."""
    cases = [c for c in json.loads((golden / "manifest.json").read_text())["cases"]
             if c["kind"] == "network"]
    ok = [c for c in cases if c["loss"] in SUPPORTED]
    tanh = [c for c in ok if "tanh" in c["activations"]]
    return len(ok), len(cases) - len(ok), len(tanh)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        if os.environ.get("FUNCNN_REQUIRE_TOOLCHAINS") or os.environ.get("CI") == "true":
            pytest.fail(f"{name} is required (CI=true or FUNCNN_REQUIRE_TOOLCHAINS is set)")
        pytest.skip(f"{name} is not installed")
    return found


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def _check_output(golden: Path, argv: list[str]) -> None:
    supported, unsupported, tanh = _expected(golden)
    assert supported >= 20 and tanh >= 2
    good = _run([*argv, str(golden)])
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.splitlines()[-1].startswith(
        f"{supported} passed, 0 failed, {unsupported} skipped")
    bad = _run([*argv, str(golden), "--bug", "tanh-square"])
    assert bad.returncode == 1
    fails = [line for line in bad.stdout.splitlines() if line.startswith("FAIL ")]
    assert len(fails) == tanh and all("/tanh/" in line for line in fails)


def test_c_example_checks_the_golden_files(golden: Path, tmp_path: Path) -> None:
    gcc = _tool("gcc")
    binary = tmp_path / "check_golden"
    build = _run([gcc, "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", "-o", str(binary),
                  str(EXAMPLES / "golden_c" / "check_golden.c"), "-lm"])
    assert build.returncode == 0, build.stderr
    _check_output(golden, [str(binary)])
    RAN.add("gcc")


def test_javascript_example_checks_the_golden_files(golden: Path) -> None:
    node = _tool("node")
    _check_output(golden, [node, str(EXAMPLES / "golden_js" / "check_golden.js")])
    RAN.add("node")


def test_javascript_example_results_are_judged_by_compare_golden(golden: Path,
                                                                 tmp_path: Path) -> None:
    node = _tool("node")
    script = str(EXAMPLES / "golden_js" / "check_golden.js")
    supported, _, tanh = _expected(golden)
    for flags, failing in (([], 0), (["--bug", "tanh-square"], tanh)):
        results = tmp_path / f"results{len(flags)}.json"
        _run([node, script, str(golden), *flags, "--results", str(results)])
        out = io.StringIO()
        code = main(["--compare-golden", str(results), "--golden", str(golden)], out=out)
        fails = [line for line in out.getvalue().splitlines() if line.startswith("FAIL ")]
        assert code == (1 if failing else 0), out.getvalue()
        assert len(fails) == failing and all("/tanh/" in line for line in fails)
        assert f"{supported} cases compared: {supported - failing} passed" in out.getvalue()
    RAN.add("node-results")


def test_javascript_example_serves_the_foreign_protocol() -> None:
    node = _tool("node")
    serve = [node, str(EXAMPLES / "golden_js" / "serve.js")]
    only = ["2-3-2/sigmoid/softmax_cross_entropy/float64", "2-3-1/tanh/*/float32"]
    report = check_foreign(serve, only=only, timeout=60)
    assert report.passed and report.meta["problems"] == 2, report.table()
    bad = check_foreign([*serve, "--bug", "tanh-square"], only=only, timeout=60)
    assert {row.check.split(":")[0] for row in bad.failures} == {
        "foreign/2-3-1/tanh/binary_cross_entropy/float32"}
    RAN.add("node-foreign")


def test_the_examples_were_not_skipped_where_their_tools_exist(
    request: pytest.FixtureRequest,
) -> None:
    selected = {item.name for item in request.session.items}
    for tool, ran, test in (
        ("gcc", "gcc", "test_c_example_checks_the_golden_files"),
        ("node", "node", "test_javascript_example_checks_the_golden_files"),
        ("node", "node-foreign", "test_javascript_example_serves_the_foreign_protocol"),
        ("node", "node-results",
         "test_javascript_example_results_are_judged_by_compare_golden"),
    ):
        if shutil.which(tool) and test in selected:
            assert ran in RAN, f"{test} did not run although {tool} is installed"
