"""XOR with a 2-3-1 sigmoid network, mean squared error and full-batch gradient descent.

The smallest network that needs a hidden layer: three sigmoid hidden units and one
sigmoid output unit, Glorot-normal init, mean squared error between the output and the
0/1 target, plain gradient descent on all four points at once (lr 1.0, 5,000 epochs).
funcnn's last layer is linear (it gives logits), so the output sigmoid lives in the loss,
as it does in ``binary_cross_entropy``: :data:`SIGMOID_MSE` is ``mean (sigmoid(z) - y)^2``
with its gradient written out, passed to ``fn.value_and_grad`` as a custom ``fn.Loss``.

Run ``python -m examples.xor``; it prints the loss as it falls and the four
predictions, which must land on the right side of 0.5, and writes the loss curve as
``loss.png`` into ``--out`` (default ``runs/xor``) when matplotlib is installed.
Readable as notebook cells (``# %%``).
"""

# %%
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

import funcnn as fn
from funcnn import plots

# %% The four points of XOR and their targets, as float64 (B, 2) inputs and (B, 1) targets.
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
Y = np.array([[0], [1], [1], [0]], dtype=np.float64)
SPEC = fn.MLP((2, 3, 1), activation="sigmoid")


# %% A sigmoid output unit scored by mean squared error.
def sigmoid_mse(
    z: NDArray[np.floating], y: NDArray[np.floating]
) -> tuple[float, NDArray[np.floating]]:
    """``mean((sigmoid(z) - y)^2)`` over all ``B * C`` entries and its gradient wrt ``z``.

    The chain rule through the output unit: ``2 (s - y) s (1 - s) / (B C)``, ``s = sigmoid(z)``.
    """
    s = fn.sigmoid(z)
    diff = s - y
    return float(np.mean(diff * diff)), 2 * diff * fn.sigmoid_derivative(z, s) / diff.size


SIGMOID_MSE = fn.Loss("sigmoid_mse", sigmoid_mse, "real")


# %%
def train_xor(
    epochs: int = 5000, lr: float = 1.0, seed: int = 0, log_every: int = 1000
) -> tuple[fn.Params, list[float]]:
    """Full-batch gradient descent on XOR; returns the params and the loss per epoch."""
    params = fn.init(SPEC, np.random.default_rng(seed), scheme="glorot_normal")
    losses = []
    for epoch in range(epochs):
        value, grads = fn.value_and_grad(SPEC, params, X, Y, loss=SIGMOID_MSE)
        params = fn.sgd_step(params, grads, lr)
        losses.append(value)
        if log_every and epoch % log_every == 0:
            print(f"epoch {epoch:5d}  mse {value:.6f}")
    return params, losses


def predict(params: fn.Params, x: NDArray[np.floating]) -> NDArray[np.floating]:
    """The output unit's activation, ``sigmoid(logit)``, one per row of ``x``: shape (B,)."""
    return fn.sigmoid(fn.apply(SPEC, params, x)).ravel()


# %%
def main(argv: Sequence[str] | None = None) -> NDArray[np.floating]:
    """Train, print the four predictions and return them, shape (4,)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5000)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs", "xor"), help="PNG directory")
    args = parser.parse_args(argv)
    params, losses = train_xor(args.epochs, args.lr, args.seed)
    predictions = predict(params, X)
    for point, target, out in zip(X, Y.ravel(), predictions, strict=True):
        print(f"{point.astype(int)} -> {out:.4f} (target {int(target)})")
    try:
        written = plots.plot_loss_curves(
            args.out / plots.PLOT_FILES["loss"],
            epoch_train_loss=losses,
            title=f"XOR 2-3-1 sigmoid, MSE, full-batch gradient descent lr {args.lr:g}",
        )
        print(f"wrote {written}")
    except plots.PlotDependencyError:
        # matplotlib is an optional extra; the demo itself needs only numpy and scipy.
        print("no loss.png: matplotlib is not installed (pip install 'funcnn[plot]')")
    return predictions


if __name__ == "__main__":
    main()
