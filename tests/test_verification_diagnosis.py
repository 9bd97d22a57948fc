"""The diagnosis names the planted bug of every kind in the catalogue, marks what
follows from it as inherited, and finds nothing wrong in correct implementations."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import funcnn as fn
from funcnn.typing import Array, Params
from tests.diagnosis_bugs import BUGS, L2, ValueAndGrad, buggy
from verification import check_conformance, diagnose_mlp, textbook_value_and_grad


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("bug", sorted(BUGS))
def test_the_diagnosis_names_each_planted_bug(bug: str, seed: int) -> None:
    case = BUGS[bug]
    spec = fn.MLP(case.sizes, case.activation)
    vag = buggy(spec, case.loss, {bug}, case.l2)
    diagnosis = diagnose_mlp(spec, vag, case.loss, l2=case.l2, seed=seed)
    root = diagnosis.root_cause
    assert root is not None, str(diagnosis)
    assert (root.kind, root.step) == (case.kind, case.step), str(diagnosis)
    # One planted line is one wrong step: nothing else is blamed on its own.
    assert len(diagnosis.wrong) == 1, str(diagnosis)
    assert f"ROOT CAUSE  {root.step}: {root.message}" in str(diagnosis)


@pytest.mark.parametrize(
    ("sizes", "activation", "loss"),
    [
        ((4, 6, 5, 3), "tanh", "softmax_cross_entropy"),
        ((4, 6, 6, 3), ("sigmoid", "relu"), "softmax_then_cross_entropy"),
        ((2, 3, 1), "sigmoid", "binary_cross_entropy"),
        ((3, 4, 2), "softplus", "mse"),
        ((3, 4, 3), "leaky_relu", "softmax_binary_cross_entropy"),
        ((5, 3), "identity", "softmax_cross_entropy"),
    ],
)
def test_correct_implementations_get_no_diagnosis(
    sizes: tuple[int, ...], activation: str, loss: str
) -> None:
    spec = fn.MLP(sizes, activation)

    def own(params: Params, x: Array, y: Array) -> tuple[float, Params]:
        return fn.value_and_grad(spec, params, x, y, loss)

    for implementation in (own, textbook_value_and_grad(spec, loss), buggy(spec, loss)):
        diagnosis = diagnose_mlp(spec, implementation, loss)
        assert diagnosis.ok, str(diagnosis)
        assert diagnosis.root_cause is None
        assert all(t.status == "ok" for t in diagnosis.tensors)
        assert "every step of backprop is right" in str(diagnosis)


def test_a_correct_l2_term_gets_no_diagnosis() -> None:
    spec = fn.MLP((4, 6, 5, 3), "tanh")
    diagnosis = diagnose_mlp(spec, buggy(spec, "softmax_cross_entropy", (), L2), l2=L2)
    assert diagnosis.ok, str(diagnosis)


def test_an_output_delta_bug_is_inherited_by_every_tensor() -> None:
    spec = fn.MLP((4, 6, 5, 3), "tanh")
    diagnosis = diagnose_mlp(spec, buggy(spec, "softmax_cross_entropy", {"prediction-one-hot"}))
    assert {t.status for t in diagnosis.tensors} == {"inherited"}
    assert {t.cause for t in diagnosis.tensors} == {"output delta"}
    assert "inherited   params[0]['W']: wrong because of the output delta" in str(diagnosis)


def test_a_hidden_derivative_bug_is_inherited_below_and_not_above() -> None:
    spec = fn.MLP((4, 6, 5, 3), "sigmoid")
    diagnosis = diagnose_mlp(spec, buggy(spec, "softmax_cross_entropy", {"sigmoid-from-z"}))
    status = {t.tensor: t.status for t in diagnosis.tensors}
    assert status == {
        "params[0]['W']": "inherited",
        "params[0]['b']": "inherited",
        "params[1]['W']": "ok",
        "params[1]['b']": "ok",
        "params[2]['W']": "ok",
        "params[2]['b']": "ok",
    }


def test_a_weight_gradient_bug_is_wrong_only_where_it_is() -> None:
    spec = fn.MLP((4, 5, 5, 3), "tanh")
    diagnosis = diagnose_mlp(spec, buggy(spec, "softmax_cross_entropy", {"transposed"}))
    wrong = {t.tensor: t.cause for t in diagnosis.tensors if t.status != "ok"}
    assert wrong == {"params[1]['W']": "layer 2 weight gradient"}


def test_several_independent_bugs_are_each_named_root_cause_first() -> None:
    spec = fn.MLP((4, 5, 5, 3), "sigmoid")
    bugs = {"prediction-one-hot", "sigmoid-from-z", "transposed", "missing-mean"}
    diagnosis = diagnose_mlp(spec, buggy(spec, "softmax_cross_entropy", bugs))
    kinds = [f.kind for f in diagnosis.wrong]
    assert kinds == [
        "output-prediction-one-hot",
        "weight-transposed",
        "derivative-formula-on-z",
        "batch-sum",
    ], str(diagnosis)
    text = str(diagnosis)
    assert text.count("ALSO WRONG") == 3


def test_the_updated_weights_bug_reports_the_learning_rate() -> None:
    spec = fn.MLP((4, 6, 5, 3), "tanh")
    diagnosis = diagnose_mlp(spec, buggy(spec, "softmax_cross_entropy", {"updated-weights"}))
    assert diagnosis.root_cause is not None
    assert "W - 0.5 dW" in diagnosis.root_cause.message


def test_the_eps_in_the_log_is_measured() -> None:
    spec = fn.MLP((4, 6, 5, 3), "tanh")
    diagnosis = diagnose_mlp(spec, buggy(spec, "softmax_cross_entropy", {"ce-eps"}))
    assert diagnosis.root_cause is not None
    assert "-log(p + 1e-07)" in diagnosis.root_cause.message
    assert "not the loss the gradient belongs to" in diagnosis.root_cause.message
    # The gradient is right: no tensor fails.
    assert all(t.status == "ok" for t in diagnosis.tensors)


def test_an_unknown_mistake_is_still_located_with_a_hint() -> None:
    spec = fn.MLP((4, 6, 5, 3), "tanh")
    right = buggy(spec, "softmax_cross_entropy")

    def halved_middle_delta(params: Params, x: Array, y: Array) -> tuple[float, Params]:
        value, grads = right(params, x, y)
        # The layer-2 weight gradient scaled by 3: no named mistake, a uniform factor.
        grads[1] = {"W": 3 * grads[1]["W"], "b": grads[1]["b"]}
        return value, grads

    diagnosis = diagnose_mlp(spec, halved_middle_delta)
    root = diagnosis.root_cause
    assert root is not None
    assert (root.step, root.kind) == ("layer 2 weight gradient", "weight-other")
    assert "is 3 x the right value on every entry" in root.message


def test_the_diagnosis_uses_given_params_and_inputs_and_does_not_mutate_them() -> None:
    spec = fn.MLP((4, 6, 3), "tanh")
    params = fn.init(spec, np.random.default_rng(2))
    x = np.random.default_rng(3).normal(size=(7, 4))
    before = [{k: v.copy() for k, v in layer.items()} for layer in params]

    def in_place(p: Params, xs: Array, ys: Array) -> tuple[float, Params]:
        value, grads = fn.value_and_grad(spec, p, xs, ys)
        for layer, g in zip(p, grads, strict=True):
            layer["W"] -= g["W"]  # notebooks update in place; the caller's params are safe
        return value, grads

    assert diagnose_mlp(spec, in_place, params=params, x=x).ok
    for layer, old in zip(params, before, strict=True):
        np.testing.assert_array_equal(layer["W"], old["W"])


def test_the_dict_form_is_json_ready() -> None:
    import json

    spec = fn.MLP((4, 6, 5, 3), "tanh")
    diagnosis = diagnose_mlp(spec, buggy(spec, "softmax_cross_entropy", {"tanh-no-square"}))
    doc = json.loads(json.dumps(diagnosis.to_dict()))
    assert doc["root_cause"]["kind"] == "derivative-no-square"
    assert doc["text"] == str(diagnosis)


def test_check_conformance_attaches_the_diagnosis_when_the_other_fails() -> None:
    spec = fn.MLP((4, 6, 5, 3), "tanh")
    params = fn.init(spec, np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(6, 4))
    y = np.arange(6) % 3
    other = buggy(spec, "softmax_cross_entropy", {"tanh-no-square"})
    report = check_conformance(other, spec, params, x, y, other_name="notebook")
    assert not report.passed
    found = report.meta["diagnosis"]
    assert found["root_cause"]["kind"] == "derivative-no-square"
    assert found["text"].startswith("diagnosis of notebook")
    report.to_json()  # still JSON-ready
    good = check_conformance(buggy(spec, "softmax_cross_entropy"), spec, params, x, y)
    assert good.passed and "diagnosis" not in good.meta
    quiet = check_conformance(other, spec, params, x, y, diagnose=False)
    assert "diagnosis" not in quiet.meta


def test_check_conformance_keeps_its_report_when_the_diagnosis_cannot_probe() -> None:
    spec = fn.MLP((4, 6, 3), "tanh")
    params = fn.init(spec, np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(6, 4))
    y = np.arange(6) % 3

    def batch_only(p: Params, xs: Array, ys: Array) -> tuple[float, Params]:
        if len(xs) < 6:
            raise RuntimeError("this implementation wants batches of 6")
        value, grads = fn.value_and_grad(spec, p, xs, ys)
        return value, [{"W": 2 * g["W"], "b": g["b"]} for g in grads]

    report = check_conformance(batch_only, spec, params, x, y)
    assert not report.passed
    assert report.meta["diagnosis_error"] == "RuntimeError: this implementation wants batches of 6"


def test_an_l2_term_declared_absent_is_named_in_the_loss_and_the_weight_gradients() -> None:
    spec = fn.MLP((4, 6, 5, 3), "tanh")
    diagnosis = diagnose_mlp(spec, buggy(spec, "softmax_cross_entropy", (), L2), l2=0.0)
    assert [(f.step, f.kind) for f in diagnosis.wrong] == [
        ("loss value", "loss-l2-unexpected"),
        ("L2 term of layers 1, 2, 3", "weight-l2-unexpected"),
    ], str(diagnosis)
    assert "pass l2=0.01" in diagnosis.wrong[0].message
    assert diagnose_mlp(spec, buggy(spec, "softmax_cross_entropy", (), L2), l2=L2).ok
    # Not declared at all, the term is read off the loss values, and said.
    inferred = diagnose_mlp(spec, buggy(spec, "softmax_cross_entropy", (), L2))
    assert inferred.ok, str(inferred)
    assert "L2 0.01/2 sum W^2 (weights only) (read off the loss values)" in str(inferred)


def test_a_factor_c_on_the_output_delta_is_named_with_its_likely_cause() -> None:
    # scikit-learn's MLPRegressor with several outputs: C times its loss's gradient.
    spec = fn.MLP((4, 6, 3), "tanh")

    def c_times(params: Params, x: Array, y: Array) -> tuple[float, Params]:
        value, grads = fn.value_and_grad(spec, params, x, y, "mse")
        return value, [{k: 3 * g for k, g in layer.items()} for layer in grads]

    root = diagnose_mlp(spec, c_times, "mse").root_cause
    assert root is not None and (root.step, root.kind) == ("output delta", "output-delta-other")
    assert "is 3 x (= C, the number of outputs: the gradient of a sum over the outputs" in (
        root.message
    )


def test_an_implementation_in_lower_precision_passes_with_a_looser_rtol() -> None:
    spec = fn.MLP((4, 6, 3), "tanh")

    def in_float32(params: Params, x: Array, y: Array) -> tuple[float, Params]:
        p32 = [{k: v.astype(np.float32) for k, v in layer.items()} for layer in params]
        value, grads = fn.value_and_grad(spec, p32, x.astype(np.float32), y)
        return value, [{k: v.astype(np.float64) for k, v in g.items()} for g in grads]

    assert not diagnose_mlp(spec, in_float32).ok  # float32 rounding is not float64's
    assert diagnose_mlp(spec, in_float32, rtol=1e-4).ok


def test_a_printed_loss_that_is_not_the_gradients_loss_is_named() -> None:
    spec = fn.MLP((4, 6, 3), "tanh")

    def mse_printed(params: Params, x: Array, y: Array) -> tuple[float, Params]:
        _, grads = fn.value_and_grad(spec, params, x, y)
        return fn.loss(spec, params, x, fn.one_hot(y, 3), "mse"), grads

    root = diagnose_mlp(spec, mse_printed).root_cause
    assert root is not None and (root.step, root.kind) == ("loss value", "loss-other")
    assert root.message.endswith(
        "the gradient is that of softmax_cross_entropy: the loss is not the one the gradient "
        "belongs to"
    )


def _renamed(loss: str, output: str | None = None) -> fn.Loss:
    """funcnn's ``loss`` under a name no table could know (its output kept or replaced)."""
    base = fn.get_loss(loss)
    return dataclasses.replace(base, name="my_loss",
                               output=base.output if output is None else output)


@pytest.mark.parametrize("bug", ["ce-eps", "softmax-jacobian", "prediction-one-hot"])
def test_a_loss_under_another_name_gets_the_same_diagnosis(bug: str) -> None:
    # The mistakes are recognised from the declared output and the loss's own values,
    # not from funcnn's loss names.
    case = BUGS[bug]
    spec = fn.MLP(case.sizes, case.activation)
    loss = _renamed(case.loss)
    root = diagnose_mlp(spec, buggy(spec, loss, {bug}), loss).root_cause
    assert root is not None and (root.kind, root.step) == (case.kind, case.step)


def _sigmoid_again(spec: fn.MLP) -> ValueAndGrad:
    """One hidden layer, binary cross-entropy, its delta p - y multiplied by p (1 - p)."""

    def value_and_grad(params: Params, x: Array, y: Array) -> tuple[float, Params]:
        (w1, b1), (w2, b2) = ((p["W"], p["b"]) for p in params)
        a1 = np.tanh(x @ w1 + b1)
        z = a1 @ w2 + b2
        p = fn.sigmoid(z)
        t = np.asarray(y, dtype=z.dtype).reshape(z.shape)
        value = float(np.mean(np.logaddexp(0, z) - t * z))
        delta = (p - t) / z.size * p * (1 - p)
        d1 = delta @ w2.T * (1 - a1**2)
        return value, [{"W": x.T @ d1, "b": d1.sum(axis=0)},
                       {"W": a1.T @ delta, "b": delta.sum(axis=0)}]

    return value_and_grad


@pytest.mark.parametrize(
    ("output", "kind"),
    [("sigmoid", "output-derivative-again"), ("", "output-delta-other")],
)
def test_the_derivative_applied_again_is_named_from_the_declared_output(
    output: str, kind: str
) -> None:
    # Declared, the sigmoid output's derivative is recognised and, the loss's gradient
    # being p - y, named as the cross-entropy mistake; undeclared, nothing is guessed.
    spec = fn.MLP((3, 4, 1), "tanh")
    loss = _renamed("binary_cross_entropy", output)
    root = diagnose_mlp(spec, _sigmoid_again(spec), loss).root_cause
    assert root is not None and (root.kind, root.step) == (kind, "output delta"), root


@pytest.mark.parametrize("name", ["binary_cross_entropy", "my_loss"])
def test_one_sigmoid_output_is_probed_with_the_label_it_does_not_predict(name: str) -> None:
    # A cross-entropy of one sigmoid output, by any name: 0/1 labels, each the class the
    # network does not predict (so every probe carries a large, informative gradient).
    from verification.external.diagnosis_probe import craft_inputs

    spec = fn.MLP((3, 4, 1), "tanh")
    params = fn.init(spec, np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(16, 3))
    loss = dataclasses.replace(fn.get_loss("binary_cross_entropy"), name=name)
    labels = craft_inputs(spec, params, x, loss, np.random.default_rng(2))
    assert labels.dtype.kind == "i"
    assert np.array_equal(labels, (fn.apply(spec, params, x)[:, 0] <= 0).astype(int))
