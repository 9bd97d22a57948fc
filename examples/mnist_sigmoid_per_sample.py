"""MNIST with a 784-32-32-10 sigmoid network trained one sample at a time (batch 1, no shuffle).

The textbook assignment: two small sigmoid hidden layers, weights drawn from
N(0, 1 / max(n_in, n_out)) and biases 0, inputs scaled to [0, 1], plain per-sample SGD
(batch 1, the training set in its stored order, no shuffling) with lr 0.003 for 3 epochs.
The test accuracy is printed before training (chance, about 10%) and after each epoch;
the assignment expects about 85% after 3 epochs.

The network ends in 10 logits scored by the fused softmax cross-entropy (``--loss``
picks another funcnn loss, e.g. ``binary_cross_entropy`` for ten sigmoid outputs or
``mse`` on one-hot targets, for comparison). Per-sample SGD is 180,000 updates of a
tiny network, so it measures the training loop's per-step overhead rather than BLAS.

Run ``python -m examples.mnist_sigmoid_per_sample`` (``--help`` for the flags). Writes
loss/accuracy curves, the confusion matrix, misclassified digits and first-layer
weights as PNGs into ``--out``. Readable as notebook cells (``# %%``).
"""

# %%
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import funcnn as fn
from examples.mnist_common import base_parser, evaluate_accuracy, load_data, report

# %% The setup of the assignment.
SIZES = (784, 32, 32, 10)
INIT = "inverse_max_fan_normal"  # W ~ N(0, 1 / max(n_in, n_out)), b = 0
LR = 0.003
EPOCHS = 3
EXPECTED_TEST_ACCURACY = 0.85
# Losses whose targets are one-hot rows rather than integer labels.
ONE_HOT_LOSSES = ("mse", "binary_cross_entropy", "softmax_binary_cross_entropy")


# %%
@dataclass(frozen=True)
class Result:
    """Test accuracy before training and after each epoch, time per epoch, plots."""

    initial_test_accuracy: float
    test_accuracy: tuple[float, ...]  # after each epoch
    final_test_accuracy: float
    history: fn.History
    train_seconds: float
    plots: tuple[Path, ...]


# %%
def main(argv: Sequence[str] | None = None) -> Result:
    """Train per sample, print the test accuracy before and after each epoch; return it."""
    parser = base_parser(__doc__.splitlines()[0], name="mnist_sigmoid_per_sample", epochs=EPOCHS)
    parser.add_argument("--lr", type=float, default=LR)
    parser.add_argument("--loss", choices=sorted(fn.LOSSES), default="softmax_cross_entropy")
    args = parser.parse_args(argv)

    data = load_data(args.limit, args.test_limit, preprocess="scale")
    spec = fn.MLP(SIZES, activation="sigmoid")
    params = fn.init(spec, np.random.default_rng(args.seed), scheme=INIT, dtype=np.float32)
    initial = evaluate_accuracy(spec, params, data)
    print(f"before training  test acc {initial:.4f}")

    one_hot = args.loss in ONE_HOT_LOSSES
    y_train = fn.one_hot(data.y_train, dtype=np.float32) if one_hot else data.y_train
    y_test = fn.one_hot(data.y_test, dtype=np.float32) if one_hot else data.y_test

    def on_epoch(event: fn.BatchEnd | fn.EpochEnd) -> None:
        if isinstance(event, fn.EpochEnd):
            h = event.history
            print(
                f"epoch {event.epoch}/{event.last_epoch}  test acc {h.epoch_test_accuracy[-1]:.4f}"
                f"  train loss {h.epoch_train_loss[-1]:.4f}  ({h.epoch_time[-1]:.1f} s)"
            )

    started = time.perf_counter()
    params, _, history = fn.fit(
        spec,
        params,
        fn.sgd(args.lr),
        data.x_train,
        y_train,
        loss=args.loss,
        epochs=args.epochs,
        batch_size=1,
        rng=None,
        shuffle=False,  # the assignment walks the training set in its stored order
        x_test=data.x_test,
        y_test=y_test,
        callback=on_epoch,
        callback_every=10**9,  # epoch events only
    )
    seconds = time.perf_counter() - started
    title = "784-32-32-10 sigmoid, per sample"
    rep = report(spec, params, data, history, args.out, title=title, plot_set=args.plots)
    print(
        f"test accuracy {rep.accuracy:.2%} (assignment expects about "
        f"{EXPECTED_TEST_ACCURACY:.0%}); {args.epochs} epochs in {seconds:.1f} s"
    )
    return Result(
        initial_test_accuracy=initial,
        test_accuracy=history.epoch_test_accuracy,
        final_test_accuracy=rep.accuracy,
        history=history,
        train_seconds=seconds,
        plots=rep.plots,
    )


if __name__ == "__main__":
    main()
