"""Correct float64 code checked against the float32 golden cases passes: every float32
case (activations, softmax, losses, dense, networks) recomputed by funcnn in float64
from the up-cast inputs. The float32 softmax binary cross-entropy reference loses
digits where ``1 - p`` cancels; its case stores ``tolerance/grad`` (the rounding bound of
the float32 gradient, capped by its measured error) and each elementwise case states
the ``scale`` of its outputs, both in the manifest and in the index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from funcnn.core import losses, network
from funcnn.core.activations import get_activation
from funcnn.core.dense import dense, dense_vjp
from funcnn.core.softmax import softmax, softmax_jacobian, softmax_vjp
from verification.interchange.golden import compare_case, export_golden, load_golden, verify_golden


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path: Path = tmp_path_factory.mktemp("golden")
    export_golden(path)
    return path


def _up(array: Any) -> Any:
    return array.astype(np.float64) if array.dtype.kind == "f" else array.astype(np.int64)


def _float64_outputs(case: dict[str, Any], arrays: dict[str, Any]) -> dict[str, Any]:
    a = {k: _up(v) for k, v in arrays.items()}
    kind = case["kind"]
    if kind == "loss":
        name = case["loss"]
        return {"value": getattr(losses, name)(a["z"], a["y"]),
                "grad": getattr(losses, f"{name}_grad")(a["z"], a["y"])}
    if kind == "activation":
        act = get_activation(case["activation"])
        value = act.fn(a["z"])
        return {"value": value, "derivative": act.derivative(a["z"], value)}
    if kind == "softmax":
        s = softmax(a["z"])
        return {"s": s, "jacobian": softmax_jacobian(s), "vjp": softmax_vjp(s, a["g"])}
    assert kind == "dense", kind
    layer = {"W": a["W"], "b": a["b"]}
    grads, dx = dense_vjp(layer, a["x"], a["g"])
    return {"out": dense(layer, a["x"]), "dW": grads["W"], "db": grads["b"], "dx": dx}


def test_float64_code_passes_every_float32_elementwise_case(golden: Path) -> None:
    files = load_golden(golden)
    ratios = {}
    for case_id, case in files.cases.items():
        if case["dtype"] == "float32" and case["kind"] != "network":
            arrays = files.arrays(case_id)
            ratios[case_id] = compare_case(case, arrays, _float64_outputs(case, arrays))
    assert len(ratios) == 6 + 1 + 10 + 1
    assert {k: v for k, v in ratios.items() if v[0] > 1} == {}


def test_float64_code_passes_every_float32_network_case(golden: Path) -> None:
    def float64(spec: Any, params: Any, x: Any, y: Any, loss: str) -> Any:
        up = [{k: _up(v) for k, v in layer.items()} for layer in params]
        return network.value_and_grad(spec, up, _up(x), _up(y), loss)

    files = load_golden(golden)
    chosen = [c for c, case in files.cases.items()
              if case["kind"] == "network" and case["dtype"] == "float32"]
    report = verify_golden(golden, value_and_grad_fn=float64, cases=chosen)
    assert report.passed and len(report.rows) == len(chosen) == 16, report.table()


def test_the_loss_tolerance_is_a_small_fraction_of_the_gradient(golden: Path) -> None:
    files = load_golden(golden)
    for case_id, case in files.cases.items():
        if case["kind"] != "loss":
            continue
        arrays = files.arrays(case_id)
        assert case["outputs"] == ["value", "grad"] and "tolerance/grad" in arrays
        scale = np.max(np.abs(arrays["grad"]))
        worst = float(np.max(arrays["tolerance/grad"]))
        limit = 1.1e-3 if case["dtype"] == "float32" else 1e-4
        assert worst <= limit * scale, (case_id, worst / scale)


def test_a_wrong_softmax_binary_cross_entropy_gradient_still_fails(golden: Path) -> None:
    # The softmax VJP's inner product forgotten (dp * s instead of s (dp - <s, dp>)):
    # wrong where the tolerance is widest, and everywhere else.
    files = load_golden(golden)
    for dtype in ("float64", "float32"):
        for targets in ("labels", "probability"):
            case_id = f"loss/softmax_binary_cross_entropy/{targets}/{dtype}"
            arrays = files.arrays(case_id)
            z = arrays["z"].astype(np.float64)
            y = _up(arrays["y"])
            t = np.eye(z.shape[1])[y] if y.dtype.kind == "i" else y
            s = softmax(z)
            p = np.clip(s, np.finfo(np.float64).tiny, 1 - np.finfo(np.float64).epsneg)
            dp = (-t / p + (1 - t) / (1 - p)) / z.size
            ratio = compare_case(files.cases[case_id], arrays, {"grad": s * dp})[0]
            assert ratio > 10, (case_id, ratio)


def test_every_elementwise_case_states_its_scales(golden: Path) -> None:
    files = load_golden(golden)
    index = (golden / "index.txt").read_text()
    for case_id, case in files.cases.items():
        if case["kind"] == "network":
            assert "scale" not in case
            continue
        arrays = files.arrays(case_id)
        outputs = [n for n in case["outputs"] if n in arrays]
        assert sorted(case["scale"]) == sorted(outputs), case_id
        if case["kind"] == "activation":
            assert case["scale"]["value"] == 1.0
        else:
            assert all(case["scale"][n] == float(np.max(np.abs(arrays[n]))) for n in outputs)
        flat = ",".join(f"{k}:{v!r}" for k, v in case["scale"].items())
        assert f" scale={flat}" in index, case_id


def test_the_rule_reads_the_stated_scale(golden: Path) -> None:
    files = load_golden(golden)
    case = files.cases["activation/sigmoid/float32"]
    arrays = files.arrays("activation/sigmoid/float32")
    off = {"derivative": arrays["derivative"] + 8 * np.finfo(np.float32).eps * 0.25}
    assert case["scale"]["derivative"] == 0.25
    assert compare_case(case, arrays, off)[0] > 1
    assert compare_case({**case, "scale": {"value": 1.0, "derivative": 1.0}}, arrays,
                        off)[0] <= 1


def test_loss_cases_state_their_targets_and_the_clipping(golden: Path) -> None:
    files = load_golden(golden)
    conventions = files.manifest["conventions"]
    assert all(kind in conventions["loss_targets"]
               for kind in ("labels", "onehot", "probability", "real"))
    assert "1 - epsneg" in conventions["clipping"]
    float_kind = {"distribution": "onehot", "probability": "probability", "real": "real"}
    for case_id, case in files.cases.items():
        if case["kind"] != "loss":
            continue
        y = files.arrays(case_id)["y"]
        expected = float_kind[losses.LOSSES[case["loss"]].target_kind]
        assert case["targets"] in ("labels", expected), case_id
        if case["targets"] == "labels":
            assert y.dtype == np.int32 and y.ndim == 1
        else:
            assert y.dtype == case["dtype"] and y.shape == files.arrays(case_id)["z"].shape
            assert np.all((y >= 0) & (y <= 1)) or case["targets"] == "real"
            if case["targets"] == "onehot":
                assert np.all(np.sum(y == 1, axis=1) == 1) and np.all(np.sum(y, axis=1) == 1)
