"""Tests for benchmarks.bench_verification and benchmarks.verification_rows: scenario D
times its own checks before any peer's, and its rows say what was measured, its ratios
being the ratios of the medians they name. No timing is asserted: the checks and peers
are stand-ins that record their calls."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

import funcnn as fn
from benchmarks import bench_verification
from benchmarks import verification_rows as vr

SPEC = fn.MLP((784, 32, 32, 10), "sigmoid")


def _times(torch_full_warm: bool = True) -> vr.Times:
    warm = {
        "full": [1.0, 3.0, 2.0],
        "directional": [0.01, 0.03, 0.02, 0.05],
        "blackbox": [4.0, 6.0, 5.0],
        "torch.full": [10.0, 30.0, 20.0],
        "torch.fast": [0.2, 0.1, 0.4, 0.3],
        "jax": [0.5, 0.7, 0.6],
    }
    if not torch_full_warm:
        del warm["torch.full"]
        warm["blackbox"] = [9.0]
    first = {"full": 8.0, "directional": 0.5, "blackbox": 9.0, "torch.fast": 3.0}
    return vr.Times({**first, "torch.full": 40.0, "jax": 2.0}, warm, 1.5e-7)


def test_our_rows_report_medians_and_where_they_come_from() -> None:
    rows = {row.key: row for row in vr.our_rows(_times(), SPEC, "random inputs", reps=3)}
    assert list(rows) == [
        "D.full.first",
        "D.full",
        "D.blackbox.full",
        "D.directional.first",
        "D.directional",
    ]
    assert rows["D.full.first"].value == 8.0 and "random inputs" in rows["D.full.first"].note
    assert rows["D.full"].value == 2.0 and rows["D.full"].samples == (1.0, 3.0, 2.0)
    assert "max 1.5e-07" in rows["D.full"].note
    assert rows["D.full"].extra["n_params"] == 26_506
    assert rows["D.blackbox.full"].value == 5.0
    assert "in turns with torch's full mode" in rows["D.blackbox.full"].note
    assert rows["D.directional"].value == pytest.approx(0.025)
    assert rows["D.directional"].status == "miss"  # the 10 ms target of issue 7
    alone = vr.our_rows(_times(torch_full_warm=False), SPEC, "mnist", reps=3)[2]
    assert alone.value == 9.0 and alone.note == "first call only"


def test_torch_ratios_are_ratios_of_the_named_medians() -> None:
    times = _times()
    rows = {row.key: row for row in vr.torch_full_rows(times, "torch 9", reps=3)}
    assert list(rows) == [
        "D.torch.full.first",
        "D.torch.full.warm",
        "D.blackbox/torch",
        "D.full/torch",
    ]
    assert rows["D.torch.full.first"].value == 40.0
    assert rows["D.torch.full.warm"].value == 20.0
    assert rows["D.blackbox/torch"].value == pytest.approx(5.0 / 20.0)
    assert rows["D.full/torch"].value == pytest.approx(2.0 / 20.0)
    assert rows["D.blackbox/torch"].status == "pass" and rows["D.full/torch"].status == "pass"
    fast = {row.key: row for row in vr.torch_fast_rows(times, "torch 9")}
    assert fast["D.torch.fast.first"].value == 3.0
    assert fast["D.torch.fast.warm"].value == pytest.approx(0.25)
    assert fast["D.directional/torch"].value == pytest.approx(0.025 / 0.25)


def test_a_quick_run_has_no_warm_torch_full_mode() -> None:
    rows = vr.torch_full_rows(_times(torch_full_warm=False), "torch 9", reps=3)
    assert [row.key for row in rows] == ["D.torch.full.first", "D.torch.full.warm"]
    assert rows[1].value is None and rows[1].status == "skipped"
    assert rows[1].note == "--quick: first call only" and rows[1].samples == ()


def test_jax_rows_and_skipped_peers() -> None:
    first, warm = vr.jax_rows(_times(), "jax 0.4")
    assert (first.value, warm.value, warm.samples) == (2.0, 0.6, (0.5, 0.7, 0.6))
    missing = vr.make_row("jax", "jax.test_util.check_grads", None, note="jax not installed")
    assert (missing.scenario, missing.key, missing.status) == ("D", "D.jax", "skipped")
    assert vr.make_row("x", "x", 1.0, target=0.5).status == "miss"


def test_our_checks_run_before_any_peer_and_every_row_is_there(monkeypatch: Any) -> None:
    calls: list[str] = []
    report = SimpleNamespace(passed=True, rows=[None, SimpleNamespace(error_estimate=1e-9)])

    def recorded(name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return report

        return call

    def check_network(*args: Any, mode: str) -> Any:
        return recorded(mode)()

    def timed(cases: dict[str, Callable[[], Any]], reps: int, quiet: Any) -> Any:
        return {name: [float(bool(case())) for _ in range(reps)] for name, case in cases.items()}

    monkeypatch.setattr(bench_verification, "check_network", check_network)
    monkeypatch.setattr(bench_verification, "check_gradients", recorded("blackbox"))
    monkeypatch.setattr(bench_verification, "_timed", timed)
    monkeypatch.setattr(bench_verification, "progress", lambda message: None)
    monkeypatch.setattr(
        bench_verification, "_jax_check", lambda *args: (recorded("jax"), "jax 0")
    )
    peers = {"fast": recorded("torch fast"), "full": recorded("torch full")}
    case: Any = (SPEC, [], None, None, "random inputs")
    rows = bench_verification._measure(case, peers, "torch 0", 5, False, None)
    ours = {"full", "directional", "blackbox"}
    first_peer = min(i for i, name in enumerate(calls) if name not in ours)
    assert calls[:first_peer] == ["full", "directional"] + ["full"] * 5 + ["directional"] * 20 + [
        "blackbox"
    ]
    assert [row.key.removeprefix("D.") for row in rows] == [
        *("full.first", "full", "blackbox.full", "directional.first", "directional"),
        *("torch.full.first", "torch.full.warm", "blackbox/torch", "full/torch"),
        *("torch.fast.first", "torch.fast.warm", "directional/torch", "jax.first", "jax.warm"),
    ]
    failing = SimpleNamespace(passed=False, table=lambda: "the table")
    monkeypatch.setattr(bench_verification, "check_network", lambda *a, mode: failing)
    with pytest.raises(RuntimeError, match="the full check failed on correct code:\nthe table"):
        bench_verification._measure(case, {}, "torch not installed", 5, True, None)
