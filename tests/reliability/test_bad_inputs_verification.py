"""Catalogue of bad inputs, verification suite: its public entry points.

Same row format as ``test_bad_inputs_core`` (see ``_catalogue``). Problems are tiny, so
the rows that get as far as a finite-difference check stay fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import funcnn as fn
from tests.reliability._catalogue import Case, check, rows, wrong
from tests.strategies import unknown_name
from verification import (
    Settings,
    check_activation,
    check_conformance,
    check_cross_entropy,
    check_dense,
    check_foreign,
    check_gradients,
    check_invariants,
    check_losses,
    check_network,
    check_network_case,
    check_softmax,
    check_softmax_jacobian_invariants,
    diagnose_mlp,
    gradient_error_bound,
    load_golden,
    run_checks,
    textbook_value_and_grad,
    verify_golden,
)

UNKNOWN_ACTIVATION = unknown_name(fn.ACTIVATIONS)

IAE = fn.InvalidArgumentError
ATE = fn.ArgumentTypeError
DFE = fn.DataFormatError
NFE = fn.NonFiniteError

SPEC = fn.MLP((3, 4, 2), "tanh")
P = fn.init(SPEC, np.random.default_rng(0))
X = np.random.default_rng(1).normal(size=(4, 3))
Y = np.array([0, 1, 1, 0])
LINEAR = fn.MLP((3, 2))
P_LINEAR = fn.init(LINEAR, np.random.default_rng(0))
TREE = {"a": np.array([1.0, -2.0, 0.5])}


def _loss(p: Any) -> float:
    return float(np.sum(p["a"] ** 2))


def _grad(p: Any) -> Any:
    return {"a": 2 * p["a"]}


def _nan_grads(p: Any, x: Any, y: Any) -> Any:
    value, grads = textbook_value_and_grad(SPEC)(p, x, y)
    grads[0]["W"][0, 0] = np.nan
    return value, grads


def _diagnose_rows() -> list[tuple[str, Callable[[], object], type[Exception], str, str, None]]:
    vag = textbook_value_and_grad(SPEC)
    return [
        ("diagnose_mlp/spec", lambda: diagnose_mlp(wrong((3, 4, 2)), vag), ATE, "spec",
         r"expected an MLP", None),
        ("diagnose_mlp/not-callable", lambda: diagnose_mlp(SPEC, wrong(None)), ATE,
         "value_and_grad", r"expected a callable", None),
        ("diagnose_mlp/grads-only", lambda: diagnose_mlp(SPEC, wrong(lambda p, x, y: p)), IAE,
         "value_and_grad", r"expected to return a \(loss, grads\) pair", None),
        ("diagnose_mlp/grads-nan", lambda: diagnose_mlp(SPEC, _nan_grads), IAE,
         "value_and_grad", r"gradient of params\[0\]\['W'\] is not finite", None),
        ("diagnose_mlp/loss", lambda: diagnose_mlp(SPEC, vag, "hinge"), IAE, "loss",
         r"unknown loss 'hinge'", None),
        ("diagnose_mlp/l2-negative", lambda: diagnose_mlp(SPEC, vag, l2=-1.0), IAE, "l2",
         r"expected", None),
        ("diagnose_mlp/x-shape", lambda: diagnose_mlp(SPEC, vag, x=np.zeros((4, 5))), IAE, "x",
         r"expected shape \(B, 3\)", None),
        ("diagnose_mlp/seed-negative", lambda: diagnose_mlp(SPEC, vag, seed=-1), IAE, "seed",
         r"expected an int >= 0", None),
    ]


def _gradient_cases() -> Iterator[Case]:
    def cg(*args: Any, **kw: Any) -> Callable[[], object]:
        a = args or (_loss, _grad, TREE)
        return lambda: check_gradients(*a, **kw)

    cases: list[tuple[str, Callable[[], object], type[BaseException], str, str, str | None]] = [
        (
            "mode-unknown",
            cg(mode="sideways"),
            IAE,
            "mode",
            r"expected one of \['full', 'subset', 'directional', 'auto'\]",
            None,
        ),
        (
            "probes-2",
            cg(mode="directional", probes=2),
            IAE,
            "probes",
            r"expected an int >= 3",
            None,
        ),
        ("subset-missing", cg(mode="subset"), IAE, "subset", r"needs a subset", None),
        (
            "subset-negative",
            cg(mode="subset", subset=-5),
            IAE,
            "subset",
            r"expected a positive count",
            None,
        ),
        (
            "subset-out-of-range",
            cg(mode="subset", subset=[10]),
            IAE,
            "subset",
            r"flat indices must lie in \[0, 3\)",
            None,
        ),
        (
            "grad-shape",
            cg(_loss, lambda p: {"a": np.ones(4)}, TREE),
            IAE,
            "grad_fn",
            r"has shape \(4,\), expected \(3,\)",
            None,
        ),
        (
            "grad-int",
            cg(_loss, lambda p: {"a": np.ones(3, int)}, TREE),
            ATE,
            "grad_fn",
            r"has dtype int64",
            None,
        ),
        ("grad-structure", cg(_loss, lambda p: [p["a"]], TREE), IAE, "grad_fn", r"structure", None),
        (
            "loss-nan",
            cg(lambda p: float("nan"), _grad, TREE),
            IAE,
            "loss_fn",
            r"returned nan",
            None,
        ),
        (
            "params-nan",
            cg(_loss, _grad, {"a": np.array([np.nan, 1.0])}),
            IAE,
            "loss_fn",
            r"returned nan",
            None,
        ),
        (
            "loss_fn-not-callable",
            cg(3, _grad, TREE),
            ATE,
            "loss_fn",
            r"expected",
            None,
        ),
        ("grad_fn-None", cg(_loss, None, TREE), ATE, "grad_fn", r"expected", None),
        ("seed-negative", cg(seed=-1), IAE, "seed", r"expected", None),
        (
            "loss-returns-str",
            cg(lambda p: "low", _grad, TREE),
            ATE,
            "loss_fn",
            r"expected",
            None,
        ),
        (
            "grad-nan",
            cg(_loss, lambda p: {"a": np.full(3, np.nan)}, TREE),
            IAE,
            "grad_fn",
            r"expected finite",
            None,
        ),
        (
            "noise_scale-nan",
            cg(noise_scale=float("nan")),
            IAE,
            "noise_scale",
            r"expected",
            None,
        ),
        (
            "settings-order",
            cg(settings=Settings(order=-1)),
            IAE,
            "order",
            r"expected",
            None,
        ),
        (
            "settings-maxiter-1",
            cg(settings=Settings(maxiter=1)),
            IAE,
            "settings.maxiter",
            r"expected an int >= 2",
            None,
        ),
        (
            "settings-dict",
            cg(settings=wrong({"order": 4})),
            ATE,
            "settings",
            r"expected a verification.Settings",
            None,
        ),
        (
            "batched_loss-shape",
            cg(batched_loss=lambda thetas: np.zeros((len(thetas), 2))),
            IAE,
            "batched_loss",
            r"expected \d+ real losses",
            None,
        ),
        (
            "loss-returns-array",
            cg(lambda p: p["a"] ** 2, _grad, TREE),
            ATE,
            "loss_fn",
            r"expected to return a real number, got ndarray of shape \(3,\)",
            None,
        ),
    ]
    for fid, call, error, arg, expected, bug in cases:
        yield Case(f"check_gradients/{fid}", call, error, arg, expected, bug)

    def cn(
        spec: Any = SPEC, params: Any = P, x: Any = X, y: Any = Y, loss: str = "mse", **kw: Any
    ) -> Callable[[], object]:
        return lambda: check_network(spec, params, x, y, loss, **kw)

    net: list[tuple[str, Callable[[], object], type[BaseException], str, str, str | None]] = [
        ("spec-str", cn(spec="3,4,2"), ATE, "spec", r"expected an MLP", None),
        ("params-short", cn(params=P[:1]), IAE, "params", r"params has 1", None),
        (
            "params-nan",
            cn(params=[P[0], {**P[1], "b": np.full(2, np.nan)}]),
            IAE,
            "params[1]['b']",
            r"expected finite values",
            None,
        ),
        ("x-wide", cn(x=np.ones((4, 5))), IAE, "x", r"expected shape \(B, 3\)", None),
        ("x-empty", cn(x=X[:0], y=Y[:0]), IAE, "x", r"empty batch", None),
        ("y-out-of-range", cn(y=Y + 2), IAE, "y", r"labels must lie in \[0, 2\)", None),
        ("loss-unknown", cn(loss="hinge"), IAE, "loss", r"unknown loss 'hinge'", None),
        ("mode-unknown", cn(mode="fast"), IAE, "mode", r"expected one of", None),
        (
            "probes-1",
            cn(mode="directional", probes=1),
            IAE,
            "probes",
            r"expected an int >= 3",
            None,
        ),
        (
            "subset-unknown-tensor",
            cn(mode="subset", subset={"params[9]['W']": [0]}),
            IAE,
            "subset",
            r"unknown tensors",
            None,
        ),
        ("grad_fn-structure", cn(grad_fn=lambda p: p[:1]), IAE, "grad_fn", r"structure", None),
        ("grad_fn-str", cn(grad_fn=wrong("grads")), ATE, "grad_fn", r"expected a callable", None),
        ("seed-negative", cn(seed=-3), IAE, "seed", r"expected an int >= 0", None),
        (
            "loss-overflows",
            cn(spec=LINEAR, params=P_LINEAR, x=np.full((4, 3), 1e160)),
            NFE,
            "x",
            r"not finite \(overflow\)",
            None,
        ),
        (
            "params-overflow",
            cn(params=[{**P[0], "W": np.full((3, 4), 1e307)}, P[1]], x=np.full((4, 3), 1e3)),
            NFE,
            "x",
            r"overflow",
            None,
        ),
    ]
    for fid, call, error, arg, expected, bug in net:
        yield Case(f"check_network/{fid}", call, error, arg, expected, bug)


def _catalogue_cases() -> Iterator[Case]:
    cases: list[tuple[str, Callable[[], object], type[BaseException], str, str, str | None]] = [
        (
            "check_activation/unknown",
            lambda: check_activation(UNKNOWN_ACTIVATION),
            IAE,
            "activation",
            rf"unknown activation '{UNKNOWN_ACTIVATION}'",
            None,
        ),
        (
            "check_activation/dtype-int",
            lambda: check_activation("relu", np.int32),
            ATE,
            "dtype",
            r"expected float32 or float64",
            None,
        ),
        (
            "check_softmax/dtype-float16",
            lambda: check_softmax(np.float16),
            ATE,
            "dtype",
            r"expected float32 or float64",
            None,
        ),
        (
            "check_softmax/seed-negative",
            lambda: check_softmax(seed=-1),
            IAE,
            "seed",
            r"expected",
            None,
        ),
        (
            "check_cross_entropy/targets",
            lambda: check_cross_entropy(np.float64, "soft"),
            IAE,
            "targets",
            r"expected 'labels' or 'onehot', got 'soft'",
            None,
        ),
        (
            "check_losses/dtype-float16",
            lambda: check_losses(np.float16),
            ATE,
            "dtype",
            r"expected float32 or float64",
            None,
        ),
        (
            "check_dense/dtype-int",
            lambda: check_dense(np.int8),
            ATE,
            "dtype",
            r"expected float32 or float64",
            None,
        ),
        (
            "check_network_case/arch-unknown",
            lambda: check_network_case("9-9", "relu", "mse"),
            IAE,
            "arch",
            r"expected one of",
            None,
        ),
        (
            "run_checks/not-checks",
            lambda: run_checks(wrong([1, 2])),
            ATE,
            "checks",
            r"expected",
            None,
        ),
        (
            "textbook_value_and_grad/loss",
            lambda: textbook_value_and_grad(SPEC, "hinge"),
            IAE,
            "loss",
            r"unknown loss 'hinge'",
            None,
        ),
        (
            "textbook_value_and_grad/spec-str",
            lambda: textbook_value_and_grad(wrong("3,4,2")),
            ATE,
            "spec",
            r"expected an MLP",
            None,
        ),
        (
            "gradient_error_bound/loss",
            lambda: gradient_error_bound(SPEC, P, X, Y, "hinge", np.float64),
            IAE,
            "loss",
            r"unknown loss 'hinge'",
            None,
        ),
        (
            "gradient_error_bound/dtype-int",
            lambda: gradient_error_bound(SPEC, P, X, Y, "mse", np.int32),
            ATE,
            "dtype",
            r"expected float32 or float64",
            None,
        ),
        (
            "check_invariants/x-wide",
            lambda: check_invariants(SPEC, P, np.ones((2, 4)), Y[:2]),
            IAE,
            "x",
            r"expected shape \(B, 3\)",
            None,
        ),
        (
            "check_invariants/loss",
            lambda: check_invariants(SPEC, P, X, Y, "hinge"),
            IAE,
            "loss",
            r"unknown loss 'hinge'",
            None,
        ),
        (
            "check_conformance/other-not-callable",
            lambda: check_conformance(wrong(None), SPEC, P, X, Y),
            ATE,
            "other",
            r"expected a callable",
            None,
        ),
        (
            "check_conformance/other-returns-grads-only",
            lambda: check_conformance(wrong(lambda p, x, y: p), SPEC, P, X, Y),
            IAE,
            "other",
            r"expected to return a \(loss, grads\) pair",
            None,
        ),
        (
            "check_network_case/seed-negative",
            lambda: check_network_case("2-3-1", "relu", "mse", seed=-1),
            IAE,
            "seed",
            r"expected an int >= 0",
            None,
        ),
        (
            "run_checks/seed-float",
            lambda: run_checks([], seed=wrong(0.5)),
            ATE,
            "seed",
            r"expected an int >= 0",
            None,
        ),
        (
            "check_softmax_jacobian_invariants/list",
            lambda: check_softmax_jacobian_invariants(wrong([[1.0, 2.0]])),
            ATE,
            "z",
            r"expected a numpy array",
            None,
        ),
        (
            "check_softmax_jacobian_invariants/nan",
            lambda: check_softmax_jacobian_invariants(np.array([[0.0, np.nan]])),
            IAE,
            "z",
            r"expected finite values",
            None,
        ),
        (
            "check_conformance/loss",
            lambda: check_conformance(textbook_value_and_grad(SPEC), SPEC, P, X, Y, "hinge"),
            IAE,
            "loss",
            r"unknown loss 'hinge'",
            None,
        ),
        (
            "check_softmax_jacobian_invariants/1d-ok-but-empty",
            lambda: check_softmax_jacobian_invariants(np.zeros((2, 0))),
            IAE,
            "z",
            r"expected",
            None,
        ),
        *_diagnose_rows(),
    ]
    cases += [
        ("check_foreign/command-int", lambda: check_foreign(wrong(3)), ATE, "command",
         r"expected a str or a sequence of str", None),
        ("check_foreign/command-empty", lambda: check_foreign("  "), IAE, "command",
         r"expected a program to run", None),
        ("check_foreign/timeout-zero", lambda: check_foreign("true", timeout=0), IAE,
         "timeout", r"expected seconds > 0", None),
        ("check_foreign/timeout-str", lambda: check_foreign("true", timeout=wrong("1")), ATE,
         "timeout", r"expected", None),
        ("check_foreign/encoding", lambda: check_foreign("true", encoding="hex"), IAE,
         "encoding", r"expected 'base64' or 'list'", None),
        ("check_foreign/seed", lambda: check_foreign("true", seed=-1), IAE, "seed",
         r"expected", None),
    ]
    for fid, call, error, arg, expected, bug in cases:
        yield Case(fid, call, error, arg, expected, bug)


def _golden_cases(tmp: Path) -> Iterator[Case]:
    import json

    for name, manifest in (
        ("junk", "{not json"),
        ("other", json.dumps({"format": "something-else/1"})),
        ("list", json.dumps([1, 2])),
        ("nocases", json.dumps({"format": "funcnn-golden/2", "cases": [{"id": 3}]})),
        ("range", json.dumps({"format": "funcnn-golden/2", "cases": [
            {"id": "c", "tensors": {"x": {"dtype": "float64", "shape": [4], "offset": 8,
                                          "nbytes": 32}}}]})),
    ):
        (tmp / name).mkdir(exist_ok=True)
        (tmp / name / "manifest.json").write_text(manifest)
        (tmp / name / "data.bin").write_bytes(bytes(16))
    cases: list[tuple[str, Callable[[], object], type[BaseException], str, str, str | None]] = [
        ("load_golden/missing", lambda: load_golden(tmp / "missing"), DFE,
         str(tmp / "missing"), r"cannot read its manifest", None),
        ("load_golden/junk", lambda: load_golden(tmp / "junk"), DFE, str(tmp / "junk"),
         r"cannot read its manifest", None),
        ("load_golden/path-int", lambda: load_golden(wrong(3)), ATE, "path",
         r"expected a str or os.PathLike", None),
        ("load_golden/not-an-object", lambda: load_golden(tmp / "list"), DFE,
         str(tmp / "list"), r"expected 'funcnn-golden/2'", None),
        ("load_golden/bad-cases", lambda: load_golden(tmp / "nocases"), DFE,
         str(tmp / "nocases"), r"expected a list of cases", None),
        ("load_golden/tensor-out-of-range", lambda: load_golden(tmp / "range").arrays("c"),
         DFE, str(tmp / "range"), r"within the 16-byte data file", None),
        ("load_golden/other-format", lambda: load_golden(tmp / "other"), DFE,
         str(tmp / "other"), r"expected 'funcnn-golden/2'", None),
        ("verify_golden/other-format", lambda: verify_golden(tmp / "other"), DFE,
         str(tmp / "other"), r"expected 'funcnn-golden/2'", None),
    ]
    for fid, call, error, arg, expected, bug in cases:
        yield Case(fid, call, error, arg, expected, bug)


CASES = [*_gradient_cases(), *_catalogue_cases()]


@pytest.mark.parametrize("case", rows(CASES))
def test_bad_input_is_rejected_clearly(case: Case) -> None:
    check(case)


def _golden_rows() -> list[Any]:
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        cases = list(_golden_cases(Path(scratch)))
    return [
        pytest.param(case.id, id=case.id, marks=param.marks)
        for case, param in zip(cases, rows(cases), strict=True)
    ]


@pytest.fixture(scope="module")
def golden_cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    return {case.id: case for case in _golden_cases(tmp_path_factory.mktemp("golden"))}


@pytest.mark.parametrize("case_id", _golden_rows())
def test_bad_golden_file_is_rejected_clearly(case_id: str, golden_cases: dict[str, Case]) -> None:
    check(golden_cases[case_id])
