"""Tests for funcnn.core.network: apply, loss and value_and_grad (backprop) on whole MLPs."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import funcnn as fn
from tests.strategies import problems

LOSS_NAMES = sorted(fn.LOSSES)


def _numeric_param_grad(spec: fn.MLP, params: fn.Params, x: Any, y: Any, loss: str) -> Any:
    flat, unravel = fn.ravel(params)
    grad = np.zeros_like(flat)
    h = 1e-6
    for i in range(flat.size):
        up, down = flat.copy(), flat.copy()
        up[i] += h
        down[i] -= h
        grad[i] = (
            fn.loss(spec, unravel(up), x, y, loss) - fn.loss(spec, unravel(down), x, y, loss)
        ) / (2 * h)
    return unravel(grad)


@pytest.mark.parametrize("loss", LOSS_NAMES)
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "softplus", "identity"])
def test_backprop_matches_central_differences(loss: str, activation: str) -> None:
    spec = fn.MLP((4, 5, 3, 3), activation)
    rng = np.random.default_rng(7)
    params = fn.init(spec, rng, "glorot_normal")
    x = rng.normal(size=(6, 4))
    y = rng.integers(0, 3, size=6)
    _, grads = fn.value_and_grad(spec, params, x, y, loss)
    numeric = _numeric_param_grad(spec, params, x, y, loss)
    for g, n in zip(fn.tree_leaves(grads), fn.tree_leaves(numeric), strict=True):
        np.testing.assert_allclose(g, n, rtol=1e-5, atol=1e-8)


@given(problems())
def test_grads_mirror_params_and_dtype_is_preserved(problem: Any) -> None:
    spec, params, x, y = problem
    value, grads = fn.value_and_grad(spec, params, x, y)
    assert isinstance(value, float) and np.isfinite(value)
    assert fn.tree_structure(grads) == fn.tree_structure(params)
    for g, p in zip(fn.tree_leaves(grads), fn.tree_leaves(params), strict=True):
        assert g.shape == p.shape and g.dtype == p.dtype
    logits = fn.apply(spec, params, x)
    assert logits.shape == (len(x), spec.n_out) and logits.dtype == x.dtype
    assert fn.loss(spec, params, x, y) == value


@given(problems(), st.sampled_from(LOSS_NAMES))
def test_no_function_mutates_its_inputs(problem: Any, loss: str) -> None:
    spec, params, x, y = problem
    before = (copy.deepcopy(params), x.copy(), y.copy())
    fn.apply(spec, params, x)
    fn.loss(spec, params, x, y, loss)
    _, grads = fn.value_and_grad(spec, params, x, y, loss)
    grads_before = copy.deepcopy(grads)
    fn.sgd_step(params, grads, 0.1)
    for a, b in zip(fn.tree_leaves(before[0]), fn.tree_leaves(params), strict=True):
        assert a.tobytes() == b.tobytes()
    for a, b in zip(fn.tree_leaves(grads_before), fn.tree_leaves(grads), strict=True):
        assert a.tobytes() == b.tobytes()
    assert before[1].tobytes() == x.tobytes() and before[2].tobytes() == y.tobytes()


def test_single_sample_shapes() -> None:
    spec = fn.MLP((4, 3, 2), "tanh")
    params = fn.init(spec, np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=4)
    out = fn.apply(spec, params, x)
    assert out.shape == (2,)
    np.testing.assert_array_equal(out, fn.apply(spec, params, x[None])[0])
    assert fn.loss(spec, params, x, 1) == fn.loss(spec, params, x[None], np.array([1]))
    targets = np.array([0.0, 1.0])
    assert fn.loss(spec, params, x, targets, "mse") == fn.loss(
        spec, params, x[None], targets[None], "mse"
    )


def test_batch_gradient_is_mean_of_per_sample_gradients() -> None:
    spec = fn.MLP((5, 4, 3), "sigmoid")
    rng = np.random.default_rng(2)
    params = fn.init(spec, rng)
    x = rng.normal(size=(8, 5))
    y = rng.integers(0, 3, size=8)
    _, batched = fn.value_and_grad(spec, params, x, y)
    per_sample = [fn.value_and_grad(spec, params, x[i], y[i])[1] for i in range(8)]
    mean = fn.tree_map(lambda *g: np.mean(g, axis=0), *per_sample)
    for a, b in zip(fn.tree_leaves(batched), fn.tree_leaves(mean), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_fused_and_explicit_losses_agree_on_a_network() -> None:
    spec = fn.MLP((6, 8, 4), "relu")
    rng = np.random.default_rng(3)
    params = fn.init(spec, rng, "normal:1.5")
    x = rng.normal(size=(10, 6)) * 3
    y = rng.integers(0, 4, size=10)
    v1, g1 = fn.value_and_grad(spec, params, x, y, "softmax_cross_entropy")
    v2, g2 = fn.value_and_grad(spec, params, x, y, "softmax_then_cross_entropy")
    assert v1 == pytest.approx(v2, rel=1e-12)
    for a, b in zip(fn.tree_leaves(g1), fn.tree_leaves(g2), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_xor_is_learned_by_a_2_3_1_sigmoid_net() -> None:
    spec = fn.MLP((2, 3, 1), "sigmoid")
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    y = np.array([[0], [1], [1], [0]], dtype=np.float64)
    params = fn.init(spec, np.random.default_rng(0), "glorot_normal")
    for _ in range(3000):
        _, grads = fn.value_and_grad(spec, params, x, y, "mse")
        params = fn.sgd_step(params, grads, 0.5)
    out = fn.apply(spec, params, x).ravel()
    assert ((out > 0.5) == (y.ravel() > 0.5)).all(), out


SPEC = fn.MLP((3, 4, 2), "relu")
GOOD = fn.init(SPEC, np.random.default_rng(0))
X = np.ones((2, 3))
Y = np.array([0, 1])


def _with(layer: int, key: str, value: Any) -> fn.Params:
    params = copy.deepcopy(GOOD)
    params[layer][key] = value
    return params


@pytest.mark.parametrize(
    ("params", "x", "y", "error", "message"),
    [
        (
            GOOD,
            np.ones((2, 4)),
            Y,
            ValueError,
            r"x: expected shape \(B, 3\) or \(3,\), got \(2, 4\)",
        ),
        (GOOD, np.ones((2, 3, 1)), Y, ValueError, "x: expected shape"),
        (GOOD, np.ones((0, 3)), np.array([], dtype=int), ValueError, "x: empty batch"),
        (GOOD, np.ones((2, 3), dtype=np.uint8), Y, TypeError, "x: expected a floating array"),
        (GOOD, np.ones((2, 3), dtype=np.float32), Y, TypeError, "does not match params' dtype"),
        (
            GOOD,
            np.array([[1, np.nan, 0], [0, 0, 0]]),
            Y,
            ValueError,
            r"x: expected finite values, found nan at index \(0, 1\)",
        ),
        (GOOD, np.array([[1, np.inf, 0], [0, 0, 0]]), Y, ValueError, "x: expected finite"),
        (GOOD, X, np.array([0, 2]), ValueError, r"y: labels must lie in \[0, 2\)"),
        (GOOD, X, np.array([0, 1, 1]), ValueError, r"y: integer labels must have shape \(2,\)"),
        (GOOD[:1], X, Y, ValueError, "params: spec .* has 2 layers, params has 1"),
        (
            _with(0, "W", np.ones((4, 3))),
            X,
            Y,
            ValueError,
            r"params\[0\]\['W'\]: expected shape \(3, 4\)",
        ),
        (
            _with(1, "b", np.ones(2, dtype=np.float32)),
            X,
            Y,
            TypeError,
            r"params\[1\]\['b'\]: dtype float32 differs",
        ),
        (
            _with(0, "b", np.full(4, np.nan)),
            X,
            Y,
            ValueError,
            r"params\[0\]\['b'\]: expected finite",
        ),
        (_with(0, "b", [0.0] * 4), X, Y, TypeError, r"params\[0\]\['b'\]: expected a numpy array"),
        (_with(0, "W", np.ones((3, 4), dtype=int)), X, Y, TypeError, "expected float32 or float64"),
        ({"W": 1}, X, Y, TypeError, "params: expected a list"),
    ],
)
def test_bad_input_names_the_argument(
    params: Any, x: Any, y: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        fn.value_and_grad(SPEC, params, x, y)
    if not message.startswith("y"):
        with pytest.raises(error, match=message):
            fn.apply(SPEC, params, x)


def test_errors_are_the_library_s_own() -> None:
    with pytest.raises(fn.FuncnnError):
        fn.apply(SPEC, GOOD, np.ones((2, 5)))
    with pytest.raises(fn.InvalidArgumentError):
        fn.loss(SPEC, GOOD, X, Y, "nope")


def test_overflowing_outputs_raise_nonfinite_error() -> None:
    """Finite params and inputs whose logits overflow float64: NonFiniteError naming the call."""
    spec = fn.MLP((2, 2))
    params = [{"W": np.full((2, 2), 1e200), "b": np.zeros(2)}]
    x = np.full((1, 2), 1e200)
    with pytest.raises(fn.NonFiniteError, match="apply"):
        fn.apply(spec, params, x)
    with pytest.raises(fn.NonFiniteError, match="value_and_grad"):
        fn.value_and_grad(spec, params, x, np.array([0]))


def test_ragged_inputs_are_a_clear_error() -> None:
    spec = fn.MLP((3, 2))
    params = fn.init(spec, np.random.default_rng(0))
    with pytest.raises(fn.InvalidArgumentError, match=r"x: expected a rectangular array"):
        fn.apply(spec, params, [[1.0, 2.0, 3.0], [1.0]])


def _saturating(activation: str, where: str, value: float) -> tuple[fn.MLP, Any, Any]:
    """A net whose hidden unit 0 is saturated by a non-finite ``value`` put in ``where``
    (x, W or b), so the loss, and every gradient but the bad entry's own, stay finite."""
    spec = fn.MLP((3, 2, 2), activation)
    params = fn.init(spec, np.random.default_rng(0))
    x = np.full((2, 3), 0.5)
    if where == "W":
        params[0]["W"][1, 0] = value
    elif where == "b":
        params[0]["b"][0] = value
    else:
        params[0]["W"][:, 0] = 1.0  # the inf in x then reaches unit 0 only with one sign
        x[1, 2] = value
    return spec, params, x


@pytest.mark.parametrize(
    ("activation", "value"), [("tanh", np.inf), ("sigmoid", -np.inf), ("relu", -np.inf)]
)
@pytest.mark.parametrize("where", ["W", "b", "x"])
def test_a_nonfinite_entry_an_activation_saturates_is_still_named(
    activation: str, value: float, where: str
) -> None:
    """The activation maps the inf to a constant, so the loss is finite: the error must
    come from the pre-activations, not from the loss. Planted: judging finiteness from
    the loss and gradients alone let these through."""
    spec, params, x = _saturating(activation, where, value)
    name = r"x" if where == "x" else rf"params\[0\]\['{where}'\]"
    y = np.array([0, 1])
    for call in (fn.loss, fn.value_and_grad, fn.input_grad):
        with pytest.raises(fn.InvalidArgumentError, match=rf"{name}: expected finite values"):
            call(spec, params, x, y)
    with pytest.raises(fn.InvalidArgumentError, match=rf"{name}: expected finite values"):
        fn.apply(spec, params, x)


def test_gradients_are_fresh_arrays_independent_of_the_params() -> None:
    spec = fn.MLP((3, 4, 2), "tanh")
    params = fn.init(spec, np.random.default_rng(1))
    x, y = np.random.default_rng(2).normal(size=(5, 3)), np.array([0, 1, 1, 0, 1])
    _, grads = fn.value_and_grad(spec, params, x, y)
    before = copy.deepcopy(grads)
    grads[0]["W"][...] = 7.0  # one leaf written: no other leaf changes
    for new, old in zip(fn.tree_leaves(grads)[1:], fn.tree_leaves(before)[1:], strict=True):
        np.testing.assert_array_equal(new, old)
    for g in fn.tree_leaves(grads):
        assert g.flags.c_contiguous and g.flags.writeable
        assert not any(np.shares_memory(g, p) for p in fn.tree_leaves(params))


def _overflowing_first_layer(dtype: Any, big: float) -> tuple[fn.MLP, fn.Params, Any, Any]:
    """A first layer whose weight gradient ``x^T dz`` overflows while the forward pass,
    the loss and every other gradient stay finite: ``x`` huge, ``W0`` tiny, ``W1`` large."""
    spec = fn.MLP((20, 20, 3), "relu")
    x = np.full((2, 20), big, dtype=dtype)
    params = [
        {"W": np.full((20, 20), 1.0 / big, dtype=dtype), "b": np.zeros(20, dtype=dtype)},
        {"W": (np.linspace(-1, 1, 60).reshape(20, 3) * np.sqrt(big)).astype(dtype),
         "b": np.zeros(3, dtype=dtype)},
    ]
    return spec, params, x, np.array([0, 2])


@pytest.mark.parametrize(("dtype", "big"), [(np.float32, 1e30), (np.float64, 1e250)])
def test_a_gradient_that_overflows_in_a_wide_layer_is_caught(dtype: Any, big: float) -> None:
    """The pre-activations and the loss are finite: only reading the gradient finds it.
    Planted: skipping the gradients' check let this inf through."""
    spec, params, x, y = _overflowing_first_layer(dtype, big)
    with np.errstate(all="ignore"):
        raw_value, raw, _ = fn.core.network.value_and_grad_unchecked(
            spec, params, x, y, fn.get_loss("softmax_cross_entropy")
        )
    assert np.isfinite(raw_value) and not np.isfinite(raw[0]["W"]).all()
    assert np.isfinite(raw[1]["W"]).all() and np.isfinite(raw[0]["b"]).all()
    with pytest.raises(fn.NonFiniteError, match="value_and_grad: the result overflows"):
        fn.value_and_grad(spec, params, x, y)
