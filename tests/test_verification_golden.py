"""Tests for verification.interchange.golden: export (without running any check), load, verify, and
that every case can fail: zero, sign-flipped and classically wrong outputs fail each."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from funcnn.core import network
from funcnn.errors import DataFormatError
from verification.external import conformance
from verification.interchange.golden import (
    FORMAT,
    compare_case,
    export_golden,
    golden_networks,
    load_golden,
    verify_golden,
)

NETWORKS = [("2-3-1", "sigmoid", "mse"), ("2-3-2", "relu", "softmax_cross_entropy")]


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("golden")
    export_golden(path)
    return path


def test_round_trip(tmp_path: Path) -> None:
    cases = export_golden(tmp_path, seed=5, networks=NETWORKS)
    golden = load_golden(tmp_path)
    assert golden.manifest["format"] == FORMAT and golden.manifest["seed"] == 5
    assert list(golden.cases) == cases
    case = "network/2-3-1/sigmoid/mse/float32"
    entry = golden.cases[case]
    assert entry["kind"] == "network" and entry["sizes"] == [2, 3, 1]
    arrays = golden.arrays(case)
    assert arrays["params/0/W"].dtype == np.float32 and arrays["grads/1/b"].shape == (1,)
    assert golden.arrays("network/2-3-2/relu/softmax_cross_entropy/float64")["y"].dtype == np.int32
    assert {"activation/relu/float64", "softmax/float32", "dense/float64",
            "loss/softmax_cross_entropy/onehot/float64", "loss/mse/real/float32"} <= set(cases)
    act = golden.arrays("activation/relu/float64")
    assert np.array_equal(act["derivative"], (act["z"] > 0).astype(float))
    report = verify_golden(tmp_path)
    # One row per network and activation case (the others are compared elementwise by
    # compare_case alone): counted from the export, not from today's registries.
    checked = [c for c in cases if golden.cases[c]["kind"] in ("network", "activation")]
    assert report.passed and [row.tensor for row in report.rows] == checked


def test_files_are_small_raw_and_self_describing(golden: Path) -> None:
    sizes = {p.name: p.stat().st_size for p in golden.iterdir()}
    assert set(sizes) == {"manifest.json", "data.bin", "index.txt"}
    assert sum(sizes.values()) < 3_000_000
    manifest = json.loads((golden / "manifest.json").read_text())
    assert "W is" not in manifest["layout"] or "(n_in, n_out)" in manifest["layout"]
    assert manifest["comparison"]["network"]["grad_factor"] == 4.0
    raw = (golden / "data.bin").read_bytes()
    case = next(c for c in manifest["cases"] if c["id"].startswith("network/2-3-2"))
    info = case["tensors"]["grads/0/W"]
    assert info["offset"] % 8 == 0
    values = np.frombuffer(raw, "<f8", info["nbytes"] // 8, info["offset"])
    assert np.array_equal(values.reshape(info["shape"]), load_golden(golden).arrays(
        case["id"])["grads/0/W"])
    assert f"case {case['id']} network float64" in (golden / "index.txt").read_text()


def test_verify_names_a_diverging_implementation(tmp_path: Path) -> None:
    export_golden(tmp_path, networks=NETWORKS)

    def off(spec: Any, params: Any, x: Any, y: Any, loss: str) -> Any:
        value, grads = network.value_and_grad(spec, params, x, y, loss)
        grads[0]["W"] = grads[0]["W"] * 1.001
        return value, grads

    report = verify_golden(tmp_path, value_and_grad_fn=off,
                           cases=["network/2-3-1/sigmoid/mse/float64"])
    (row,) = report.rows
    assert row.verdict == "fail" and "grads/0/W" in row.note


def test_bad_files(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(DataFormatError, match="format"):
        load_golden(tmp_path)
    (tmp_path / "manifest.json").write_text("not json")
    with pytest.raises(DataFormatError, match="cannot read its manifest"):
        load_golden(tmp_path)


def test_default_and_large_case_lists() -> None:
    default = golden_networks()
    assert {arch for arch, _, _ in default} == {"2-3-1", "2-3-2", "784-32-32-10"}
    archs = {arch for arch, _, _ in golden_networks(large=True)}
    assert archs == {"2-3-1", "2-3-2", "784-128-10", "784-32-32-10", "784-100-200-10",
                     "784-500-250-100-10"}


def test_tolerances_are_a_small_fraction_of_each_gradient(golden: Path) -> None:
    files = load_golden(golden)
    for case_id, case in files.cases.items():
        if case["kind"] != "network":
            continue
        arrays = files.arrays(case_id)
        for name in (n for n in arrays if n.startswith("grads/")):
            scale = np.max(np.abs(arrays[name]))
            worst = np.max(arrays["tolerance/" + name.split("/", 1)[1]])
            assert scale > 0 and worst <= 1e-3 * scale, (case_id, name, worst / scale)


def test_no_network_applies_a_softmax_to_one_output() -> None:
    for arch, _, loss in golden_networks(large=True):
        assert not (arch == "2-3-1" and loss.startswith("softmax"))


# -- every case can fail ---------------------------------------------------------------

_CLASSIC: dict[str, Callable[[Any, Any], Any]] = {
    "tanh": lambda z, a: 1 - a,                  # the square forgotten
    "sigmoid": lambda z, a: z * (1 - z),         # s(1 - s) applied to z instead of s
    "relu": lambda z, a: np.ones_like(z),        # the mask forgotten
    "leaky_relu": lambda z, a: (z > 0).astype(z.dtype),  # the leak forgotten
    "softplus": lambda z, a: a,                  # f instead of f'
    "identity": lambda z, a: z,                  # f instead of f'
}


def _buggy_network(case: dict[str, Any]) -> Callable[..., Any]:
    """A classic derivative bug in an independent implementation (the textbook one)."""
    act = case["activations"][0]
    if act == "identity":  # no derivative to get wrong: the classic 1/B forgotten
        def summed(spec: Any, params: Any, x: Any, y: Any, loss: str) -> Any:
            value, grads = network.value_and_grad(spec, params, x, y, loss)
            return value, [{k: g * len(x) for k, g in layer.items()} for layer in grads]
        return summed
    right = conformance._act

    def wrong(name: str, z: Any) -> Any:
        a, d = right(name, z)
        # An activation without a classic bug of its own gets its derivative doubled.
        return a, _CLASSIC[name](z, a) if name in _CLASSIC else 2 * d

    def textbook(spec: Any, params: Any, x: Any, y: Any, loss: str) -> Any:
        original, conformance._act = conformance._act, wrong
        try:
            return conformance.textbook_value_and_grad(spec, loss)(params, x, y)
        finally:
            conformance._act = original
    return textbook


def _outputs(case: dict[str, Any], arrays: dict[str, Any]) -> dict[str, Any]:
    names = [n for n in arrays if n.startswith("grads/")] if case["kind"] == "network" else [
        n for n in case["outputs"] if n != "value"]
    return {n: arrays[n] for n in names}


def _classic_bug(case: dict[str, Any], arrays: dict[str, Any]) -> dict[str, Any]:
    kind = case["kind"]
    if kind == "activation":
        return {"derivative": _CLASSIC[case["activation"]](arrays["z"], arrays["value"])}
    if kind == "softmax":  # the outer product -s s^T forgotten
        s = arrays["s"]
        return {"jacobian": np.einsum("bi,ij->bij", s, np.eye(s.shape[1]))}
    if kind == "loss":  # the mean's 1/B forgotten
        return {"grad": arrays["grad"] * arrays["z"].shape[0]}
    if kind == "dense":  # the batch sum of the bias gradient forgotten: one sample's
        return {"db": arrays["g"][0]}
    raise AssertionError(kind)


def _survivors(directory: Path) -> list[str]:
    """Every (case, bug) where a zero, sign-flipped or classically wrong output passes."""
    files = load_golden(directory)
    survivors = []
    for case_id, case in files.cases.items():
        arrays = files.arrays(case_id)
        outputs = _outputs(case, arrays)
        zero = {n: np.zeros_like(v) for n, v in outputs.items()}
        flipped = {n: -v for n, v in outputs.items()}
        if case["kind"] == "network":
            _, grads = _buggy_network(case)(*_network_args(case, arrays))
            bug = {f"grads/{i}/{k}": g[k] for i, g in enumerate(grads) for k in ("W", "b")}
        else:
            bug = _classic_bug(case, arrays)
        assert compare_case(case, arrays, outputs)[0] == 0.0
        for label, got in (("zero", zero), ("sign", flipped), ("classic", bug)):
            if compare_case(case, arrays, got)[0] <= 1.0:
                survivors.append(f"{case_id}: {label}")
    return survivors


def test_every_case_fails_zero_sign_flipped_and_classic_bugs(golden: Path) -> None:
    assert _survivors(golden) == []


def _network_args(case: dict[str, Any], arrays: dict[str, Any]) -> tuple[Any, ...]:
    from funcnn import MLP

    spec = MLP(tuple(case["sizes"]), tuple(case["activations"]))
    params = [{k: arrays[f"params/{i}/{k}"] for k in ("W", "b")} for i in range(spec.n_layers)]
    y = arrays["y"].astype(np.int64) if case["labels"] == "int32" else arrays["y"]
    return spec, params, arrays["x"], y, case["loss"]


@pytest.mark.slow
def test_every_large_case_fails_zero_sign_flipped_and_classic_bugs(tmp_path: Path) -> None:
    export_golden(tmp_path, large=True)
    assert _survivors(tmp_path) == []


def test_losses_beyond_the_registry_are_exported_and_verified(tmp_path: Path) -> None:
    from tests.primitives import QUADRATIC_HEAD, log_cosh

    smooth = log_cosh()
    ids = export_golden(tmp_path, losses=[QUADRATIC_HEAD, smooth])
    for name in ("sigmoid_quadratic", "log_cosh"):
        assert {f"loss/{name}/real/float64", f"loss/{name}/labels/float32",
                f"network/2-3-1/sigmoid/{name}/float64"} <= set(ids)
    assert verify_golden(tmp_path, losses=[QUADRATIC_HEAD, smooth]).passed
    with pytest.raises(Exception, match="unknown loss 'sigmoid_quadratic'"):
        verify_golden(tmp_path)  # funcnn alone does not know it
