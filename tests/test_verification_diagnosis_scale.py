"""verification.external.diagnosis_scale: a loss summed over the batch or a multiple of
funcnn's per sample is read off the code's own loss and gradient as a convention (no
false alarm); a loss and gradient that disagree are still the mistake they are."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import funcnn as fn
from funcnn.typing import Array, Params
from verification import diagnose_mlp
from verification.external.diagnosis_scale import Scale

SPEC = fn.MLP((4, 6, 3), "tanh")
Code = Callable[[Params, Array, Array], tuple[float, Params]]


def squares(batch: str, outputs: str, *, l2: float = 0.0, grad_batch: str | None = None,
            grad_outputs: str | None = None, hidden_bug: bool = False) -> Code:
    """A 4-6-3 tanh network scored by squares, written out; the gradient may follow
    another reduction than the loss (a mistake), or carry a hidden-layer mistake."""

    def divisor(b: str, o: str, z: Array) -> float:
        return float((1 if b == "sum" else len(z)) * {"sum": 1, "mean": z.shape[1], "half": 2}[o])

    def value_and_grad(params: Params, x: Array, y: Array) -> tuple[float, Params]:
        (w1, b1), (w2, b2) = ((p["W"], p["b"]) for p in params)
        a1 = np.tanh(x @ w1 + b1)
        z = a1 @ w2 + b2
        r = z - y
        value = float(np.sum(r * r)) / divisor(batch, outputs, z)
        value += 0.5 * l2 * float(np.sum(w1 * w1) + np.sum(w2 * w2))
        d2 = 2 * r / divisor(grad_batch or batch, grad_outputs or outputs, z)
        d1 = d2 @ w2.T * (a1 if hidden_bug else 1 - a1**2)
        return value, [{"W": x.T @ d1 + l2 * w1, "b": d1.sum(axis=0)},
                       {"W": a1.T @ d2 + l2 * w2, "b": d2.sum(axis=0)}]

    return value_and_grad


def params_of(dtype: Any) -> Params:
    return [{k: v.astype(dtype) for k, v in layer.items()}
            for layer in fn.init(SPEC, np.random.default_rng(5))]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("l2", [0.0, 1e-2])
@pytest.mark.parametrize(
    ("batch", "outputs", "said"),
    [
        ("mean", "mean", ""),
        ("sum", "mean", "the loss is summed over the batch; checked as such"),
        ("mean", "sum", "the loss is 3 x mse per sample (= C, the number of outputs"),
        ("sum", "half", "the loss is summed over the batch, 1.5 x mse per sample (= C/2"),
    ],
)
def test_correct_code_in_each_reduction_gets_no_diagnosis(
    batch: str, outputs: str, said: str, l2: float, dtype: Any
) -> None:
    diagnosis = diagnose_mlp(SPEC, squares(batch, outputs, l2=l2), "mse",
                             params=params_of(dtype))
    assert diagnosis.ok, str(diagnosis)
    assert said in str(diagnosis) and (said or "checked as such" not in str(diagnosis))


@pytest.mark.parametrize(
    ("code", "step"),
    [
        (squares("mean", "mean", grad_batch="sum"), "batch reduction"),
        (squares("sum", "mean", grad_batch="mean"), "batch reduction"),
        (squares("mean", "sum", grad_outputs="mean"), "loss value"),
        (squares("mean", "mean", grad_outputs="sum"), "output delta"),
        (squares("mean", "half", grad_outputs="sum"), "loss value"),
    ],
)
def test_a_loss_and_gradient_that_disagree_are_not_a_convention(code: Code, step: str) -> None:
    diagnosis = diagnose_mlp(SPEC, code, "mse")
    assert not diagnosis.ok and "checked as such" not in str(diagnosis), str(diagnosis)
    root = diagnosis.root_cause
    assert root is not None and root.step == step, str(diagnosis)


@pytest.mark.parametrize(("batch", "outputs"), [("sum", "mean"), ("mean", "sum")])
def test_a_mistake_in_code_of_another_convention_is_named_at_its_step(
    batch: str, outputs: str
) -> None:
    diagnosis = diagnose_mlp(SPEC, squares(batch, outputs, hidden_bug=True), "mse")
    root = diagnosis.root_cause
    assert root is not None and root.step == "layer 1 delta", str(diagnosis)
    assert "checked as such" in str(diagnosis)


def test_code_without_a_loss_is_not_read() -> None:
    code = squares("sum", "mean")

    def gradient_only(params: Params, x: Array, y: Array) -> tuple[float, Params]:
        return float("nan"), code(params, x, y)[1]

    root = diagnose_mlp(SPEC, gradient_only, "mse").root_cause
    assert root is not None and root.step == "batch reduction"


def test_the_words_name_the_usual_factors() -> None:
    assert "(= C, the number of outputs" in Scale(3.0).words("mse", 3)
    assert "(a half)" in Scale(0.5).words("mse", 3)
    assert Scale(1.0, True).words("mse", 3) == (
        "the loss is summed over the batch; checked as such"
    )
