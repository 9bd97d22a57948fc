"""What ``funcnn train`` leaves behind after training: report, metrics and PNG plots."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import numpy as np

from funcnn.cli.progress import format_loss
from funcnn.core.network import apply
from funcnn.core.spec import MLP
from funcnn.errors import FuncnnError
from funcnn.training._atomic import write_atomically
from funcnn.training.loop import History, evaluate
from funcnn.typing import Array, FloatArray, Params

__all__ = ["MISCLASSIFIED_SHOWN", "warn", "write_report", "write_text"]

# How many of the most confident mistakes misclassified.png shows.
MISCLASSIFIED_SHOWN = 25


def write_text(path: Path, text: str) -> None:
    write_atomically(path, text.encode("utf-8"))


def warn(message: str, quiet: bool) -> None:
    if not quiet:
        print(f"funcnn train: warning: {message}", file=sys.stderr)


def write_report(
    spec: MLP,
    params: Params,
    loss: str,
    test: tuple[FloatArray, Array, Array],
    history: History,
    out_dir: Path,
    *,
    title: str | None,
    quiet: bool,
    out: TextIO,
) -> list[str]:
    """Write report.txt, metrics.json and (with a ``title``) the plots; print the accuracy.

    ``test`` is ``(x_test, y_test, images)``; ``title`` names the run in every plot, and
    ``None`` draws none. Returns the names of the files written.
    """
    from funcnn.reporting import classification, metrics

    x_test, y_test, images = test
    test_loss, _ = evaluate(spec, params, x_test, y_test, loss=loss)
    logits = apply(spec, params, x_test)
    predicted = np.argmax(logits, axis=1)
    acc = metrics.accuracy(y_test, predicted)
    report = classification.classification_report(y_test, predicted, spec.n_out)
    write_text(out_dir / "report.txt", report.render() + "\n")
    summary = {
        "test_accuracy": acc,
        "test_loss": test_loss,
        "n_test": len(y_test),
        "epochs": history.epochs,
        "report": report.to_dict(),
    }
    write_text(out_dir / "metrics.json", json.dumps(summary, indent=2) + "\n")
    written = ["report.txt", "metrics.json"]
    if title is not None:
        jobs = _plot_jobs(spec, params, logits, y_test, images, history, out_dir, title)
        written += _draw(jobs, quiet)
    _remove_stale_plots(out_dir, written, quiet)
    correct = int(np.count_nonzero(predicted == y_test))
    print(
        f"test accuracy: {acc:.2%} ({correct}/{len(y_test)} test digits), "
        f"loss {format_loss(test_loss)}",
        file=out,
    )
    return written


def _remove_stale_plots(out_dir: Path, written: list[str], quiet: bool) -> None:
    """Delete the plots of an earlier run in ``out_dir`` that this run did not redraw
    (``--resume --no-plots``, ``--force --no-plots``, matplotlib missing): a PNG left
    there would show another state than the checkpoint beside it."""
    from funcnn.reporting.plots import PLOT_FILES

    stale = [
        name for name in PLOT_FILES.values() if name not in written and (out_dir / name).exists()
    ]
    for name in stale:
        (out_dir / name).unlink()
    if stale and not quiet:
        print(
            f"funcnn train: note: removed the earlier run's plots from {out_dir}/ "
            f"({', '.join(stale)}); they no longer match the checkpoint",
            file=sys.stderr,
        )


def _plot_jobs(
    spec: MLP,
    params: Params,
    logits: FloatArray,
    y_test: Array,
    images: Array,
    history: History,
    out_dir: Path,
    title: str,
) -> list[tuple[str, Callable[[], object]]]:
    """The plots to draw: (file name, function drawing it)."""
    from funcnn.reporting import metrics, plots

    names = plots.PLOT_FILES
    predicted = np.argmax(logits, axis=1)
    jobs = _curve_jobs(history, out_dir, title)
    cm = metrics.confusion_matrix(y_test, predicted, spec.n_out)
    wrong = metrics.top_misclassified(logits, y_test, MISCLASSIFIED_SHOWN, from_logits=True)
    jobs += [
        (
            names["confusion"],
            lambda: plots.plot_confusion_matrix(out_dir / names["confusion"], cm, title=title),
        ),
        (
            names["samples"],
            lambda: plots.plot_sample_grid(
                out_dir / names["samples"],
                images,
                y_test,
                predicted,
                title=title,
                caption=f"the first {min(len(y_test), 25)} test digits",
            ),
        ),
        (
            names["weights"],
            lambda: plots.plot_first_layer_weights(
                out_dir / names["weights"], params[0]["W"], title=title
            ),
        ),
    ]
    if len(wrong):
        jobs.append(
            (
                names["misclassified"],
                lambda: plots.plot_sample_grid(
                    out_dir / names["misclassified"],
                    images[wrong.indices],
                    wrong.y_true,
                    wrong.y_pred,
                    n=len(wrong),
                    title=title,
                    caption=f"the {len(wrong)} most confident mistakes "
                    "(highest predicted probability)",
                ),
            )
        )
    return jobs


def _curve_jobs(
    history: History, out_dir: Path, title: str
) -> list[tuple[str, Callable[[], object]]]:
    """The loss and (when recorded) accuracy curves to draw."""
    from funcnn.reporting import plots

    names = plots.PLOT_FILES
    jobs: list[tuple[str, Callable[[], object]]] = [
        (
            names["loss"],
            lambda: plots.plot_loss_curves(
                out_dir / names["loss"],
                epoch_train_loss=history.epoch_train_loss,
                epoch_test_loss=history.epoch_test_loss,
                batch_losses=history.batch_losses,
                batch_interval=history.batch_interval,
                epoch_steps=history.epoch_steps,
                title=title,
            ),
        ),
    ]
    if history.epoch_train_accuracy:
        jobs.append(
            (
                names["accuracy"],
                lambda: plots.plot_accuracy_curves(
                    out_dir / names["accuracy"],
                    epoch_train_accuracy=history.epoch_train_accuracy,
                    epoch_test_accuracy=history.epoch_test_accuracy,
                    title=title,
                ),
            )
        )
    return jobs


def _draw(jobs: list[tuple[str, Callable[[], object]]], quiet: bool) -> list[str]:
    """Run the plot jobs; return the names written. A failed plot is a warning."""
    written = []
    for name, job in jobs:
        try:
            job()
        except ImportError as exc:  # matplotlib missing: PlotDependencyError
            warn(f"plots skipped: {exc}", quiet)
            break
        except (FuncnnError, ValueError, OSError) as exc:
            warn(f"plot {name} skipped: {exc}", quiet)
        else:
            written.append(name)
    return written
