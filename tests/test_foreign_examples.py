"""The protocol servers in examples/: the C one (examples/foreign_c/serve.c, compiled
here into a temporary directory) and the JavaScript one (examples/golden_js/serve.js)
speak protocol version 2, pass --quick on the problems they declare, and fail where a
bug is planted in their backprop. Each skips only when its compiler or node is missing;
under CI (CI=true, or FUNCNN_REQUIRE_TOOLCHAINS set) a missing tool is a failure, and
the last test asserts that, with the tool present, they really ran."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from verification.interchange.foreign import check_foreign
from verification.interchange.foreign_messages import PROTOCOL
from verification.reporting.report import Report

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SMALL = ["2-3-*", "3-5-4-3/*"]
RAN: set[str] = set()


def _required() -> bool:
    return os.environ.get("CI") == "true" or bool(os.environ.get("FUNCNN_REQUIRE_TOOLCHAINS"))


def _tool(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found is not None:
            return found
    if _required():
        pytest.fail(f"none of {list(names)} is installed, and CI requires it")
    pytest.skip(f"none of {list(names)} is installed")


@pytest.fixture(scope="module")
def c_server(tmp_path_factory: pytest.TempPathFactory) -> str:
    compiler = _tool("cc", "gcc", "clang")
    binary = tmp_path_factory.mktemp("foreign_c") / "serve"
    build = subprocess.run([compiler, "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror",
                            "-o", str(binary), str(EXAMPLES / "foreign_c" / "serve.c"), "-lm"],
                           capture_output=True, text=True, timeout=120, check=False)
    assert build.returncode == 0, build.stderr
    return str(binary)


def test_the_c_server_passes_quick(c_server: str) -> None:
    report = check_foreign([c_server], quick=True, timeout=60)
    assert report.passed, report.table()
    assert report.meta["protocol"] == PROTOCOL
    assert {row.check.split("/")[1] for row in report.rows} >= {"2-3-1", "2-3-2", "3-5-4-3",
                                                                "784-32-32-10"}
    RAN.add("c")


@pytest.mark.parametrize(("bug", "where"), [("tanh-square", "/tanh/"),
                                            ("transposed", "")])
def test_the_c_server_fails_with_a_planted_bug(c_server: str, bug: str, where: str) -> None:
    report = check_foreign([c_server, "--bug", bug], quick=True, only=SMALL, timeout=60)
    failed = {row.check.split(":")[0] for row in report.failures}
    assert failed and all(where in name for name in failed), report.table()
    if bug == "transposed":
        assert any("/3-5-4-3/" in name for name in failed)


def test_the_javascript_server_passes_and_fails() -> None:
    serve = [_tool("node"), str(EXAMPLES / "golden_js" / "serve.js")]
    only = [*SMALL, "784-32-32-10/sigmoid/softmax_cross_entropy/float64"]
    report = check_foreign(serve, quick=True, only=only, timeout=60)
    assert report.passed and report.meta["protocol"] == PROTOCOL, report.table()
    bad = check_foreign([*serve, "--bug", "tanh-square"], quick=True, only=SMALL, timeout=60)
    failed = {row.check.split(":")[0] for row in bad.failures}
    assert failed and all("/tanh/" in name for name in failed), bad.table()
    RAN.add("node")


def _root_causes(report: Report) -> dict[str, str]:
    """Problem name -> its diagnosis text, for every diagnosed problem of ``report``."""
    diagnoses: dict[str, str] = report.meta.get("diagnosis", {})
    return diagnoses


@pytest.mark.parametrize("server", ["c", "node"])
def test_a_one_output_network_with_labels_is_diagnosed_right(
    server: str, request: pytest.FixtureRequest
) -> None:
    """With one output a 0/1 label is the target itself (funcnn's reading). The servers
    once one-hot encoded it (label 1 -> target 0): their checks passed on float targets,
    but the diagnosis, which probes with labels, rightly named their loss value and output
    delta as wrong. With only the tanh square planted, only the tanh step is named."""
    if server == "c":
        command = [request.getfixturevalue("c_server")]
    else:
        command = [_tool("node"), str(EXAMPLES / "golden_js" / "serve.js")]
    report = check_foreign([*command, "--bug", "tanh-square"], quick=True,
                           only=["2-3-1/tanh/*/float64"], timeout=60)
    diagnoses = _root_causes(report)
    assert diagnoses, report.table()
    for name, text in diagnoses.items():
        assert "ROOT CAUSE  layer 1 delta: writes the tanh derivative" in text, (name, text)
        assert "ALSO WRONG" not in text, (name, text)
        right = next(line for line in text.splitlines() if line.startswith("right"))
        assert "loss value" in right and "output delta" in right, (name, text)


def test_the_servers_were_not_skipped_where_their_tools_exist(
    request: pytest.FixtureRequest,
) -> None:
    selected = {item.name for item in request.session.items}
    for tools, ran, test in ((("cc", "gcc", "clang"), "c", "test_the_c_server_passes_quick"),
                             (("node",), "node", "test_the_javascript_server_passes_and_fails")):
        if any(shutil.which(t) for t in tools) and test in selected:
            assert ran in RAN, f"{test} did not run although {tools} is installed"
