"""The L2 term in every convention real code uses is right when its gradient follows its
loss: read off the loss values, said in the diagnosis, and never a false root cause
(issue 21: scikit-learn's alpha/(2B) sum W^2 was called a wrong batch reduction)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import funcnn as fn
from funcnn.typing import Array, Params
from tests.diagnosis_bugs import buggy
from verification import diagnose_mlp
from verification.external.diagnosis_l2 import Penalty

SPEC = fn.MLP((4, 6, 5, 3), "tanh")


def regularised(penalty: Penalty, bugs: tuple[str, ...] = ()) -> Any:
    """funcnn's loss and gradient (or a planted bug's) plus ``penalty``, written out."""
    data = buggy(SPEC, "softmax_cross_entropy", bugs)

    def value_and_grad(params: Params, x: Array, y: Array) -> tuple[float, Params]:
        value, grads = data(params, x, y)
        c = penalty.coefficient(len(x))
        value += penalty.value(params, len(x))
        keys = penalty.keys()
        return value, [
            {k: g[k] + (c * p[k] if k in keys else 0.0) for k in ("W", "b")}
            for g, p in zip(grads, params, strict=True)
        ]

    return value_and_grad


CONVENTIONS = {
    "scikit-learn alpha/(2B) sum W^2": Penalty(1e-4, half=True, per_batch=True),
    "l2 sum W^2 / B": Penalty(1e-2, half=False, per_batch=True),
    "l2/2 sum (W^2 + b^2)": Penalty(1e-2, biases=True),
    "l2 sum W^2": Penalty(1e-2, half=False),
    "l2/(2B) sum (W^2 + b^2)": Penalty(3e-2, per_batch=True, biases=True),
}


@pytest.mark.parametrize("name", sorted(CONVENTIONS))
@pytest.mark.parametrize("declared", [False, True])
def test_each_convention_is_right_and_named(name: str, declared: bool) -> None:
    penalty = CONVENTIONS[name]
    l2 = penalty.l2 if declared else None
    diagnosis = diagnose_mlp(SPEC, regularised(penalty), l2=l2)
    assert diagnosis.ok, str(diagnosis)
    if declared:  # the coefficient given, the convention read off the loss
        assert diagnosis.meta["penalty"].startswith(penalty.words()), str(diagnosis)
    assert "(read off the loss values)" in str(diagnosis).splitlines()[0]


def test_a_declared_penalty_serves_code_that_returns_no_loss() -> None:
    penalty = CONVENTIONS["scikit-learn alpha/(2B) sum W^2"]
    with_loss = regularised(penalty)

    def gradient_only(params: Params, x: Array, y: Array) -> tuple[None, Params]:
        return None, with_loss(params, x, y)[1]

    diagnosis = diagnose_mlp(SPEC, gradient_only, l2=penalty)
    assert diagnosis.ok, str(diagnosis)
    assert "NOT CHECKED loss value: not given" in str(diagnosis)


@pytest.mark.parametrize("name", sorted(CONVENTIONS))
def test_a_bug_under_any_convention_is_named_with_no_unsure_batch_step(name: str) -> None:
    diagnosis = diagnose_mlp(SPEC, regularised(CONVENTIONS[name], ("tanh-no-square",)))
    root = diagnosis.root_cause
    assert root is not None and (root.step, root.kind) == (
        "layer 1 delta", "derivative-no-square"), str(diagnosis)
    assert len(diagnosis.wrong) == 1 and "UNSURE" not in str(diagnosis), str(diagnosis)


def test_a_gradient_that_does_not_follow_its_loss_is_still_named() -> None:
    # The loss has l2/2 sum W^2, the gradient 2 l2 W: the planted l2-factor bug.
    diagnosis = diagnose_mlp(SPEC, buggy(SPEC, "softmax_cross_entropy", {"l2-factor"}, 1e-2),
                             l2=1e-2)
    assert diagnosis.root_cause is not None
    assert diagnosis.root_cause.kind == "weight-l2-factor", str(diagnosis)


def test_penalty_words_and_arguments() -> None:
    assert Penalty(1e-4, per_batch=True).words() == "L2 0.0001/(2B) sum W^2 (weights only)"
    assert Penalty(0.1, half=False, biases=True).words() == (
        "L2 0.1 sum W^2 (weights and biases)")
    assert Penalty().words() == "no L2 term"
    with pytest.raises(ValueError, match="l2: expected a number >= 0"):
        Penalty(-1.0)
    params: Params = [{"W": np.ones((2, 2)), "b": np.ones(2)}]
    assert Penalty(1.0, per_batch=True).value(params, 4) == pytest.approx(0.5)


def test_a_batch_failure_the_root_cause_does_not_feed_is_wrong_not_unsure() -> None:
    right = buggy(SPEC, "softmax_cross_entropy", ("pre-activation",))

    def odd_batch(params: Params, x: Array, y: Array) -> tuple[float, Params]:
        value, grads = right(params, x, y)
        if len(x) > 1:  # a batch-only mistake in a tensor the root cause does not feed
            grads[0] = {"W": grads[0]["W"], "b": grads[0]["b"] + 0.1}
        return value, grads

    diagnosis = diagnose_mlp(SPEC, odd_batch)
    assert [(f.step, f.kind) for f in diagnosis.wrong] == [
        ("layer 3 weight gradient", "weight-pre-activation"),
        ("batch reduction", "batch-other"),
    ], str(diagnosis)
    assert "UNSURE" not in str(diagnosis)


def test_a_penalty_hidden_by_a_wrong_loss_is_read_off_the_gradients() -> None:
    # An eps in the log spreads the loss's excess over the samples: no convention fits
    # the loss values, and the last layer's weight gradient tells the penalty instead.
    penalty = Penalty(1e-2, per_batch=True)
    diagnosis = diagnose_mlp(SPEC, regularised(penalty, ("ce-eps",)))
    root = diagnosis.root_cause
    assert root is not None and (root.step, root.kind) == ("loss value", "loss-eps"), str(
        diagnosis)
    assert len(diagnosis.wrong) == 1, str(diagnosis)
    assert "L2 0.01/(2B) sum W^2 (weights only) (read off the gradients)" in str(diagnosis)
