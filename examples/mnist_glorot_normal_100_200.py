"""MNIST with a 784-100-200-10 ReLU network: Glorot-normal init, SGD lr 0.05, batch 64, 32 epochs.

A widening two-hidden-layer ReLU network, weights drawn Glorot-normal
(N(0, 2 / (n_in + n_out))) and biases 0, inputs scaled to [0, 1], the fused softmax
cross-entropy, minibatch SGD (lr 0.05, batch 64, reshuffled every epoch) for 32 epochs.
The original printed the train accuracy after every epoch and the final test accuracy.

Run ``python -m examples.mnist_glorot_normal_100_200`` (``--help`` for the flags). It
prints, per epoch, the accuracy on the whole training set (evaluated after the epoch)
and on the test set, then the final test accuracy; writes loss/accuracy curves, the
confusion matrix, misclassified digits and first-layer weights as PNGs into ``--out``.
Readable as notebook cells (``# %%``).
"""

# %%
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import funcnn as fn
from examples.mnist_common import base_parser, load_data, report

# %% The setup.
SIZES = (784, 100, 200, 10)
INIT = "glorot_normal"
LR = 0.05
BATCH = 64
EPOCHS = 32


# %%
@dataclass(frozen=True)
class Result:
    """Per-epoch train and test accuracy, the final test accuracy, time, plots."""

    train_accuracy: tuple[float, ...]  # whole training set, after each epoch
    test_accuracy: tuple[float, ...]
    final_test_accuracy: float
    history: fn.History
    train_seconds: float
    plots: tuple[Path, ...]


# %%
def main(argv: Sequence[str] | None = None) -> Result:
    """Train, print train and test accuracy per epoch, write the plots; return them."""
    parser = base_parser(__doc__.splitlines()[0], name="mnist_glorot_normal_100_200", epochs=EPOCHS)
    parser.add_argument("--lr", type=float, default=LR)
    parser.add_argument("--batch-size", type=int, default=BATCH)
    args = parser.parse_args(argv)

    data = load_data(args.limit, args.test_limit, preprocess="scale")
    spec = fn.MLP(SIZES, activation="relu")
    rng = np.random.default_rng(args.seed)
    params = fn.init(spec, rng, scheme=INIT, dtype=np.float32)
    train_accuracy: list[float] = []

    def on_epoch(event: fn.BatchEnd | fn.EpochEnd) -> None:
        if isinstance(event, fn.EpochEnd):
            acc = fn.accuracy(data.y_train, fn.predict(spec, event.params, data.x_train))
            train_accuracy.append(acc)
            h = event.history
            print(
                f"epoch {event.epoch:2d}/{event.last_epoch}  train acc {acc:.4f}  "
                f"test acc {h.epoch_test_accuracy[-1]:.4f}  "
                f"train loss {h.epoch_train_loss[-1]:.4f}  ({h.epoch_time[-1]:.1f} s)"
            )

    started = time.perf_counter()
    params, _, history = fn.fit(
        spec,
        params,
        fn.sgd(args.lr),
        data.x_train,
        data.y_train,
        epochs=args.epochs,
        batch_size=min(args.batch_size, len(data.y_train)),
        rng=rng,
        x_test=data.x_test,
        y_test=data.y_test,
        callback=on_epoch,
        callback_every=10**9,  # epoch events only
    )
    seconds = time.perf_counter() - started
    title = "784-100-200-10 ReLU, Glorot normal"
    rep = report(spec, params, data, history, args.out, title=title, plot_set=args.plots)
    print(f"test accuracy {rep.accuracy:.2%}; {args.epochs} epochs in {seconds:.1f} s")
    return Result(
        train_accuracy=tuple(train_accuracy),
        test_accuracy=history.epoch_test_accuracy,
        final_test_accuracy=rep.accuracy,
        history=history,
        train_seconds=seconds,
        plots=rep.plots,
    )


if __name__ == "__main__":
    main()
