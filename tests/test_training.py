"""Tests for funcnn.training.loop: fit against a hand-written loop, history, resume, divergence."""

from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import funcnn as fn
from funcnn.core.network import check_params
from funcnn.training._blas import fused_update_for
from funcnn.training.loop import BatchEnd, EpochEnd, History, TrainingDivergedError, evaluate, fit
from funcnn.training.optimizers import Optimizer, adam, sgd

SPEC = fn.MLP((6, 8, 5, 3), ("relu", "tanh"))


def _data(n: int = 37, dtype: Any = np.float64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(dtype)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)
    return x, y


def _params(dtype: Any = np.float64, spec: fn.MLP = SPEC) -> fn.Params:
    return fn.init(spec, np.random.default_rng(1), dtype=dtype)


def _manual(
    spec: fn.MLP,
    params: fn.Params,
    opt: Optimizer,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch: int,
    seed: int | None,
    drop_last: bool = False,
    loss: str = "softmax_cross_entropy",
) -> tuple[fn.Params, list[float]]:
    """The documented algorithm written out with the public, validated functions."""
    rng = None if seed is None else np.random.default_rng(seed)
    state = opt.init(params)
    n = len(x)
    batch_losses = []
    for _ in range(epochs):
        order = rng.permutation(n) if rng is not None and batch < n else np.arange(n)
        stop = n - n % batch if drop_last else n
        for lo in range(0, stop, batch):
            idx = order[lo : lo + batch]
            value, grads = fn.value_and_grad(spec, params, x[idx], y[idx], loss=loss)
            batch_losses.append(value)
            params, state = opt.update(grads, state, params)
    return params, batch_losses


def _assert_close(a: fn.Params, b: fn.Params, rtol: float = 1e-10) -> None:
    for p, q in zip(fn.tree_leaves(a), fn.tree_leaves(b), strict=True):
        assert p.dtype == q.dtype
        np.testing.assert_allclose(p, q, rtol=rtol, atol=1e-12)


def _assert_equal(a: Any, b: Any) -> None:
    for p, q in zip(fn.tree_leaves(a), fn.tree_leaves(b), strict=True):
        np.testing.assert_array_equal(p, q)


@pytest.mark.parametrize(
    ("batch", "drop_last"), [(1, False), (5, False), (5, True), (37, False), (36, True)]
)
@pytest.mark.parametrize(
    "opt",
    [sgd(0.1), sgd(0.05, momentum=0.9, nesterov=True, weight_decay=1e-3), adam(0.01)],
    ids=["sgd", "nesterov", "adam"],
)
def test_fit_matches_the_written_out_loop(batch: int, drop_last: bool, opt: Optimizer) -> None:
    x, y = _data()
    params = _params()
    got, state, history = fit(
        SPEC,
        params,
        opt,
        x,
        y,
        epochs=2,
        batch_size=batch,
        rng=np.random.default_rng(7),
        drop_last=drop_last,
        log_every=1,
    )
    want, losses = _manual(
        SPEC, params, opt, x, y, epochs=2, batch=batch, seed=7, drop_last=drop_last
    )
    _assert_close(got, want)
    steps = 37 // batch if drop_last else -(-37 // batch)
    assert history.epoch_steps == (steps, steps)
    assert int(state["count"]) == 2 * steps
    np.testing.assert_allclose(history.batch_losses, losses, rtol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["relu", "tanh", "identity"])
def test_plain_sgd_gives_the_same_bits_with_and_without_fused_blas_updates(
    monkeypatch: pytest.MonkeyPatch, dtype: Any, activation: str
) -> None:
    # fit's plain-SGD step subtracts each weight gradient inside its BLAS product where
    # funcnn.training._blas finds that bit-identical; switching it off must change no bit, on
    # full and partial batches alike (37 samples, batch 8).
    if fused_update_for(8, 6, 9, dtype) is None:
        pytest.skip("this numpy build has no bit-identical fused kernel to compare")
    spec = fn.MLP((6, 9, 7, 3), activation=activation)
    rng = np.random.default_rng(2)
    params = fn.init(spec, rng, dtype=dtype)
    x = rng.standard_normal((37, 6)).astype(dtype)
    y = rng.integers(0, 3, size=37)

    def run() -> fn.Params:
        return fit(spec, params, sgd(0.1), x, y, epochs=2, batch_size=8,
                   rng=np.random.default_rng(5))[0]

    fused = run()
    monkeypatch.setattr("funcnn.training.step.fused_update_for", lambda *args: None)
    _assert_equal(fused, run())


def test_generic_losses_and_float_targets_match_the_loop() -> None:
    x, y = _data()
    onehot = np.eye(3)[y]
    params = _params()
    for loss, targets in [
        ("mse", y),
        ("softmax_then_cross_entropy", y),
        ("softmax_cross_entropy", onehot),
    ]:
        got, _, history = fit(
            SPEC,
            params,
            sgd(0.1),
            x,
            targets,
            epochs=2,
            batch_size=8,
            rng=np.random.default_rng(3),
            loss=loss,
        )
        want, _ = _manual(SPEC, params, sgd(0.1), x, targets, epochs=2, batch=8, seed=3, loss=loss)
        _assert_close(got, want)
        assert len(history.epoch_train_accuracy) == 2


def test_no_shuffle_uses_data_in_order_and_ignores_rng() -> None:
    x, y = _data()
    params = _params()
    got, _, _ = fit(SPEC, params, sgd(0.1), x, y, epochs=2, batch_size=4, rng=None, shuffle=False)
    want, _ = _manual(SPEC, params, sgd(0.1), x, y, epochs=2, batch=4, seed=None)
    _assert_close(got, want)


def test_full_batch_default_does_not_touch_rng() -> None:
    x, y = _data()
    rng = np.random.default_rng(0)
    before = copy.deepcopy(rng.bit_generator.state)
    fit(SPEC, _params(), sgd(0.1), x, y, epochs=3, batch_size=None, rng=rng)
    assert rng.bit_generator.state == before


def test_fit_is_pure_and_advances_rng_once_per_epoch() -> None:
    x, y = _data(dtype=np.float32)
    params = _params(np.float32)
    saved = copy.deepcopy((params, x, y))
    rng = np.random.default_rng(11)
    new, state, _ = fit(SPEC, params, adam(0.01), x, y, epochs=3, batch_size=4, rng=rng)
    _assert_equal(saved, (params, x, y))
    reference = np.random.default_rng(11)
    for _ in range(3):
        reference.permutation(len(x))
    assert rng.bit_generator.state == reference.bit_generator.state
    assert all(leaf.dtype == np.float32 for leaf in fn.tree_leaves((new, state["mu"])))
    for a, b in zip(fn.tree_leaves(new), fn.tree_leaves(params), strict=True):
        assert not np.shares_memory(a, b)


def test_history_contents() -> None:
    x, y = _data()
    xt, yt = _data(n=11, seed=5)
    batch_events: list[BatchEnd] = []
    epoch_events: list[EpochEnd] = []

    def callback(event: BatchEnd | EpochEnd) -> None:
        (batch_events if isinstance(event, BatchEnd) else epoch_events).append(event)  # type: ignore[arg-type]

    params, state, history = fit(
        SPEC,
        _params(),
        sgd(0.1),
        x,
        y,
        epochs=3,
        batch_size=5,
        rng=np.random.default_rng(0),
        x_test=xt,
        y_test=yt,
        log_every=3,
        callback=callback,
        callback_every=2,
    )
    assert history.epochs == 3 and history.steps == 24 and history.batch_interval == 3
    assert len(history.batch_losses) == 8
    for name in (
        "epoch_train_loss",
        "epoch_train_accuracy",
        "epoch_test_loss",
        "epoch_test_accuracy",
        "epoch_time",
    ):
        assert len(getattr(history, name)) == 3
    # Batch events every 2nd batch plus each epoch's last (8 batches: 2, 4, 6, 8).
    assert [e.batch for e in batch_events] == [2, 4, 6, 8] * 3
    assert [e.epoch for e in epoch_events] == [1, 2, 3]
    assert all(e.n_batches == 8 for e in batch_events)
    assert all(e.last_epoch == 3 for e in epoch_events)
    # The last epoch event carries the final state (as copies) and history.
    _assert_equal(epoch_events[-1].params, params)
    _assert_equal(epoch_events[-1].opt_state, state)
    assert epoch_events[-1].history == history
    assert epoch_events[0].history.epochs == 1
    # Test metrics are the evaluation of the final parameters.
    loss, acc = evaluate(SPEC, params, xt, yt)
    assert history.epoch_test_loss[-1] == pytest.approx(loss, rel=1e-12)
    assert history.epoch_test_accuracy[-1] == acc
    assert 0 <= min(history.epoch_train_accuracy) <= max(history.epoch_train_accuracy) <= 1
    assert History.from_json(history.to_json()) == history
    json.dumps(history.to_dict())


def test_running_train_metrics_are_batch_weighted() -> None:
    # Without shuffling and with a partial last batch, the epoch loss is the mean over
    # samples of the loss each batch saw, and accuracy counts argmax hits before updates.
    x, y = _data()
    params = _params()
    _, _, history = fit(
        SPEC, params, sgd(0.05), x, y, epochs=1, batch_size=10, rng=None, shuffle=False
    )
    state = sgd(0.05).init(params)
    total, correct = 0.0, 0
    for lo in range(0, 37, 10):
        xb, yb = x[lo : lo + 10], y[lo : lo + 10]
        correct += int((np.argmax(fn.apply(SPEC, params, xb), axis=1) == yb).sum())
        value, grads = fn.value_and_grad(SPEC, params, xb, yb)
        total += value * len(xb)
        params, state = sgd(0.05).update(grads, state, params)
    assert history.epoch_train_loss[0] == pytest.approx(total / 37, rel=1e-12)
    assert history.epoch_train_accuracy[0] == correct / 37


def _resume_run(opt: Optimizer, split: int, total: int = 4) -> tuple[Any, ...]:
    x, y = _data(dtype=np.float32)
    xt, yt = _data(n=9, dtype=np.float32, seed=4)
    params = _params(np.float32)
    kw: dict[str, Any] = {"batch_size": 6, "x_test": xt, "y_test": yt, "log_every": 4}
    rng = np.random.default_rng(123)
    p1, s1, h1 = fit(SPEC, params, opt, x, y, epochs=split, rng=rng, **kw)
    saved_rng = copy.deepcopy(rng.bit_generator.state)
    resumed = np.random.default_rng()
    resumed.bit_generator.state = saved_rng
    return fit(
        SPEC, p1, opt, x, y, epochs=total - split, rng=resumed, opt_state=s1, history=h1, **kw
    )


@pytest.mark.parametrize(
    "opt",
    [sgd(0.1), sgd(0.05, momentum=0.9), adam(0.01, weight_decay=0.01)],
    ids=["sgd", "momentum", "adamw"],
)
def test_resume_is_bit_identical(opt: Optimizer) -> None:
    x, y = _data(dtype=np.float32)
    xt, yt = _data(n=9, dtype=np.float32, seed=4)
    straight = fit(
        SPEC,
        _params(np.float32),
        opt,
        x,
        y,
        epochs=4,
        rng=np.random.default_rng(123),
        batch_size=6,
        x_test=xt,
        y_test=yt,
        log_every=4,
    )
    for split in (1, 3):
        resumed = _resume_run(opt, split)
        _assert_equal(resumed[0], straight[0])
        _assert_equal(resumed[1], straight[1])
        for name in (
            "epoch_train_loss",
            "epoch_train_accuracy",
            "epoch_test_loss",
            "epoch_test_accuracy",
            "epoch_steps",
            "batch_losses",
        ):
            assert getattr(resumed[2], name) == getattr(straight[2], name)


def test_divergence_names_epoch_and_batch_and_keeps_good_params() -> None:
    x, y = _data()
    x = x * 100
    with pytest.raises(TrainingDivergedError) as info:
        fit(
            fn.MLP((6, 8, 3), "identity"),
            _params(spec=fn.MLP((6, 8, 3), "identity")),
            sgd(50.0),
            x,
            y,
            epochs=5,
            batch_size=4,
            rng=np.random.default_rng(0),
        )
    err = info.value
    assert isinstance(err, fn.NonFiniteError) and isinstance(err, FloatingPointError)
    assert f"epoch {err.epoch}, batch {err.batch} of 10" in str(err)
    assert err.epoch >= 1 and 1 <= err.batch <= 10
    assert all(np.isfinite(leaf).all() for leaf in fn.tree_leaves(err.params))
    check_params(fn.MLP((6, 8, 3), "identity"), err.params)  # finite, right shapes
    assert err.history.epochs == err.epoch - 1


def test_divergence_in_first_batch_returns_initial_params() -> None:
    spec = fn.MLP((2, 2), "relu")
    params = [{"W": np.full((2, 2), 1e38, dtype=np.float32), "b": np.zeros(2, np.float32)}]
    x = np.full((4, 2), 10.0, dtype=np.float32)
    with pytest.raises(TrainingDivergedError, match="epoch 1, batch 1 of 2") as info:
        fit(
            spec,
            params,
            sgd(0.1),
            x,
            np.array([0, 1, 0, 1]),
            epochs=1,
            batch_size=2,
            rng=None,
            shuffle=False,
        )
    _assert_equal(info.value.params, params)


@settings(max_examples=15)
@given(
    n=st.integers(1, 20),
    batch=st.integers(1, 20),
    drop_last=st.booleans(),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 1000),
)
def test_fit_shapes_and_step_counts(
    n: int, batch: int, drop_last: bool, dtype: Any, seed: int
) -> None:
    batch = min(batch, n)
    x, y = _data(n=n, dtype=dtype, seed=seed)
    params, _, history = fit(
        SPEC,
        _params(dtype),
        sgd(0.01),
        x,
        y,
        epochs=2,
        batch_size=batch,
        rng=np.random.default_rng(seed),
        drop_last=drop_last,
    )
    steps = n // batch if drop_last else -(-n // batch)
    assert history.epoch_steps == (steps, steps)
    assert fn.tree_structure(params) == fn.tree_structure(_params(dtype))
    assert all(leaf.dtype == dtype and np.isfinite(leaf).all() for leaf in fn.tree_leaves(params))


def test_evaluate_matches_loss_and_handles_single_output() -> None:
    x, y = _data(n=5000)
    params = _params()
    loss, acc = evaluate(SPEC, params, x, y)
    assert loss == pytest.approx(fn.loss(SPEC, params, x, y), rel=1e-12)
    assert acc == np.mean(np.argmax(fn.apply(SPEC, params, x), axis=1) == y)
    binary = fn.MLP((6, 1))
    bp = _params(spec=binary)
    value, none = evaluate(binary, bp, x, (y > 0).astype(np.int64), loss="binary_cross_entropy")
    assert none is None and np.isfinite(value)
    _, _, h = fit(
        binary,
        bp,
        sgd(0.1),
        x[:20],
        (y[:20] > 0).astype(np.int64),
        epochs=1,
        batch_size=5,
        rng=np.random.default_rng(0),
        loss="binary_cross_entropy",
    )
    assert h.epoch_train_accuracy == ()


def test_evaluate_overflow_is_a_clear_error() -> None:
    spec = fn.MLP((2, 2), "relu")
    params = [{"W": np.full((2, 2), 3e38, dtype=np.float32), "b": np.zeros(2, np.float32)}]
    params[0]["W"][:, 1] = -3e38
    with pytest.raises(fn.NonFiniteError, match="evaluate: the mean loss is (inf|nan)"):
        evaluate(spec, params, np.ones((3, 2), np.float32), np.array([1, 1, 1]))


def test_history_from_dict_rejects_malformed() -> None:
    good = History((1.0,), (), (), (), (0.1,), (3,), (0.5,), 3).to_dict()
    assert History.from_dict(good).steps == 3
    changes: list[tuple[dict[str, Any], str]] = [
        ({"epoch_time": []}, "epoch_time: has 0 entries"),
        ({"epoch_train_loss": ["x"]}, "expected numbers"),
        ({"batch_interval": 0}, "batch_interval"),
        ({"batch_losses": [1.0, 2.0]}, "expected 1 entries"),
        ({"epoch_steps": [1.5]}, "positive integers"),
        ({"epoch_train_loss": [10**400]}, "within float range"),
        ({"epoch_steps": [10**400]}, "within float range"),
    ]
    for change, match in changes:
        with pytest.raises(fn.InvalidArgumentError, match=match):
            History.from_dict({**good, **change})
    with pytest.raises(fn.InvalidArgumentError, match="expected keys"):
        History.from_dict({"epoch_train_loss": []})
    with pytest.raises(fn.InvalidArgumentError, match="not valid JSON"):
        History.from_json("{")


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"batch_size": 0}, ValueError, "batch_size: expected a positive integer"),
        ({"batch_size": 38}, ValueError, r"batch_size: 38 is larger than the training set \(37"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"epochs": 1.5}, TypeError, "epochs"),
        ({"x_train": "x32"}, TypeError, "x_train: dtype float32 does not match"),
        ({"x_train": "wide"}, ValueError, r"x_train: expected a 2-D array of shape \(N, 6\)"),
        (
            {"x_train": "nan"},
            ValueError,
            r"x_train: expected finite values, found nan at index \(36, 5\)",
        ),
        ({"x_train": "empty"}, ValueError, "x_train: empty batch"),
        ({"y_train": "short"}, ValueError, r"y_train: integer labels must have shape \(37,\)"),
        ({"y_train": "range"}, ValueError, r"y_train: labels must lie in \[0, 3\)"),
        ({"x_test": "only"}, ValueError, "x_test, y_test: pass both or neither"),
        ({"optimizer": "sgd"}, TypeError, "optimizer: expected a funcnn Optimizer"),
        ({"rng": None}, TypeError, "rng: expected a numpy.random.Generator to shuffle"),
        ({"rng": 0, "shuffle": False}, TypeError, "rng: expected a numpy.random.Generator"),
        ({"loss": "hinge"}, ValueError, "loss: unknown loss 'hinge'"),
        ({"log_every": 0}, ValueError, "log_every"),
        ({"history": "h"}, TypeError, "history: expected a History"),
        ({"history": "interval", "log_every": 5}, ValueError, "log_every: 5 differs"),
        ({"opt_state": "bad"}, ValueError, r"state: expected keys \['count'\]"),
        ({"callback": 3}, TypeError, "callback: expected a callable"),
        ({"callback_every": 0}, ValueError, "callback_every"),
        ({"shuffle": 1}, TypeError, "shuffle: expected a bool"),
        ({"params": "mixed"}, TypeError, "params"),
    ],
)
def test_bad_input(change: dict[str, Any], error: type[Exception], match: str) -> None:
    x, y = _data()
    params = _params()
    kwargs: dict[str, Any] = {
        "spec": SPEC,
        "params": params,
        "optimizer": sgd(0.1),
        "x_train": x,
        "y_train": y,
        "epochs": 1,
        "batch_size": 4,
        "rng": np.random.default_rng(0),
    }
    special = {
        "x32": x.astype(np.float32),
        "wide": np.zeros((37, 7)),
        "nan": _with_nan(x),
        "empty": np.zeros((0, 6)),
        "short": y[:-1],
        "range": np.where(y == 0, 3, y),
        "only": x,
        "h": "h",
        "interval": History(batch_interval=3),
        "bad": {"count": np.array(0), "velocity": params},
        "mixed": [{"W": params[0]["W"].astype(np.float32), "b": params[0]["b"]}, *params[1:]],
    }
    for key, value in change.items():
        kwargs[key] = special.get(value, value) if isinstance(value, str) else value
    if change.get("x_train") == "empty":
        kwargs["y_train"] = y[:0]
    with pytest.raises(error, match=match) as info:
        fit(**kwargs)
    assert isinstance(info.value, fn.FuncnnError)


def _with_nan(x: np.ndarray) -> np.ndarray:
    out = x.copy()
    out[36, 5] = np.nan
    return out


_OPTIMIZERS = {
    "sgd": sgd(0.1),
    "sgd_decay": sgd(0.1, weight_decay=1e-2),  # not fused: the decay must not be lost
    "momentum": sgd(0.05, momentum=0.9, weight_decay=1e-3),
    "nesterov": sgd(0.05, momentum=0.9, nesterov=True),
    "adam": adam(0.01, weight_decay=1e-3),
}


@pytest.mark.parametrize("opt_name", sorted(_OPTIMIZERS))
@pytest.mark.parametrize("loss", sorted(fn.LOSSES))
@pytest.mark.parametrize("activation", sorted(fn.ACTIVATIONS))
def test_fit_matches_the_loop_for_every_activation_loss_and_optimizer(
    activation: str, loss: str, opt_name: str
) -> None:
    # fit's step and the written-out loop (value_and_grad, then optimizer.update) must
    # agree for every combination; a partial last batch (37 = 4 * 8 + 5) included.
    spec = fn.MLP((6, 7, 5, 3), activation)
    x, y = _data()
    params = _params(spec=spec)
    opt = _OPTIMIZERS[opt_name]
    got, state, history = fit(spec, params, opt, x, y, epochs=2, batch_size=8, loss=loss,
                              rng=np.random.default_rng(3), log_every=1)
    want, losses = _manual(spec, params, opt, x, y, epochs=2, batch=8, seed=3, loss=loss)
    _assert_close(got, want, rtol=1e-9)
    np.testing.assert_allclose(history.batch_losses, losses, rtol=1e-12)
    assert int(state["count"]) == 10


def test_step_updates_in_place_and_matches_the_pure_update() -> None:
    x, y = _data()
    for opt in (sgd(0.1), adam(0.01)):
        params = _params()
        state = opt.init(params)
        want, want_state = opt.update(fn.grad(SPEC, params, x, y), state, params)
        step = fn.make_step(SPEC, opt)
        mine = copy.deepcopy(params)
        mine_state = copy.deepcopy(state)
        leaf = mine[0]["W"]
        got, got_state, value = step(mine, mine_state, x, y)
        assert got[0]["W"] is leaf  # donated: the arrays are updated in place
        assert got is not mine and got_state is not mine_state  # new outer list and dict
        assert value == pytest.approx(fn.loss(SPEC, params, x, y), rel=1e-12)
        _assert_close(got, want, rtol=1e-12)
        assert int(got_state["count"]) == 1
        _assert_close(got_state.get("mu", []), want_state.get("mu", []), rtol=1e-12)


def test_step_names_a_nan_in_x_and_updates_nothing() -> None:
    x, y = _data()
    x[3, 2] = np.nan
    params = _params()
    before = copy.deepcopy(params)
    step = fn.make_step(SPEC, sgd(0.1))
    with pytest.raises(fn.InvalidArgumentError, match=r"x: expected finite values.*\(3, 2\)"):
        step(params, sgd(0.1).init(params), x, y)
    _assert_equal(params, before)


@pytest.mark.parametrize("optimizer", [sgd(0.1), sgd(0.1, momentum=0.9)])
def test_step_names_an_inf_that_tanh_saturates_and_updates_nothing(optimizer: Any) -> None:
    # tanh(+-inf) = +-1 leaves the loss finite, while x^T dz puts inf * 0 = NaN into the
    # weight gradient: judged from the loss alone, the step wrote NaN into W.
    spec = fn.MLP((3, 2, 2), "tanh")
    params = fn.init(spec, np.random.default_rng(0))
    params[0]["W"][:, 0] = 1.0
    x, y = np.full((2, 3), 0.5), np.array([0, 1])
    x[1, 2] = np.inf
    before = copy.deepcopy(params)
    step = fn.make_step(spec, optimizer)
    with pytest.raises(fn.InvalidArgumentError, match=r"x: expected finite values.*\(1, 2\)"):
        step(params, optimizer.init(params), x, y)
    _assert_equal(params, before)


@pytest.mark.parametrize(("dtype", "scale"), [(np.float32, 1e21), (np.float64, 1e200)])
def test_adam_overflow_stops_cleanly_with_the_last_good_state(dtype: Any, scale: float) -> None:
    # A net without hidden layers and huge inputs: the gradient is finite, its square
    # is not. The pure update refuses; fit stops naming the batch and keeps a finite,
    # consistent params/state pair from which training can resume.
    spec = fn.MLP((4, 3))
    rng = np.random.default_rng(0)
    params = fn.init(spec, rng, dtype=dtype)
    x = rng.standard_normal((16, 4)).astype(dtype)
    x[9] *= scale
    y = rng.integers(0, 3, 16)
    opt = adam(1e-3)
    grads = fn.grad(spec, params, x, y)
    with pytest.raises(fn.NonFiniteError, match=r"square overflows.*nothing was updated"):
        opt.update(grads, opt.init(params), params)
    with pytest.raises(TrainingDivergedError, match=r"epoch 1, batch 3 of 4") as info:
        fit(spec, params, opt, x, y, epochs=1, batch_size=4, rng=None, shuffle=False)
    err = info.value
    assert err.opt_state is not None and int(err.opt_state["count"]) == 2
    for leaf in fn.tree_leaves([err.params, err.opt_state]):
        assert np.isfinite(leaf).all()
    # The pair is consistent: two clean steps from the start give it.
    p2, s2, _ = fit(spec, params, opt, x[:8], y[:8], epochs=1, batch_size=4, rng=None,
                    shuffle=False)
    _assert_equal([err.params, err.opt_state["nu"]], [p2, s2["nu"]])


def test_the_fused_blas_update_is_selected_on_the_standard_numpy_wheel() -> None:
    # numpy's PyPI wheels bundle OpenBLAS as numpy.libs/libscipy_openblas64_*.so; where
    # that library is present the fused update must be found for the benchmark shapes
    # (the skips in tests/test_blas.py must not hide a lost fast path).
    import glob
    import os

    libs = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
    if not glob.glob(os.path.join(libs, "libscipy_openblas64_*.so")):
        pytest.skip("numpy not from a PyPI wheel with bundled OpenBLAS")
    for rows, n_in, n_out in [(128, 784, 128), (128, 128, 10), (64, 784, 500)]:
        assert fused_update_for(rows, n_in, n_out, np.float32) is not None
    step = fn.make_step(SPEC, sgd(0.1))
    assert step.plain_lr is not None
    assert fn.make_step(SPEC, sgd(0.1, momentum=0.5)).plain_lr is None


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 6).flatmap(
        lambda r: st.tuples(
            st.lists(
                st.lists(st.sampled_from([0.0, 1.0, -1.0, 2.5, 1e30, -1e30, np.inf, -np.inf,
                                          np.nan, 5e-324]), min_size=3, max_size=3),
                min_size=r, max_size=r,
            ),
            st.lists(st.integers(0, 2), min_size=r, max_size=r),
        )
    ),
    st.sampled_from([np.float32, np.float64]),
)
def test_hits_from_shifted_logits_equal_the_direct_count(case: Any, dtype: Any) -> None:
    """fit counts hits from the logits the softmax cross-entropy kernel leaves shifted
    by their row maxima; it must agree with counting on the logits themselves, ties,
    NaN, infinities and subnormals included."""
    from funcnn.core.softmax import softmax_into
    from funcnn.training.step import count_at_max, count_correct

    rows, labels = case
    logits = np.array(rows, dtype=dtype)
    y = np.array(labels)
    shifted = logits.copy()
    with np.errstate(all="ignore"):
        softmax_into(shifted, np.empty_like(shifted))
    assert count_at_max(shifted, y) == count_correct(logits, y)
    # The per-sample path (Python floats) agrees with the batched one, row by row.
    by_row = [count_correct(logits[i : i + 1], y[i : i + 1]) for i in range(len(y))]
    assert sum(n or 0 for n in by_row) == count_correct(logits, y)


def test_accuracy_counts_ties_but_never_rows_with_nan_or_inf() -> None:
    from funcnn.training.step import count_correct

    logits = np.array([[1.0, 3.0, 3.0], [np.inf, np.inf, 0.0], [np.nan, 2.0, 1.0],
                       [0.0, 1.0, 5.0]])
    assert count_correct(logits, np.array([2, 0, 1, 2])) == 2  # the tie and the last row
    for row, label, want in ((0, 1, 1), (1, 0, 0), (2, 1, 0), (3, 0, 0)):
        assert count_correct(logits[row : row + 1], np.array([label])) == want
    assert count_correct(logits[:, :1], np.array([0, 0, 0, 0])) is None
