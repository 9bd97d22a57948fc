"""Adding an activation is one entry in ``funcnn.ACTIVATIONS``: the pure API, ``fit``,
``make_step`` and the verification catalogue pick it up with no other edit."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import special

import funcnn as fn
from verification.catalogue.suite import build_catalogue, check_network_case
from verification.catalogue.training_step import check_training_step


def _silu(z: Any, out: Any) -> None:
    special.expit(z, out=out)
    out *= z


def _silu_d(z: Any, a: Any, out: Any) -> None:
    s = special.expit(z)  # silu'(z) = s (1 + z (1 - s))
    np.multiply(z, 1 - s, out=out)
    out += 1
    out *= s


@pytest.fixture
def silu(monkeypatch: pytest.MonkeyPatch) -> fn.Activation:
    act = fn.elementwise("silu", _silu, _silu_d)
    monkeypatch.setitem(fn.ACTIVATIONS, "silu", act)
    return act


def test_a_new_activation_trains_and_is_verified(silu: fn.Activation) -> None:
    spec = fn.MLP((6, 5, 3), "silu")
    rng = np.random.default_rng(0)
    params = fn.init(spec, rng)
    x = rng.standard_normal((20, 6))
    y = rng.integers(0, 3, 20)
    value = fn.loss(spec, params, x, y)
    _, _, history = fn.fit(spec, params, fn.sgd(0.5), x, y, epochs=5, batch_size=5,
                                 rng=rng)
    assert history.epoch_train_loss[-1] < value
    for loss in ("softmax_cross_entropy", "mse"):
        for optimizer in ("sgd", "momentum"):
            assert check_training_step("silu", loss, np.float64, optimizer).passed
    assert check_network_case("784-32-32-10", "silu", "softmax_cross_entropy").passed
    names = {check.name for check in build_catalogue()}
    assert {"activation/silu/float64", "train-step/silu/mse/float32/sgd"} <= names


def test_a_wrong_derivative_of_the_new_activation_fails(
    silu: fn.Activation, monkeypatch: pytest.MonkeyPatch
) -> None:
    def without_the_product_rule(z: Any, a: Any, out: Any) -> None:
        special.expit(z, out=out)

    monkeypatch.setitem(fn.ACTIVATIONS, "silu",
                        fn.elementwise("silu", _silu, without_the_product_rule))
    assert not check_training_step("silu", "mse", np.float64, "sgd").passed
    assert not check_network_case("784-32-32-10", "silu", "softmax_cross_entropy").passed


def _clip(z: Any, out: Any) -> None:  # a "relu6" with its kinks at 0 and 1.5
    np.clip(z, 0.0, 1.5, out=out)


def _clip_d(z: Any, a: Any, out: Any) -> None:
    np.copyto(out, (z > 0) & (z < 1.5))


def test_a_new_kinked_activation_is_checked_across_its_own_kinks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    act = fn.elementwise("clip", _clip, _clip_d, kinks=(0.0, 1.5))
    monkeypatch.setitem(fn.ACTIVATIONS, "clip", act)
    for loss in ("softmax_cross_entropy", "mse"):
        for dtype in (np.float64, np.float32):
            assert check_training_step("clip", loss, dtype, "sgd").passed
    assert check_network_case("784-32-32-10", "clip", "softmax_cross_entropy").passed
    wrong = fn.elementwise("clip", _clip, lambda z, a, out: np.copyto(out, z > 0),
                           kinks=(0.0, 1.5))
    monkeypatch.setitem(fn.ACTIVATIONS, "clip", wrong)  # forgets the upper kink
    assert not check_training_step("clip", "mse", np.float64, "sgd").passed
