"""Adapters on notebook-style code: each layout checked right when the notebook is
right, and the planted bug still named through the adapter when it is not."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import funcnn as fn
from examples import check_textbook_mlp as textbook
from examples import xor
from funcnn.errors import InvalidArgumentError
from verification import diagnose_mlp
from verification.external.adapters import Layout, from_batch, from_per_sample, from_update

SPEC = fn.MLP((4, 6, 3), "sigmoid")


def sigmoid(z: Any) -> Any:
    return 1 / (1 + np.exp(-z))


def softmax_columns(z: Any) -> Any:
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


# The course layout of examples/check_textbook_mlp.py: W (out, in), b (out, 1), X (n_x, m),
# Y one-hot (C, m).
COURSE = textbook.LAYOUT


def test_course_layout_weights_out_in_columns_and_column_biases() -> None:
    fixed = from_batch(textbook.TextbookMLP(fixed=True).forward_backward, textbook.SPEC, COURSE)
    assert diagnose_mlp(textbook.SPEC, fixed).ok
    wrong = from_batch(textbook.TextbookMLP().forward_backward, textbook.SPEC, COURSE)
    root = diagnose_mlp(textbook.SPEC, wrong).root_cause
    assert root is not None and root.kind == "derivative-at-activation"


# Nielsen's book: one sample at a time as column vectors, weights (out, in), b (n, 1).
def nielsen_backprop(params: list[Any], x: Any, y: Any) -> Any:
    weights, biases = params[0::2], params[1::2]
    activation, activations, zs = x, [x], []
    for b, w in zip(biases, weights, strict=True):
        zs.append(w @ activation + b)
        activation = sigmoid(zs[-1])
        activations.append(activation)
    p = softmax_columns(zs[-1])  # the last layer is linear: softmax cross-entropy on it
    delta = p - y
    nabla = [np.zeros_like(t) for t in params]
    nabla[-2], nabla[-1] = delta @ activations[-2].T, delta
    for layer in range(2, len(weights) + 1):
        s = activations[-layer]
        delta = (weights[-layer + 1].T @ delta) * s * (1 - s)
        nabla[-2 * layer] = delta @ activations[-layer - 1].T
        nabla[-2 * layer + 1] = delta
    return float(-np.sum(y * np.log(p))), nabla


def test_per_sample_column_vectors() -> None:
    layout = Layout(weights="out_in", bias="column", data="columns", targets="one_hot")
    assert diagnose_mlp(SPEC, from_per_sample(nielsen_backprop, SPEC, layout)).ok


# The bias trick: a column of ones in front of each layer's input, the bias as row 0 of W.
def trick_backprop(params: list[Any], X: Any, y: Any) -> Any:
    W1, W2 = params
    n = len(X)
    A1 = sigmoid(X @ W1)
    H = np.hstack([np.ones((n, 1)), A1])
    Z2 = H @ W2
    P = fn.softmax(Z2)
    loss = -np.mean(np.log(P[np.arange(n), y]))
    D2 = P.copy()
    D2[np.arange(n), y] -= 1
    D2 /= n
    D1 = (D2 @ W2[1:].T) * A1 * (1 - A1)
    return loss, [X.T @ D1, H.T @ D2]


def test_bias_trick_with_ones_first() -> None:
    layout = Layout(bias="first")
    assert diagnose_mlp(SPEC, from_batch(trick_backprop, SPEC, layout)).ok


def test_summed_batch_loss_with_row_biases_in_layer_dicts() -> None:
    def summed(params: list[dict[str, Any]], X: Any, y: Any) -> Any:
        value, grads = fn.value_and_grad(
            SPEC, [{"W": p["W"], "b": p["b"][0]} for p in params], X, y
        )
        n = len(X)
        return value * n, [{"W": g["W"] * n, "b": g["b"][None, :] * n} for g in grads]

    layout = Layout(bias="row", params="layers")
    assert diagnose_mlp(SPEC, from_batch(summed, SPEC, layout, reduction="sum")).ok
    # Undeclared, the sum is read off the code's own loss: a convention, said.
    diagnosis = diagnose_mlp(SPEC, from_batch(summed, SPEC, layout))
    assert diagnosis.ok and "the loss is summed over the batch" in str(diagnosis)


# An XOR-style class notebook: the update happens inside backward, in place.
class Net:
    def __init__(self, lr: float, early_update: bool = False, summed: bool = False) -> None:
        self.lr, self.early_update, self.summed = lr, early_update, summed

    def train(self, params: list[Any], X: Any, y: Any) -> float:
        W1, b1, W2, b2 = params
        n = len(X)
        A1 = sigmoid(X @ W1 + b1)
        P = fn.softmax(A1 @ W2 + b2)
        loss = float(-np.mean(np.log(P[np.arange(n), y])))
        D2 = P.copy()
        D2[np.arange(n), y] -= 1
        if self.summed:
            loss *= n
        else:
            D2 /= n
        dW2 = A1.T @ D2
        W2 -= self.lr * dW2 if self.early_update else 0
        D1 = (D2 @ W2.T) * A1 * (1 - A1)
        if not self.early_update:
            W2 -= self.lr * dW2
        b2 -= self.lr * D2.sum(axis=0)
        W1 -= self.lr * (X.T @ D1)
        b1 -= self.lr * D1.sum(axis=0)
        return loss


def test_updates_inside_backward_read_back_as_gradients() -> None:
    assert diagnose_mlp(SPEC, from_update(Net(0.3).train, SPEC, lr=0.3)).ok
    root = diagnose_mlp(SPEC, from_update(Net(0.3, True).train, SPEC, lr=0.3)).root_cause
    assert root is not None and root.kind == "propagation-updated-weights"
    assert "W - 0.3 dW" in root.message
    summed = Net(0.3, summed=True).train
    assert diagnose_mlp(SPEC, from_update(summed, SPEC, lr=0.3, reduction="sum")).ok
    diagnosis = diagnose_mlp(SPEC, from_update(summed, SPEC, lr=0.3))
    assert diagnosis.ok and "the loss is summed over the batch" in str(diagnosis)


def test_returned_new_params_are_read_too() -> None:
    def step(params: list[Any], X: Any, y: Any) -> Any:
        value, grads = fn.value_and_grad(
            SPEC, [{"W": w, "b": b} for w, b in zip(params[0::2], params[1::2], strict=True)], X, y
        )
        flat = [t for g in grads for t in (g["W"], g["b"])]
        return value, [p - 0.1 * g for p, g in zip(params, flat, strict=True)]

    assert diagnose_mlp(SPEC, from_update(step, SPEC, lr=0.1)).ok


def test_every_gradient_transposed_names_the_layout_to_use() -> None:
    def transposed(params: list[Any], X: Any, Y: Any) -> Any:
        cost, grads = textbook.TextbookMLP(fixed=True).forward_backward(params, X, Y)
        return cost, [g.T if i % 2 == 0 else g for i, g in enumerate(grads)]

    vag = from_batch(transposed, textbook.SPEC, COURSE)
    params = fn.init(textbook.SPEC, np.random.default_rng(0))
    with pytest.raises(
        InvalidArgumentError,
        match=r"grads: dW1 has shape \(8, 6\), expected "
        r"\(6, 8\) .*transpose: weights='in_out'\?",
    ):
        vag(params, np.zeros((2, 8)), np.array([0, 1]))


def test_one_gradient_transposed_in_a_non_square_layer_is_a_named_mistake() -> None:
    def transposed(params: list[Any], X: Any, Y: Any) -> Any:
        cost, grads = textbook.TextbookMLP(fixed=True).forward_backward(params, X, Y)
        return cost, [grads[0].T, *grads[1:]]

    diagnosis = diagnose_mlp(textbook.SPEC, from_batch(transposed, textbook.SPEC, COURSE))
    root = diagnosis.root_cause
    assert root is not None, str(diagnosis)
    assert (root.step, root.kind) == ("layer 1 weight gradient", "weight-transposed")
    assert root.message.startswith("is stored transposed, (6, 8) where (8, 6) belongs")
    assert len(diagnosis.wrong) == 1, str(diagnosis)
    assert [t.status for t in diagnosis.tensors].count("wrong") == 1


@pytest.mark.parametrize(
    ("grads", "message"),
    [
        ([np.zeros((6, 4))], r"grads: got 1 tensors, expected 4: \[dW1, db1, dW2, db2\]"),
        (np.zeros(3), r"grads: expected a sequence .*got ndarray"),
        ("dW", r"grads: expected a sequence \[dW1, db1, dW2, db2\]"),
        (
            [np.zeros((6, 4)), np.zeros(6), np.zeros((3, 6)), np.zeros((3, 1))],
            r"grads: db1 has shape \(6,\), expected \(6, 1\) .*different bias layout",
        ),
    ],
)
def test_shapes_that_do_not_fit_the_layout_are_named(grads: Any, message: str) -> None:
    vag = from_batch(lambda p, x, y: (0.0, grads), SPEC, COURSE)
    params = fn.init(SPEC, np.random.default_rng(0))
    with pytest.raises(InvalidArgumentError, match=message):
        vag(params, np.zeros((2, 4)), np.array([0, 1]))


def test_bad_layouts_and_options_are_named() -> None:
    with pytest.raises(
        InvalidArgumentError, match=r"weights: expected one of \('in_out', 'out_in'\)"
    ):
        Layout(weights="columns")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="reduction: expected 'mean' or 'sum'"):
        from_batch(lambda p, x, y: (0.0, p), SPEC, reduction="average")
    with pytest.raises(InvalidArgumentError, match="lr: expected a positive number"):
        from_update(Net(0.1).train, SPEC, lr=0)
    vag = from_batch(lambda p, x, y: (np.zeros(2), p), SPEC)
    with pytest.raises(InvalidArgumentError, match="loss: expected one number"):
        vag(fn.init(SPEC, np.random.default_rng(0)), np.zeros((2, 4)), np.array([0, 1]))


# The XOR notebook: sigmoid output unit, mean squared error, the update inside backward
# (the output weights updated before they are used: the bug the issue found).
def xor_train(params: list[Any], X: Any, Y: Any, early: bool) -> float:
    W1, b1, W2, b2 = params
    lr = 0.5
    hidden = sigmoid(X @ W1 + b1)
    out = sigmoid(hidden @ W2 + b2)
    error = out - Y
    d_out = 2 * error * out * (1 - out) / error.size
    if early:
        W2 -= lr * hidden.T @ d_out
    d_hidden = (d_out @ W2.T) * hidden * (1 - hidden)
    if not early:
        W2 -= lr * hidden.T @ d_out
    b2 -= lr * d_out.sum(axis=0)
    W1 -= lr * X.T @ d_hidden
    b1 -= lr * d_hidden.sum(axis=0)
    return float(np.mean(error**2))


def test_a_loss_of_your_own_sigmoid_output_with_mse() -> None:
    spec = fn.MLP((2, 3, 1), "sigmoid")
    layout = Layout(targets="one_hot")
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [0.5, 0.2]], dtype=np.float64)
    right = from_update(lambda p, x, y: xor_train(p, x, y, False), spec, layout, lr=0.5)
    assert diagnose_mlp(spec, right, xor.SIGMOID_MSE, x=x).ok
    early = from_update(lambda p, x, y: xor_train(p, x, y, True), spec, layout, lr=0.5)
    root = diagnose_mlp(spec, early, xor.SIGMOID_MSE, x=x).root_cause
    assert root is not None and root.kind == "propagation-updated-weights"


def test_layouts_compose_bias_trick_last_with_out_in_columns() -> None:
    def augmented(params: list[dict[str, Any]], X: Any, Y: Any) -> Any:
        W1, W2 = params[0]["W"], params[1]["W"]  # (out, in + 1), the bias last
        m = X.shape[1]  # X is (n_in + 1, m) with a row of ones last
        A1 = sigmoid(W1 @ X)
        H = np.vstack([A1, np.ones((1, m))])
        P = softmax_columns(W2 @ H)
        D2 = (P - Y) / m
        D1 = (W2[:, :-1].T @ D2) * A1 * (1 - A1)
        return -np.sum(Y * np.log(P)) / m, [{"W": D1 @ X.T}, {"W": D2 @ H.T}]

    layout = Layout(
        weights="out_in", bias="last", data="columns", targets="one_hot", params="layers"
    )
    assert diagnose_mlp(SPEC, from_batch(augmented, SPEC, layout)).ok
    first = Layout(
        weights="out_in", bias="first", data="columns", targets="one_hot", params="layers"
    )
    assert not diagnose_mlp(SPEC, from_batch(augmented, SPEC, first)).ok
