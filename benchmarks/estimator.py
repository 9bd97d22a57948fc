"""Section F: funcnn's scikit-learn estimator against scikit-learn's own MLPClassifier.

The same network and training on MNIST for both: 784-100-10 ReLU (scikit-learn's
default ``hidden_layer_sizes=(100,)``), Adam at 1e-3, batches of 200 (both estimators'
``batch_size="auto"``), reshuffled every epoch, for a fixed number of epochs (2; 1 on
4,096 samples with ``--quick``): no L2 penalty (scikit-learn's ``alpha=0``, funcnn has
none by default) and a ``n_iter_no_change`` beyond ``max_iter``, so neither stops early
and neither holds out data. The data are the float32 rows of :mod:`benchmarks.data`,
which both estimators train on in float32.

Each repetition fits both (taking turns, :func:`benchmarks.harness.interleaved_times`)
with the repetition index as ``random_state``, and scores both on the test set, so one
run gives the wall-clock time of ``fit`` and the test accuracy of each. Rows: the two
times (median), their ratio, and the two accuracies (median over the repetitions).
Skipped rows say why when scikit-learn is not installed.
"""

from __future__ import annotations

import warnings
from typing import Any

from benchmarks.harness import Quiet, Row, interleaved_times, median, progress, ratio_row

__all__ = ["HIDDEN", "run_estimators"]

HIDDEN = (100,)
LEARNING_RATE = 1e-3
BATCH = 200


def _estimators(epochs: int, seed: int) -> tuple[Any, Any]:
    from sklearn.neural_network import MLPClassifier as SkMLP

    from funcnn.estimators import MLPClassifier

    common: dict[str, Any] = {
        "hidden_layer_sizes": HIDDEN, "activation": "relu", "solver": "adam",
        "learning_rate_init": LEARNING_RATE, "batch_size": BATCH, "max_iter": epochs,
        "n_iter_no_change": epochs + 1, "shuffle": True, "random_state": seed,
    }
    return MLPClassifier(**common), SkMLP(alpha=0.0, **common)


def _label(epochs: int) -> str:
    return f"784-100-10 ReLU, Adam, batch 200, {epochs} epoch{'s' if epochs > 1 else ''}"


def run_estimators(reps: int, quick: bool, quiet: Quiet | None = None) -> list[Row]:
    """Time and score both estimators ``reps`` times on MNIST (4,096 samples if ``quick``)."""
    epochs = 1 if quick else 2
    try:
        import sklearn
    except ImportError:
        note = "scikit-learn is not installed (pip install 'funcnn[sklearn]')"
        return [Row("F", f"F.{name}", f"{name} MLPClassifier fit", None, "s", note=note)
                for name in ("funcnn", "sklearn")]
    from sklearn.exceptions import ConvergenceWarning

    from benchmarks.data import load

    data = load(limit=4096 if quick else None)
    # By repetition: a round redone because of foreign load overwrites its own score.
    accuracy: dict[str, dict[int, float]] = {"funcnn": {}, "sklearn": {}}

    def case(which: int, name: str) -> Any:
        def fit_and_score(rep: int) -> None:
            model = _estimators(epochs, max(rep, 0))[which]
            with warnings.catch_warnings():
                # max_iter is reached on purpose: scikit-learn warns that it "did not converge".
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(data.x_train, data.y_train)
            accuracy[name][rep] = float(model.score(data.x_test, data.y_test))

        return fit_and_score

    progress(f"F: funcnn's MLPClassifier vs scikit-learn {sklearn.__version__}'s, "
             f"{epochs} epoch(s) x {reps}")
    times = interleaved_times({"funcnn": case(0, "funcnn"), "sklearn": case(1, "sklearn")},
                              reps, warmup=0, quiet=quiet)
    scores = {k: [v[r] for r in sorted(v)] for k, v in accuracy.items()}
    label = _label(epochs)
    note = f"{data.source}, {data.x_train.shape[0]} training samples, float32"
    rows = [
        Row("F", "F.funcnn", f"funcnn MLPClassifier fit ({label})", median(times["funcnn"]),
            "s", note=note, samples=tuple(times["funcnn"])),
        Row("F", "F.sklearn", f"scikit-learn {sklearn.__version__} MLPClassifier fit",
            median(times["sklearn"]), "s", note="same network and training",
            samples=tuple(times["sklearn"])),
        ratio_row("F", "F.funcnn/sklearn", "funcnn / scikit-learn estimator fit",
                  times["funcnn"], times["sklearn"], None),
    ]
    for name in ("funcnn", "sklearn"):
        rows.append(Row("F", f"F.{name}_accuracy", f"{name} test accuracy",
                        100 * median(scores[name]), "%", note=f"{data.x_test.shape[0]} test "
                        "samples, median over the repetitions",
                        samples=tuple(100 * s for s in scores[name])))
    return rows
