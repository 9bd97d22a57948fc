"""verification.external.heads: each output activation and loss, its gradient in z
against finite differences, and a wrong one failing."""

from __future__ import annotations

import numpy as np
import pytest

from funcnn.core.loss_record import LOSS_OUTPUTS
from funcnn.errors import InvalidArgumentError
from verification import check_gradients
from verification.external.heads import OUTPUTS, head

CASES = [
    (output, loss, outputs, half)
    for output in OUTPUTS
    for loss in ("squared", "cross_entropy")
    for outputs in ("mean", "sum")
    for half in (False, True)
    if loss == "squared" or output in ("softmax", "sigmoid")
]


@pytest.mark.parametrize(("output", "loss", "outputs", "half"), CASES)
def test_each_head_gradient_matches_finite_differences(
    output: str, loss: str, outputs: str, half: bool
) -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4, 3))
    y = rng.integers(0, 3, 4) if loss == "cross_entropy" else rng.uniform(0, 1, (4, 3))
    h = head(output, loss, outputs=outputs, half=half)
    report = check_gradients(lambda p: h.value_and_grad(p["z"], y)[0],
                             lambda p: {"z": h.value_and_grad(p["z"], y)[1]}, {"z": z})
    assert report.passed, report.table()
    wrong = check_gradients(lambda p: h.value_and_grad(p["z"], y)[0],
                            lambda p: {"z": 1.5 * h.value_and_grad(p["z"], y)[1]}, {"z": z})
    assert not wrong.passed
    assert h.output == output and h.declaration()["output"] == output


def _by_hand(output: str, loss: str, outputs: str, half: bool, z: np.ndarray,
             t: np.ndarray) -> float:
    """The head's value written out here, not from funcnn: output, loss, reductions."""
    if output == "softmax":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        a = e / e.sum(axis=1, keepdims=True)
    else:
        a = {"identity": z, "sigmoid": 1 / (1 + np.exp(-z)), "tanh": np.tanh(z)}[output]
    if loss == "squared":
        entries = (a - t) ** 2
    elif output == "softmax":
        entries = -t * np.log(a)  # summed over the outputs: the cross-entropy
    else:
        entries = -(t * np.log(a) + (1 - t) * np.log(1 - a))
    per_sample = entries.sum(axis=1) if outputs == "sum" else entries.mean(axis=1)
    return float((0.5 if half else 1.0) * per_sample.mean())


@pytest.mark.parametrize(("output", "loss", "outputs", "half"), CASES)
def test_each_head_value_is_its_formula(output: str, loss: str, outputs: str, half: bool
                                        ) -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(size=(5, 3))
    t = rng.uniform(0, 1, (5, 3))
    if output == "softmax" and loss == "cross_entropy":
        t = t / t.sum(axis=1, keepdims=True)
    value = head(output, loss, outputs=outputs, half=half).value_and_grad(z, t)[0]
    assert value == pytest.approx(_by_hand(output, loss, outputs, half, z, t), rel=1e-12)


def test_the_textbook_quadratic_cost_by_hand() -> None:
    z = np.array([[0.3, -1.0]])
    y = np.array([[1.0, 0.0]])
    a = 1 / (1 + np.exp(-z))
    value, grad = head("sigmoid", "squared", outputs="sum", half=True).value_and_grad(z, y)
    assert value == pytest.approx(0.5 * np.sum((a - y) ** 2))
    np.testing.assert_allclose(grad, (a - y) * a * (1 - a))


def test_bad_heads_are_refused_naming_the_argument() -> None:
    with pytest.raises(InvalidArgumentError, match="output: expected one of"):
        head("relu", "squared")
    with pytest.raises(InvalidArgumentError, match="cross_entropy needs a softmax or sigmoid"):
        head("tanh", "cross_entropy")
    with pytest.raises(InvalidArgumentError, match="outputs: expected 'mean' or 'sum'"):
        head("sigmoid", "squared", outputs="max")


def test_every_head_output_is_one_a_loss_may_declare() -> None:
    # A Head is a Loss: its output activation is the field every loss declares.
    assert set(OUTPUTS) <= set(LOSS_OUTPUTS) - {""}
