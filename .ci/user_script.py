"""A user's own script: CI copies it out of the repository and runs mypy --strict on it.

It checks that the README's install command gives code outside the repository funcnn's
types (setuptools' default editable install hides the package from type checkers). Every
function returns a value computed by funcnn, so with funcnn untyped (``Any``) mypy
--strict fails here too ("Returning Any from function declared to return ...").
"""

from __future__ import annotations

import numpy as np

import funcnn as fn


def train(seed: int) -> tuple[fn.MLP, fn.Params, fn.History]:
    """Two epochs of plain SGD on random data."""
    rng = np.random.default_rng(seed)
    x = rng.random((64, 4))
    y = rng.integers(0, 3, 64)
    spec = fn.MLP((4, 8, 3), activation="tanh")
    params = fn.init(spec, rng)
    params, _, history = fn.fit(spec, params, fn.sgd(0.1), x, y, epochs=2, batch_size=16, rng=rng)
    return spec, params, history


def last_loss(history: fn.History) -> float:
    return history.epoch_train_loss[-1]


def training_accuracy(spec: fn.MLP, params: fn.Params, seed: int) -> float:
    rng = np.random.default_rng(seed)
    x = rng.random((16, 4))
    return fn.accuracy(rng.integers(0, 3, 16), fn.predict(spec, params, x))


def gradient_norm(spec: fn.MLP, params: fn.Params) -> float:
    x, y = np.ones((2, 4)), np.array([0, 2])
    _, grads = fn.value_and_grad(spec, params, x, y)
    return float(np.sqrt(sum(float(np.sum(g * g)) for g in fn.tree_leaves(grads))))


if __name__ == "__main__":
    spec, params, history = train(0)
    print(
        f"loss {last_loss(history):.3f}, accuracy {training_accuracy(spec, params, 1):.2f}, "
        f"|grad| {gradient_norm(spec, params):.3f}"
    )
