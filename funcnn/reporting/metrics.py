"""Classification metrics on integer labels: accuracy, confusion matrix, per-class report.

Everything here works on whole arrays at once (``np.bincount`` on the confusion matrix,
no loops over samples). Labels are integer class indices in ``[0, n_classes)``; the
definitions of precision, recall, F1 and their macro and weighted averages are
scikit-learn's, with a zero division scoring 0.0 (scikit-learn's ``zero_division=0``).
Also here: the most confidently misclassified samples, and batched class predictions
for a network.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from funcnn.core.network import apply_unchecked, check_inputs, check_params
from funcnn.core.softmax import softmax
from funcnn.core.spec import MLP
from funcnn.core.validation import check_finite, check_positive_int, ensure_array
from funcnn.errors import ArgumentTypeError, InvalidArgumentError, NonFiniteError
from funcnn.typing import Params

__all__ = [
    "AverageScores",
    "ClassificationReport",
    "Misclassified",
    "accuracy",
    "classification_report",
    "confusion_matrix",
    "predict",
    "top_misclassified",
]

LabelArray = NDArray[np.int64]
"""Class labels as int64, shape ``(N,)``."""


def _check_labels(name: str, y: Any, n_classes: int | None = None) -> LabelArray:
    """``y`` as a non-empty 1-D int64 array of labels in ``[0, n_classes)`` (or ``>= 0``)."""
    arr = ensure_array(name, y)
    if arr.size == 0:
        # Checked first: an empty list converts to float64, which would mislead below.
        raise InvalidArgumentError(f"{name}: empty, expected at least one label")
    if arr.dtype.kind == "b":
        raise ArgumentTypeError(f"{name}: expected integer class labels, got bool")
    if arr.dtype.kind not in "iu":
        hint = (
            "; for logits or probabilities of shape (N, C) take argmax(axis=1) first"
            if arr.dtype.kind == "f"
            else ""
        )
        raise ArgumentTypeError(f"{name}: expected integer class labels, got {arr.dtype}{hint}")
    if arr.ndim != 1:
        hint = "; for scores of shape (N, C) take argmax(axis=1) first" if arr.ndim == 2 else ""
        raise InvalidArgumentError(
            f"{name}: expected a 1-D array of labels (N,), got shape {arr.shape}{hint}"
        )
    upper = n_classes
    if arr.min() < 0 or (upper is not None and arr.max() >= upper):
        bad_mask = arr < 0 if upper is None else (arr < 0) | (arr >= upper)
        position = int(np.flatnonzero(bad_mask)[0])
        expected = "labels >= 0" if upper is None else f"labels in [0, {upper})"
        raise InvalidArgumentError(
            f"{name}: expected {expected}, found {int(arr[position])} at index {position}"
        )
    return arr.astype(np.int64, copy=False)


def _check_pair(y_true: Any, y_pred: Any, n_classes: int | None) -> tuple[LabelArray, LabelArray]:
    t = _check_labels("y_true", y_true, n_classes)
    p = _check_labels("y_pred", y_pred, n_classes)
    if t.shape != p.shape:
        raise InvalidArgumentError(
            f"y_true and y_pred: expected equal lengths, got {t.shape[0]} and {p.shape[0]}"
        )
    return t, p


def _readonly(a: NDArray[Any]) -> NDArray[Any]:
    a.setflags(write=False)
    return a


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Fraction of samples with ``y_pred == y_true``, in ``[0, 1]``.

    ``y_true``, ``y_pred``: integer labels ``>= 0``, shape ``(N,)`` with ``N >= 1``.

        >>> accuracy([0, 1, 2, 2], [0, 1, 1, 2])
        0.75
    """
    t, p = _check_pair(y_true, y_pred, None)
    return float(np.count_nonzero(t == p) / t.size)


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, n_classes: int) -> NDArray[np.int64]:
    """Counts ``cm[i, j]`` of samples of true class ``i`` predicted as class ``j``.

    ``y_true``, ``y_pred``: integer labels in ``[0, n_classes)``, shape ``(N,)``,
    ``N >= 1``. Returns int64 of shape ``(n_classes, n_classes)``: rows are true
    classes, columns predicted; row sums are the supports, the trace is the number
    correct.

        >>> confusion_matrix([0, 1, 2, 2], [0, 1, 1, 2], 3)
        array([[1, 0, 0],
               [0, 1, 0],
               [0, 1, 1]])
    """
    c = check_positive_int("n_classes", n_classes)
    t, p = _check_pair(y_true, y_pred, c)
    counts = np.bincount(t * c + p, minlength=c * c)
    cm: NDArray[np.int64] = counts.astype(np.int64, copy=False).reshape(c, c)
    return cm


@dataclass(frozen=True)
class AverageScores:
    """Precision, recall and F1 averaged over classes, and the total support."""

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
        weights = support / total
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
                float(precision @ weights), float(recall @ weights), float(f1 @ weights), total
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
    """
    c = check_positive_int("n_classes", n_classes)
    names = _check_names("labels", labels, c)
    return ClassificationReport.from_confusion_matrix(confusion_matrix(y_true, y_pred, c), names)


@dataclass(frozen=True, eq=False)
class Misclassified:
    """The misclassified samples picked by :func:`top_misclassified`, most confident first.

    All arrays are read-only with shape ``(k,)``: ``indices`` (int64, into the inputs),
    ``y_true`` and ``y_pred`` (int64 labels), ``confidence`` (float64, the probability
    given to the wrong predicted class) and ``p_true`` (float64, the probability given
    to the true class).
    """

    indices: NDArray[np.int64]
    y_true: NDArray[np.int64]
    y_pred: NDArray[np.int64]
    confidence: NDArray[np.float64]
    p_true: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.indices.shape[0])


def _is_distribution(scores: NDArray[np.float64], tol: float) -> bool:
    if (scores < 0).any() or (scores > 1).any():
        return False
    return bool(np.all(np.abs(scores.sum(axis=1) - 1.0) <= tol))


def _softmax_of_finite(logits: NDArray[np.float64]) -> NDArray[np.float64]:
    """Softmax of finite logits, also when their spread exceeds the float range.

    Shifting by the row maximum can overflow only downwards, to ``-inf`` (e.g. for
    ``[1e308, -1e308]``), whose ``exp`` is exactly the 0.0 the true probability rounds
    to; the maximum's own term stays 1, so the sum is >= 1 and no NaN can follow. The
    overflow is therefore silenced for this step only.
    """
    with np.errstate(over="ignore"):
        probs = softmax(logits).astype(np.float64, copy=False)
    if not np.isfinite(probs).all():  # unreachable for finite logits; never return NaN
        raise NonFiniteError("probs_or_logits: the softmax of the logits is not finite")
    return probs


def top_misclassified(
    probs_or_logits: ArrayLike,
    y_true: ArrayLike,
    k: int,
    *,
    from_logits: bool | None = None,
) -> Misclassified:
    """The ``k`` misclassified samples whose wrong prediction was most confident.

    ``probs_or_logits``: float array ``(N, C)``, ``C >= 2``, of class probabilities
    (rows non-negative, summing to 1) or logits; ``y_true``: integer labels in
    ``[0, C)``, shape ``(N,)``. The prediction is the row's argmax (ties go to the
    lowest class, as ``np.argmax``); confidence is its softmax probability (logits) or
    the probability itself. ``from_logits=None`` treats the input as probabilities when
    every row is a distribution (to 1e-6 for float64, 1e-3 for float32) and as logits
    otherwise; pass ``True`` or ``False`` to decide explicitly.

    Returns at most ``k`` samples (fewer when fewer are misclassified, none when all are
    right), ordered by decreasing confidence, ties by increasing index.
    """
    arr = ensure_array("probs_or_logits", probs_or_logits)
    if arr.dtype.kind != "f":
        raise ArgumentTypeError(
            f"probs_or_logits: expected a float array of shape (N, C), got {arr.dtype}"
        )
    if arr.ndim != 2 or arr.shape[1] < 2 or arr.shape[0] == 0:
        raise InvalidArgumentError(
            f"probs_or_logits: expected shape (N, C) with N >= 1 and C >= 2, got {arr.shape}"
        )
    check_finite("probs_or_logits", arr)
    n, c = arr.shape
    t = _check_labels("y_true", y_true, c)
    if t.shape[0] != n:
        raise InvalidArgumentError(
            f"y_true: expected {n} labels (one per row of probs_or_logits), got {t.shape[0]}"
        )
    count = check_positive_int("k", k)
    if from_logits is not None and not isinstance(from_logits, bool):
        raise ArgumentTypeError(f"from_logits: expected True, False or None, got {from_logits!r}")
    scores = arr.astype(np.float64)
    tol = 1e-3 if arr.dtype == np.float32 else 1e-6
    if from_logits is None:
        from_logits = not _is_distribution(scores, tol)
    elif not from_logits and not _is_distribution(scores, tol):
        raise InvalidArgumentError(
            "probs_or_logits: from_logits=False but the rows are not probability "
            "distributions (values in [0, 1] summing to 1)"
        )
    probs = _softmax_of_finite(scores) if from_logits else scores
    pred = np.argmax(probs, axis=1).astype(np.int64)
    wrong = np.flatnonzero(pred != t)
    rows = np.arange(n)
    confidence = probs[rows, pred]
    # lexsort's last key is primary: decreasing confidence, then increasing index.
    order = np.lexsort((wrong, -confidence[wrong]))[:count]
    picked = wrong[order].astype(np.int64)
    return Misclassified(
        indices=_readonly(picked),
        y_true=_readonly(t[picked]),
        y_pred=_readonly(pred[picked]),
        confidence=_readonly(confidence[picked]),
        p_true=_readonly(probs[picked, t[picked]]),
    )


def predict(spec: MLP, params: Params, x: ArrayLike, batch_size: int = 1024) -> LabelArray:
    """Class predictions of the network for ``x``, computed ``batch_size`` rows at a time.

    ``x``: ``(N, n_in)`` (or one sample ``(n_in,)``, treated as ``N = 1``) of the
    params' dtype. Returns int64 ``(N,)``: the argmax of the logits (ties to the lowest
    class), or for a single output unit (``n_out == 1``) ``1`` where the logit is
    ``> 0`` and ``0`` otherwise. Peak extra memory is one ``(batch_size, width)``
    activation per layer, whatever ``N``.
    """
    dtype = check_params(spec, params)
    batch = check_inputs(spec, x, dtype)
    size = check_positive_int("batch_size", batch_size)
    n = batch.shape[0]
    out = np.empty(n, dtype=np.int64)
    for start in range(0, n, size):
        logits = apply_unchecked(spec, params, batch[start : start + size])
        if spec.n_out == 1:
            out[start : start + size] = logits[:, 0] > 0
        else:
            out[start : start + size] = np.argmax(logits, axis=1)
    return out
