"""``funcnn-verify --compare-golden RESULTS.json --golden DIR``: another program's outputs
judged by funcnn's rule, with a verdict per case and hints. The C example
(examples/golden_c/check_golden.c) writes a results file: compiled here with the system
C compiler, it passes on fresh goldens, and a bug planted in its source fails exactly
the cases it touches, with the hint that names it. The test skips only where no C
compiler is installed, and fails instead under CI=true (or FUNCNN_REQUIRE_TOOLCHAINS)."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from funcnn.errors import DataFormatError
from verification.__main__ import main
from verification.interchange.golden import export_golden, load_golden
from verification.interchange.golden_format import GoldenFiles
from verification.interchange.golden_results import (
    RESULTS_FORMAT,
    compare_results,
    parse_results,
)

SOURCE = Path(__file__).resolve().parents[1] / "examples" / "golden_c" / "check_golden.c"
NETWORKS = [("2-3-1", "tanh", "binary_cross_entropy"), ("2-3-2", "relu", "softmax_cross_entropy"),
            ("2-3-2", "sigmoid", "softmax_then_cross_entropy")]
TANH = {"network/2-3-1/tanh/binary_cross_entropy/float64",
        "network/2-3-1/tanh/binary_cross_entropy/float32"}
SOFTMAX_CE = {"network/2-3-2/relu/softmax_cross_entropy/float64",
              "network/2-3-2/relu/softmax_cross_entropy/float32"}


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path: Path = tmp_path_factory.mktemp("golden")
    export_golden(path, networks=NETWORKS)
    return path


@pytest.fixture(scope="module")
def files(golden: Path) -> GoldenFiles:
    return load_golden(golden)


def _own_results(golden: Path) -> dict[str, Any]:
    """funcnn's own outputs on every case (the golden values), every encoding used."""
    files = load_golden(golden)
    cases: dict[str, Any] = {}
    for number, (case_id, case) in enumerate(files.cases.items()):
        arrays = files.arrays(case_id)
        names = [n for n in case["tensors"] if n.startswith("grads/")] or case["outputs"]
        out: dict[str, Any] = {"value": case["value"]} if "value" in case else {}
        for name in names:
            if name == "value" and "value" in case:
                continue
            want = arrays[name]
            style = number % 4
            if style == 0:
                out[name] = want.tolist()
            elif style == 1:
                out[name] = want.ravel().tolist()
            else:
                raw = want.astype("<f8" if case["dtype"] == "float64" else "<f4").tobytes()
                out[name] = ({"dtype": case["dtype"], "hex": raw.hex()} if style == 2 else
                             {"dtype": case["dtype"], "base64": base64.b64encode(raw).decode()})
        cases[case_id] = out
    return {"format": RESULTS_FORMAT, "cases": cases}


def _write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    return path


def _cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_funcnn_own_outputs_pass_in_every_encoding(golden: Path, tmp_path: Path) -> None:
    doc = _own_results(golden)
    report = compare_results(_write(tmp_path, doc), golden)
    assert report.passed and report.meta["cases"] == len(load_golden(golden).cases)
    assert {row.mode for row in report.rows} == {"golden"}
    code, text = _cli("--compare-golden", str(tmp_path / "results.json"), "--golden",
                      str(golden))
    assert code == 0, text
    assert text.splitlines()[-1] == (f"{len(doc['cases'])} cases compared: "
                                     f"{len(doc['cases'])} passed, 0 failed -> PASSED")


def test_a_wrong_output_fails_its_case_with_a_hint(golden: Path, tmp_path: Path) -> None:
    doc = _own_results(golden)
    bad = "loss/softmax_cross_entropy/labels/float32"
    grad = np.asarray(load_golden(golden).arrays(bad)["grad"], dtype=np.float64)
    doc["cases"][bad]["grad"] = (-grad).tolist()
    doc["cases"]["activation/relu/float64"]["value"] = [0.0] * 825
    report = compare_results(_write(tmp_path, doc), golden)
    assert {row.check for row in report.failures} == {bad, "activation/relu/float64"}
    (row,) = [row for row in report.failures if row.check == bad]
    assert row.tensor == "grad" and "sign flip" in row.hint
    code, text = _cli("--compare-golden", str(tmp_path / "results.json"), "--golden",
                      str(golden))
    assert code == 1
    assert any(line.startswith(f"FAIL {bad}  ") for line in text.splitlines())
    assert "hints:" in text and text.rstrip().endswith("2 failed -> FAILED")


def test_a_case_left_out_is_counted_not_compared(golden: Path, tmp_path: Path) -> None:
    doc = _own_results(golden)
    doc["cases"] = {k: v for k, v in doc["cases"].items() if k.startswith("network/")}
    code, text = _cli("--compare-golden", str(_write(tmp_path, doc)), "--golden", str(golden))
    left = len(load_golden(golden).cases) - len(doc["cases"])
    assert code == 0 and f"; {left} golden cases not in the results -> PASSED" in text


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["cases"].update({"network/9-9-9/x/y/float64": {"value": 1.0}}),
     r"cases\['network/9-9-9/x/y/float64'\]: not a case of the golden directory$"),
    (lambda d: d["cases"]["dense/float64"].pop("dx"),
     r"cases\['dense/float64'\]: outputs \['dx'\] missing"),
    (lambda d: d["cases"]["dense/float64"].update({"W": [1.0]}),
     r"cases\['dense/float64'\]\['W'\]: not an output of this case \(its outputs: out, dW, "
     r"db, dx\)$"),
    (lambda d: d["cases"]["dense/float64"].update({"db": [1.0, 2.0]}),
     r"cases\['dense/float64'\]\['db'\]: shape \[2\], expected \[5\] \(or 5 entries flat\)$"),
    (lambda d: d["cases"]["dense/float64"].update({"dW": [[1.0] * 5] * 6 + [[1.0]]}),
     r"cases\['dense/float64'\]\['dW'\]: rows of different lengths"),
    (lambda d: d["cases"]["dense/float64"].update({"db": {"dtype": "float64", "hex": "00"}}),
     r"cases\['dense/float64'\]\['db'\]\.hex: 1 bytes, expected 40 \(5 float64 entries\)$"),
    (lambda d: d["cases"]["dense/float64"].update({"db": {"dtype": "float32", "base64": "*"}}),
     r"cases\['dense/float64'\]\['db'\]\.base64: cannot decode it"),
    (lambda d: d["cases"]["dense/float64"].update({"db": [1, 2, True, 4, 5]}),
     r"cases\['dense/float64'\]\['db'\]\[2\]: True, expected a number"),
    (lambda d: d.update({"seed": 7}),
     r"seed: 7, but the golden files were drawn with seed 0"),
], ids=["unknown-case", "missing-output", "extra-output", "count", "ragged", "hex-size",
        "base64", "bool-entry", "seed"])
def test_each_fault_of_a_results_file_is_named(golden: Path, tmp_path: Path, change: Any,
                                               message: str) -> None:
    doc = _own_results(golden)
    change(doc)
    path = _write(tmp_path, doc)
    with pytest.raises(DataFormatError, match=rf"^results file {str(path)!r}: {message}"):
        compare_results(path, golden)
    code, _ = _cli("--compare-golden", str(path), "--golden", str(golden))
    assert code == 2


def test_bare_nan_is_refused_with_the_way_to_write_it(golden: Path, tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    head = json.dumps({"format": RESULTS_FORMAT})[:-1]
    path.write_text(head + ', "cases": {"dense/float64": {"db": [nan]}}}')
    with pytest.raises(DataFormatError, match=r"not JSON .*write non-finite numbers as the "
                                              r"strings \"NaN\""):
        compare_results(path, golden)


def test_the_flags_go_together(golden: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli("--golden", str(golden))[0] == 2
    assert "--compare-golden RESULTS is missing" in capsys.readouterr().err
    assert _cli("--compare-golden", "results.json")[0] == 2
    assert "--golden DIR is missing" in capsys.readouterr().err


def _compiler() -> str:
    found = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if found is None:
        if os.environ.get("CI") == "true" or os.environ.get("FUNCNN_REQUIRE_TOOLCHAINS"):
            pytest.fail("no C compiler (cc or gcc): CI must run the C example")
        pytest.skip("no C compiler (cc or gcc) is installed")
    return found


def _build(tmp_path: Path, name: str, source: str) -> Path:
    src = tmp_path / f"{name}.c"
    src.write_text(source)
    binary = tmp_path / name
    build = subprocess.run([_compiler(), "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror",
                            "-o", str(binary), str(src), "-lm"],
                           capture_output=True, text=True, timeout=120, check=False)
    assert build.returncode == 0, build.stderr
    return binary


def _c_results(binary: Path, golden: Path, tmp_path: Path, *flags: str) -> Path:
    results = tmp_path / f"{binary.name}{''.join(flags)}.json"
    run = subprocess.run([str(binary), str(golden), *flags, "--results", str(results)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode in (0, 1), run.stderr
    return results


def _failed_cases(text: str) -> set[str]:
    return {line.split()[1] for line in text.splitlines() if line.startswith("FAIL ")}


def test_the_c_example_is_judged_by_compare_golden(golden: Path, tmp_path: Path) -> None:
    source = SOURCE.read_text()
    binary = _build(tmp_path, "check_golden", source)
    code, text = _cli("--compare-golden", str(_c_results(binary, golden, tmp_path)),
                      "--golden", str(golden))
    # softmax_then_cross_entropy is not in the C example: its cases are left out
    assert code == 0 and text.rstrip().endswith("-> PASSED"), text
    assert "4 cases compared: 4 passed, 0 failed;" in text
    code, text = _cli("--compare-golden",
                      str(_c_results(binary, golden, tmp_path, "--bug", "tanh-square")),
                      "--golden", str(golden))
    assert code == 1 and _failed_cases(text) == TANH, text
    # A bug planted in the source: the softmax cross-entropy gradient loses its 1/B.
    mean = "dz[b * C + c] = (exp(logp) * tsum - t) / B;"
    assert source.count(mean) == 1
    planted = _build(tmp_path, "planted", source.replace(mean, mean.replace(" / B", "")))
    code, text = _cli("--compare-golden", str(_c_results(planted, golden, tmp_path)),
                      "--golden", str(golden))
    assert code == 1 and _failed_cases(text) == SOFTMAX_CE, text
    assert "analytic = 4 x numeric on every entry: likely a sum where the loss takes the mean"\
        in text


def test_no_compiler_is_a_failure_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.delenv("FUNCNN_REQUIRE_TOOLCHAINS", raising=False)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the C example"):
        _compiler()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        _compiler()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=st.data(), new=JSON)
def test_any_json_in_any_place_is_read_or_named(files: GoldenFiles, data: st.DataObject,
                                                new: Any) -> None:
    """Generated JSON put in place of a field (the document, a case, an output, an
    entry) is read or refused with a DataFormatError, never another exception."""
    doc = {"format": RESULTS_FORMAT, "cases": {"dense/float64": {
        "out": [[0.0] * 5] * 6, "dW": [0.0] * 35, "db": {"dtype": "float64", "hex": "00" * 40},
        "dx": [[0.0] * 7] * 6}}}
    place = data.draw(st.sampled_from(["doc", "cases", "case", "out", "dW", "db", "db.hex",
                                       "entry", "seed", "program"]))
    outputs: dict[str, Any] = doc["cases"]["dense/float64"]  # type: ignore[index]
    if place == "doc":
        doc = new
    elif place == "cases":
        doc["cases"] = new
    elif place == "case":
        doc["cases"] = {"dense/float64": new}
    elif place in ("out", "dW", "db"):
        outputs[place] = new
    elif place == "db.hex":
        outputs["db"]["hex"] = new
    elif place == "entry":
        outputs["dW"][data.draw(st.integers(0, 34))] = new
    else:
        doc[place] = new
    try:
        parse_results(doc, files, "generated")
    except DataFormatError as exc:
        assert str(exc).startswith("results file 'generated': ")
