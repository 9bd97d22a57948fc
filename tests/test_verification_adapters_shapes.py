"""Code as people write it, checked with at most three lines of glue: module-level
globals, a class keeping ``self.weights``/``self.biases``, a network without biases, a
function that returns only gradients, the update fused into the training step."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import funcnn as fn
from verification import diagnose_mlp
from verification.external.adapters import Layout, bound, from_batch, from_per_sample, from_update
from verification.external.heads import head

QUADRATIC = head("sigmoid", "squared", outputs="sum", half=True)


def sigmoid(z: Any) -> Any:
    return 1 / (1 + np.exp(-z))


# A 2-2-1 XOR network without biases, its weights module globals, updated in the step.
W1: Any = None
W2: Any = None


def xor_step(X: Any, y: Any, early: bool = False, lr: float = 0.5) -> float:
    global W1, W2
    h = sigmoid(X @ W1)
    out = sigmoid(h @ W2)
    d2 = (out - y) * out * (1 - out) / len(X)
    if early:  # the bug: W2 updated before backprop reads it
        W2 -= lr * h.T @ d2
    d1 = (d2 @ W2.T) * h * (1 - h)
    if not early:
        W2 -= lr * h.T @ d2
    W1 -= lr * X.T @ d1
    return float(0.5 * np.sum((out - y) ** 2) / len(X))


XOR = fn.MLP((2, 2, 1), "sigmoid")


def test_a_network_without_biases_has_no_bias_findings() -> None:
    step = bound(xor_step, globals(), "W1 W2", updates=True)
    diagnosis = diagnose_mlp(XOR, from_update(step, XOR, Layout(bias="none"), lr=0.5), QUADRATIC)
    assert diagnosis.ok, str(diagnosis)
    assert [t.tensor for t in diagnosis.tensors] == ["params[0]['W']", "params[1]['W']"]
    assert "bias" not in str(diagnosis) and "all zeros" not in str(diagnosis)


def test_its_real_bug_is_named() -> None:
    step = bound(lambda X, y: xor_step(X, y, early=True), globals(), "W1 W2", updates=True)
    diagnosis = diagnose_mlp(XOR, from_update(step, XOR, Layout(bias="none"), lr=0.5), QUADRATIC)
    root = diagnosis.root_cause
    assert root is not None, str(diagnosis)
    assert (root.step, root.kind) == ("layer 1 delta", "propagation-updated-weights")
    assert "W - 0.5 dW" in root.message
    assert "all zeros" not in str(diagnosis)


class Network:
    """A textbook class: ``self.weights``/``self.biases`` (out, in) and (n, 1), one
    column sample at a time, a sigmoid output and the quadratic cost, no loss value."""

    def __init__(self, sizes: list[int], wrong: bool = False) -> None:
        self.sizes, self.wrong = sizes, wrong
        self.weights: list[Any] = []
        self.biases: list[Any] = []

    def backprop(self, x: Any, y: Any) -> tuple[list[Any], list[Any]]:
        activation, activations, zs = x, [x], []
        for b, w in zip(self.biases, self.weights, strict=True):
            zs.append(w @ activation + b)
            activation = sigmoid(zs[-1])
            activations.append(activation)
        delta = (activations[-1] - y) * sigmoid(zs[-1]) * (1 - sigmoid(zs[-1]))
        nabla_b, nabla_w = [delta], [delta @ activations[-2].T]
        for layer in range(2, len(self.sizes)):
            s = sigmoid(zs[-layer])
            # the bug: the derivative of the layer above (here the output layer)
            prime = sigmoid(zs[-layer + 1]) * (1 - sigmoid(zs[-layer + 1])) if self.wrong else (
                s * (1 - s))
            delta = (self.weights[-layer + 1].T @ delta) * prime
            nabla_b.insert(0, delta)
            nabla_w.insert(0, delta @ activations[-layer - 1].T)
        return nabla_b, nabla_w


COLUMNS = Layout(weights="out_in", bias="column", data="columns", targets="one_hot",
                 params="biases_weights")


def test_a_class_with_weights_and_biases_lists_and_no_loss() -> None:
    spec = fn.MLP((3, 4, 1), "sigmoid")
    net = Network([3, 4, 1])
    vag = from_per_sample(bound(net.backprop, net, "biases weights"), spec, COLUMNS, loss=False)
    diagnosis = diagnose_mlp(spec, vag, QUADRATIC)
    assert diagnosis.ok, str(diagnosis)
    assert "NOT CHECKED loss value" in str(diagnosis)


def test_gradient_only_batch_code_checks_every_gradient() -> None:
    spec = fn.MLP((4, 5, 3), "tanh")

    def grads_only(params: Any, x: Any, y: Any) -> Any:
        layers = [{"W": params[0], "b": params[1]}, {"W": params[2], "b": params[3]}]
        g = fn.value_and_grad(spec, layers, x, y)[1]
        return [g[0]["W"], g[0]["b"], 2 * g[1]["W"], 2 * g[1]["b"]]

    root = diagnose_mlp(spec, from_batch(grads_only, spec, loss=False)).root_cause
    assert root is not None and root.step == "output delta", root


class MiniBatchNetwork(Network):
    """The same class with the textbook's training step: a mini-batch of (x, y) column
    pairs, the gradients summed by backprop over the pairs, the weights rebound."""

    def __init__(self, sizes: list[int], in_loop: bool = False) -> None:
        super().__init__(sizes)
        self.in_loop = in_loop

    def update_mini_batch(self, mini_batch: list[tuple[Any, Any]], eta: float) -> None:
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in mini_batch:
            delta_b, delta_w = self.backprop(x, y)
            nabla_b = [nb + dnb for nb, dnb in zip(nabla_b, delta_b, strict=True)]
            nabla_w = [nw + dnw for nw, dnw in zip(nabla_w, delta_w, strict=True)]
            if self.in_loop:  # the update indented into the loop over the samples
                self.weights = [w - eta / len(mini_batch) * d for w, d in
                                zip(self.weights, delta_w, strict=True)]
                self.biases = [b - eta / len(mini_batch) * d for b, d in
                               zip(self.biases, delta_b, strict=True)]
        if not self.in_loop:
            self.weights = [w - eta / len(mini_batch) * nw
                            for w, nw in zip(self.weights, nabla_w, strict=True)]
            self.biases = [b - eta / len(mini_batch) * nb
                           for b, nb in zip(self.biases, nabla_b, strict=True)]


@pytest.mark.parametrize(("in_loop", "kind"), [(False, None), (True, "update-per-sample")])
def test_a_textbook_mini_batch_step_of_pairs(in_loop: bool, kind: str | None) -> None:
    spec = fn.MLP((3, 4, 2), "sigmoid")
    net = MiniBatchNetwork([3, 4, 2], in_loop=in_loop)
    step = bound(lambda batch, _: net.update_mini_batch(batch, 3.0), net, "biases weights",
                 updates=True)
    pairs = Layout("out_in", "column", "pairs", "one_hot", params="biases_weights")
    diagnosis = diagnose_mlp(spec, from_update(step, spec, pairs, lr=3.0), QUADRATIC)
    root = diagnosis.root_cause
    assert (root and root.kind) == kind, str(diagnosis)
