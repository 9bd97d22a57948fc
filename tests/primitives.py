"""Primitives that exist only in the test suite: two losses and two activations funcnn
does not ship, each declared the way a user would (one record), to show that the
verification package checks a new primitive with no other edit.

- ``huber`` (delta = 1): kinked; its second derivative jumps at ``|z - t| = 1``, which
  it declares as ``kinks=(-1.0, 1.0)`` on the residual;
- ``log_cosh``: smooth, declared with a per-sample value;
- ``sigmoid_quadratic``: a textbook's sigmoid output scored by a quadratic cost,
  ``sum_c (sigmoid(z_c) - t_c)^2 / (2B)``, declared with ``value_and_grad`` only (the
  checks then call it once per perturbation);
- ``brier``: a softmax over the outputs (so constant on one output) with distribution
  targets, which it declares, under a name that does not say so;
- ``gelu`` (smooth, exact erf form) and ``hard_tanh`` (kinked at -1 and 1).

``wrong_*`` give the same primitive with a derivative mistake planted; ``registered``
puts primitives into funcnn's registries for one test (pytest's ``monkeypatch``
takes them out again).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import special

import funcnn as fn
from funcnn.core.losses import LOSSES, Loss, from_sample
from verification.external.heads import head

_SQRT2 = np.sqrt(2.0)


def _huber(z: Any, t: Any) -> Any:
    r = np.abs(z - t)
    return np.mean(np.where(r <= 1, 0.5 * r * r, r - 0.5), axis=-1)


def _huber_grad(z: Any, t: Any) -> Any:
    return np.clip(z - t, -1, 1) / z.shape[-1]


def _huber_grad_wrong(z: Any, t: Any) -> Any:
    # A classic slip: the quadratic piece's slope everywhere (the MSE gradient).
    return (z - t) / z.shape[-1]


def huber(*, kinks: tuple[float, ...] = (-1.0, 1.0), wrong: bool = False) -> Loss:
    """Huber loss, delta 1, mean over outputs and batch."""
    return from_sample("huber", _huber, _huber_grad_wrong if wrong else _huber_grad, "real",
                       kinks=kinks)


def _log_cosh(z: Any, t: Any) -> Any:
    r = np.abs(z - t)
    return np.mean(r + np.log1p(np.exp(-2 * r)) - np.log(2.0), axis=-1)


def log_cosh(*, wrong: bool = False) -> Loss:
    """``mean_c log cosh(z_c - t_c)``; gradient ``tanh(z - t) / C``."""

    def grad(z: Any, t: Any) -> Any:
        r = z - t
        return (r if wrong else np.tanh(r)) / z.shape[-1]

    return from_sample("log_cosh", _log_cosh, grad, "real")


def sigmoid_quadratic(*, wrong: bool = False) -> Loss:
    """``sum_c (sigmoid(z_c) - t_c)^2 / (2B)``, from ``value_and_grad`` alone."""

    def value_and_grad(z: Any, y: Any) -> tuple[float, Any]:
        t = np.asarray(y, dtype=z.dtype)
        if t.ndim == 1:  # labels
            t = np.eye(z.shape[1], dtype=z.dtype)[np.asarray(y)]
        s = special.expit(z)
        batch = z.shape[0]
        value = float(np.sum((s - t) ** 2)) / (2 * batch)
        # wrong: the sigmoid's derivative s(1 - s) left out (the cross-entropy delta)
        grad = (s - t) if wrong else (s - t) * s * (1 - s)
        return value, grad / z.dtype.type(batch)

    return Loss("sigmoid_quadratic", value_and_grad, "probability")


def _brier(z: Any, t: Any) -> Any:
    return np.sum((fn.softmax(z.reshape(-1, z.shape[-1])).reshape(z.shape) - t) ** 2, axis=-1)


def _brier_grad(z: Any, t: Any) -> Any:
    s = fn.softmax(z)
    return fn.softmax_vjp(s, 2 * (s - t))


def brier() -> Loss:
    """The Brier score ``sum_c (softmax(z)_c - t_c)^2`` of distributions: a softmax over
    the outputs whose name says nothing of it; it declares ``min_outputs=2`` and
    ``target_kind="distribution"``."""
    return from_sample("brier", _brier, _brier_grad, "distribution", min_outputs=2)


QUADRATIC_HEAD = head("sigmoid", "squared", outputs="sum", half=True, name="sigmoid_quadratic")
"""The same textbook head composed by :func:`verification.external.heads.head` (what
``funcnn-verify --loss tests.primitives:QUADRATIC_HEAD`` imports)."""


def _gelu(z: Any, out: Any) -> None:
    np.multiply(z, 0.5 * special.erfc(-z / _SQRT2), out=out)


def _gelu_d(z: Any, a: Any, out: Any) -> None:
    cdf = 0.5 * special.erfc(-z / _SQRT2)
    pdf = np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)
    np.add(cdf, z * pdf, out=out)


def _gelu_d_wrong(z: Any, a: Any, out: Any) -> None:
    np.copyto(out, 0.5 * special.erfc(-z / _SQRT2))  # the product rule forgotten


def gelu(*, wrong: bool = False) -> fn.Activation:
    """GELU, ``z Phi(z)``, smooth."""
    return fn.elementwise("gelu", _gelu, _gelu_d_wrong if wrong else _gelu_d)


def _hard_tanh(z: Any, out: Any) -> None:
    np.clip(z, -1, 1, out=out)


def _hard_tanh_d(z: Any, a: Any, out: Any) -> None:
    np.less(np.abs(z), 1, out=out)


def _hard_tanh_d_wrong(z: Any, a: Any, out: Any) -> None:
    np.less(np.abs(z), 2, out=out)  # the flat pieces start at the wrong place


def hard_tanh(*, kinks: tuple[float, ...] = (-1.0, 1.0), wrong: bool = False) -> fn.Activation:
    """``clip(z, -1, 1)``, kinked at -1 and 1 (derivative 0 there, a subgradient)."""
    return fn.elementwise("hard_tanh", _hard_tanh,
                          _hard_tanh_d_wrong if wrong else _hard_tanh_d, kinks=kinks)


def registered(monkeypatch: pytest.MonkeyPatch, *primitives: Loss | fn.Activation) -> None:
    """Put ``primitives`` into ``funcnn.LOSSES`` / ``funcnn.ACTIVATIONS`` for one test."""
    for item in primitives:
        table: dict[str, Any] = LOSSES if isinstance(item, Loss) else fn.ACTIVATIONS
        monkeypatch.setitem(table, item.name, item)
