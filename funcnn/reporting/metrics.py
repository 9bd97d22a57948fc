"""Classification metrics on integer labels: accuracy, the confusion matrix, the most
confidently misclassified samples, and batched class predictions for a network.

Everything here works on whole arrays at once (``np.bincount`` on the confusion matrix,
no loops over samples). Labels are integer class indices in ``[0, n_classes)``. The
per-class report is in :mod:`funcnn.reporting.classification`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from funcnn.core.activations import ACTIVATIONS
from funcnn.core.losses import LOSSES, Loss, get_loss
from funcnn.core.network import apply_unchecked, check_inputs, check_params
from funcnn.core.softmax import softmax
from funcnn.core.spec import MLP
from funcnn.core.validation import check_finite, check_positive_int, ensure_array
from funcnn.errors import ArgumentTypeError, InvalidArgumentError, NonFiniteError
from funcnn.typing import Params

__all__ = [
    "Misclassified",
    "accuracy",
    "confusion_matrix",
    "predict",
    "predict_proba",
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


@dataclass(frozen=True, eq=False)
class Misclassified:
    """The misclassified samples picked by :func:`top_misclassified`, most confident first.

    All arrays are read-only with shape ``(k,)``: ``indices`` (int64, into the inputs),
    ``y_true`` and ``y_pred`` (int64 labels), ``confidence`` (float64, the probability
    given to the wrong predicted class) and ``p_true`` (float64, the probability given
    to the true class).

        >>> import numpy as np
        >>> import funcnn as fn
        >>> worst = fn.top_misclassified(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([1, 1]), k=1)
        >>> isinstance(worst, fn.Misclassified), worst.indices, worst.y_pred, worst.p_true
        (True, array([0]), array([0]), array([0.1]))
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

        >>> import numpy as np
        >>> import funcnn as fn
        >>> probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])
        >>> worst = fn.top_misclassified(probs, np.array([1, 1, 0]), k=2)
        >>> worst.indices, worst.y_pred, worst.confidence
        (array([0, 2]), array([0, 1]), array([0.9, 0.6]))
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

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec = fn.MLP((4, 3))
        >>> params = [{"W": np.eye(4, 3), "b": np.zeros(3)}]    # logits = the first 3 inputs
        >>> fn.predict(spec, params, np.array([[0.0, 5, 1, 9], [2.0, 1, 0, 0]]))
        array([1, 0])
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


def predict_proba(
    spec: MLP,
    params: Params,
    x: ArrayLike,
    loss: str | Loss = "softmax_cross_entropy",
    batch_size: int = 1024,
) -> NDArray[Any]:
    """Class probabilities the network assigns to ``x``, in the params' dtype.

    The probabilities are those the training ``loss`` reads off the logits, by the output
    activation it declares (:class:`funcnn.Loss`'s ``output``): the softmax for a
    ``"softmax"`` output such as the softmax losses' (rows summing to 1,
    ``(N, n_out)``), the sigmoid of each logit for a ``"sigmoid"`` one such as
    ``binary_cross_entropy``'s (independent labels, ``(N, n_out)``). A single output
    unit (``n_out == 1``) is a binary classifier with ``P(class 1) = sigmoid(z)``
    whatever the loss, returned as ``(N, 2)`` columns ``[1 - p, p]``. Either way the
    largest entry of a row is :func:`predict`'s class. ``mse`` and other losses do not
    define probabilities (an ``InvalidArgumentError``). Computed ``batch_size`` rows at
    a time, like :func:`predict`.

        >>> import numpy as np, funcnn as fn
        >>> spec = fn.MLP((2, 3))
        >>> params = [{"W": np.zeros((2, 3)), "b": np.array([0.0, 0.0, np.log(2.0)])}]
        >>> fn.predict_proba(spec, params, np.ones((1, 2))).round(3)
        array([[0.25, 0.25, 0.5 ]])
    """
    dtype = check_params(spec, params)
    batch = check_inputs(spec, x, dtype)
    size = check_positive_int("batch_size", batch_size)
    resolved = get_loss(loss)
    binary = spec.n_out == 1
    if not binary and resolved.output not in ("softmax", "sigmoid"):
        known = sorted(name for name, other in LOSSES.items()
                       if other.output in ("softmax", "sigmoid"))
        declared = repr(resolved.output) if resolved.output else "not declared"
        raise InvalidArgumentError(
            f"loss: {resolved.name!r} does not define class probabilities: its output "
            f"activation is {declared}, expected a loss declaring output 'softmax' or "
            f"'sigmoid' (one of {known}, or a Loss(..., output=...))"
        )
    sigmoid = ACTIVATIONS["sigmoid"].value_kernel
    n = batch.shape[0]
    out = np.empty((n, 2 if binary else spec.n_out), dtype=dtype)
    for start in range(0, n, size):
        logits = apply_unchecked(spec, params, batch[start : start + size])
        rows = out[start : start + size]
        if binary:
            sigmoid(logits, rows[:, 1:])
            np.subtract(1, rows[:, 1], out=rows[:, 0])
        elif resolved.output == "sigmoid":
            sigmoid(logits, rows)
        else:
            rows[...] = softmax(logits)
    return out
