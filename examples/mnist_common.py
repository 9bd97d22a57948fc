"""Shared plumbing of the MNIST examples: their flags, the prepared data and the report plots.

Every ``examples/mnist_*.py`` script takes the same core flags (``--epochs``, ``--seed``,
``--limit``, ``--test-limit``, ``--out``), loads MNIST the same way (flattened to
``(N, 784)`` float32 rows, scaled to [0, 1] or standardized) and writes the same kind of
evaluation plots; only the network, its initialisation and its training differ, and
those stay in the example itself.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

import funcnn as fn
from funcnn import plots

__all__ = [
    "PLOT_SETS",
    "MnistData",
    "PlotSet",
    "Report",
    "base_parser",
    "evaluate_accuracy",
    "load_data",
    "report",
]

Preprocess = Literal["scale", "standardize"]
PlotSet = Literal["all", "loss", "none"]
PLOT_SETS: tuple[PlotSet, ...] = ("all", "loss", "none")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def base_parser(description: str, *, name: str, epochs: int) -> argparse.ArgumentParser:
    """A parser with the flags every MNIST example shares.

    ``--epochs`` (default ``epochs``, the original setup's), ``--seed`` (default 0; seeds
    the initialisation and the shuffling), ``--limit N`` (train on the first ``N``
    training samples), ``--test-limit N`` (evaluate on the first ``N`` test samples),
    ``--out DIR`` (where the PNG plots go; default ``runs/NAME``, git-ignored), ``--plots``
    (``all``, the default; ``loss`` for the loss curves alone; ``none``): each figure
    takes matplotlib a good fraction of a second, which matters to the reduced runs of
    the tests.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--epochs", type=_positive_int, default=epochs)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--limit", type=_positive_int, default=None, help="train on the first N samples only"
    )
    parser.add_argument(
        "--test-limit", type=_positive_int, default=None, help="test on the first N samples only"
    )
    parser.add_argument("--out", type=Path, default=Path("runs", name), help="PNG directory")
    parser.add_argument("--plots", choices=PLOT_SETS, default="all", help="which PNGs to write")
    return parser


@dataclass(frozen=True)
class MnistData:
    """MNIST prepared for an MLP.

    ``x_train`` ``(N, 784)`` and ``x_test`` ``(M, 784)`` in ``dtype`` (float32 by
    default); ``y_train`` ``(N,)`` and ``y_test`` ``(M,)`` int64 digits; ``images_test``
    the raw uint8 test images ``(M, 28, 28)`` for drawing.
    """

    x_train: NDArray[np.floating]
    y_train: NDArray[np.int64]
    x_test: NDArray[np.floating]
    y_test: NDArray[np.int64]
    images_test: NDArray[np.uint8]


def load_data(
    limit: int | None = None,
    test_limit: int | None = None,
    *,
    preprocess: Preprocess = "scale",
    dtype: type[np.floating] = np.float32,
) -> MnistData:
    """MNIST from :func:`funcnn.load_mnist`, flattened and preprocessed, first samples only.

    ``preprocess="scale"`` maps pixels to [0, 1] (``x / 255``); ``"standardize"`` to
    ``(x / 255 - 0.1307) / 0.3081``. ``limit`` / ``test_limit`` keep the first samples
    of the training / test set (all when ``None``).
    """
    (x_train, y_train), (x_test, y_test) = fn.load_mnist()
    x_train, y_train = x_train[:limit], y_train[:limit]
    x_test, y_test = x_test[:test_limit], y_test[:test_limit]

    def prepare(images: NDArray[np.uint8]) -> NDArray[np.floating]:
        rows = fn.flatten(images)
        if preprocess == "scale":
            return fn.scale(rows, dtype)
        return fn.standardize(rows, dtype=dtype)

    return MnistData(
        x_train=prepare(x_train),
        y_train=y_train.astype(np.int64),
        x_test=prepare(x_test),
        y_test=y_test.astype(np.int64),
        images_test=x_test,
    )


def evaluate_accuracy(spec: fn.MLP, params: fn.Params, data: MnistData) -> float:
    """Fraction of the test set classified correctly, in [0, 1]."""
    return fn.accuracy(data.y_test, fn.predict(spec, params, data.x_test))


@dataclass(frozen=True)
class Report:
    """The evaluation of a trained network on the test set, and the plots drawn from it.

    ``confusion`` is ``(10, 10)`` int64 (rows true digits); ``plots`` the PNGs written.
    """

    accuracy: float
    confusion: NDArray[np.int64]
    classification: fn.ClassificationReport
    plots: tuple[Path, ...]


def report(
    spec: fn.MLP,
    params: fn.Params,
    data: MnistData,
    history: fn.History,
    out: Path,
    *,
    prefix: str = "",
    title: str | None = None,
    plot_set: PlotSet = "all",
    test_label: str = "test",
) -> Report:
    """Evaluate on the test set and write the PNGs into ``out`` (created if missing).

    ``test_label`` names the history's "test" curves (``"validation"`` when they are a
    validation split's, as in the best recipe); the confusion matrix and the
    misclassified digits are always the test set's.

    Writes, with the file names ``funcnn train`` uses (:data:`funcnn.plots.PLOT_FILES`),
    ``{prefix}loss.png`` (per-epoch train and test loss, plus the every-N-batches loss
    when the history has it) and, with ``plot_set="all"``, ``{prefix}accuracy.png``
    (per-epoch accuracy), ``{prefix}confusion_matrix.png``,
    ``{prefix}first_layer_weights.png`` (the first layer's receptive fields) and
    ``{prefix}misclassified.png`` (the 25 most confidently wrong test digits, when any is
    wrong); ``plot_set="none"`` writes nothing. ``title`` names the run in each. Without
    matplotlib (an optional extra) it says so and writes nothing.
    """
    logits = fn.apply(spec, params, data.x_test)
    y_pred = np.argmax(logits, axis=1)
    confusion = fn.confusion_matrix(data.y_test, y_pred, 10)
    written: list[Path] = []
    if plot_set != "none":
        try:
            written = _draw(
                spec,
                params,
                data,
                history,
                out,
                logits,
                confusion,
                prefix=prefix,
                title=title,
                plot_set=plot_set,
                test_label=test_label,
            )
            print(f"wrote {', '.join(p.name for p in written)} into {out}")
        except plots.PlotDependencyError:
            # matplotlib is an optional extra: the numbers matter more than the pictures.
            print("no plots: matplotlib is not installed (pip install 'funcnn[plot]')")
    return Report(
        accuracy=fn.accuracy(data.y_test, y_pred),
        confusion=confusion,
        classification=fn.classification_report(data.y_test, y_pred, 10),
        plots=tuple(written),
    )


def _draw(
    spec: fn.MLP,
    params: fn.Params,
    data: MnistData,
    history: fn.History,
    out: Path,
    logits: NDArray[np.floating],
    confusion: NDArray[np.int64],
    *,
    prefix: str,
    title: str | None,
    plot_set: PlotSet,
    test_label: str,
) -> list[Path]:
    """Write the PNGs :func:`report` describes; returns their paths."""
    name = {key: f"{prefix}{file}" for key, file in plots.PLOT_FILES.items()}
    written = [
        plots.plot_loss_curves(
            out / name["loss"],
            epoch_train_loss=history.epoch_train_loss,
            epoch_test_loss=history.epoch_test_loss,
            batch_losses=history.batch_losses,
            batch_interval=history.batch_interval,
            title=title,
            test_label=test_label,
        )
    ]
    if plot_set == "all":
        written += [
            plots.plot_accuracy_curves(
                out / name["accuracy"],
                epoch_train_accuracy=history.epoch_train_accuracy,
                epoch_test_accuracy=history.epoch_test_accuracy,
                title=title,
                test_label=test_label,
            ),
            plots.plot_confusion_matrix(out / name["confusion"], confusion, title=title),
            plots.plot_first_layer_weights(out / name["weights"], params[0]["W"], title=title),
        ]
        wrong = fn.top_misclassified(logits, data.y_test, 25, from_logits=True)
        if len(wrong):
            written.append(
                plots.plot_sample_grid(
                    out / name["misclassified"],
                    data.images_test[wrong.indices],
                    wrong.y_true,
                    wrong.y_pred,
                    title=title,
                    caption=f"the {len(wrong)} most confident mistakes",
                )
            )
    return written
