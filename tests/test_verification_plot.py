"""Tests for Report.plot (verification.reporting.plot): a heat map of each failing tensor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import funcnn as fn
from funcnn.errors import InvalidArgumentError
from verification.engine.network_check import check_network
from verification.reporting.report import Report

SPEC = fn.MLP((5, 4, 3), "tanh")


def _report(broken: bool) -> Report:
    rng = np.random.default_rng(1)
    params = fn.init(SPEC, rng, "glorot_normal")
    x = rng.normal(size=(6, 5))
    y = rng.integers(0, 3, 6)

    def grad_fn(p: Any) -> Any:
        grads = [{k: v.copy() for k, v in layer.items()} for layer in
                 fn.value_and_grad(SPEC, p, x, y)[1]]
        if broken:
            grads[0]["W"][:, 1] *= -1
            grads[1]["b"] *= 3
        return grads

    return check_network(SPEC, params, x, y, grad_fn=grad_fn, mode="full")


def test_plot_draws_every_failing_tensor(tmp_path: Path) -> None:
    report = _report(broken=True)
    assert len(report.failures) == 2
    target = tmp_path / "sub" / "errors.png"
    assert report.plot(target, dpi=50) == target
    data = target.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # Two panels side by side: 2 x 4.6 in wide, 4.2 in high at 50 dpi.
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (460, 210)
    assert [p.name for p in target.parent.iterdir()] == ["errors.png"]


def test_plot_refuses_when_nothing_failed(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="no failing tensor"):
        _report(broken=False).plot(tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()
    with pytest.raises(InvalidArgumentError, match=r"\.png"):
        _report(broken=True).plot(tmp_path / "errors.jpg")
