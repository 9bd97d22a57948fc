"""funcnn.estimators: scikit-learn's check_estimator, and what the estimators add to fit."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import check_estimator

import funcnn as fn
from funcnn.estimators import MLPClassifier, MLPRegressor

# Small networks and 50 epochs: every check in about a second. The defaults (100 units,
# 200 epochs) pass too, in ~35 s of CPU: the slow test below.
SMALL: dict[str, Any] = {"hidden_layer_sizes": (16,), "learning_rate_init": 0.01, "max_iter": 50}


def run_checks(estimator: Any) -> None:
    results = check_estimator(estimator, on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results
              if r["status"] == "failed"]
    assert failed == []
    # Only optional third parties' checks may skip (pandas, array API).
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert skipped <= {"check_array_api_input", "check_classifier_data_not_an_array",
                       "check_regressor_data_not_an_array",
                       "check_dataframe_column_names_consistency"}
    assert len(results) - len(skipped) >= 45


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
@pytest.mark.parametrize("estimator", [MLPClassifier(**SMALL), MLPRegressor(**SMALL)],
                         ids=["classifier", "regressor"])
def test_check_estimator(estimator: Any) -> None:
    run_checks(estimator)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
@pytest.mark.parametrize("estimator", [MLPClassifier(), MLPRegressor()],
                         ids=["classifier", "regressor"])
def test_check_estimator_with_the_defaults(estimator: Any) -> None:
    run_checks(estimator)


def blobs(n: int = 150, seed: int = 0) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    centers = np.array([[0.0, 3.0], [3.0, 0.0], [-3.0, -3.0]])
    y = rng.integers(0, 3, n)
    return centers[y] + rng.standard_normal((n, 2)), np.array(["a", "b", "c"])[y]


def test_classifier_is_fit_with_the_training_loop_and_reproducible() -> None:
    x, y = blobs()
    clf = MLPClassifier(**SMALL, random_state=3).fit(x, y)
    assert list(clf.classes_) == ["a", "b", "c"] and clf.n_features_in_ == 2
    assert clf.score(x, y) > 0.95
    assert isinstance(clf.history_, fn.History) and clf.n_iter_ == clf.history_.epochs
    # The same as fit by hand: seed 3's generator initialises, then shuffles.
    rng = np.random.default_rng(3)
    spec = fn.MLP((2, 16, 3))
    labels = np.unique(y, return_inverse=True)[1]
    stopper = fn.EarlyStopping("train_loss", patience=10, min_delta=1e-4)
    params, _, history = fn.fit(spec, fn.init(spec, rng), fn.adam(0.01), x, labels,
                                epochs=50, batch_size=150, rng=rng, callback=stopper)
    assert all(np.array_equal(a, b) for a, b in
               zip(fn.tree_leaves(params), fn.tree_leaves(clf.params_), strict=True))
    assert clf.loss_curve_ == list(history.epoch_train_loss)
    again = clone(clf).fit(x, y)
    assert np.array_equal(again.predict_proba(x), clf.predict_proba(x))
    proba = clf.predict_proba(x)
    assert np.array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(x))
    assert pickle.loads(pickle.dumps(clf)).predict(x).tolist() == clf.predict(x).tolist()


def test_float32_trains_in_float32_and_random_states() -> None:
    x, y = blobs()
    clf = MLPClassifier(**SMALL, random_state=np.random.default_rng(0)).fit(
        x.astype(np.float32), y)
    assert clf.params_[0]["W"].dtype == np.float32
    assert clf.predict_proba(x).dtype == np.float32  # inputs follow the network
    # A RandomState seeds the generator by one draw, as scikit-learn's estimators do.
    a = MLPClassifier(**SMALL, random_state=np.random.RandomState(7)).fit(x, y)
    b = MLPClassifier(**SMALL, random_state=np.random.RandomState(7)).fit(x, y)
    assert np.array_equal(a.predict_proba(x), b.predict_proba(x))


def test_early_stopping_holds_out_a_split_and_keeps_the_best_epoch() -> None:
    x, y = blobs(300)
    clf = MLPClassifier((16,), learning_rate_init=0.05, max_iter=200, early_stopping=True,
                        n_iter_no_change=3, validation_fraction=0.2, random_state=0).fit(x, y)
    curve = clf.validation_loss_curve_
    assert len(curve) == clf.n_iter_ < 200
    assert clf.best_epoch_ is not None and curve[clf.best_epoch_ - 1] == min(curve)


def test_regressor_shapes_and_multi_output() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (80, 3))
    y2 = np.stack([x.sum(axis=1), x[:, 0] - x[:, 1]], axis=1)
    reg = MLPRegressor(**SMALL, random_state=0).fit(x, y2)
    assert reg.predict(x).shape == (80, 2)
    one = MLPRegressor(**SMALL, random_state=0).fit(x, y2[:, 0])
    assert one.predict(x).shape == (80,)
    assert np.array_equal(one.predict(x), fn.apply(one.spec_, one.params_, x)[:, 0])


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"solver": "lbfgs"}, "solver: expected 'adam' or 'sgd'"),
        ({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes: expected an int >= 1"),
        ({"max_iter": 0}, "max_iter"),
        ({"batch_size": "big"}, "batch_size"),
        ({"n_iter_no_change": 0}, "n_iter_no_change"),
        ({"tol": -1.0}, "tol"),
        ({"early_stopping": True, "validation_fraction": 1.0}, "validation_fraction"),
        ({"activation": "logistic"}, "activation"),
    ],
)
def test_bad_hyper_parameters_name_themselves(change: dict[str, Any], match: str) -> None:
    x, y = blobs(30)
    with pytest.raises(ValueError, match=match):
        MLPClassifier(**{**SMALL, **change}).fit(x, y)


def test_one_class_and_unfitted_are_clear_errors() -> None:
    x, _ = blobs(20)
    with pytest.raises(ValueError, match="one class"):
        MLPClassifier().fit(x, np.zeros(20))
    with pytest.raises(NotFittedError):
        MLPRegressor().predict(x)


def test_grid_search_on_a_dask_cluster() -> None:
    """docs/estimators.md's Dask search: joblib's Dask backend on a local cluster gives
    the scores of the same search run without Dask. Skips where distributed is absent
    (CI does not install it); the docs say so."""
    dist = pytest.importorskip("distributed")
    import joblib
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = blobs(120)
    model = make_pipeline(StandardScaler(), MLPClassifier((8,), max_iter=20, random_state=0))
    grid = {"mlpclassifier__hidden_layer_sizes": [(4,), (8,)],
            "mlpclassifier__learning_rate_init": [0.003, 0.03]}
    with dist.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                           dashboard_address=None) as cluster, dist.Client(cluster) as client:
        search = GridSearchCV(model, grid, cv=3)
        with joblib.parallel_backend("dask"), dist.get_task_stream(client) as stream:
            search.fit(x, y)
    # The fits ran as tasks on the cluster (joblib batches them: at least one task).
    assert len(stream.data) >= 1
    plain = GridSearchCV(model, grid, cv=3).fit(x, y)
    assert search.best_params_ == plain.best_params_
    assert np.allclose(search.cv_results_["mean_test_score"],
                       plain.cv_results_["mean_test_score"])


def test_partial_fit_is_fit_resumed_one_epoch_at_a_time() -> None:
    x, y = blobs()
    clf = MLPClassifier(**{**SMALL, "batch_size": 32}, random_state=4)
    with pytest.raises(ValueError, match="classes: required"):
        clf.partial_fit(x, y)
    clf.partial_fit(x, y, classes=["a", "b", "c"]).partial_fit(x, y)
    rng = np.random.default_rng(4)
    spec = fn.MLP((2, 16, 3))
    labels = np.unique(y, return_inverse=True)[1]
    params, _, history = fn.fit(spec, fn.init(spec, rng), fn.adam(0.01), x, labels,
                                epochs=2, batch_size=32, rng=rng)
    assert all(np.array_equal(a, b) for a, b in
               zip(fn.tree_leaves(params), fn.tree_leaves(clf.params_), strict=True))
    assert clf.n_iter_ == 2 and clf.loss_curve_ == list(history.epoch_train_loss)
    with pytest.raises(ValueError, match="not in classes"):
        clf.partial_fit(x[:3], np.array(["a", "b", "z"]))
    with pytest.raises(ValueError, match="differ from the classes"):
        clf.partial_fit(x, y, classes=["a", "b"])
    reg = MLPRegressor(**SMALL, random_state=0).partial_fit(x, x[:, 0])
    assert reg.partial_fit(x, x[:, 0]).n_iter_ == 2 and reg.predict(x).shape == (150,)
    with pytest.raises(ValueError, match="2 targets, but the first call had 1"):
        reg.partial_fit(x, x)
