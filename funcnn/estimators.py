"""scikit-learn estimators built on :func:`funcnn.fit`: :class:`MLPClassifier` and
:class:`MLPRegressor` (extra ``funcnn[sklearn]``).

They follow scikit-learn's estimator API, so they work in a ``Pipeline``,
``GridSearchCV`` or ``cross_val_score``: hyper-parameters are the ``__init__``
arguments, stored as given (``get_params`` / ``set_params`` / ``clone``); ``fit``
validates the data with scikit-learn's own checks and learns the attributes ending in
``_``; ``predict``, ``predict_proba`` and ``score`` come after. The names of the
hyper-parameters are scikit-learn's ``MLPClassifier``'s where funcnn has the same
thing (``hidden_layer_sizes``, ``activation``, ``solver``, ``learning_rate_init``,
``batch_size``, ``max_iter``, ``tol``, ``n_iter_no_change``, ``early_stopping``,
``validation_fraction``, ``random_state``, ``verbose``); ``weight_decay`` is funcnn's
decoupled weight decay (AdamW / SGD ``weight_decay``), not scikit-learn's ``alpha``
L2 penalty on the loss.

Training is one call of :func:`funcnn.fit` for ``max_iter`` epochs with callbacks:
without ``early_stopping`` it stops once the training loss has not improved by more
than ``tol`` for ``n_iter_no_change`` epochs (scikit-learn's convergence rule); with
it, a ``validation_fraction`` split (drawn from the estimator's generator) is held out,
training stops when its loss stops improving, and the best epoch's parameters are kept.
``partial_fit`` trains one epoch per call, resuming the run exactly as ``fit(history=,
opt_state=)`` does.

``random_state``: an int seeds ``numpy.random.default_rng``; ``None`` or a
``numpy.random.RandomState`` draws that seed from the RandomState (``None``: numpy's
global one), as scikit-learn does; a ``numpy.random.Generator`` is used directly.
Float32 inputs train in float32, anything else in float64.

The classifier has one output per class (at least two) and the softmax cross-entropy
loss; the regressor one output per target and the mean squared error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from funcnn.core.initializers import init
from funcnn.core.network import apply
from funcnn.core.spec import MLP
from funcnn.reporting.metrics import predict as predict_classes
from funcnn.reporting.metrics import predict_proba as predict_probabilities
from funcnn.training.callbacks import EarlyStopping
from funcnn.training.history import History
from funcnn.training.loop import fit
from funcnn.training.optimizers import Optimizer, adam, sgd

__all__ = ["MLPClassifier", "MLPRegressor"]

_FLOATS = (np.float64, np.float32)


def _generator(random_state: Any) -> np.random.Generator:
    """The estimator's ``numpy.random.Generator`` from ``random_state`` (module docstring)."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, int | np.integer) and not isinstance(random_state, bool):
        return np.random.default_rng(int(random_state))
    state = check_random_state(random_state)  # None: numpy's global RandomState
    return np.random.default_rng(state.randint(np.iinfo(np.int32).max))


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name}: expected an int >= {low}, got {value!r}")
    return int(value)


def _check_fraction(name: str, value: Any, *, closed: bool) -> float:
    number = isinstance(value, int | float | np.integer | np.floating)
    ok = number and not isinstance(value, bool) and (
        0 <= float(value) < 1 if closed else 0 < float(value) < 1)
    if not ok:
        raise ValueError(f"{name}: expected a number in {'[0, 1)' if closed else '(0, 1)'}, "
                         f"got {value!r}")
    return float(value)


class _FuncnnMLP(BaseEstimator):  # type: ignore[misc]
    """What both estimators share: hyper-parameters, training, the fitted network."""

    _loss = "softmax_cross_entropy"

    def __init__(
        self,
        hidden_layer_sizes: tuple[int, ...] = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        learning_rate_init: float = 1e-3,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        batch_size: int | str = "auto",
        max_iter: int = 200,
        shuffle: bool = True,
        tol: float = 1e-4,
        n_iter_no_change: int = 10,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ checks

    def _optimizer(self) -> Optimizer:
        """The optimizer the hyper-parameters name (funcnn checks the numbers)."""
        if self.solver == "adam":
            return adam(self.learning_rate_init, weight_decay=self.weight_decay)
        if self.solver == "sgd":
            return sgd(self.learning_rate_init, momentum=self.momentum,
                       weight_decay=self.weight_decay)
        raise ValueError(f"solver: expected 'adam' or 'sgd', got {self.solver!r}")

    def _hidden(self) -> tuple[int, ...]:
        sizes: Any = self.hidden_layer_sizes
        sizes = (sizes,) if isinstance(sizes, int | np.integer) else tuple(sizes)
        return tuple(_check_int("hidden_layer_sizes", s, 1) for s in sizes)

    def _batch(self, n: int) -> int:
        if self.batch_size == "auto":
            return min(200, n)
        return min(_check_int("batch_size", self.batch_size, 1), n)

    def _stopping(self) -> tuple[EarlyStopping, float | None]:
        """The callback ending training, and the validation fraction it needs."""
        patience = _check_int("n_iter_no_change", self.n_iter_no_change, 1)
        tol: Any = self.tol
        if (isinstance(tol, bool) or not isinstance(tol, int | float | np.integer | np.floating)
                or not float(tol) >= 0):
            raise ValueError(f"tol: expected a number >= 0, got {tol!r}")
        if not isinstance(self.early_stopping, bool):
            raise ValueError(f"early_stopping: expected a bool, got {self.early_stopping!r}")
        if self.early_stopping:
            fraction = _check_fraction("validation_fraction", self.validation_fraction,
                                       closed=False)
            return EarlyStopping("test_loss", patience=patience, min_delta=float(tol),
                                 restore_best=True), fraction
        return EarlyStopping("train_loss", patience=patience, min_delta=float(tol)), None

    # ------------------------------------------------------------------ training

    def _train(self, x: Any, targets: Any, n_out: int) -> None:
        """Fit a fresh network with ``n_out`` outputs on validated ``x`` and targets."""
        hidden = self._hidden()
        max_iter = _check_int("max_iter", self.max_iter, 1)
        stopper, fraction = self._stopping()
        optimizer = self._optimizer()
        spec = MLP((x.shape[1], *hidden, n_out), activation=self.activation)
        rng = _generator(self.random_state)
        params = init(spec, rng, dtype=x.dtype)
        params, state, history = fit(
            spec, params, optimizer, x, targets, epochs=max_iter,
            batch_size=self._batch(x.shape[0]), rng=rng, loss=self._loss,
            shuffle=self.shuffle, callback=stopper, verbose=self.verbose,
            validation_split=fraction,
        )
        self._rng = rng  # partial_fit carries on with it
        self._learned(spec, params, state, history)
        self.best_epoch_ = stopper.best_epoch
        if self.early_stopping:
            self.validation_loss_curve_ = list(history.epoch_test_loss)

    def _one_more_epoch(self, x: Any, targets: Any, n_out: int) -> None:
        """One epoch on ``x``: of a fresh network at first, then of the fitted one."""
        optimizer = self._optimizer()
        if not hasattr(self, "params_"):
            spec = MLP((x.shape[1], *self._hidden(), n_out), activation=self.activation)
            self._rng = _generator(self.random_state)
            params, state, past = init(spec, self._rng, dtype=x.dtype), None, None
        else:
            spec, params, state = self.spec_, self.params_, self.opt_state_
            h = self.history_  # its training record: partial_fit evaluates nothing
            past = History(epoch_train_loss=h.epoch_train_loss,
                           epoch_train_accuracy=h.epoch_train_accuracy,
                           epoch_time=h.epoch_time, epoch_steps=h.epoch_steps)
        params, state, history = fit(
            spec, params, optimizer, x, targets, epochs=1, batch_size=self._batch(x.shape[0]),
            rng=self._rng, loss=self._loss, shuffle=self.shuffle, opt_state=state,
            history=past, verbose=self.verbose,
        )
        self._learned(spec, params, state, history)

    def _learned(self, spec: MLP, params: Any, state: Any, history: History) -> None:
        self.spec_, self.params_, self.opt_state_, self.history_ = spec, params, state, history
        self.n_iter_ = history.epochs
        self.loss_curve_ = list(history.epoch_train_loss)
        self.loss_ = self.loss_curve_[-1]

    def _inputs(self, x: Any) -> Any:
        """``x`` checked against the fitted network, in its dtype."""
        check_is_fitted(self)
        return validate_data(self, x, reset=False, dtype=self.params_[0]["W"].dtype)


class MLPClassifier(ClassifierMixin, _FuncnnMLP):  # type: ignore[misc]
    """A funcnn multilayer perceptron classifier with scikit-learn's estimator API.

    See the module docstring for the hyper-parameters. Learns ``classes_`` (sorted
    labels), ``n_features_in_``, ``spec_`` and ``params_`` (the funcnn network),
    ``opt_state_``, ``history_`` (a :class:`funcnn.History`), ``n_iter_`` (epochs
    run), ``loss_`` and ``loss_curve_`` (training loss per epoch), ``best_epoch_``.

        >>> import numpy as np
        >>> from funcnn.estimators import MLPClassifier
        >>> x = np.random.default_rng(0).standard_normal((60, 2))
        >>> y = np.where(x[:, 0] > 0, "right", "left")
        >>> clf = MLPClassifier((8,), learning_rate_init=0.05, max_iter=50, random_state=0)
        >>> clf.fit(x, y).classes_
        array(['left', 'right'], dtype='<U5')
        >>> clf.score(x, y) > 0.9
        True
    """

    def fit(self, X: Any, y: Any) -> MLPClassifier:
        """Train on ``X`` ``(n_samples, n_features)`` and class labels ``y``."""
        x, labels = validate_data(self, X, y, dtype=_FLOATS)
        check_classification_targets(labels)
        classes, index = np.unique(labels, return_inverse=True)
        if classes.size < 2:
            raise ValueError(f"y: a classifier needs at least two classes, got one class "
                             f"({classes[0]!r})")
        self.classes_ = classes
        self._train(x, index.astype(np.int64), classes.size)
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MLPClassifier:
        """One more epoch on ``X``, ``y`` (a fresh network at the first call).

        The first call needs ``classes``, every label ``y`` can take in any call (unless
        ``fit`` ran before); later calls may repeat it. The hyper-parameters are used as
        in ``fit`` but for the stopping rules: each call trains exactly one epoch.
        """
        first = not hasattr(self, "classes_")
        dtype = _FLOATS if first else self.params_[0]["W"].dtype
        x, labels = validate_data(self, X, y, dtype=dtype, reset=first)
        check_classification_targets(labels)
        if first:
            if classes is None:
                raise ValueError("classes: required in the first call to partial_fit (every "
                                 "label y can take)")
            known = np.unique(classes)
            if known.size < 2:
                raise ValueError("classes: a classifier needs at least two classes, got one "
                                 "class")
            self.classes_ = known
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(f"classes: {np.unique(classes)!r} differ from the classes "
                             f"{self.classes_!r} of the first call")
        index = np.searchsorted(self.classes_, labels).clip(0, self.classes_.size - 1)
        unknown = self.classes_[index] != labels
        if unknown.any():
            raise ValueError(f"y: labels {np.unique(labels[unknown])!r} are not in classes "
                             f"{self.classes_!r}")
        self._one_more_epoch(x, index.astype(np.int64), self.classes_.size)
        return self

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities ``(n_samples, n_classes)``, columns in ``classes_`` order."""
        x = self._inputs(X)
        return predict_probabilities(self.spec_, self.params_, x, self._loss)

    def predict(self, X: Any) -> Any:
        """The most probable class of each sample (a label from ``classes_``)."""
        x = self._inputs(X)
        return self.classes_[predict_classes(self.spec_, self.params_, x)]


class MLPRegressor(RegressorMixin, _FuncnnMLP):  # type: ignore[misc]
    """A funcnn multilayer perceptron regressor with scikit-learn's estimator API.

    See the module docstring for the hyper-parameters. Linear outputs, mean squared
    error; ``y`` is ``(n_samples,)`` or ``(n_samples, n_targets)`` and ``predict``
    returns the same shape. Learns the attributes :class:`MLPClassifier` lists but
    ``classes_``.

        >>> import numpy as np
        >>> from funcnn.estimators import MLPRegressor
        >>> x = np.random.default_rng(0).uniform(-1, 1, (100, 1))
        >>> reg = MLPRegressor((16,), learning_rate_init=0.02, max_iter=300, random_state=0)
        >>> reg.fit(x, 2 * x[:, 0] + 1).score(x, 2 * x[:, 0] + 1) > 0.95
        True
    """

    _loss = "mse"

    def fit(self, X: Any, y: Any) -> MLPRegressor:
        """Train on ``X`` ``(n_samples, n_features)`` and real targets ``y``."""
        x, targets = validate_data(self, X, y, dtype=_FLOATS, multi_output=True,
                                   y_numeric=True)
        targets = np.asarray(targets, dtype=x.dtype)
        self._one_target = targets.ndim == 1
        self._train(x, targets.reshape(x.shape[0], -1), 1 if targets.ndim == 1 else
                    targets.shape[1])
        return self

    def partial_fit(self, X: Any, y: Any) -> MLPRegressor:
        """One more epoch on ``X``, ``y`` (a fresh network at the first call); the
        targets keep the shape of the first call's."""
        first = not hasattr(self, "params_")
        dtype = _FLOATS if first else self.params_[0]["W"].dtype
        x, targets = validate_data(self, X, y, dtype=dtype, multi_output=True, y_numeric=True,
                                   reset=first)
        targets = np.asarray(targets, dtype=x.dtype)
        if first:
            self._one_target = targets.ndim == 1
        n_out = 1 if targets.ndim == 1 else targets.shape[1]
        if not first and n_out != self.spec_.n_out:
            raise ValueError(f"y: {n_out} targets, but the first call had {self.spec_.n_out}")
        self._one_more_epoch(x, targets.reshape(x.shape[0], -1), n_out)
        return self

    def predict(self, X: Any) -> Any:
        """Predicted targets, ``(n_samples,)`` or ``(n_samples, n_targets)`` as in fit."""
        x = self._inputs(X)
        out = apply(self.spec_, self.params_, x)
        return out[:, 0] if self._one_target else out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
