"""Tests for funcnn.reporting.metrics: hand-computed examples, loop references, and bad input."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funcnn as fn
from funcnn.reporting.classification import (
    AverageScores,
    ClassificationReport,
    classification_report,
)
from funcnn.reporting.metrics import (
    accuracy,
    confusion_matrix,
    predict,
    top_misclassified,
)
from tests.strategies import problems

# scikit-learn's documented example for classification_report.
SK_TRUE = [0, 1, 2, 2, 2]
SK_PRED = [0, 0, 2, 2, 1]
SK_NAMES = ["class 0", "class 1", "class 2"]
SK_TEXT = (
    "              precision    recall  f1-score   support\n"
    "\n"
    "     class 0       0.50      1.00      0.67         1\n"
    "     class 1       0.00      0.00      0.00         1\n"
    "     class 2       1.00      0.67      0.80         3\n"
    "\n"
    "    accuracy                           0.60         5\n"
    "   macro avg       0.50      0.56      0.49         5\n"
    "weighted avg       0.70      0.60      0.61         5\n"
)


@st.composite
def label_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int]:
    """Random true and predicted labels with their number of classes."""
    c = draw(st.integers(1, 6))
    n = draw(st.integers(1, 40))
    labels = st.lists(st.integers(0, c - 1), min_size=n, max_size=n)
    dtype = draw(st.sampled_from([np.int64, np.int32, np.uint8]))
    return np.array(draw(labels), dtype=dtype), np.array(draw(labels), dtype=dtype), c


def _reference_report(t: Sequence[int], p: Sequence[int], c: int) -> dict[str, Any]:
    """Per-class scores straight from the definitions, one class and sample at a time."""
    prec, rec, f1, sup = [], [], [], []
    for k in range(c):
        tp = sum(1 for a, b in zip(t, p, strict=True) if a == k and b == k)
        fp = sum(1 for a, b in zip(t, p, strict=True) if a != k and b == k)
        fn_ = sum(1 for a, b in zip(t, p, strict=True) if a == k and b != k)
        pk = tp / (tp + fp) if tp + fp else 0.0
        rk = tp / (tp + fn_) if tp + fn_ else 0.0
        prec.append(pk)
        rec.append(rk)
        f1.append(2 * pk * rk / (pk + rk) if pk + rk else 0.0)
        sup.append(tp + fn_)
    return {"precision": prec, "recall": rec, "f1": f1, "support": sup}


# --- accuracy and confusion matrix -------------------------------------------------------


def test_accuracy_hand_example() -> None:
    assert accuracy([0, 1, 2, 2, 2], [0, 0, 2, 2, 1]) == pytest.approx(0.6)
    assert accuracy(np.array([3], np.uint8), np.array([3], np.uint8)) == 1.0
    assert accuracy([1, 1], [0, 0]) == 0.0
    assert isinstance(accuracy([0], [0]), float)


def test_confusion_matrix_hand_example() -> None:
    cm = confusion_matrix(SK_TRUE, SK_PRED, 3)
    expected = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 2]])
    np.testing.assert_array_equal(cm, expected)
    assert cm.dtype == np.int64 and cm.shape == (3, 3)
    # Classes that never occur still get their row and column.
    cm5 = confusion_matrix([0, 0], [0, 4], 5)
    assert cm5.shape == (5, 5) and cm5[0, 0] == 1 and cm5[0, 4] == 1 and cm5.sum() == 2


@given(label_pairs())
def test_confusion_matrix_matches_loop_reference(pair: Any) -> None:
    t, p, c = pair
    t_before, p_before = t.copy(), p.copy()
    cm = confusion_matrix(t, p, c)
    ref = np.zeros((c, c), dtype=np.int64)
    for a, b in zip(t, p, strict=True):
        ref[a, b] += 1
    np.testing.assert_array_equal(cm, ref)
    np.testing.assert_array_equal(cm.sum(axis=1), np.bincount(t, minlength=c))
    assert accuracy(t, p) == pytest.approx(np.trace(ref) / len(t))
    np.testing.assert_array_equal(t, t_before)
    np.testing.assert_array_equal(p, p_before)


# --- classification report ---------------------------------------------------------------


def test_report_reproduces_scikit_learn_documented_example() -> None:
    report = classification_report(SK_TRUE, SK_PRED, 3, labels=SK_NAMES)
    assert report.render() == SK_TEXT
    assert str(report) == SK_TEXT
    assert report.precision == pytest.approx((0.5, 0.0, 1.0))
    assert report.recall == pytest.approx((1.0, 0.0, 2 / 3))
    assert report.f1 == pytest.approx((2 / 3, 0.0, 0.8))
    assert report.support == (1, 1, 3)
    assert report.accuracy == pytest.approx(0.6)
    assert report.macro_avg.precision == pytest.approx(0.5)
    assert report.macro_avg.recall == pytest.approx((1 + 2 / 3) / 3)
    assert report.macro_avg.f1 == pytest.approx((2 / 3 + 0.8) / 3)
    assert report.weighted_avg.precision == pytest.approx((0.5 + 3.0) / 5)
    assert report.weighted_avg.recall == pytest.approx(0.6)
    assert report.weighted_avg.f1 == pytest.approx((2 / 3 + 2.4) / 5)
    assert report.macro_avg.support == report.weighted_avg.support == report.n_samples == 5
    assert report.n_classes == 3


def test_report_render_digits_and_default_names() -> None:
    text = classification_report([0, 1, 1], [0, 1, 0], 2).render(digits=4)
    lines = text.splitlines()
    assert lines[2].split() == ["0", "0.5000", "1.0000", "0.6667", "1"]
    assert lines[3].split() == ["1", "1.0000", "0.5000", "0.6667", "2"]
    assert lines[5].split() == ["accuracy", "0.6667", "3"]
    assert text.endswith("\n")
    # A long class name widens the first column for every row.
    long = classification_report([0, 1], [0, 1], 2, labels=["a-very-long-class-name", "b"])
    widths = {len(line) for line in long.render().splitlines() if line}
    assert len(widths) == 1
    with pytest.raises(fn.InvalidArgumentError, match="digits"):
        long.render(digits=-1)


def test_zero_division_scores_zero() -> None:
    # Class 1 is never predicted (precision 0/0), class 3 never occurs (recall 0/0) and is
    # never predicted either (f1 0/0); class 2 is predicted but never right.
    report = classification_report([0, 0, 1, 1], [0, 2, 0, 0], 4)
    assert report.precision == pytest.approx((1 / 3, 0.0, 0.0, 0.0))
    assert report.recall == pytest.approx((0.5, 0.0, 0.0, 0.0))
    assert report.f1 == pytest.approx((0.4, 0.0, 0.0, 0.0))
    assert report.support == (2, 2, 0, 0)
    # Macro averages run over all four classes, absent ones included.
    assert report.macro_avg.f1 == pytest.approx(0.1)
    assert report.weighted_avg.f1 == pytest.approx(0.2)
    assert all(np.isfinite(v) for v in report.precision + report.recall + report.f1)


@given(label_pairs())
def test_report_matches_definitions(pair: Any) -> None:
    t, p, c = pair
    report = classification_report(t, p, c)
    ref = _reference_report(list(t), list(p), c)
    for key in ("precision", "recall", "f1"):
        np.testing.assert_allclose(getattr(report, key), ref[key], rtol=1e-12, atol=1e-15)
    assert report.support == tuple(ref["support"])
    n = len(t)
    assert report.accuracy == pytest.approx(sum(a == b for a, b in zip(t, p, strict=True)) / n)
    weights = np.array(ref["support"]) / n
    for key in ("precision", "recall", "f1"):
        assert getattr(report.macro_avg, key) == pytest.approx(np.mean(ref[key]))
        assert getattr(report.weighted_avg, key) == pytest.approx(np.dot(ref[key], weights))
    # Weighted recall is always the accuracy (sum of tp over n).
    assert report.weighted_avg.recall == pytest.approx(report.accuracy)
    assert report == ClassificationReport.from_confusion_matrix(confusion_matrix(t, p, c))
    lines = report.render().splitlines()
    assert len(lines) == 2 + c + 1 + 3


@given(label_pairs())
def test_report_dict_round_trips_through_json(pair: Any) -> None:
    t, p, c = pair
    report = classification_report(t, p, c, labels=[f"digit {i}" for i in range(c)])
    data = json.loads(json.dumps(report.to_dict()))
    assert ClassificationReport.from_dict(data) == report
    assert data["labels"][0] == "digit 0"
    assert set(data["macro_avg"]) == {"precision", "recall", "f1", "support"}


def test_report_from_dict_rejects_bad_data() -> None:
    good = classification_report(SK_TRUE, SK_PRED, 3).to_dict()
    with pytest.raises(fn.InvalidArgumentError, match="keys"):
        ClassificationReport.from_dict({k: v for k, v in good.items() if k != "f1"})
    with pytest.raises(fn.InvalidArgumentError, match="precision"):
        ClassificationReport.from_dict({**good, "precision": [0.5, 2.0, 1.0]})
    with pytest.raises(fn.InvalidArgumentError, match="support"):
        ClassificationReport.from_dict({**good, "support": [1, -1, 3]})
    with pytest.raises(fn.InvalidArgumentError, match="precision"):
        ClassificationReport.from_dict({**good, "precision": [0.5, 1.0]})
    with pytest.raises(fn.InvalidArgumentError, match="macro_avg"):
        ClassificationReport.from_dict({**good, "macro_avg": {"precision": 0.5}})
    with pytest.raises(fn.ArgumentTypeError, match="data"):
        ClassificationReport.from_dict([1, 2])  # type: ignore[arg-type]


def test_report_is_immutable_and_hashable() -> None:
    report = classification_report(SK_TRUE, SK_PRED, 3)
    with pytest.raises(AttributeError):
        report.accuracy = 1.0  # type: ignore[misc]
    assert hash(report) == hash(classification_report(SK_TRUE, SK_PRED, 3))
    assert isinstance(report.macro_avg, AverageScores)


def test_report_matches_sklearn_when_installed() -> None:
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    t = rng.integers(0, 7, size=500)
    p = np.where(rng.random(500) < 0.7, t, rng.integers(0, 7, size=500))
    ours = classification_report(t, p, 7)
    theirs = sk.classification_report(t, p, labels=list(range(7)), output_dict=True)
    for i in range(7):
        assert ours.precision[i] == pytest.approx(theirs[str(i)]["precision"])
        assert ours.recall[i] == pytest.approx(theirs[str(i)]["recall"])
        assert ours.f1[i] == pytest.approx(theirs[str(i)]["f1-score"])
    assert ours.macro_avg.f1 == pytest.approx(theirs["macro avg"]["f1-score"])
    assert ours.weighted_avg.f1 == pytest.approx(theirs["weighted avg"]["f1-score"])
    assert ours.render() == sk.classification_report(t, p, labels=list(range(7)))


# --- top misclassified -------------------------------------------------------------------


def test_top_misclassified_from_probabilities() -> None:
    probs = np.array(
        [
            [0.9, 0.1, 0.0],  # true 1, predicted 0 with 0.9
            [0.1, 0.8, 0.1],  # true 1, right
            [0.3, 0.3, 0.4],  # true 0, predicted 2 with 0.4
            [0.05, 0.05, 0.9],  # true 0, predicted 2 with 0.9 (tie with row 0)
            [0.2, 0.7, 0.1],  # true 2, predicted 1 with 0.7
        ]
    )
    y = np.array([1, 1, 0, 0, 2])
    top = top_misclassified(probs, y, 3)
    np.testing.assert_array_equal(top.indices, [0, 3, 4])  # ties by index
    np.testing.assert_array_equal(top.y_true, [1, 0, 2])
    np.testing.assert_array_equal(top.y_pred, [0, 2, 1])
    np.testing.assert_allclose(top.confidence, [0.9, 0.9, 0.7])
    np.testing.assert_allclose(top.p_true, [0.1, 0.05, 0.1])
    assert len(top) == 3 and top.indices.dtype == np.int64
    with pytest.raises(ValueError, match="read-only"):
        top.indices[0] = 1
    # k beyond the number misclassified gives all of them.
    assert len(top_misclassified(probs, y, 100)) == 4
    # Nothing wrong: nothing returned.
    none = top_misclassified(probs, np.argmax(probs, axis=1), 5)
    assert len(none) == 0 and none.confidence.shape == (0,)


def test_top_misclassified_from_logits_uses_softmax_confidence() -> None:
    # Row 0 has the larger top logit but a close runner-up, so a lower softmax confidence
    # than row 1: ranking by raw logits would get the order wrong.
    logits = np.array([[5.0, 4.9, 0.0], [0.0, 3.0, 0.0]], dtype=np.float32)
    y = np.array([2, 2])
    top = top_misclassified(logits, y, 2)
    np.testing.assert_array_equal(top.indices, [1, 0])
    expected = fn.softmax(logits.astype(np.float64))
    np.testing.assert_allclose(top.confidence, [expected[1, 1], expected[0, 0]])
    np.testing.assert_allclose(top.p_true, [expected[1, 2], expected[0, 2]])
    # Logits that happen to look like probabilities: from_logits decides explicitly.
    ambiguous = np.array([[0.6, 0.4], [0.3, 0.7]])
    as_probs = top_misclassified(ambiguous, [1, 0], 2)
    as_logits = top_misclassified(ambiguous, [1, 0], 2, from_logits=True)
    np.testing.assert_allclose(as_probs.confidence, [0.7, 0.6])
    np.testing.assert_allclose(as_logits.confidence, fn.softmax(ambiguous)[[1, 0], [1, 0]])
    with pytest.raises(fn.InvalidArgumentError, match="from_logits=False"):
        top_misclassified(logits, y, 1, from_logits=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_top_misclassified_with_logits_spread_beyond_the_float_range(dtype: Any) -> None:
    # max - min overflows the dtype (2e308 > 1.8e308; 6e38 > 3.4e38 in float32). pytest
    # runs with warnings as errors, so an overflow warning would fail this test.
    big = np.finfo(dtype).max / 2 * 1.5
    logits = np.array([[big, -big, 0.0], [0.0, 1.0, -big], [-big, 0.0, big]], dtype=dtype)
    top = top_misclassified(logits, np.array([1, 0, 0]), 3)
    np.testing.assert_array_equal(top.indices, [0, 2, 1])
    np.testing.assert_array_equal(top.y_pred, [0, 2, 1])
    np.testing.assert_array_equal(top.confidence[:2], [1.0, 1.0])
    np.testing.assert_array_equal(top.p_true[:2], [0.0, 0.0])
    assert top.confidence[2] == pytest.approx(1 / (1 + np.exp(-1.0)))
    for field in (top.confidence, top.p_true):
        assert np.isfinite(field).all()


@given(
    st.integers(1, 30),
    st.integers(2, 5),
    st.integers(1, 10),
    st.integers(0, 2**32 - 1),
    st.booleans(),
)
def test_top_misclassified_invariants(n: int, c: int, k: int, seed: int, logits: bool) -> None:
    rng = np.random.default_rng(seed)
    scores: np.ndarray = rng.normal(size=(n, c)) * 3
    if not logits:
        scores = fn.softmax(scores)
    y = rng.integers(0, c, size=n)
    top = top_misclassified(scores, y, k, from_logits=logits)
    probs = fn.softmax(scores) if logits else scores
    pred = np.argmax(probs, axis=1)
    wrong = np.flatnonzero(pred != y)
    assert len(top) == min(k, wrong.size)
    assert set(top.indices) <= set(wrong)
    assert np.all(np.diff(top.confidence) <= 0)
    np.testing.assert_array_equal(top.y_pred, pred[top.indices])
    np.testing.assert_allclose(top.confidence, probs[top.indices, pred[top.indices]])
    left_out = np.setdiff1d(wrong, top.indices)
    if left_out.size and len(top):
        assert probs[left_out, pred[left_out]].max() <= top.confidence.min()


# --- predict -----------------------------------------------------------------------------


@given(problems(), st.integers(1, 7))
def test_predict_matches_argmax_of_apply_in_any_batch_size(problem: Any, batch: int) -> None:
    spec, params, x, _ = problem
    got = predict(spec, params, x, batch_size=batch)
    logits = fn.apply(spec, params, x)
    expected = np.argmax(logits, axis=1) if spec.n_out > 1 else (logits[:, 0] > 0)
    np.testing.assert_array_equal(got, expected)
    assert got.dtype == np.int64 and got.shape == (len(x),)


def test_predict_single_sample_and_single_output() -> None:
    spec = fn.MLP((3, 4, 1), "tanh")
    params = fn.init(spec, np.random.default_rng(0))
    x = np.array([[1.0, 2.0, 3.0], [-1.0, -2.0, -3.0], [0.5, 0.0, 0.0]])
    logits = fn.apply(spec, params, x)[:, 0]
    np.testing.assert_array_equal(predict(spec, params, x, batch_size=2), logits > 0)
    assert predict(spec, params, x[0]).shape == (1,)
    with pytest.raises(fn.InvalidArgumentError, match="batch_size"):
        predict(spec, params, x, batch_size=0)
    with pytest.raises(fn.ArgumentTypeError, match="x"):
        predict(spec, params, x.astype(np.float32))


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("y_true", "y_pred", "error", "match"),
    [
        ([0, 1], [0], fn.InvalidArgumentError, "equal lengths, got 2 and 1"),
        ([], [], fn.InvalidArgumentError, "y_true: empty"),
        ([0.0, 1.0], [0, 1], fn.ArgumentTypeError, "y_true: expected integer.*argmax"),
        ([0, 1], [True, False], fn.ArgumentTypeError, "y_pred: .*bool"),
        ([[0, 1]], [[0, 1]], fn.InvalidArgumentError, "y_true: expected a 1-D"),
        ([0, -1], [0, 1], fn.InvalidArgumentError, r"y_true: .*found -1 at index 1"),
        ([0, 1], [0, 3], fn.InvalidArgumentError, r"y_pred: .*\[0, 3\), found 3 at index 1"),
        ("01", [0, 1], fn.ArgumentTypeError, "y_true: expected a numpy array"),
    ],
)
def test_bad_labels_raise_funcnn_errors(y_true: Any, y_pred: Any, error: Any, match: str) -> None:
    with pytest.raises(error, match=match):
        confusion_matrix(y_true, y_pred, 3)
    with pytest.raises(error):
        classification_report(y_true, y_pred, 3)


def test_other_bad_arguments() -> None:
    with pytest.raises(fn.InvalidArgumentError, match="n_classes"):
        confusion_matrix([0], [0], 0)
    with pytest.raises(fn.ArgumentTypeError, match="n_classes"):
        classification_report([0], [0], 2.0)  # type: ignore[arg-type]
    with pytest.raises(fn.InvalidArgumentError, match="labels: expected 3 names"):
        classification_report([0], [0], 3, labels=["a", "b"])
    with pytest.raises(fn.ArgumentTypeError, match="labels"):
        classification_report([0], [0], 2, labels="ab")
    with pytest.raises(fn.InvalidArgumentError, match="accuracy|y_true"):
        accuracy([], [])
    with pytest.raises(fn.InvalidArgumentError, match="cm: all counts are zero"):
        ClassificationReport.from_confusion_matrix(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(fn.ArgumentTypeError, match="cm"):
        ClassificationReport.from_confusion_matrix(np.eye(2))
    probs = np.full((2, 2), 0.5)
    with pytest.raises(fn.InvalidArgumentError, match="k"):
        top_misclassified(probs, [0, 1], 0)
    with pytest.raises(fn.InvalidArgumentError, match="y_true: expected 2 labels"):
        top_misclassified(probs, [0, 1, 1], 1)
    with pytest.raises(fn.InvalidArgumentError, match=r"y_true: .*\[0, 2\)"):
        top_misclassified(probs, [0, 2], 1)
    with pytest.raises(fn.InvalidArgumentError, match="probs_or_logits: expected shape"):
        top_misclassified(np.array([0.2, 0.8]), [1], 1)
    with pytest.raises(fn.InvalidArgumentError, match="probs_or_logits: expected finite"):
        top_misclassified(np.array([[np.nan, 0.0]]), [1], 1)
    with pytest.raises(fn.ArgumentTypeError, match="probs_or_logits"):
        top_misclassified(np.array([[1, 0]]), [1], 1)
