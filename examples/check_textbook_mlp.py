"""Check a from-scratch numpy MLP written elsewhere, and get the wrong lines named.

:class:`TextbookMLP` is the kind of network a course notebook builds by hand: weights
stored ``(out, in)``, data as columns ``(features, samples)``, biases as ``(n, 1)``
columns, one-hot targets, two sigmoid hidden layers and a softmax output. Its backward
pass has four wrong lines, of the kind that keep such a notebook at chance accuracy;
each is marked ``# BUG``. Three lines of glue (a :class:`verification.external.adapters.Layout`,
an adapter, :func:`verification.diagnose_mlp`) check it against funcnn's definitions
and print the diagnosis: the root cause first, the other wrong steps, and which
gradients are wrong only because of an earlier step. With ``fixed=True`` the same class
has the four lines corrected and the diagnosis finds nothing.

Run ``python -m examples.check_textbook_mlp``. Readable as notebook cells (``# %%``).
"""

# %%
from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

import funcnn as fn
from verification import Diagnosis, diagnose_mlp
from verification.external.adapters import Layout, from_batch

Array = NDArray[np.float64]


# %% The notebook's network, as it was written (sigmoid hidden layers, softmax output).
def sigmoid(z: Array) -> Array:
    out: Array = 1 / (1 + np.exp(-z))
    return out


def sigmoid_prime(z: Array) -> Array:
    out: Array = sigmoid(z) * (1 - sigmoid(z))
    return out


def softmax(z: Array) -> Array:
    e = np.exp(z - z.max(axis=0, keepdims=True))
    out: Array = e / e.sum(axis=0, keepdims=True)
    return out


class TextbookMLP:
    """``forward_backward(params, X, Y)`` with ``params = [W1, b1, W2, b2, W3, b3]``."""

    def __init__(self, fixed: bool = False) -> None:
        self.fixed = fixed

    def forward_backward(self, params: list[Array], X: Array, Y: Array) -> Any:
        W1, b1, W2, b2, W3, b3 = params
        m = X.shape[1]
        Z1 = W1 @ X + b1
        A1 = sigmoid(Z1)
        Z2 = W2 @ A1 + b2
        A2 = sigmoid(Z2)
        Z3 = W3 @ A2 + b3
        A3 = softmax(Z3)
        cost = -np.sum(Y * np.log(A3)) / m
        dZ3 = A3 - Y
        dW3 = dZ3 @ A2.T / m
        db3 = np.sum(dZ3, axis=1, keepdims=True)  # BUG: no / m
        dZ2 = (W3.T @ dZ3) * sigmoid_prime(A2)  # BUG: the derivative at A2, not Z2
        dW2 = dZ2 @ Z1.T / m  # BUG: Z1 where A1 belongs
        db2 = np.sum(dZ2, axis=1, keepdims=True) / m
        dZ1 = (W2.T @ dZ2) * Z1 * (1 - Z1)  # BUG: sigmoid'(z) written as z (1 - z)
        dW1 = dZ1 @ X.T / m
        db1 = np.sum(dZ1, axis=1, keepdims=True) / m
        if self.fixed:
            db3 = db3 / m
            dZ2 = (W3.T @ dZ3) * sigmoid_prime(Z2)
            dW2 = dZ2 @ A1.T / m
            db2 = np.sum(dZ2, axis=1, keepdims=True) / m
            dZ1 = (W2.T @ dZ2) * A1 * (1 - A1)
            dW1 = dZ1 @ X.T / m
            db1 = np.sum(dZ1, axis=1, keepdims=True) / m
        return cost, [dW1, db1, dW2, db2, dW3, db3]


# %% The glue: the notebook's layout, an adapter, the diagnosis.
SPEC = fn.MLP((8, 6, 5, 4), "sigmoid")
LAYOUT = Layout(weights="out_in", bias="column", data="columns", targets="one_hot")


def check(fixed: bool = False) -> Diagnosis:
    """The diagnosis of :class:`TextbookMLP` (fixed or as written)."""
    value_and_grad = from_batch(TextbookMLP(fixed).forward_backward, SPEC, LAYOUT)
    return diagnose_mlp(SPEC, value_and_grad, "softmax_cross_entropy", name="TextbookMLP")


# %%
def main(argv: Sequence[str] | None = None) -> tuple[Diagnosis, Diagnosis]:
    """Print the diagnosis of the notebook as written, then of the fixed one."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    as_written, fixed = check(), check(fixed=True)
    print(as_written)
    print()
    print(fixed)
    return as_written, fixed


if __name__ == "__main__":
    main()
