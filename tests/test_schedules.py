"""Tests for funcnn.training.schedules: values, monotonicity, config round trips, bad input."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from funcnn.errors import FuncnnError
from funcnn.training.schedules import (
    Constant,
    Cosine,
    Schedule,
    StepDecay,
    as_schedule,
    schedule_from_config,
)


def test_known_values() -> None:
    assert Constant(0.1)(0) == Constant(0.1)(10**9) == 0.1
    step = StepDecay(1.0, step_size=3, gamma=0.5)
    assert [step(t) for t in range(7)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    cos = Cosine(1.0, total_steps=4, final_lr=0.2)
    assert cos(0) == 1.0
    assert cos(2) == pytest.approx(0.6)
    assert cos(4) == pytest.approx(0.2)
    assert cos(100) == pytest.approx(0.2)
    assert Cosine(0.5, total_steps=10)(10) == pytest.approx(0.0, abs=1e-17)


@given(
    lr=st.floats(1e-6, 10.0),
    total=st.integers(1, 10_000),
    frac=st.floats(0.0, 1.0),
    t=st.integers(0, 20_000),
)
def test_cosine_is_non_increasing_and_bounded(lr: float, total: int, frac: float, t: int) -> None:
    s = Cosine(lr, total_steps=total, final_lr=lr * frac)
    assert lr * frac - 1e-12 <= s(t) <= lr + 1e-12
    assert s(t + 1) <= s(t) + 1e-12


@given(lr=st.floats(1e-6, 10.0), size=st.integers(1, 100), gamma=st.floats(0.01, 1.0))
def test_step_decay_is_positive_and_non_increasing(lr: float, size: int, gamma: float) -> None:
    s = StepDecay(lr, step_size=size, gamma=gamma)
    values = [s(t) for t in range(0, 50 * size, size)]
    assert all(v > 0 for v in values)
    assert all(b <= a for a, b in itertools.pairwise(values))
    assert StepDecay(1.0, step_size=1, gamma=0.01)(10**6) > 0


@pytest.mark.parametrize(
    "schedule",
    [
        Constant(0.3),
        StepDecay(0.1, step_size=5, gamma=0.3),
        Cosine(0.1, total_steps=50, final_lr=0.01),
    ],
)
def test_config_round_trip(schedule: Schedule) -> None:
    assert schedule_from_config(schedule.to_config()) == schedule
    assert as_schedule(schedule) is schedule


def test_as_schedule_from_number() -> None:
    assert as_schedule(0.5) == Constant(0.5)


@pytest.mark.parametrize(
    ("factory", "error", "match"),
    [
        (lambda: Constant(0.0), ValueError, "lr"),
        (lambda: Constant(math.inf), ValueError, "lr"),
        (lambda: StepDecay(0.1, step_size=0), ValueError, "step_size"),
        (lambda: StepDecay(0.1, step_size=2.5), TypeError, "step_size"),  # type: ignore[arg-type]
        (
            lambda: StepDecay(0.1, step_size=2, gamma=1.5),
            ValueError,
            r"gamma: expected a number in \(0, 1\]",
        ),
        (lambda: StepDecay(0.1, step_size=2, gamma=0.0), ValueError, "gamma"),
        (lambda: Cosine(0.1, total_steps=-1), ValueError, "total_steps"),
        (lambda: Cosine(0.1, total_steps=10, final_lr=0.2), ValueError, "final_lr"),
        (lambda: Cosine(0.1, total_steps=10, final_lr="0"), TypeError, "final_lr"),  # type: ignore[arg-type]
        (lambda: Constant(0.1)(-1), ValueError, "step"),
        (lambda: Constant(0.1)(1.0), TypeError, "step"),  # type: ignore[arg-type]
        (lambda: schedule_from_config({"name": "linear"}), ValueError, "linear"),
        (lambda: schedule_from_config({"name": "step", "lr": 0.1}), ValueError, "step"),
        (lambda: schedule_from_config("constant"), TypeError, "config"),
        (lambda: schedule_from_config({"name": ["step"]}), ValueError, "unknown schedule"),
    ],
)
def test_bad_input(factory: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match) as info:
        factory()
    assert isinstance(info.value, FuncnnError)
