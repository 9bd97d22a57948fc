"""Two bugs in one backprop: the diagnosis names the earlier step (in chain order: loss
value, output delta, then each layer's weight gradient and delta from the output down,
then the batch reduction) as the root cause, the later one as also wrong, and blames a
tensor fed by both on the earlier one.

The pairs are planted with :func:`tests.diagnosis_bugs.buggy`, whose single bugs
``test_verification_diagnosis`` already shows are each named on their own.
"""

from __future__ import annotations

import pytest

import funcnn as fn
from tests.diagnosis_bugs import BUGS, buggy
from verification import diagnose_mlp

PAIRS = [
    # (earlier bug, later bug): both on the same network and loss.
    ("prediction-one-hot", "tanh-no-square"),   # output delta, then layer 1 delta
    ("transposed", "other-layer-derivative"),   # layer 2 weight gradient, then layer 1 delta
    ("pre-activation", "missing-mean"),         # layer 3 weight gradient, then batch reduction
]


@pytest.mark.parametrize(("earlier", "later"), PAIRS)
def test_the_earlier_of_two_wrong_steps_is_the_root_cause(earlier: str, later: str) -> None:
    first, second = BUGS[earlier], BUGS[later]
    assert (first.sizes, first.activation, first.loss) == (
        second.sizes, second.activation, second.loss)
    spec = fn.MLP(first.sizes, first.activation)
    diagnosis = diagnose_mlp(spec, buggy(spec, first.loss, {earlier, later}))
    text = str(diagnosis)
    root = diagnosis.root_cause
    assert root is not None, text
    assert (root.step, root.kind) == (first.step, first.kind), text
    assert [(f.step, f.kind) for f in diagnosis.wrong] == [
        (first.step, first.kind), (second.step, second.kind)], text
    assert f"ROOT CAUSE  {first.step}: " in text, text
    assert f"ALSO WRONG  {second.step}: " in text, text


def test_a_tensor_fed_by_two_wrong_steps_is_blamed_on_the_earlier() -> None:
    spec = fn.MLP((4, 6, 5, 3), "tanh")
    bugs = {"prediction-one-hot", "tanh-no-square"}
    diagnosis = diagnose_mlp(spec, buggy(spec, "softmax_cross_entropy", bugs))
    causes = {t.tensor: (t.status, t.cause) for t in diagnosis.tensors}
    # params[0] is below both the output delta and the layer 1 delta.
    assert causes["params[0]['W']"] == ("inherited", "output delta"), str(diagnosis)
    assert causes["params[0]['b']"] == ("inherited", "output delta"), str(diagnosis)
    assert causes["params[2]['W']"] == ("inherited", "output delta"), str(diagnosis)
