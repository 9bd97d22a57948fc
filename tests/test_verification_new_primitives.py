"""A primitive is one entry: a loss or activation added to funcnn's registries (here in
the test suite only, see ``tests/primitives.py``) is checked by the catalogue,
conformance, the golden export and the foreign pattern with no other edit, without
false failures, and a wrong derivative in it fails where the catalogue names it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import funcnn as fn
from funcnn.core.losses import LOSSES, from_sample
from tests import primitives as prim
from verification import check_conformance, check_network, textbook_value_and_grad
from verification.catalogue.suite import build_catalogue, run_checks, select
from verification.engine.bounds.error_model import activation_bounds, loss_gradient_error
from verification.engine.common.reference import sample_loss_of
from verification.engine.problems import check_loss_gradient
from verification.interchange.golden import export_golden, verify_golden
from verification.reporting.report import Report

DTYPES = (np.float64, np.float32)


def _run(patterns: list[str]) -> Report:
    checks = select(build_catalogue(), patterns)
    assert checks, patterns
    return run_checks(checks)


def _failing(report: Report) -> list[tuple[str, str]]:
    return [(row.check, row.tensor) for row in report.rows if row.verdict == "fail"]


# -- losses ---------------------------------------------------------------------------


@pytest.mark.parametrize("make", [prim.huber, prim.log_cosh, prim.sigmoid_quadratic])
def test_a_new_loss_passes_the_catalogue(make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    loss = make()
    prim.registered(monkeypatch, loss)
    names = {check.name for check in build_catalogue()}
    assert {f"network/2-3-1/sigmoid/{loss.name}/float32",
            f"network/784-32-32-10/sigmoid/{loss.name}/float64",
            f"train-step/relu/{loss.name}/float64/sgd"} <= names
    report = _run(["losses/*", f"network/2-3-1/*/{loss.name}/*",
                   f"network/784-128-10/*/{loss.name}/*", f"train-step/relu/{loss.name}/*"])
    assert _failing(report) == []
    # losses/* checks the new entry (it used to skip it without a word), in both dtypes.
    rows = [row for row in report.rows if row.tensor.startswith(f"dL/dz {loss.name} (")]
    assert {row.check for row in rows} == {"losses/float64", "losses/float32"}


@pytest.mark.parametrize("make", [prim.huber, prim.log_cosh, prim.sigmoid_quadratic])
def test_a_wrong_loss_derivative_fails_where_the_catalogue_names_it(
    make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    loss = make(wrong=True)
    prim.registered(monkeypatch, loss)
    report = _run(["losses/float64", f"network/*/{loss.name}/float64"])
    failing = _failing(report)
    assert ("losses/float64", f"dL/dz {loss.name} (real targets)") in failing or (
        "losses/float64", f"dL/dz {loss.name} (probability targets)") in failing
    assert any(check.startswith("network/") for check, _ in failing)


def _on_the_kink(dtype: Any) -> tuple[Any, Any]:
    """Logits whose residual sits on Huber's kink (|r| = 1) or just past it, at 4096
    distances from 0 to 3e-2, and targets 0."""
    t = np.zeros((256, 16), dtype=dtype)
    d = np.concatenate([[0.0], np.geomspace(1e-6, 3e-2, t.size - 1)]).reshape(t.shape)
    z = (1 + d).astype(dtype)
    z[::2] = -z[::2]
    return z, t


def _logits_check(loss: fn.Loss, dtype: Any) -> Report:
    z, t = _on_the_kink(dtype)
    info = np.finfo(dtype)
    bound = loss_gradient_error(loss, z.astype(np.float64), np.zeros(z.shape),
                                t.astype(np.float64), float(info.eps) / 2, float(info.tiny))[1]
    return check_loss_gradient(loss, z, t, lambda zz: loss.value_and_grad(zz, t)[1],
                               error_bound=bound)


@pytest.mark.parametrize("dtype", DTYPES)
def test_huber_on_its_kink_passes_and_without_the_declaration_fails(dtype: Any) -> None:
    report = _logits_check(prim.huber(), dtype)
    assert report.passed, report.table()
    row = report.rows[-1]
    assert row.kinks > 0 and row.subgradient > 0  # the kinks were seen and resolved
    # Planted: the same correct loss without its kinks declared fails on correct code.
    planted = _logits_check(prim.huber(kinks=()), np.float64)
    assert not planted.passed
    assert planted.rows[-1].kinks == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_network_with_outputs_on_the_huber_kink_passes(dtype: Any) -> None:
    rng = np.random.default_rng(3)
    spec = fn.MLP((8, 16, 4), "sigmoid")
    params = fn.init(spec, rng, dtype=dtype)
    x = rng.standard_normal((32, 8)).astype(dtype)
    y = np.eye(4, dtype=dtype)[rng.integers(1, 4, 32)]
    params[1]["W"][:, 0] = 0  # output 0 is its bias, 1, for every sample: target 0
    params[1]["b"][0] = 1
    report = check_network(spec, params, x, y, prim.huber(), mode="full")
    assert report.passed, report.table()
    assert sum(row.kinks for row in report.rows) > 0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("make", [prim.huber, prim.log_cosh, prim.sigmoid_quadratic])
def test_conformance_accepts_any_loss(make: Any, dtype: Any) -> None:
    loss = make()  # not registered: a record of the user's own
    spec = fn.MLP((6, 5, 3), "tanh")
    rng = np.random.default_rng(0)
    params = fn.init(spec, rng, dtype=dtype)
    x = rng.standard_normal((20, 6)).astype(dtype)
    y = rng.random((20, 3)).astype(dtype)
    report = check_conformance(textbook_value_and_grad(spec, loss), spec, params, x, y, loss)
    assert report.passed, report.table()
    wrong = textbook_value_and_grad(spec, make(wrong=True))
    failed = check_conformance(wrong, spec, params, x, y, loss, diagnose=False)
    assert not failed.passed
    assert any(row.tensor == "params[1]['b']" and row.verdict == "fail" for row in failed.rows)


def test_conformance_names_a_bad_loss_argument() -> None:
    spec = fn.MLP((2, 2), "tanh")
    params = fn.init(spec, np.random.default_rng(0))
    other = textbook_value_and_grad(spec)
    with pytest.raises(fn.ArgumentTypeError, match="loss: expected a loss name or a funcnn.Loss"):
        check_conformance(other, spec, params, np.zeros((1, 2)), np.zeros(1, int),
                          3)  # type: ignore[arg-type]
    with pytest.raises(fn.InvalidArgumentError, match="loss: unknown loss 'hubr'"):
        check_conformance(other, spec, params, np.zeros((1, 2)), np.zeros(1, int), "hubr")


def test_the_golden_export_carries_a_new_loss(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prim.registered(monkeypatch, prim.huber())
    ids = export_golden(tmp_path, networks=[("2-3-1", "sigmoid", "huber")])
    assert {"loss/huber/real/float64", "loss/huber/real/float32",
            "network/2-3-1/sigmoid/huber/float32"} <= set(ids)
    assert verify_golden(tmp_path).passed


def test_a_sample_loss_of_the_wrong_shape_is_named() -> None:
    def one_number(z: Any, t: Any) -> Any:
        return np.sum(z - t)

    bad = from_sample("bad", one_number, lambda z, t: z - t, "real")
    with pytest.raises(fn.InvalidArgumentError, match="'bad''s sample_loss returned shape"):
        sample_loss_of(bad)(np.zeros((3, 2)), np.zeros((3, 2)))


def test_loss_declarations_are_checked_when_built() -> None:
    with pytest.raises(fn.ArgumentTypeError, match="kinks"):
        fn.Loss("x", lambda z, y: (0.0, z), "real", kinks=(float("nan"),))
    with pytest.raises(fn.InvalidArgumentError, match="target_kind"):
        fn.Loss("x", lambda z, y: (0.0, z), "reals")
    with pytest.raises(fn.ArgumentTypeError, match="sample_grad"):
        from_sample("x", prim._huber, None, "real")  # type: ignore[arg-type]
    assert LOSSES["mse"].kinks == () and LOSSES["mse"].sample_loss is None


def test_what_a_loss_declares_decides_its_networks_and_targets(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not the name: "brier" takes a softmax over the outputs and distribution targets.
    from verification.catalogue.suite import network_case, network_matrix
    from verification.catalogue.training_step import check_training_step
    from verification.interchange.foreign_problems import foreign_problems, problem_case

    loss = prim.brier()
    prim.registered(monkeypatch, loss)
    rows = {row for row in network_matrix() if row[2] == "brier"}
    assert ("2-3-2", "sigmoid", "brier") in rows
    assert not any(row[0] == "2-3-1" for row in rows)
    assert ("784-128-10", "relu", "brier") in rows
    assert network_case("2-3-2", "sigmoid", "brier", np.float32, 0)[3].dtype.kind == "i"
    assert network_case("784-128-10", "relu", "mse", np.float32, 0)[3].dtype.kind == "f"
    problems = {p[:3] for p in foreign_problems({}) if p[2] == "brier"}
    assert ("2-3-2", "sigmoid", "brier") in problems
    assert not any(p[0] == "2-3-1" for p in problems)
    assert problem_case("3-5-4-3", "tanh", "brier", np.float64, 0)[3].dtype.kind == "i"
    assert check_training_step("relu", "brier", np.float64).passed
    report = _run(["network/2-3-2/*/brier/*", "network/784-128-10/*/brier/float32"])
    assert report.rows and _failing(report) == []


# -- activations ----------------------------------------------------------------------


@pytest.mark.parametrize("make", [prim.gelu, prim.hard_tanh])
def test_a_new_activation_passes_the_catalogue(
    make: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    act = make()
    prim.registered(monkeypatch, act)
    report = _run([f"activation/{act.name}/*", f"network/2-3-2/{act.name}/*",
                   f"network/784-32-32-10/{act.name}/*/float64",
                   f"train-step/{act.name}/mse/*"])
    assert _failing(report) == []
    spec = fn.MLP((6, 5, 3), act.name)
    rng = np.random.default_rng(0)
    params = fn.init(spec, rng)
    x, y = rng.standard_normal((20, 6)), rng.integers(0, 3, 20)
    assert check_conformance(textbook_value_and_grad(spec), spec, params, x, y).passed


@pytest.mark.parametrize("make", [prim.gelu, prim.hard_tanh])
def test_a_wrong_activation_derivative_fails(make: Any, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    act = make(wrong=True)
    prim.registered(monkeypatch, act)
    failing = _failing(_run([f"activation/{act.name}/float64",
                             f"network/2-3-2/{act.name}/softmax_cross_entropy/float64"]))
    assert any(check == f"activation/{act.name}/float64" for check, _ in failing)
    assert any(check.startswith(f"network/2-3-2/{act.name}/") for check, _ in failing)


def _hard_tanh_on_its_kinks(act: fn.Activation) -> Report:
    """A network whose first hidden unit sits at -1 or 1 for every sample."""
    rng = np.random.default_rng(5)
    spec = fn.MLP((4, 6, 3), act.name)
    params = fn.init(spec, rng)
    x = rng.standard_normal((16, 4))
    params[0]["W"][:, 0] = 0
    params[0]["b"][0] = 1.0
    params[0]["W"][:, 1] = 0
    params[0]["b"][1] = -1.0
    return check_network(spec, params, x, rng.integers(0, 3, 16), mode="full")


def test_hard_tanh_on_its_kinks_and_without_the_declaration(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    prim.registered(monkeypatch, prim.hard_tanh())
    report = _hard_tanh_on_its_kinks(prim.hard_tanh())
    assert report.passed, report.table()
    assert sum(row.subgradient for row in report.rows) > 0
    # Planted: the kinks left out, the same correct derivative fails on correct code.
    prim.registered(monkeypatch, prim.hard_tanh(kinks=()))
    assert not _hard_tanh_on_its_kinks(prim.hard_tanh(kinks=())).passed


def test_activation_bounds_come_from_the_record(monkeypatch: pytest.MonkeyPatch) -> None:
    assert activation_bounds("sigmoid") == fn.ACTIVATIONS["sigmoid"].derivative_bounds
    prim.registered(monkeypatch, prim.gelu())
    sup1, sup2, jump = activation_bounds("gelu")  # estimated: GELU' <= 1.13, |GELU''| <= 0.8
    assert 1.13 < sup1 < 1.8 and 0.79 < sup2 < 1.3 and jump == 0.0


def test_the_foreign_check_sees_a_loss_kink(monkeypatch: pytest.MonkeyPatch) -> None:
    from verification.interchange.foreign import _kink_pattern

    prim.registered(monkeypatch, prim.huber())
    spec = fn.MLP((2, 3, 2), "tanh")  # a smooth network: only the loss has kinks
    params = fn.init(spec, np.random.default_rng(0))
    x, y = np.zeros((1, 2)), np.zeros((1, 2))
    params[1]["b"][:] = [0.5, 1.5]  # residuals 0.5 and 1.5: inside and past the kink
    pattern = _kink_pattern(spec, x, y, "huber")
    assert pattern is not None
    assert pattern(params).tolist() == [1, 2]
    assert _kink_pattern(spec, x, y, "mse") is None


def test_auto_mode_counts_a_loss_without_sample_loss_as_dearer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 2-4-3 has 27 parameters: within a limit of 60 as it is, past it at 3 x 27 = 81.
    from verification.engine import network_check
    from verification.engine.modes import dispatch

    monkeypatch.setattr(dispatch, "FULL_MODE_LIMIT", 60)
    assert network_check.ROW_BY_ROW_COST * 27 > 60
    spec = fn.MLP((2, 4, 3), "tanh")
    rng = np.random.default_rng(0)
    params = fn.init(spec, rng)
    x, y = rng.normal(size=(5, 2)), rng.normal(size=(5, 3))
    with_rows = prim.log_cosh()
    without = fn.Loss("log_cosh_vg", with_rows.value_and_grad, "real")
    modes = {}
    for loss in (with_rows, without):
        report = check_network(spec, params, x, y, loss, mode="auto")
        assert report.passed, report
        modes[loss.name] = {row.mode for row in report.rows[1:]}
    assert modes == {"log_cosh": {"full"}, "log_cosh_vg": {"directional"}}
