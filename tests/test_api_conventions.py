"""Two conventions of the public API: numpy integers count as integers wherever a count or
step is taken, and a ``dtype`` is accepted by position and by keyword alike.

The signatures say ``int`` (what a type checker should steer new code to); the
``type: ignore[arg-type]`` comments mark the calls that check the runtime accepts numpy
integers too, as they come out of numpy arithmetic and optimizer states."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

import funcnn as fn

# Every way a user may hold the integer 3: what numpy arithmetic and optimizer states give.
THREES = [3, np.int64(3), np.int32(3), np.uint8(3), np.array(3), np.array(3, dtype=np.uint16)]


@pytest.mark.parametrize("three", THREES, ids=lambda v: f"{type(v).__name__}-{np.asarray(v).dtype}")
def test_schedules_take_numpy_steps(three: Any) -> None:
    assert fn.Constant(0.1)(three) == 0.1
    assert fn.StepDecay(0.1, step_size=np.int64(2), gamma=0.5)(three) == pytest.approx(0.05)  # type: ignore[arg-type]
    cosine = fn.Cosine(0.1, total_steps=np.array(6))  # type: ignore[arg-type]
    assert cosine(three) == pytest.approx(cosine(3)) == pytest.approx(0.05)


def test_learning_rate_of_the_state_count() -> None:
    opt = fn.sgd(fn.StepDecay(0.1, step_size=1, gamma=0.5))
    params = fn.init(fn.MLP((2, 3, 1)), np.random.default_rng(0))
    state = opt.init(params)
    assert opt.learning_rate(state["count"]) == 0.1
    _, state = opt.update(fn.tree_map(np.zeros_like, params), state, params)
    assert opt.learning_rate(state["count"]) == pytest.approx(0.05)
    for bad in (True, np.bool_(True), 1.0, np.float64(1.0), np.array([1]), "1"):
        with pytest.raises(fn.ArgumentTypeError, match="step: expected a non-negative integer"):
            opt.learning_rate(bad)  # type: ignore[arg-type]
    with pytest.raises(fn.InvalidArgumentError, match="step: expected a non-negative integer"):
        opt.learning_rate(np.int64(-1))


def test_counts_accept_numpy_integers() -> None:
    rng = np.random.default_rng(0)
    spec = fn.MLP((np.int64(4), np.array(3), np.int32(2)))  # type: ignore[arg-type]
    assert spec.sizes == (4, 3, 2)
    x = rng.normal(size=(6, 4))
    y = np.arange(6) % 2
    params = fn.init(spec, rng)
    _, _, history = fn.fit(
        spec,
        params,
        fn.sgd(0.1),
        x,
        y,
        epochs=np.int64(2),  # type: ignore[arg-type]
        batch_size=np.array(3),  # type: ignore[arg-type]
        rng=rng,
        log_every=np.int32(1),  # type: ignore[arg-type]
    )
    assert history.epochs == 2 and history.batch_interval == 1
    assert fn.confusion_matrix(y, y, np.int64(2)).shape == (2, 2)  # type: ignore[arg-type]
    assert fn.one_hot(y, np.array(2)).shape == (6, 2)  # type: ignore[arg-type]
    assert len(fn.top_misclassified(fn.apply(spec, params, x), y, np.int64(2))) <= 2  # type: ignore[arg-type]
    assert fn.predict(spec, params, x, batch_size=np.uint8(4)).shape == (6,)  # type: ignore[arg-type]


def _public_functions_with_dtype() -> list[tuple[str, inspect.Parameter]]:
    found = []
    for name in fn.__all__:
        obj = getattr(fn, name)
        if inspect.isfunction(obj):
            parameter = inspect.signature(obj).parameters.get("dtype")
            if parameter is not None:
                found.append((name, parameter))
    return found


def test_every_dtype_parameter_is_positional_or_keyword() -> None:
    found = _public_functions_with_dtype()
    assert {"scale", "standardize", "one_hot", "init"} <= {name for name, _ in found}
    for name, parameter in found:
        assert parameter.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD, name


def test_dtype_by_position_and_by_keyword_agree() -> None:
    pixels = np.arange(12, dtype=np.uint8).reshape(3, 4)
    labels = np.array([0, 2, 1])
    spec = fn.MLP((4, 3, 2))
    pairs = [
        (fn.scale(pixels, np.float32), fn.scale(pixels, dtype=np.float32)),
        (fn.standardize(pixels, np.float32), fn.standardize(pixels, dtype=np.float32)),
        (fn.one_hot(labels, 3, np.float32), fn.one_hot(labels, 3, dtype=np.float32)),
        (
            fn.init(spec, np.random.default_rng(0), "he_normal", np.float32)[0]["W"],
            fn.init(spec, np.random.default_rng(0), "he_normal", dtype=np.float32)[0]["W"],
        ),
    ]
    for by_position, by_keyword in pairs:
        assert by_position.dtype == np.float32
        np.testing.assert_array_equal(by_position, by_keyword)
