"""One entry per kind is enough: an activation, a loss and an optimizer registered here
(inside the test only; monkeypatch removes them) reach the CLI, checkpoints, the
verification catalogue and the docs tables with no other edit. Also: every registry's
names are what the library and the CLI accept, and unknown names are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import funcnn as fn
import verification
from funcnn.cli.args import build_parser, settings_table
from funcnn.cli.config import build_optimizer, build_spec, train_config
from funcnn.training.optimizers import OPTIMIZERS, make_recipe, optimizer_table, register_optimizer
from funcnn.training.schedules import SCHEDULES, schedule_from_config
from funcnn.training.transforms import clip_by_global_norm, trace
from tests.strategies import unknown_name
from tests.test_docs_tables import documented, registered

ACT, LOSS, OPT = "softsign_for_test", "half_mse_for_test", "clipped_momentum_for_test"


def _softsign(z: Any, out: Any) -> None:
    np.abs(z, out=out)
    out += 1
    np.divide(z, out, out=out)


def _softsign_d(z: Any, a: Any, out: Any) -> None:
    np.abs(z, out=out)  # 1 / (1 + |z|)^2
    out += 1
    np.square(out, out=out)
    np.reciprocal(out, out=out)


def _half_mse(z: Any, y: Any) -> tuple[float, Any]:
    target = np.eye(z.shape[1], dtype=z.dtype)[y] if y.dtype.kind != "f" else y
    diff = z - target
    return float(0.5 * np.mean(np.sum(diff * diff, axis=1))), diff / z.shape[0]


def clipped_momentum(
    lr: float | fn.Schedule, *, max_norm: float = 1.0, momentum: float = 0.9
) -> fn.Optimizer:
    """Momentum SGD on gradients clipped to ``max_norm``."""
    return make_recipe(OPT, "ClippedMomentum", [clip_by_global_norm(max_norm), trace(momentum)],
                       lr, max_norm=float(max_norm), momentum=float(momentum))


@pytest.fixture
def extended(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(fn.ACTIVATIONS, ACT, fn.elementwise(ACT, _softsign, _softsign_d))
    monkeypatch.setitem(fn.LOSSES, LOSS, fn.Loss(LOSS, _half_mse, "real"))
    # monkeypatch removes the key after the test; register_optimizer fills it.
    monkeypatch.setitem(OPTIMIZERS, OPT, OPTIMIZERS["sgd"])
    register_optimizer(OPT, clipped_momentum, "momentum on clipped gradients", 0.05)


def test_the_new_entries_train(extended: None) -> None:
    spec = fn.MLP((4, 6, 3), ACT)
    rng = np.random.default_rng(0)
    params = fn.init(spec, rng)
    x, y = rng.normal(size=(30, 4)), rng.integers(0, 3, size=30)
    before = fn.loss(spec, params, x, y, LOSS)
    _, state, history = fn.fit(spec, params, clipped_momentum(0.05), x, y, epochs=20,
                               batch_size=10, rng=rng, loss=LOSS)
    assert history.epoch_train_loss[-1] < before
    assert set(state) == {"count", "velocity"}


def test_the_cli_offers_them(extended: None) -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["train", "--optimizer", OPT, "--max-norm", "0.5", "--loss", LOSS,
         "--activation", ACT, "--sizes", "784,16,10"]
    )
    config = train_config(args)
    assert config["lr"] == 0.05  # the entry's default
    opt = build_optimizer(config, 10)
    assert opt == clipped_momentum(0.05, max_norm=0.5)
    assert build_spec(config) == fn.MLP((784, 16, 10), ACT)
    text = _train_parser(parser).format_help()
    assert OPT in text and LOSS in text and ACT in text and "--max-norm" in text


def _train_parser(parser: Any) -> Any:
    action = next(a for a in parser._actions if hasattr(a, "choices") and a.choices
                  and "train" in a.choices)
    return action.choices["train"]


def test_checkpoints_save_and_load_them(extended: None, tmp_path: Path) -> None:
    spec = fn.MLP((4, 5, 2), ACT)
    params = fn.init(spec, np.random.default_rng(1))
    opt = clipped_momentum(fn.StepDecay(0.1, step_size=3), max_norm=0.25)
    state = opt.init(params)
    grads = fn.grad(spec, params, np.ones((3, 4)), np.array([0, 1, 1]), LOSS)
    params, state = opt.update(grads, state, params)
    fn.save_checkpoint(tmp_path / "c.npz", spec=spec, params=params, optimizer=opt,
                       opt_state=state)
    back = fn.load_checkpoint(tmp_path / "c.npz")
    assert back.spec == spec and back.optimizer == opt
    assert back.optimizer is not None and back.optimizer.to_config()["name"] == OPT
    assert back.opt_state is not None
    np.testing.assert_array_equal(back.opt_state["velocity"][0]["W"], state["velocity"][0]["W"])


def test_the_verification_catalogue_checks_them(extended: None) -> None:
    names = {check.name for check in verification.build_catalogue()}
    assert f"activation/{ACT}/float64" in names
    assert any(f"/{LOSS}/" in name for name in names), "the new loss has no catalogue check"


def test_the_docs_tables_pick_them_up(extended: None) -> None:
    assert f"| `{OPT}` | momentum on clipped gradients |" in optimizer_table()
    assert "| `--max-norm` | 1 | " + OPT + " |" in settings_table()
    # Activation and loss tables are written by hand: the docs check names what is missing.
    assert registered("activation") - documented("activation") == {ACT}
    assert registered("loss") - documented("loss") == {LOSS}


def test_the_registrations_are_gone_after_the_test() -> None:
    assert ACT not in fn.ACTIVATIONS and LOSS not in fn.LOSSES and OPT not in OPTIMIZERS


@pytest.mark.parametrize(
    ("lookup", "registry"),
    [
        (fn.get_activation, fn.ACTIVATIONS),
        (fn.get_loss, fn.LOSSES),
        (fn.get_scheme, fn.SCHEMES),
        (lambda name: fn.optimizer_from_config({"name": name, "lr": 0.1}), OPTIMIZERS),
        (lambda name: schedule_from_config({"name": name, "lr": 0.1}), SCHEDULES),
    ],
    ids=["activation", "loss", "scheme", "optimizer", "schedule"],
)
def test_unknown_names_are_refused_naming_the_known_ones(lookup: Any, registry: Any) -> None:
    with pytest.raises(fn.InvalidArgumentError) as info:
        lookup(unknown_name(registry))
    message = str(info.value)
    assert all(name in message for name in registry)


def test_the_cli_choices_are_the_registries() -> None:
    train = _train_parser(build_parser())
    choices = {a.dest: set(a.choices) for a in train._actions if a.choices}
    assert choices["optimizer"] == set(OPTIMIZERS)
    assert choices["loss"] == set(fn.LOSSES)
    assert choices["schedule"] == set(SCHEDULES)
    flags = {s for a in train._actions for s in a.option_strings}
    for entry in OPTIMIZERS.values():
        for setting in entry.settings():
            key = {"b1": "beta1", "b2": "beta2"}.get(setting, setting)
            assert "--" + key.replace("_", "-") in flags


def test_every_registered_optimizer_round_trips_with_defaults() -> None:
    assert len(OPTIMIZERS) >= 5
    for name, entry in OPTIMIZERS.items():
        opt = entry.recipe(entry.default_lr)
        assert opt.to_config()["name"] == name
        assert fn.optimizer_from_config(opt.to_config()) == opt
        assert fn.optimizer_from_config({"name": name, "lr": entry.default_lr}) == opt


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--optimizer", "rmsprop", "--centered", "--momentum", "0.5"],
         {"name": "rmsprop", "centered": True, "momentum": 0.5, "alpha": 0.99}),
        (["--optimizer", "adagrad", "--initial-accumulator-value", "0.1"],
         {"name": "adagrad", "initial_accumulator_value": 0.1, "eps": 1e-10}),
        (["--optimizer", "adamw"], {"name": "adamw", "weight_decay": 0.01}),
    ],
    ids=["rmsprop", "adagrad", "adamw"],
)
def test_a_new_optimizer_trains_and_resumes_through_the_cli(
    tmp_path: Path, flags: list[str], expected: dict[str, Any]
) -> None:
    from funcnn.cli import main

    common = ["--limit", "200", "--batch-size", "50", "--no-plots", "-q"]
    out = tmp_path / "run"
    assert main(["train", *common, *flags, "--epochs", "1", "--out", str(out)]) == 0
    saved = fn.load_checkpoint(out / "checkpoint.npz")
    assert saved.optimizer is not None
    assert expected.items() <= saved.optimizer.to_config().items()
    assert main(["train", "--resume", str(out / "checkpoint.npz"), "--epochs", "2",
                 "--no-plots", "-q"]) == 0
    resumed = fn.load_checkpoint(out / "checkpoint.npz")
    assert resumed.history is not None and resumed.history.epochs == 2
    assert resumed.optimizer == saved.optimizer
    assert resumed.opt_state is not None and int(resumed.opt_state["count"]) == 8
