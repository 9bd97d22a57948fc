"""The benchmark suite: its references compute what funcnn computes, and the runner works.

No timing is asserted here (timings are the suite's output, not a test): the references
must take the same SGD step as funcnn, so that the suite compares equal work, and a
``--quick`` run must produce every expected row in its JSON.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import funcnn as fn
from benchmarks.harness import Quiet, Row, Target, interleaved_times, ratio_row
from benchmarks.references.gemm_floor import GemmFloor, epoch_batches
from benchmarks.references.numpy_mlp import NumpyMLP
from benchmarks.references.per_sample_numpy import PerSampleMLP
from benchmarks.run import format_table, openblas_settings

ROOT = Path(__file__).resolve().parents[1]
LR = 0.1


def _problem(
    sizes: tuple[int, ...], activation: str, batch: int, dtype: Any = np.float64
) -> tuple[fn.MLP, fn.Params, np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(7)
    spec = fn.MLP(sizes, activation=activation)
    params = fn.init(spec, rng, "glorot_uniform", dtype=dtype)
    x = rng.standard_normal((batch, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], batch)
    return spec, params, x, y


def _funcnn_step(
    spec: fn.MLP, params: fn.Params, x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]
) -> tuple[float, fn.Params]:
    value, grads = fn.value_and_grad(spec, params, x, y)
    return value, fn.sgd_step(params, grads, LR)


def _assert_same_params(got: list[tuple[Any, Any]], want: fn.Params, rtol: float) -> None:
    for (W, b), layer in zip(got, want, strict=True):
        np.testing.assert_allclose(W, layer["W"], rtol=rtol, atol=rtol)
        np.testing.assert_allclose(b, layer["b"], rtol=rtol, atol=rtol)


@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_numpy_reference_takes_funcnns_step(activation: str) -> None:
    spec, params, x, y = _problem((6, 5, 4, 3), activation, 8)
    model = NumpyMLP([(p["W"], p["b"]) for p in params], activation, LR)
    loss = model.step(x, y)
    want_loss, want = _funcnn_step(spec, params, x, y)
    assert loss == pytest.approx(want_loss, rel=1e-12)
    _assert_same_params(model.params(), want, 1e-12)


def test_per_sample_reference_takes_funcnns_step() -> None:
    spec, params, x, y = _problem((6, 5, 4, 3), "sigmoid", 1)
    model = PerSampleMLP([(p["W"], p["b"]) for p in params], "sigmoid", LR)
    loss = model.step(x[0], int(y[0]))
    want_loss, want = _funcnn_step(spec, params, x, y)
    assert loss == pytest.approx(want_loss, rel=1e-12)
    _assert_same_params(model.params(), want, 1e-12)


def test_gemm_floor_computes_the_step_products() -> None:
    sizes = (7, 5, 4, 3)
    floor = GemmFloor(sizes, 6, np.float64, np.random.default_rng(0))
    a0, dz_last = floor.a[0][:4].copy(), floor.dz[-1][:4].copy()
    floor.step(4)
    np.testing.assert_allclose(floor.a[1][:4], a0 @ floor.W[0])
    np.testing.assert_allclose(floor.gW[-1], floor.a[-2][:4].T @ dz_last)
    np.testing.assert_allclose(floor.dz[-2][:4], dz_last @ floor.W[-1].T)
    assert epoch_batches(10, 4) == [4, 4, 2]


def test_gathered_floor_multiplies_the_gathered_batch() -> None:
    floor = GemmFloor((7, 5, 3), 4, np.float64, np.random.default_rng(0))
    x = np.random.default_rng(1).standard_normal((10, 7))
    order = np.array([9, 2, 5, 0, 7, 1, 3, 8, 6, 4])
    floor.gathered_epoch(x, order)
    # The last batch is order[8:10]: its rows were gathered and multiplied last.
    np.testing.assert_array_equal(floor.a[0][:2], x[[6, 4]])
    np.testing.assert_allclose(floor.a[1][:2], x[[6, 4]] @ floor.W[0])


@pytest.mark.slow  # importing torch takes seconds
def test_torch_reference_takes_funcnns_step() -> None:
    torch = pytest.importorskip("torch")
    from benchmarks.references.torch_mlp import TorchMLP

    spec, params, x, y = _problem((6, 5, 4, 3), "tanh", 8, np.float32)
    model = TorchMLP(torch, [(p["W"], p["b"]) for p in params], "tanh", LR)
    tx, ty = model.tensors(x, y)
    model.optimizer.zero_grad()
    model.loss_fn(model.model(tx), ty).backward()
    model.optimizer.step()
    _, want = _funcnn_step(spec, params, x, y)
    linears = [m for m in model.model if isinstance(m, torch.nn.Linear)]
    got = [(m.weight.detach().numpy().T, m.bias.detach().numpy()) for m in linears]
    _assert_same_params(got, want, 1e-5)


@pytest.mark.slow  # importing jax and compiling take seconds
def test_jax_reference_takes_funcnns_step() -> None:
    pytest.importorskip("jax")
    from benchmarks.references.jax_mlp import JaxMLP, load_jax

    jax, _ = load_jax()
    spec, params, x, y = _problem((6, 5, 4, 3), "relu", 8, np.float32)
    model = JaxMLP(jax, [(p["W"], p["b"]) for p in params], "relu", LR, x, y, batch_size=8)
    order = np.arange(8, dtype=np.int32)
    new, _ = model.compiled[8](model.params, model.X, model.Y, order)
    _, want = _funcnn_step(spec, params, x, y)
    _assert_same_params([(np.asarray(W), np.asarray(b)) for W, b in new], want, 1e-5)


def test_rows_derive_status_and_margin() -> None:
    target = Target("<=", 2.0)
    assert Row("A", "k", "l", 1.0, "ratio", target).status == "pass"
    assert Row("A", "k", "l", 3.0, "ratio", target).margin == pytest.approx(1.5)
    assert Row("A", "k", "l", 3.0, "ratio", target).status == "miss"
    assert Row("A", "k", "l", 3.0, "ratio").status == "info"
    assert Row("A", "k", "l", None, "ratio", target).status == "skipped"
    assert Target("<", 0.5).met(0.5) is False
    row = ratio_row("A", "k", "l", [2.0, 4.0, 6.0], [1.0, 2.0, 2.0], target)
    assert row.value == pytest.approx(2.0)
    assert row.extra["paired_median"] == pytest.approx(2.0)
    assert ratio_row("A", "k", "l", [1.0], None, missing="absent").status == "skipped"
    assert Row.from_dict(row.to_dict()) == row


def test_interleaved_times_calls_every_case_in_turn() -> None:
    calls: list[tuple[str, int]] = []
    cases = {name: (lambda r, n=name: calls.append((n, r))) for name in "abc"}
    times = interleaved_times(cases, reps=3, warmup=1, collect=False)
    assert [c for c in calls if c[1] < 0] == [("a", -1), ("b", -1), ("c", -1)]
    timed = [c for c in calls if c[1] >= 0]
    assert timed[:3] == [("a", 0), ("b", 0), ("c", 0)]
    assert timed[3:6] == [("b", 1), ("c", 1), ("a", 1)]
    assert {name: len(t) for name, t in times.items()} == {"a": 3, "b": 3, "c": 3}


def test_quiet_guard_logs_every_kept_round() -> None:
    quiet = Quiet(threshold=1.0, wait=0.0, retries=0)  # a threshold nothing exceeds
    times = interleaved_times({"a": lambda r: None}, reps=5, warmup=0, quiet=quiet)
    assert len(times["a"]) == 5
    (entry,) = quiet.log
    assert entry["discarded"] == 0 and len(entry["round_foreign_load"]) == 5


def test_quick_run_writes_every_expected_row(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    command = [
        sys.executable,
        "-m",
        "benchmarks",
        "--quick",
        "--skip-peers",
        "--only",
        "load,alloc,blas,A,C,E,F",
        "--no-quiet",
        "--openblas",
        "current",
        "--json",
        str(out),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    (run,) = result["runs"]
    rows = {row["key"]: row for row in run["rows"]}
    expected = {
        "load.mnist",
        "blas.numpy_only",
        "blas.mixed",
        "alloc.fresh",
        "alloc.reused",
        "alloc.alloc_only",
        "alloc.fresh/reused",
        "A.funcnn",
        "A.numpy",
        "A.gemm",
        "A.gemm_gather",
        "A.funcnn/gemm_gather",
        "A.torch",
        "A.jax",
        "A.funcnn/numpy",
        "A.funcnn/torch",
        "A.funcnn/jax",
        "A.funcnn/gemm",
        "A.loop",
        "A.loop/numpy",
        "A.loop/funcnn",
        "C.funcnn",
        "C.homework",
        "C.numpy",
        "C.torch",
        "C.funcnn/homework",
        "C.funcnn/torch",
        "E.peak_rss",
        "E.baseline_rss",
        "F.funcnn",
        "F.sklearn",
        "F.funcnn/sklearn",
        "F.funcnn_accuracy",
        "F.sklearn_accuracy",
    }
    assert expected <= set(rows), expected - set(rows)
    positive = (
        "A.funcnn", "A.loop", "A.numpy", "A.gemm", "A.gemm_gather", "C.funcnn", "C.homework"
    )
    for key in (*positive, "E.peak_rss"):
        assert rows[key]["value"] is not None and rows[key]["value"] > 0, rows[key]
    targets = ("A.funcnn/numpy", "A.funcnn/gemm_gather", "A.loop/numpy", "A.loop/funcnn")
    for key in (*targets, "C.funcnn/homework", "E.peak_rss"):
        assert rows[key]["status"] in ("pass", "miss"), rows[key]
        assert rows[key]["target"] is not None
    for key in ("A.torch", "A.jax", "C.funcnn/torch"):
        assert rows[key]["status"] == "skipped" and "skip-peers" in rows[key]["note"]
    assert len(rows["A.funcnn"]["samples"]) >= 5
    if importlib.util.find_spec("sklearn") is not None:
        # One run times both estimators and scores both; one epoch on 4,096 digits is
        # far above chance (10%) for either.
        assert rows["F.funcnn/sklearn"]["value"] > 0
        for name in ("funcnn", "sklearn"):
            assert len(rows[f"F.{name}"]["samples"]) >= 5
            assert 50 < rows[f"F.{name}_accuracy"]["value"] <= 100
    # Validation overhead pairs each kept repetition with fit's own epoch time.
    assert len(rows["A.funcnn_validation"]["samples"]) == len(rows["A.funcnn"]["samples"])
    if importlib.util.find_spec("threadpoolctl") is not None:
        for key in ("A.funcnn_1t", "A.gemm_1t", "A.funcnn_1t/funcnn"):
            assert rows[key]["value"] is not None and rows[key]["value"] > 0, rows[key]
    assert "measurement" in done.stdout and "A.torch" in done.stdout
    # The table renders the JSON's runs, also as Markdown with one line per row.
    assert "funcnn / numpy reference" in format_table(result["runs"])
    markdown = format_table(result["runs"], markdown=True).splitlines()
    assert len(markdown) == 2 + len(run["rows"])
    assert markdown[1].startswith("|---|") and all(line.endswith("|") for line in markdown)
    assert any(line.startswith("| A | funcnn / numpy reference | ratio |") for line in markdown)


def test_runner_rejects_unknown_sections_and_too_few_reps() -> None:
    run = importlib.import_module("benchmarks.run")
    with pytest.raises(SystemExit, match="unknown section"):
        run.main(["--only", "A,Z"])
    with pytest.raises(SystemExit, match="at least 5"):
        run.main(["--reps", "3", "--only", "A"])


def test_openblas_settings_set_haswell_then_unset_both_variables() -> None:
    environ = {"PATH": "/bin", "OPENBLAS_L2_SIZE": "1048576"}
    (first_label, first), (second_label, second) = openblas_settings(environ)
    assert (first_label, second_label) == ("Haswell", "unset")
    assert first == {**environ, "OPENBLAS_CORETYPE": "Haswell"}
    assert second == {"PATH": "/bin"}
    assert environ == {"PATH": "/bin", "OPENBLAS_L2_SIZE": "1048576"}  # not modified
    as_set = {"PATH": "/bin", "OPENBLAS_CORETYPE": "Zen"}
    (label, env), (_, unset) = openblas_settings(as_set)
    assert (label, env, unset) == ("as set", as_set, {"PATH": "/bin"})


def test_children_get_the_options_without_the_parents_own() -> None:
    run = importlib.import_module("benchmarks.run")
    argv = ["--quick", "--json", "x.json", "--openblas=both", "--only", "A", "--label", "l"]
    assert run._strip(argv, ["--no-table"], ["--json", "--label", "--openblas"]) == [
        "--quick",
        "--only",
        "A",
    ]


def test_widely_spread_repetitions_are_named() -> None:
    report = importlib.import_module("benchmarks.report")
    tight = {"key": "A.tight", "unit": "s/epoch", "samples": [1.0, 1.01, 1.02, 0.99, 1.0]}
    wide = {"key": "A.wide", "unit": "s/epoch", "samples": [1.0, 2.0, 1.0, 2.0, 1.5]}
    ratio = {"key": "A.r", "unit": "ratio", "samples": [1.0, 2.0, 1.0, 2.0, 1.5]}
    few = {"key": "A.few", "unit": "s", "samples": [1.0, 3.0]}
    named = report._widely_spread([tight, wide, ratio, few])
    assert len(named) == 1 and named[0].startswith("A.wide (")
