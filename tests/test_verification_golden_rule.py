"""The golden activation rule passes correct implementations that round differently
from funcnn: exact values from mpmath (rounded to the dtype) and textbook formulas
(tanh' = 1 / cosh^2) pass every point, although a purely relative rule fails them
where the stored value carries funcnn's own rounding (tanh'(-19.05) = 0 in float64)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mpmath
import numpy as np
import pytest

from verification.interchange.golden import compare_case, export_golden, load_golden

mpmath.mp.dps = 50

_EXACT: dict[str, Any] = {
    "identity": (lambda z: z, lambda z: mpmath.mpf(1)),
    "relu": (lambda z: max(z, 0), lambda z: mpmath.mpf(z > 0)),
    "leaky_relu": (lambda z: z if z > 0 else z / 100, lambda z: mpmath.mpf(1) if z > 0
                   else mpmath.mpf(1) / 100),
    "tanh": (mpmath.tanh, lambda z: 1 / mpmath.cosh(z) ** 2),
    "sigmoid": (lambda z: 1 / (1 + mpmath.exp(-z)),
                lambda z: mpmath.exp(-z) / (1 + mpmath.exp(-z)) ** 2),
    "softplus": (lambda z: mpmath.log(1 + mpmath.exp(z)), lambda z: 1 / (1 + mpmath.exp(-z))),
}


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path: Path = tmp_path_factory.mktemp("golden")
    export_golden(path, networks=[])
    return load_golden(path)


def _exact(name: str, z: Any) -> tuple[Any, Any]:
    if name not in _EXACT:
        pytest.fail(f"add the exact (mpmath) value and derivative of {name!r} to _EXACT")
    f, d = _EXACT[name]
    points = [mpmath.mpf(float(v)) for v in z]
    value = np.array([float(f(p)) for p in points]).astype(z.dtype)
    return value, np.array([float(d(p)) for p in points]).astype(z.dtype)


def test_exact_values_pass_every_activation_case(golden: Any) -> None:
    for case_id, case in golden.cases.items():
        if case["kind"] != "activation":
            continue
        arrays = golden.arrays(case_id)
        value, derivative = _exact(case["activation"], arrays["z"])
        ratio, name, index = compare_case(case, arrays, {"value": value,
                                                         "derivative": derivative})
        assert ratio <= 1.0, (case_id, name, index, arrays["z"][index])


def test_other_correct_formulas_pass(golden: Any) -> None:
    for dtype in ("float64", "float32"):
        case_id = f"activation/tanh/{dtype}"
        arrays = golden.arrays(case_id)
        z = arrays["z"]
        with np.errstate(over="ignore"):
            cosh_form = (1 / np.cosh(z) ** 2).astype(z.dtype)
        assert compare_case(golden.cases[case_id], arrays, {"derivative": cosh_form})[0] <= 1
        case_id = f"activation/sigmoid/{dtype}"
        arrays = golden.arrays(case_id)
        z = arrays["z"]
        e = np.exp(-np.abs(z))
        quotient = (e / (1 + e) ** 2).astype(z.dtype)
        assert compare_case(golden.cases[case_id], arrays, {"derivative": quotient})[0] <= 1


def test_a_relative_rule_alone_would_fail_them(golden: Any) -> None:
    # The reason for the absolute floor: the stored tanh' is 0 at -19.05 in float64.
    arrays = golden.arrays("activation/tanh/float64")
    z = arrays["z"]
    at = int(np.argmin(np.abs(z + 19.05)))
    assert arrays["derivative"][at] == 0.0
    _, exact = _exact("tanh", z)
    rtol = np.sqrt(np.finfo(np.float64).eps)
    assert np.sum(np.abs(exact - arrays["derivative"]) > rtol * np.abs(arrays["derivative"])) > 10
