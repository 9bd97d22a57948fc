"""MNIST, the best MLP recipe for about two minutes of training on a 2-core CPU.

Everything the classic setups left out, together: a wide 784-1024-1024-10 ReLU
network with He-normal init, inputs scaled to [0, 1], SGD (batch 128) with Nesterov
momentum 0.9 and decoupled weight decay 5e-4, a cosine learning-rate schedule from 0.05
to 0 over the 15 epochs, training digits shifted at random by up to 2 pixels each epoch
(``--shift``; the one addition that is about the data rather than the optimiser: without
it the same run gives 98.19%), and early stopping on a validation split of 10,000
training digits (train on the other 50,000, keep the parameters of the best validation
epoch, stop after ``--patience`` epochs without a new best). The test set is touched
once, at the end, with the chosen parameters.

Run ``python -m examples.mnist_best_recipe`` (``--help`` for the flags). It prints the
validation accuracy and loss of every epoch, which epoch was kept, and the test
accuracy and classification report; writes loss/accuracy curves (train and
validation), the test confusion matrix, the most confidently misclassified test digits
and the first layer's weights as PNGs into ``--out``. Readable as notebook cells
(``# %%``).
"""

# %%
from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

import funcnn as fn
from examples.mnist_common import MnistData, base_parser, load_data, report

# %% The recipe.
HIDDEN = (1024, 1024)
INIT = "he_normal"
LR = 0.05
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
BATCH = 128
EPOCHS = 15
PATIENCE = 4
SHIFT = 2  # training digits move by up to this many pixels, anew every epoch
N_VALIDATION = 10_000
TARGET_TEST_ACCURACY = 0.983


# %%
@dataclass(frozen=True)
class Result:
    """The kept epoch, its validation and test accuracy, the run's history and time."""

    best_epoch: int
    best_validation_accuracy: float
    test_accuracy: float
    epochs_run: int
    history: fn.History  # its "test" entries are the validation split's
    train_seconds: float
    classification: fn.ClassificationReport
    plots: tuple[Path, ...]


# %%
def shift_digits(
    x: NDArray[np.floating], rng: np.random.Generator, max_shift: int
) -> NDArray[np.floating]:
    """Each ``(784,)`` row of ``x`` as a 28 x 28 image moved by a random whole-pixel offset.

    Offsets ``(dy, dx)`` are drawn uniformly from ``[-max_shift, max_shift]`` per image
    (advancing ``rng``); the pixels moved in from outside are 0 (background after scaling
    to [0, 1]). Returns a new ``(N, 784)`` array of ``x``'s dtype; ``max_shift=0`` copies.
    """
    n, m = x.shape[0], max_shift
    images = x.reshape(n, 28, 28)
    padded = np.pad(images, ((0, 0), (m, m), (m, m)))
    dy, dx = rng.integers(-m, m + 1, size=(2, n))
    out = np.empty_like(images)
    # One slice per offset rather than per image: (2m + 1)^2 vectorised copies.
    for oy in range(-m, m + 1):
        for ox in range(-m, m + 1):
            rows = np.flatnonzero((dy == oy) & (dx == ox))
            out[rows] = padded[rows, m - oy : m - oy + 28, m - ox : m - ox + 28]
    return out.reshape(n, 784)


# %%
def _parser() -> argparse.ArgumentParser:
    parser = base_parser(__doc__.splitlines()[0], name="mnist_best_recipe", epochs=EPOCHS)
    parser.add_argument("--hidden", type=int, nargs="+", default=list(HIDDEN))
    parser.add_argument("--lr", type=float, default=LR, help="peak learning rate (cosine)")
    parser.add_argument("--momentum", type=float, default=MOMENTUM)
    parser.add_argument("--weight-decay", type=float, default=WEIGHT_DECAY)
    parser.add_argument("--batch-size", type=int, default=BATCH)
    parser.add_argument("--patience", type=int, default=PATIENCE)
    parser.add_argument(
        "--shift", type=int, default=SHIFT, help="max pixels a training digit moves (0: none)"
    )
    parser.add_argument("--validation", type=int, default=N_VALIDATION, help="held-out digits")
    return parser


def _train_with_early_stopping(
    spec: fn.MLP,
    params: fn.Params,
    optimizer: fn.Optimizer,
    fit_set: tuple[NDArray[np.float32], NDArray[np.integer[Any]]],
    val_set: tuple[NDArray[np.float32], NDArray[np.integer[Any]]],
    batch: int,
    rng: np.random.Generator,
    args: argparse.Namespace,
) -> tuple[fn.Params, int, float, fn.History, float]:
    """``(best params, best epoch, its validation accuracy, history, seconds)``."""
    x_fit, y_fit = fit_set
    x_val, y_val = val_set
    # One epoch per fit call, resuming exactly (opt_state, history, rng), so the run can
    # stop early and keep the best epoch's parameters.
    opt_state = optimizer.init(params)
    history = fn.History()
    best_params, best_epoch, best_acc = params, 0, -1.0
    started = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        # Fresh random shifts every epoch: the network never sees the same image twice.
        x_epoch = shift_digits(x_fit, rng, args.shift) if args.shift else x_fit
        params, opt_state, history = fn.fit(
            spec,
            params,
            optimizer,
            x_epoch,
            y_fit,
            epochs=1,
            batch_size=batch,
            rng=rng,
            x_test=x_val,
            y_test=y_val,
            opt_state=opt_state,
            history=history,
        )
        val_acc = history.epoch_test_accuracy[-1]
        improved = val_acc > best_acc
        if improved:
            best_params, best_epoch, best_acc = params, epoch, val_acc
        print(
            f"epoch {epoch:2d}/{args.epochs}  train loss {history.epoch_train_loss[-1]:.4f}  "
            f"val loss {history.epoch_test_loss[-1]:.4f}  val acc {val_acc:.4f}"
            f"{'  *' if improved else ''}  ({time.perf_counter() - started:.0f} s)"
        )
        if epoch - best_epoch >= args.patience:
            print(f"no better validation accuracy for {args.patience} epochs: stopping")
            break
    seconds = time.perf_counter() - started
    return best_params, best_epoch, best_acc, history, seconds


def main(argv: Sequence[str] | None = None) -> Result:
    """Train with early stopping, print progress and the test result; return them."""
    args = _parser().parse_args(argv)

    data = load_data(args.limit, args.test_limit, preprocess="scale")
    rng = np.random.default_rng(args.seed)
    # A small --limit gets a proportionally small validation split.
    n_val = min(args.validation, max(1, len(data.y_train) // 5))
    (x_fit, y_fit), (x_val, y_val) = fn.train_validation_split(
        data.x_train, data.y_train, rng, n_validation=n_val
    )
    spec = fn.MLP((784, *args.hidden, 10), activation="relu")
    params = fn.init(spec, rng, scheme=INIT, dtype=np.float32)
    batch = min(args.batch_size, len(y_fit))
    steps_per_epoch = -(-len(y_fit) // batch)
    optimizer = fn.sgd(
        fn.Cosine(args.lr, total_steps=args.epochs * steps_per_epoch),
        momentum=args.momentum,
        nesterov=True,
        weight_decay=args.weight_decay,
    )
    print(
        f"{spec.sizes} ReLU, {spec.n_params:,} parameters; training on {len(y_fit):,}, "
        f"validating on {len(y_val):,}"
    )

    best_params, best_epoch, best_acc, history, seconds = _train_with_early_stopping(
        spec, params, optimizer, (x_fit, y_fit), (x_val, y_val), batch, rng, args
    )

    test_data = MnistData(x_fit, y_fit, data.x_test, data.y_test, data.images_test)
    rep = report(
        spec,
        best_params,
        test_data,
        history,
        args.out,
        title="best recipe (curves: train and validation)",
        plot_set=args.plots,
        test_label="validation",
    )
    print(f"kept epoch {best_epoch} (validation accuracy {best_acc:.2%})")
    print(rep.classification)
    print(
        f"test accuracy {rep.accuracy:.2%} (aim {TARGET_TEST_ACCURACY:.1%}); "
        f"{history.epochs} epochs in {seconds:.1f} s"
    )
    return Result(
        best_epoch=best_epoch,
        best_validation_accuracy=best_acc,
        test_accuracy=rep.accuracy,
        epochs_run=history.epochs,
        history=history,
        train_seconds=seconds,
        classification=rep.classification,
        plots=rep.plots,
    )


if __name__ == "__main__":
    main()
