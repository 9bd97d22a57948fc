"""XOR with a 2-3-1 sigmoid network, mean squared error and full-batch gradient descent.

The smallest network that needs a hidden layer. Run ``python -m examples.xor``; it
prints the loss as it falls and the four predictions, which must land on the right
side of 0.5, and writes the loss curve as ``loss.png`` into ``--out`` (default
``runs/xor``). Readable as notebook cells (``# %%``).
"""

# %%
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

import funcnn as fn
from funcnn import plots

# %% The four points of XOR and their targets, as float64 (B, 2) inputs and (B, 1) targets.
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
Y = np.array([[0], [1], [1], [0]], dtype=np.float64)


# %%
def train_xor(
    epochs: int = 3000, lr: float = 0.5, seed: int = 0, log_every: int = 500
) -> tuple[fn.Params, list[float]]:
    """Full-batch gradient descent on XOR; returns the params and the loss per epoch."""
    spec = fn.MLP((2, 3, 1), activation="sigmoid")
    params = fn.init(spec, np.random.default_rng(seed), scheme="glorot_normal")
    losses = []
    for epoch in range(epochs):
        value, grads = fn.value_and_grad(spec, params, X, Y, loss="mse")
        params = fn.sgd_step(params, grads, lr)
        losses.append(value)
        if log_every and epoch % log_every == 0:
            print(f"epoch {epoch:5d}  mse {value:.6f}")
    return params, losses


# %%
def main(argv: Sequence[str] | None = None) -> np.ndarray:
    """Train, print the four predictions and return them, shape (4,)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3000)
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs", "xor"), help="PNG directory")
    args = parser.parse_args(argv)
    params, losses = train_xor(args.epochs, args.lr, args.seed)
    predictions = fn.apply(fn.MLP((2, 3, 1), activation="sigmoid"), params, X).ravel()
    for point, target, out in zip(X, Y.ravel(), predictions, strict=True):
        print(f"{point.astype(int)} -> {out:.4f} (target {int(target)})")
    try:
        written = plots.plot_loss_curves(
            args.out / "loss.png", epoch_train_loss=losses, title="XOR 2-3-1 sigmoid, MSE"
        )
        print(f"wrote {written}")
    except plots.PlotDependencyError:
        # matplotlib is an optional extra; the demo itself needs only numpy and scipy.
        print("no loss.png: matplotlib is not installed (pip install 'funcnn[plot]')")
    return predictions


if __name__ == "__main__":
    main()
