"""fit's callbacks (funcnn.training.callbacks), verbose, validation_split, StopTraining;
predict_proba; History.plot and ``import funcnn.plots``."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest

import funcnn as fn
from funcnn.training.callbacks import epoch_line
from funcnn.training.plan import combine_callbacks

SPEC = fn.MLP((4, 12, 3), activation="tanh")


def data(n: int = 120, seed: int = 0) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4))
    y = (np.argmax(x[:, :3], axis=1) + (x[:, 3] > 1.5)) % 3
    return x, y


def train(epochs: int = 6, seed: int = 1, **kw: Any) -> tuple[Any, Any, fn.History]:
    x, y = data()
    params = fn.init(SPEC, np.random.default_rng(seed))
    return fn.fit(SPEC, params, fn.adam(0.05), x, y, epochs=epochs, batch_size=16,
                  rng=np.random.default_rng(seed), **kw)


def same(a: Any, b: Any) -> bool:
    return all(np.array_equal(u, v) for u, v in
               zip(fn.tree_leaves(a), fn.tree_leaves(b), strict=True))


def event(epoch: int, losses: list[float], last: int = 100) -> fn.EpochEnd:
    h = fn.History(epoch_train_loss=tuple(losses), epoch_test_loss=tuple(losses),
                   epoch_time=(0.0,) * len(losses), epoch_steps=(1,) * len(losses))
    params = [{"W": np.full((1, 1), float(epoch)), "b": np.zeros(1)}]
    return fn.EpochEnd(epoch, last, params, fn.sgd(0.1).init(params), h)


# --------------------------------------------------------------------------- early stopping


def feed(cb: Any, losses: list[float]) -> tuple[int | None, Any]:
    """Send the epochs' losses; (the epoch a StopTraining came at, that StopTraining)."""
    for i in range(1, len(losses) + 1):
        stop = cb(event(i, losses[:i]))
        if stop is not None:
            return i, stop
    return None, None


def test_early_stopping_counts_patience_and_min_delta() -> None:
    # best 1.0 at epoch 2; 0.95 is within min_delta=0.1, so it is not an improvement.
    cb = fn.EarlyStopping("test_loss", patience=2, min_delta=0.1)
    at, stop = feed(cb, [2.0, 1.0, 0.95, 0.99, 0.5])
    assert at == 4 and cb.stopped_epoch == 4
    assert cb.best == 1.0 and cb.best_epoch == 2
    assert stop.params is None and "did not improve" in stop.reason
    # patience=0 stops at the first epoch without improvement; a NaN never improves.
    at, _ = feed(fn.EarlyStopping("train_loss", patience=0), [2.0, 1.0, float("nan")])
    assert at == 3
    # Accuracies are maximised under mode="auto".
    cb = fn.EarlyStopping("train_loss", patience=1, mode="max")
    assert feed(cb, [0.1, 0.5, 0.4])[0] == 3 and cb.best_epoch == 2


def test_early_stopping_restores_best_also_at_the_last_epoch_and_starts_over() -> None:
    cb = fn.EarlyStopping(patience=10, restore_best=True)
    losses = [3.0, 1.0, 2.0]
    stops = [cb(event(i, losses[:i], last=3)) for i in (1, 2, 3)]
    assert stops[:2] == [None, None]
    assert stops[2] is not None and stops[2].params is not None
    assert stops[2].params[0]["W"][0, 0] == 2.0  # epoch 2's
    # A new run (epoch 1 again) forgets the old best.
    assert cb(event(1, [9.0])) is None and cb.best == 9.0 and cb.best_epoch == 1


def test_fit_returns_the_best_epoch_bit_for_bit() -> None:
    stopper = fn.EarlyStopping("test_loss", patience=2, restore_best=True)
    keeper = fn.KeepBest("test_loss")
    params, state, history = train(epochs=40, validation_split=0.25,
                                   callback=[stopper, keeper])
    assert stopper.stopped_epoch is not None and history.epochs == stopper.stopped_epoch < 40
    best = stopper.best_epoch
    assert best == keeper.best_epoch and best is not None and best < history.epochs
    assert history.epoch_test_loss[best - 1] == min(history.epoch_test_loss)
    # The same run stopped after the best epoch gives the same bits.
    again, again_state, _ = train(epochs=best, validation_split=0.25)
    assert same(params, again) and same(keeper.params, again)
    assert same(state, again_state) and state["count"] == again_state["count"]


def test_keep_best_writes_a_resumable_checkpoint(tmp_path: Any) -> None:
    x, y = data()
    (xt, yt), (xv, yv) = fn.train_validation_split(x, y, np.random.default_rng(5),
                                                   n_validation=30)
    rng = np.random.default_rng(2)
    opt = fn.adam(0.05)
    path = tmp_path / "best.npz"
    keeper = fn.KeepBest("test_accuracy", path=path, spec=SPEC, optimizer=opt, rng=rng,
                         metadata={"run": "t"})
    params = fn.init(SPEC, np.random.default_rng(1))
    fn.fit(SPEC, params, opt, xt, yt, epochs=8, batch_size=16, rng=rng, x_test=xv,
           y_test=yv, callback=keeper)
    ck = fn.load_checkpoint(path)
    assert keeper.best_epoch is not None and ck.history is not None
    assert ck.history.epochs == keeper.best_epoch
    assert ck.metadata == {"run": "t", "best_epoch": keeper.best_epoch,
                           "monitor": "test_accuracy", "best": keeper.best}
    assert same(ck.params, keeper.params) and same(ck.opt_state, keeper.opt_state)
    assert ck.history.epoch_test_accuracy[-1] == max(ck.history.epoch_test_accuracy)


def test_stop_training_on_a_batch_is_an_error() -> None:
    def stop_now(e: Any) -> Any:
        return fn.StopTraining("now") if isinstance(e, fn.BatchEnd) else None

    with pytest.raises(fn.InvalidArgumentError, match="StopTraining on a BatchEnd"):
        train(callback=stop_now)


def test_a_plain_stop_returns_the_current_params_and_is_honoured_once() -> None:
    seen: list[int] = []

    def at_three(e: Any) -> Any:
        if isinstance(e, fn.EpochEnd):
            seen.append(e.epoch)
            return fn.StopTraining("three") if e.epoch == 3 else "ignored"
        return None

    params, _, history = train(epochs=6, callback=at_three)
    assert seen == [1, 2, 3] and history.epochs == 3
    assert same(params, train(epochs=3)[0])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"monitor": "val_loss"}, ValueError, "monitor: expected one of"),
        ({"patience": -1}, ValueError, "patience"),
        ({"min_delta": -0.1}, ValueError, "min_delta"),
        ({"mode": "up"}, ValueError, "mode"),
        ({"restore_best": 1}, TypeError, "restore_best"),
    ],
)
def test_early_stopping_bad_arguments(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        fn.EarlyStopping(**kwargs)


def test_monitoring_an_unrecorded_value_says_what_to_pass() -> None:
    with pytest.raises(fn.InvalidArgumentError, match="'test_loss' is not recorded.*x_test"):
        train(callback=fn.EarlyStopping("test_loss"))
    with pytest.raises(TypeError, match="spec: writing a checkpoint"):
        fn.KeepBest(path="x.npz")


# --------------------------------------------------------------------------- validation split


def test_validation_split_is_train_validation_split_drawn_from_rng() -> None:
    x, y = data()
    rng = np.random.default_rng(1)
    (xt, yt), (xv, yv) = fn.train_validation_split(x, y, rng, n_validation=30)
    params = fn.init(SPEC, np.random.default_rng(1))
    expected = fn.fit(SPEC, params, fn.adam(0.05), xt, yt, epochs=3, batch_size=16, rng=rng,
                      x_test=xv, y_test=yv)
    got = train(epochs=3, validation_split=0.25)
    assert same(got[0], expected[0])
    assert got[2].epoch_test_loss == expected[2].epoch_test_loss
    assert len(got[2].epoch_test_loss) == 3


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"validation_split": 1.0}, ValueError, "validation_split: expected a fraction"),
        ({"validation_split": True}, TypeError, "validation_split: expected a fraction"),
        ({"validation_split": 0.001}, ValueError, "leaves no validation samples"),
        ({"validation_split": 0.5, "rng": None, "shuffle": False}, TypeError, "rng:"),
        ({"validation_split": 0.5, "x_test": np.zeros((2, 4)), "y_test": np.zeros(2, int)},
         ValueError, "not both"),
        ({"verbose": 3}, ValueError, "verbose: expected 0"),
        ({"callback": [print, 3]}, TypeError, r"callback\[1\]: expected a callable"),
    ],
)
def test_fit_bad_new_arguments(kwargs: dict[str, Any], error: type, match: str) -> None:
    x, y = data()
    args: dict[str, Any] = {"epochs": 1, "batch_size": 16, "rng": np.random.default_rng(0)}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        fn.fit(SPEC, fn.init(SPEC, np.random.default_rng(0)), fn.sgd(0.1), x, y, **args)


def test_validation_split_refuses_a_resumed_run() -> None:
    _, state, history = train(epochs=1)
    with pytest.raises(fn.InvalidArgumentError, match="resumed run"):
        train(epochs=1, validation_split=0.2, history=history, opt_state=state)


# --------------------------------------------------------------------------- progress


def test_fit_is_silent_by_default_and_verbose_prints_a_line_per_epoch(
    capsys: pytest.CaptureFixture[str],
) -> None:
    quiet = train(epochs=2)
    assert capsys.readouterr() == ("", "")
    loud = train(epochs=2, verbose=2)
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines == [epoch_line(fn.History(**{
        k: getattr(loud[2], k)[:i] for k in ("epoch_train_loss", "epoch_train_accuracy",
                                             "epoch_time", "epoch_steps")}), 2)
        for i in (1, 2)]
    assert lines[0].startswith("epoch 1/2  train loss ")
    assert same(quiet[0], loud[0])  # progress changes nothing


def test_progress_without_a_bar_writes_lines_to_the_given_stream() -> None:
    stream = io.StringIO()
    train(epochs=2, callback=fn.Progress(file=stream, bar=False), validation_split=0.25)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and "test loss" in lines[1] and lines[1].startswith("epoch 2/2")


def test_progress_draws_a_tqdm_bar_when_installed() -> None:
    pytest.importorskip("tqdm")
    stream = io.StringIO()
    train(epochs=2, callback=fn.Progress(file=stream))
    text = stream.getvalue()
    assert "epoch 1/2:" in text and "batch" in text and "loss" in text
    assert text.count("train loss") == 2


def test_combine_callbacks_calls_everyone_and_prefers_a_restoring_stop() -> None:
    calls: list[str] = []
    params: fn.Params = [{"W": np.zeros((1, 1)), "b": np.zeros(1)}]
    restoring = fn.StopTraining("r", params=params, opt_state=fn.sgd(0.1).init(params))

    def a(e: Any) -> Any:
        calls.append("a")
        return fn.StopTraining("plain")

    def b(e: Any) -> Any:
        calls.append("b")
        return restoring

    combined = combine_callbacks([a, b])
    assert combined is not None and combined(event(1, [1.0])) is restoring
    assert calls == ["a", "b"]
    assert combine_callbacks(None) is None and combine_callbacks([a]) is a


# --------------------------------------------------------------------------- predict_proba


def test_predict_proba_matches_predict_and_the_losses() -> None:
    x, _ = data(50)
    params = fn.init(SPEC, np.random.default_rng(3))
    p = fn.predict_proba(SPEC, params, x)
    assert p.shape == (50, 3) and np.allclose(p.sum(axis=1), 1.0)
    assert np.array_equal(p.argmax(axis=1), fn.predict(SPEC, params, x))
    assert np.allclose(p, fn.softmax(fn.apply(SPEC, params, x)))
    multi = fn.predict_proba(SPEC, params, x, loss="binary_cross_entropy")
    assert np.allclose(multi, fn.sigmoid(fn.apply(SPEC, params, x)))
    one = fn.MLP((4, 5, 1))
    q = fn.init(one, np.random.default_rng(3))
    b = fn.predict_proba(one, q, x, batch_size=7)
    assert b.shape == (50, 2) and np.allclose(b[:, 1], fn.sigmoid(fn.apply(one, q, x))[:, 0])
    assert np.allclose(b.sum(axis=1), 1.0)
    assert np.array_equal(b.argmax(axis=1), fn.predict(one, q, x))
    with pytest.raises(fn.InvalidArgumentError, match="'mse' does not define"):
        fn.predict_proba(SPEC, params, x, loss="mse")


def _custom(output: str) -> fn.Loss:
    """A loss of another name that scores the softmax or sigmoid of ``z`` by squares."""
    base = fn.get_loss("mse")
    return fn.Loss("my_loss", base.value_and_grad, "real", output=output)


def test_predict_proba_reads_the_output_a_custom_loss_declares() -> None:
    # The probabilities follow the declaration, not the loss's name: a registry-free
    # loss declaring a softmax (or sigmoid) output gets the same rows as the built-ins.
    x, _ = data(20)
    params = fn.init(SPEC, np.random.default_rng(4))
    logits = fn.apply(SPEC, params, x)
    soft = fn.predict_proba(SPEC, params, x, loss=_custom("softmax"))
    assert np.array_equal(soft, fn.predict_proba(SPEC, params, x))
    assert np.allclose(soft, fn.softmax(logits))
    sig = fn.predict_proba(SPEC, params, x, loss=_custom("sigmoid"))
    assert np.array_equal(sig, fn.predict_proba(SPEC, params, x, loss="binary_cross_entropy"))
    for output, said in (("", "not declared"), ("tanh", "'tanh'"), ("identity", "'identity'")):
        with pytest.raises(fn.InvalidArgumentError, match=f"output activation is {said}"):
            fn.predict_proba(SPEC, params, x, loss=_custom(output))


def test_the_builtin_losses_declare_their_output_activation() -> None:
    known = {"softmax_cross_entropy": "softmax", "softmax_then_cross_entropy": "softmax",
             "softmax_binary_cross_entropy": "softmax", "binary_cross_entropy": "sigmoid",
             "mse": "identity"}
    for name, output in known.items():
        assert fn.LOSSES[name].output == output, name
    # A registry entry leaves nothing undeclared.
    assert all(loss.output for loss in fn.LOSSES.values())
    with pytest.raises(fn.InvalidArgumentError, match=r"output: expected one of \['', 'identity'"):
        fn.Loss("bad", fn.get_loss("mse").value_and_grad, "real", output="relu")


# --------------------------------------------------------------------------- plots


def test_import_funcnn_plots_is_the_plots_module() -> None:
    import funcnn.plots
    import funcnn.reporting.plots
    from funcnn import plots

    assert plots is funcnn.plots and fn.plots is funcnn.plots
    assert plots.plot_loss_curves is funcnn.reporting.plots.plot_loss_curves
    # Every name of funcnn.reporting.plots, and nothing else, is funcnn.plots's too.
    namespace: dict[str, Any] = {}
    exec("from funcnn.plots import *", namespace)
    namespace.pop("__builtins__")
    assert sorted(namespace) == sorted(funcnn.reporting.plots.__all__)
    assert all(namespace[n] is getattr(funcnn.reporting.plots, n) for n in namespace)


def test_history_plot_draws_what_the_unpacked_fields_draw(tmp_path: Any) -> None:
    pytest.importorskip("matplotlib")
    _, _, history = train(epochs=2, validation_split=0.25, log_every=2)
    paths = history.plot(tmp_path / "run", test_label="validation")
    assert sorted(paths) == ["accuracy", "loss"]
    by_hand = fn.plots.plot_loss_curves(
        tmp_path / "loss.png", epoch_train_loss=history.epoch_train_loss,
        epoch_test_loss=history.epoch_test_loss, batch_losses=history.batch_losses,
        batch_interval=history.batch_interval, epoch_steps=history.epoch_steps,
        test_label="validation")
    assert paths["loss"].read_bytes() == by_hand.read_bytes()
    acc = fn.plots.plot_accuracy_curves(tmp_path / "acc.png", history, test_label="validation")
    assert paths["accuracy"].read_bytes() == acc.read_bytes()
    with pytest.raises(fn.InvalidArgumentError, match="not both"):
        fn.plots.plot_loss_curves(tmp_path / "x.png", history, epoch_train_loss=[1.0])
    with pytest.raises(fn.InvalidArgumentError, match="epoch_train_loss: required"):
        fn.plots.plot_loss_curves(tmp_path / "x.png")
    with pytest.raises(TypeError, match="history: expected a funcnn History"):
        fn.plots.plot_accuracy_curves(tmp_path / "x.png", {"a": 1})  # type: ignore[arg-type]
