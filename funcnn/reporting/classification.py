"""The per-class classification report: precision, recall, F1 and support per class, with
accuracy and macro and weighted averages, laid out like scikit-learn's.

The definitions are scikit-learn's, with a zero division scoring 0.0 (scikit-learn's
``zero_division=0``); everything is computed from the confusion matrix
(:func:`funcnn.reporting.metrics.confusion_matrix`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from funcnn.core.validation import check_positive_int, ensure_array
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.reporting.metrics import confusion_matrix

__all__ = ["AverageScores", "ClassificationReport", "classification_report"]


@dataclass(frozen=True)
class AverageScores:
    """Precision, recall and F1 averaged over classes, and the total support.

    For example:

        >>> import funcnn as fn
        >>> report = fn.classification_report([0, 0, 1, 1], [0, 1, 1, 1], n_classes=2)
        >>> report.macro_avg.recall, report.macro_avg.support, report.weighted_avg.recall
        (0.75, 4, 0.75)
    """

    precision: float
    recall: float
    f1: float
    support: int

    def to_dict(self) -> dict[str, float | int]:
        """``{"precision", "recall", "f1", "support"}`` as plain floats and an int."""
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "support": self.support,
        }


def _safe_ratio(num: NDArray[Any], den: NDArray[Any]) -> NDArray[np.float64]:
    """``num / den`` elementwise, 0.0 where ``den == 0`` (scikit-learn's zero_division=0)."""
    num64 = num.astype(np.float64)
    den64 = den.astype(np.float64)
    out = np.zeros_like(num64)
    np.divide(num64, den64, out=out, where=den64 != 0)
    return out


def _floats(values: NDArray[Any]) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


@dataclass(frozen=True)
class ClassificationReport:
    """Per-class precision, recall, F1 and support, accuracy, macro and weighted averages.

    With ``tp``, ``fp``, ``fn`` the per-class true positives, false positives and false
    negatives (from the confusion matrix: its diagonal, column sums minus the diagonal,
    row sums minus the diagonal):

    - ``precision = tp / (tp + fp)``, ``recall = tp / (tp + fn)``,
      ``f1 = 2 tp / (2 tp + fp + fn)`` (the harmonic mean of precision and recall);
      each is **0.0 when its denominator is 0** (a class never predicted has precision
      0.0; a class absent from ``y_true`` has recall 0.0). This is scikit-learn's
      ``zero_division=0``.
    - ``support``: number of samples of the class in ``y_true``.
    - ``accuracy``: fraction correct (equal to micro-averaged precision, recall and F1).
    - ``macro_avg``: unweighted mean over **all** ``n_classes`` classes, absent ones
      included (scikit-learn's result with ``labels=range(n_classes)``).
    - ``weighted_avg``: mean weighted by support.

    Fields are plain tuples, so a report is immutable, hashable and compares by value.

        >>> import funcnn as fn
        >>> report = fn.classification_report([0, 0, 1, 1], [0, 1, 1, 1], n_classes=2)
        >>> report.labels, report.recall, report.support, report.accuracy
        (('0', '1'), (0.5, 1.0), (2, 2), 0.75)
    """

    labels: tuple[str, ...]
    precision: tuple[float, ...]
    recall: tuple[float, ...]
    f1: tuple[float, ...]
    support: tuple[int, ...]
    accuracy: float
    macro_avg: AverageScores
    weighted_avg: AverageScores

    def __post_init__(self) -> None:
        n = len(self.labels)
        for name in ("precision", "recall", "f1", "support"):
            if len(getattr(self, name)) != n:
                raise InvalidArgumentError(
                    f"{name}: expected {n} entries (one per label), got {len(getattr(self, name))}"
                )

    @property
    def n_classes(self) -> int:
        """Number of classes in the report."""
        return len(self.labels)

    @property
    def n_samples(self) -> int:
        """Total number of samples (the sum of the supports)."""
        return sum(self.support)

    @classmethod
    def from_confusion_matrix(
        cls, cm: ArrayLike, labels: Sequence[str] | None = None
    ) -> ClassificationReport:
        """The report for a confusion matrix ``cm`` (C, C) of non-negative integer counts.

        Rows of ``cm`` are true classes, columns predicted, as :func:`confusion_matrix`
        returns. ``labels``: ``C`` display names (default ``"0"``, ``"1"``, ...).
        """
        arr = ensure_array("cm", cm)
        if arr.dtype.kind not in "iu":
            raise ArgumentTypeError(f"cm: expected integer counts, got {arr.dtype}")
        if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
            raise InvalidArgumentError(f"cm: expected a square (C, C) matrix, got {arr.shape}")
        if (arr < 0).any():
            raise InvalidArgumentError("cm: expected non-negative counts")
        counts = arr.astype(np.int64, copy=False)
        total = int(counts.sum())
        if total == 0:
            raise InvalidArgumentError("cm: all counts are zero, expected at least one sample")
        names = _check_names("labels", labels, counts.shape[0])
        tp = np.diagonal(counts)
        support = counts.sum(axis=1)
        predicted = counts.sum(axis=0)
        precision = _safe_ratio(tp, predicted)
        recall = _safe_ratio(tp, support)
        f1 = _safe_ratio(2 * tp, support + predicted)
        # sum(score * count) / total, not a dot with rounded weights support / total:
        # with integer counts it cannot round above 1 (scores <= 1, rounding monotone).
        counts64 = support.astype(np.float64)

        def weighted(scores: NDArray[np.float64]) -> float:
            return float(scores @ counts64) / total

        return cls(
            labels=names,
            precision=_floats(precision),
            recall=_floats(recall),
            f1=_floats(f1),
            support=tuple(int(s) for s in support),
            accuracy=float(tp.sum() / total),
            macro_avg=AverageScores(
                float(precision.mean()), float(recall.mean()), float(f1.mean()), total
            ),
            weighted_avg=AverageScores(
                weighted(precision), weighted(recall), weighted(f1), total
            ),
        )

    def render(self, digits: int = 2) -> str:
        """The classic text table, laid out exactly as scikit-learn's classification_report.

        One row per class (precision, recall, f1-score, support), then accuracy, macro
        avg and weighted avg; ``digits`` decimals. Ends with a newline.
        """
        if isinstance(digits, bool) or not isinstance(digits, int | np.integer) or digits < 0:
            raise InvalidArgumentError(f"digits: expected an integer >= 0, got {digits!r}")
        d = int(digits)
        headers = ("precision", "recall", "f1-score", "support")
        width = max(*(len(name) for name in self.labels), len("weighted avg"), d)
        row_fmt = "{:>{width}s} " + " {:>9.{digits}f}" * 3 + " {:>9}\n"
        lines = ["{:>{width}s} ".format("", width=width) + "".join(f" {h:>9}" for h in headers)]
        lines.append("\n\n")
        for name, p, r, f, s in zip(
            self.labels, self.precision, self.recall, self.f1, self.support, strict=True
        ):
            lines.append(row_fmt.format(name, p, r, f, s, width=width, digits=d))
        lines.append("\n")
        lines.append(
            "{:>{width}s}  {:>9} {:>9} {:>9.{digits}f} {:>9}\n".format(
                "accuracy", "", "", self.accuracy, self.n_samples, width=width, digits=d
            )
        )
        for heading, avg in (("macro avg", self.macro_avg), ("weighted avg", self.weighted_avg)):
            lines.append(
                row_fmt.format(
                    heading, avg.precision, avg.recall, avg.f1, avg.support, width=width, digits=d
                )
            )
        return "".join(lines)

    def __str__(self) -> str:
        return self.render()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (lists, floats, ints, strings); see :meth:`from_dict`.

        Keys: ``labels``, ``precision``, ``recall``, ``f1``, ``support`` (lists, one entry
        per class), ``accuracy``, ``macro_avg`` and ``weighted_avg`` (dicts with keys
        ``precision``, ``recall``, ``f1``, ``support``).
        """
        return {
            "labels": list(self.labels),
            "precision": list(self.precision),
            "recall": list(self.recall),
            "f1": list(self.f1),
            "support": list(self.support),
            "accuracy": self.accuracy,
            "macro_avg": self.macro_avg.to_dict(),
            "weighted_avg": self.weighted_avg.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ClassificationReport:
        """Rebuild a report from :meth:`to_dict` output, checking every field."""
        if not isinstance(data, Mapping):
            raise ArgumentTypeError(f"data: expected a mapping, got {type(data).__name__}")
        expected = {"labels", "precision", "recall", "f1", "support", "accuracy"}
        expected |= {"macro_avg", "weighted_avg"}
        if set(data) != expected:
            raise InvalidArgumentError(
                f"data: expected keys {sorted(expected)}, got {sorted(map(str, data))}"
            )
        labels = data["labels"]
        if not isinstance(labels, list | tuple) or not all(isinstance(s, str) for s in labels):
            raise InvalidArgumentError("data['labels']: expected a list of strings")

        def scores(key: str, values: Any) -> tuple[float, ...]:
            if not isinstance(values, list | tuple):
                raise InvalidArgumentError(f"data[{key!r}]: expected a list of numbers")
            return tuple(_score(f"data[{key!r}]", v) for v in values)

        def counts(key: str, values: Any) -> tuple[int, ...]:
            if not isinstance(values, list | tuple):
                raise InvalidArgumentError(f"data[{key!r}]: expected a list of integers")
            return tuple(_count(f"data[{key!r}]", v) for v in values)

        def average(key: str) -> AverageScores:
            avg = data[key]
            keys = {"precision", "recall", "f1", "support"}
            if not isinstance(avg, Mapping) or set(avg) != keys:
                raise InvalidArgumentError(f"data[{key!r}]: expected a dict with keys {keys}")
            return AverageScores(
                _score(f"data[{key!r}]", avg["precision"]),
                _score(f"data[{key!r}]", avg["recall"]),
                _score(f"data[{key!r}]", avg["f1"]),
                _count(f"data[{key!r}]", avg["support"]),
            )

        return cls(
            labels=tuple(labels),
            precision=scores("precision", data["precision"]),
            recall=scores("recall", data["recall"]),
            f1=scores("f1", data["f1"]),
            support=counts("support", data["support"]),
            accuracy=_score("data['accuracy']", data["accuracy"]),
            macro_avg=average("macro_avg"),
            weighted_avg=average("weighted_avg"),
        )


def _score(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgumentError(f"{name}: expected a number in [0, 1], found {value!r}")
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InvalidArgumentError(f"{name}: expected a number in [0, 1], found {value!r}")
    return float(value)


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgumentError(f"{name}: expected a non-negative integer, found {value!r}")
    return value


def _check_names(name: str, names: Sequence[str] | None, n: int) -> tuple[str, ...]:
    if names is None:
        return tuple(str(i) for i in range(n))
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ArgumentTypeError(f"{name}: expected a sequence of {n} strings, got {names!r}")
    if len(names) != n:
        raise InvalidArgumentError(f"{name}: expected {n} names (one per class), got {len(names)}")
    for i, item in enumerate(names):
        if not isinstance(item, str):
            raise ArgumentTypeError(f"{name}[{i}]: expected a string, got {item!r}")
    return tuple(names)


def classification_report(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    n_classes: int,
    labels: Sequence[str] | None = None,
) -> ClassificationReport:
    """Per-class precision, recall, F1 and support, with accuracy and averages.

    ``y_true``, ``y_pred``: integer labels in ``[0, n_classes)``, shape ``(N,)``,
    ``N >= 1``. ``labels``: ``n_classes`` display names for the rows (default
    ``"0"``, ``"1"``, ...). Definitions, including zero division scoring 0.0, are on
    :class:`ClassificationReport`; ``print(report)`` or ``report.render()`` gives the
    text table, ``report.to_dict()`` a JSON-ready dict.

        >>> import funcnn as fn
        >>> report = fn.classification_report([0, 0, 1, 1, 2], [0, 1, 1, 1, 2], n_classes=3)
        >>> report.accuracy
        0.8
    """
    c = check_positive_int("n_classes", n_classes)
    names = _check_names("labels", labels, c)
    return ClassificationReport.from_confusion_matrix(confusion_matrix(y_true, y_pred, c), names)
