"""Tests for verification.golden: export, load and verify golden values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from funcnn.core import network
from funcnn.errors import DataFormatError
from verification.golden import FORMAT, export_golden, golden_networks, load_golden, verify_golden

NETWORKS = [("2-3-1", "sigmoid", "mse"), ("2-3-1", "relu", "softmax_cross_entropy")]


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "golden.npz"
    cases = export_golden(path, seed=5, networks=NETWORKS)
    arrays = load_golden(path)
    assert str(arrays["format"]) == FORMAT and int(arrays["seed"]) == 5
    assert [str(c) for c in arrays["cases"]] == cases
    case = "network/2-3-1/sigmoid/mse/float32"
    assert case in cases and str(arrays[f"{case}/kind"]) == "network"
    assert arrays[f"{case}/sizes"].tolist() == [2, 3, 1]
    assert arrays[f"{case}/params/0/W"].dtype == np.float32
    assert arrays[f"{case}/grads/1/b"].shape == (1,)
    assert {
        "activation/relu/float64",
        "softmax/float32",
        "dense/float64",
        "loss/softmax_cross_entropy/onehot/float64",
        "loss/mse/real/float32",
    } <= set(cases)
    z = arrays["activation/relu/float64/z"]
    assert np.array_equal(arrays["activation/relu/float64/derivative"], (z > 0).astype(float))
    report = verify_golden(path)
    assert report.passed and len(report.rows) == 4


def test_verify_names_a_diverging_implementation(tmp_path: Path) -> None:
    path = tmp_path / "golden.npz"
    export_golden(path, networks=NETWORKS)

    def off(spec: Any, params: Any, x: Any, y: Any, loss: str) -> Any:
        value, grads = network.value_and_grad(spec, params, x, y, loss)
        grads[0]["W"] = grads[0]["W"] * 1.001
        return value, grads

    report = verify_golden(path, value_and_grad_fn=off, cases=["network/2-3-1/sigmoid/mse/float64"])
    (row,) = report.rows
    assert row.verdict == "fail" and "params[0]['W']" in row.note


def test_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    np.savez(bad, format=np.array("something-else"))
    with pytest.raises(DataFormatError, match="format"):
        load_golden(bad)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(DataFormatError, match="cannot read"):
        load_golden(junk)


def test_default_case_list_covers_every_architecture() -> None:
    archs = {arch for arch, _, _ in golden_networks()}
    assert archs == {"2-3-1", "784-128-10", "784-32-32-10", "784-100-200-10", "784-500-250-100-10"}
    assert len(golden_networks(quick=True)) < len(golden_networks())
