"""Tests for verification.engine.gradients: the checks pass on correct gradients and fail, naming
the tensor and the worst entry, on each classic backprop mistake."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import funcnn as fn
from funcnn.core import activations as funcnn_activations
from funcnn.core import losses as funcnn_losses
from verification import Settings
from verification.engine.gradients import check_gradients
from verification.engine.network_check import check_network

SPEC = fn.MLP((12, 8, 6, 5), "sigmoid")


def _problem(spec: fn.MLP = SPEC, seed: int = 0, dtype: Any = np.float64, batch: int = 10) -> Any:
    rng = np.random.default_rng(seed)
    params = fn.init(spec, rng, "glorot_normal", dtype=dtype)
    x = rng.normal(size=(batch, spec.n_in)).astype(dtype)
    y = rng.integers(0, spec.n_out, size=batch)
    return params, x, y


def _grads(
    spec: fn.MLP, params: fn.Params, x: Any, y: Any, loss: str = "softmax_cross_entropy"
) -> fn.Params:
    grads = fn.value_and_grad(spec, params, x, y, loss)[1]
    return [{k: v.copy() for k, v in layer.items()} for layer in grads]


@pytest.mark.parametrize("mode", ["full", "directional"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_correct_network_passes_in_every_mode(mode: str, dtype: Any) -> None:
    params, x, y = _problem(dtype=dtype)
    report = check_network(SPEC, params, x, y, mode=mode)
    assert report.passed, report.table()
    tensors = [row.tensor for row in report.rows]
    assert tensors == ["loss value"] + [f"params[{i}][{k!r}]" for i in range(3) for k in "Wb"]
    for row in report.rows[1:]:
        assert row.mode == mode and row.dtype == np.dtype(dtype).name
        assert row.n_checked == (3 if mode == "directional" else int(np.prod(row.shape)))
        assert np.isfinite(row.error_estimate) and row.ratio <= 1


def test_one_wrong_entry_is_named() -> None:
    params, x, y = _problem()

    def grad_fn(p: fn.Params) -> fn.Params:
        grads = _grads(SPEC, p, x, y)
        grads[1]["W"][3, 2] += 1e-6 * np.max(np.abs(grads[1]["W"]))
        return grads

    report = check_network(SPEC, params, x, y, grad_fn=grad_fn, mode="full")
    assert not report.passed
    (bad,) = report.failures
    assert bad.tensor == "params[1]['W']" and bad.verdict == "fail"
    assert bad.worst_index == (3, 2) and bad.n_failed == 1


def test_wrong_sign_is_named() -> None:
    params, x, y = _problem()

    def grad_fn(p: fn.Params) -> fn.Params:
        grads = _grads(SPEC, p, x, y)
        grads[0]["b"] = -grads[0]["b"]
        return grads

    report = check_network(SPEC, params, x, y, grad_fn=grad_fn)
    (bad,) = report.failures
    assert bad.tensor == "params[0]['b']" and bad.worst_index is not None
    assert len(bad.worst_index) == 1 and 0 <= bad.worst_index[0] < 8
    assert bad.analytic == pytest.approx(-bad.numeric, rel=1e-6)


def test_missing_one_over_batch_fails_every_tensor() -> None:
    params, x, y = _problem()
    batch = x.shape[0]

    def grad_fn(p: fn.Params) -> fn.Params:
        return [{k: v * batch for k, v in layer.items()} for layer in _grads(SPEC, p, x, y)]

    report = check_network(SPEC, params, x, y, grad_fn=grad_fn)
    failed = [row.tensor for row in report.failures]
    assert failed == [f"params[{i}][{k!r}]" for i in range(3) for k in "Wb"]
    for row in report.failures:
        assert row.analytic / row.numeric == pytest.approx(batch, rel=1e-6)


def test_relu_derivative_wrong_at_negative_inputs_fails_below_the_relu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = fn.MLP((12, 8, 5), "relu")
    params, x, y = _problem(spec)
    buggy = fn.Activation(
        "relu",
        fn.relu,
        lambda z, a: np.where(z > 0, 1.0, 0.1).astype(z.dtype),
        kinks=(0.0,),
    )
    monkeypatch.setitem(funcnn_activations.ACTIVATIONS, "relu", buggy)
    report = check_network(spec, params, x, y)
    failed = {row.tensor for row in report.failures}
    assert failed == {"params[0]['W']", "params[0]['b']"}
    for row in report.failures:
        assert row.worst_index is not None and row.verdict == "fail"


def test_softmax_jacobian_without_outer_term_fails_explicit_loss(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    params, x, y = _problem()
    monkeypatch.setattr(
        funcnn_losses, "softmax_jacobian", lambda s: s[..., :, None] * np.eye(s.shape[-1])
    )
    report = check_network(SPEC, params, x, y, "softmax_then_cross_entropy")
    assert not report.passed
    assert report.failures[-1].tensor == "params[2]['b']"
    fused = check_network(SPEC, params, x, y, "softmax_cross_entropy")
    assert fused.passed, fused.table()


def test_directional_mode_localises_a_wrong_entry_in_a_large_tensor() -> None:
    spec = fn.MLP((784, 32, 10), "tanh")
    params, x, y = _problem(spec, batch=16)
    planted = (517, 9)

    def grad_fn(p: fn.Params) -> fn.Params:
        grads = _grads(spec, p, x, y)
        grads[0]["W"][planted] += 1e-3 * np.max(np.abs(grads[0]["W"]))
        return grads

    report = check_network(spec, params, x, y, grad_fn=grad_fn, mode="directional")
    (bad,) = report.failures
    assert bad.tensor == "params[0]['W']" and bad.mode == "directional"
    assert bad.worst_index == planted
    assert "bisected" in bad.note and bad.probes == 3
    # Without localisation the failing probe is the row: still a failure, no bisection.
    quick = check_network(spec, params, x, y, grad_fn=grad_fn, mode="directional",
                          settings=Settings(localise=False))
    (probe,) = quick.failures
    assert probe.tensor == "params[0]['W']" and probe.verdict == "fail"
    assert "not localised" in probe.note and "bisected" not in probe.note
    with pytest.raises(fn.ArgumentTypeError, match="settings.localise: expected True or False"):
        check_network(spec, params, x, y, settings=Settings(localise=1))  # type: ignore[arg-type]


def test_subset_mode_sees_only_the_selected_entries() -> None:
    params, x, y = _problem()

    def grad_fn(p: fn.Params) -> fn.Params:
        grads = _grads(SPEC, p, x, y)
        grads[0]["W"][5, 1] *= 1.01
        return grads

    hit = check_network(
        SPEC,
        params,
        x,
        y,
        grad_fn=grad_fn,
        mode="subset",
        subset={"params[0]['W']": [(5, 1), (0, 0)]},
    )
    assert [row.tensor for row in hit.failures] == ["params[0]['W']"]
    assert hit.failures[0].worst_index == (5, 1) and hit.failures[0].n_checked == 2
    miss = check_network(
        SPEC,
        params,
        x,
        y,
        grad_fn=grad_fn,
        mode="subset",
        subset={"params[0]['W']": [(0, 0)], "params[2]['b']": [1, 2]},
    )
    assert miss.passed
    sampled = check_network(SPEC, params, x, y, mode="subset", subset=7, seed=3)
    assert sampled.passed and all(row.n_checked <= 7 for row in sampled.rows)


def test_check_gradients_on_any_pytree() -> None:
    rng = np.random.default_rng(1)
    params = {"a": rng.normal(size=(3, 4)), "b": (rng.normal(size=5), np.array(0.7))}

    def loss_fn(p: Any) -> float:
        a, (b, c) = p["a"], p["b"]
        return float(np.sum(np.sin(a) ** 2) + c * np.sum(b**3) + np.exp(c))

    def grad_fn(p: Any) -> Any:
        a, (b, c) = p["a"], p["b"]
        return {
            "a": 2 * np.sin(a) * np.cos(a),
            "b": (3 * c * b**2, np.array(np.sum(b**3) + np.exp(c))),
        }

    report = check_gradients(loss_fn, grad_fn, params)
    assert report.passed, report.table()
    assert [row.tensor for row in report.rows] == [
        "params['a']",
        "params['b'][0]",
        "params['b'][1]",
    ]

    def wrong(p: Any) -> Any:
        g = grad_fn(p)
        g["b"] = (g["b"][0], g["b"][1] * 0.99)
        return g

    bad = check_gradients(loss_fn, wrong, params)
    assert [row.tensor for row in bad.failures] == ["params['b'][1]"]
    assert bad.failures[0].worst_index == ()


def test_check_gradients_batched_loss_and_float32_analytic() -> None:
    rng = np.random.default_rng(2)
    A = rng.normal(size=(6, 6))
    params = [rng.normal(size=6).astype(np.float32)]

    def loss_fn(p: Any) -> float:
        v = p[0]
        return float(0.5 * v @ A @ v + np.sum(np.cosh(v)))

    def batched(thetas: Any) -> Any:
        return 0.5 * np.einsum("pi,ij,pj->p", thetas, A, thetas) + np.sum(np.cosh(thetas), axis=1)

    def grad_fn(p: Any) -> Any:
        v = p[0]
        return [(0.5 * (A + A.T) @ v + np.sinh(v)).astype(v.dtype)]

    for batched_loss in (None, batched):
        report = check_gradients(loss_fn, grad_fn, params, batched_loss=batched_loss)
        assert report.passed, report.table()
        assert report.rows[0].dtype == "float32"


def test_check_gradients_directional_mode_and_probe_count() -> None:
    rng = np.random.default_rng(3)
    params = [rng.normal(size=(5, 3)), rng.normal(size=3)]

    def loss_fn(p: Any) -> float:
        return float(np.sum(np.tanh(p[0] @ p[1])))

    def grad_fn(p: Any) -> Any:
        s = 1 - np.tanh(p[0] @ p[1]) ** 2
        return [np.outer(s, p[1]), p[0].T @ s]

    report = check_gradients(loss_fn, grad_fn, params, mode="directional", probes=4)
    assert report.passed and all(row.probes == 4 for row in report.rows)
    with pytest.raises(fn.InvalidArgumentError, match="probes"):
        check_gradients(loss_fn, grad_fn, params, mode="directional", probes=2)


def test_bad_arguments_raise_funcnn_errors() -> None:
    params, x, y = _problem()
    with pytest.raises(fn.InvalidArgumentError, match="mode"):
        check_network(SPEC, params, x, y, mode="sideways")
    with pytest.raises(fn.InvalidArgumentError, match="subset"):
        check_network(SPEC, params, x, y, mode="subset")
    with pytest.raises(fn.InvalidArgumentError, match="unknown tensors"):
        check_network(SPEC, params, x, y, subset={"params[9]['W']": [0]})
    with pytest.raises(fn.InvalidArgumentError, match="structure"):
        check_network(SPEC, params, x, y, grad_fn=lambda p: p[:2])
    with pytest.raises(fn.InvalidArgumentError, match="shape"):
        check_network(
            SPEC,
            params,
            x,
            y,
            grad_fn=lambda p: [{"W": layer["W"].T, "b": layer["b"]} for layer in p],
        )


def test_settings_change_the_steps() -> None:
    params, x, y = _problem()
    coarse = check_network(SPEC, params, x, y, settings=Settings(step_unit=3e-2))
    fine = check_network(SPEC, params, x, y)
    assert coarse.passed and fine.passed
    assert coarse.rows[1].step > fine.rows[1].step
