"""The catalogue: every gradient funcnn computes, checked against scipy finite differences.

1. each activation's derivative on [-20, 20] plus large magnitudes;
2. softmax: its Jacobian's exact invariants, then the full Jacobian against
   ``scipy.differentiate.jacobian`` and its VJP against ``J^T g``;
3. cross-entropy: the fused gradient ``softmax(z) - y``, funcnn's explicit path and an
   explicit path composed here from ``-y / p`` and the full softmax Jacobian, each
   against finite differences of the loss in the logits, and explicit against fused;
   with integer labels and one-hot targets;
4. MSE, binary cross-entropy and softmax binary cross-entropy gradients;
5. the dense layer's VJP with respect to W, b and x;
6. whole networks, every parameter tensor: every architecture the project reproduces,
   every activation and every loss, float64 and float32, on real MNIST samples when the
   data is present (random inputs otherwise), full mode up to 30k parameters and
   directional mode above; plus a conformance check against an independent
   implementation. The exact invariants of backprop (:mod:`verification.invariants`)
   run first, before any finite difference.

Each entry is a :class:`Check` (a name, a group, whether ``--quick`` runs it, and a
function of the seed returning a :class:`~verification.report.Report`);
:func:`build_catalogue` lists them and :func:`run_checks` runs them. The check functions take
the implementation under test as optional arguments (``derivative=``, ``jacobian=``,
``vjp=``, ``grad_fn=``...) so that a broken one can be shown to fail.
"""

from __future__ import annotations

import fnmatch
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.differentiate import jacobian as scipy_jacobian

from funcnn.core import losses as funcnn_losses
from funcnn.core.activations import ACTIVATIONS, Activation, get_activation
from funcnn.core.dense import dense, dense_vjp
from funcnn.core.initializers import init
from funcnn.core.losses import LOSSES, get_loss
from funcnn.core.softmax import softmax, softmax_jacobian, softmax_vjp
from funcnn.core.spec import MLP
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.typing import Array, FloatArray, IntArray, Params
from verification.arguments import check_callable, check_float_dtype, check_seed
from verification.conformance import check_conformance, textbook_value_and_grad
from verification.data import sample_batch
from verification.engine import check_gradients
from verification.error_model import derivative_rounding, loss_gradient_error
from verification.invariants import check_invariants, check_softmax_jacobian_invariants
from verification.network_check import check_network
from verification.numeric import Derivative, stencil_rounding
from verification.problems import check_loss_gradient, check_problems, compare_derivative
from verification.reference import dense_targets
from verification.report import CheckRow, Report
from verification.threads import single_threaded_blas
from verification.tolerances import (
    EPS64,
    MAXITER,
    MODEL_SAFETY,
    ORDER,
    STEP_FACTOR,
    STEP_UNIT,
    Tolerance,
    eps_of,
    rtol_for,
)

__all__ = [
    "ARCHITECTURES",
    "DTYPES",
    "Architecture",
    "Check",
    "activation_points",
    "build_catalogue",
    "check_activation",
    "check_cross_entropy",
    "check_dense",
    "check_losses",
    "check_network_case",
    "check_softmax",
    "loss_logits",
    "network_case",
    "network_matrix",
    "problem_rng",
    "run_checks",
    "select",
    "softmax_logits",
]

DTYPES = (np.float64, np.float32)
"""Every check runs in both."""

BATCH = 32
"""Samples per network check."""


@dataclass(frozen=True)
class Architecture:
    """A network the project reproduces: sizes, its usual activation and init scheme."""

    name: str
    sizes: tuple[int, ...]
    activation: str
    scheme: str


ARCHITECTURES: dict[str, Architecture] = {
    arch.name: arch
    for arch in (
        Architecture("2-3-1", (2, 3, 1), "sigmoid", "normal:1"),
        Architecture("784-128-10", (784, 128, 10), "relu", "normal:0.02"),
        Architecture("784-32-32-10", (784, 32, 32, 10), "sigmoid", "inverse_max_fan_normal"),
        Architecture("784-100-200-10", (784, 100, 200, 10), "relu", "glorot_normal"),
        Architecture("784-500-250-100-10", (784, 500, 250, 100, 10), "tanh", "glorot_uniform"),
    )
}
"""The architectures of the project's examples (see ``examples/``)."""

_XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
_XOR_Y = np.array([0, 1, 1, 0])


@dataclass(frozen=True)
class Check:
    """One catalogue entry: ``run(seed) -> Report``."""

    name: str
    group: str
    quick: bool
    run: Callable[[int], Report]


def problem_rng(seed: int, name: str) -> np.random.Generator:
    """A generator for one check: the same seed and name always give the same bits."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _dtype_name(dtype: Any) -> str:
    return str(np.dtype(dtype))


# -- 1. activations -------------------------------------------------------------------


def activation_points(dtype: Any = np.float64) -> FloatArray:
    """Where activation derivatives are checked: 801 points on [-20, 20] (0 included),
    ``+-1e-3``, ``+-1e-8`` and large magnitudes up to ``1e6``; in ``dtype``, sorted."""
    grid = np.linspace(-20.0, 20.0, 801)
    big = np.array([25.0, 30.0, 40.0, 50.0, 100.0, 500.0, 700.0, 1e3, 1e4, 1e6])
    small = np.array([1e-3, 1e-8])
    points = np.concatenate([grid, big, -big, small, -small]).astype(dtype)
    out: FloatArray = np.unique(points)
    return out


def check_activation(
    name: str,
    dtype: Any = np.float64,
    *,
    activation: Activation | None = None,
    check: str | None = None,
) -> Report:
    """``activation.derivative(z, fn(z))`` in ``dtype`` against scipy derivatives of
    ``fn`` in float64 at :func:`activation_points`.

    ``activation`` defaults to funcnn's; its ``fn`` is the reference function, its
    ``derivative`` is what is checked. Stencils crossing one of its ``kinks`` are handled
    as in :mod:`verification.kinks` (at a kink the derivative must lie between the
    one-sided ones).
    """
    dtype = check_float_dtype("dtype", dtype)
    if activation is not None and not isinstance(activation, Activation):
        raise ArgumentTypeError(
            f"activation: expected a funcnn Activation or None, got {type(activation).__name__}"
        )
    act = activation or get_activation(name)
    check = check or f"activation/{name}/{_dtype_name(dtype)}"
    z = activation_points(dtype)
    z64 = z.astype(np.float64)
    analytic = np.asarray(act.derivative(z, act.fn(z)), dtype=np.float64)
    base = act.fn(z64)
    kinks = np.asarray(act.kinks, dtype=np.float64)

    def fn(k: IntArray, t: FloatArray) -> tuple[FloatArray, Any]:
        moved = z64[k] + t
        flags = np.zeros(k.size, dtype=bool)
        for kink in kinks:
            flags |= (moved > kink) != (z64[k] > kink)
        return act.fn(moved) - base[k], flags

    u = eps_of(dtype) / 2
    d_exact = np.abs(np.asarray(act.derivative(z64, base)))
    a_mag = np.abs(np.asarray(act.fn(z), dtype=np.float64))
    # The derivative's rounding in dtype, and underflow below the dtype's tiny.
    atol = MODEL_SAFETY * derivative_rounding(act.name, a_mag, d_exact, u)
    tol = Tolerance(atol + float(np.finfo(np.dtype(dtype)).tiny), rtol_for(dtype))
    steps = STEP_UNIT * np.maximum(1.0, np.abs(z64))
    noise = np.abs(base) + np.finfo(np.float64).tiny
    row = check_problems(check, "derivative", z.shape, analytic, fn, steps, noise, tol, dtype)
    return Report((replace(row, note=f"z in [-1e6, 1e6], {z.size} points; index into z"),), {})


# -- 2. softmax -----------------------------------------------------------------------


def softmax_logits(rng: np.random.Generator, dtype: Any) -> FloatArray:
    """16 samples of 10 logits: scales from 0.1 to 30, ties, and one dominant logit."""
    scales = np.array([0.1, 0.5, 1, 1, 2, 3, 5, 8, 10, 15, 20, 30, 1, 1, 1, 1])[:, None]
    z = rng.standard_normal((16, 10)) * scales
    z[12] = 0.0
    z[13, :5] = 2.0
    z[14, 3] += 50.0
    z[15] = np.linspace(-40, 40, 10)
    out: FloatArray = z.astype(dtype)
    return out


def _softmax_axis0(x: FloatArray) -> FloatArray:
    e = np.exp(x - np.max(x, axis=0, keepdims=True))
    out: FloatArray = e / np.sum(e, axis=0, keepdims=True)
    return out


def _scipy_softmax_jacobian(z64: FloatArray) -> Derivative:
    """Numerical Jacobian of softmax per sample, (B, C, C) flattened, from scipy."""
    res = scipy_jacobian(
        _softmax_axis0, z64.T, initial_step=STEP_UNIT, order=ORDER, maxiter=MAXITER,
        step_factor=STEP_FACTOR, tolerances={"atol": 16 * EPS64, "rtol": 0.0},
    )
    value = np.transpose(res.df, (2, 0, 1)).reshape(-1)
    truncation = np.transpose(res.error, (2, 0, 1)).reshape(-1)
    nit = np.transpose(res.nit, (2, 0, 1)).reshape(-1)
    step = STEP_UNIT / STEP_FACTOR ** np.maximum(nit - 1, 0)
    rounding = stencil_rounding(1.0, step, ORDER, STEP_FACTOR, False)
    status = np.transpose(res.status, (2, 0, 1)).reshape(-1).astype(np.int32)
    nfev = np.transpose(res.nfev, (2, 0, 1)).reshape(-1).astype(np.int32)
    return Derivative(value, truncation + rounding, truncation, rounding, step, status, nfev,
                      np.zeros(value.size, dtype=bool))


def _softmax_rel_error(z: FloatArray, u: float) -> FloatArray:
    spread = np.abs(z - np.max(z, axis=-1, keepdims=True))
    out: FloatArray = u * (spread + np.log(z.shape[-1]) + 4)
    return out


def check_softmax(
    dtype: Any = np.float64,
    *,
    seed: int = 0,
    jacobian: Callable[[FloatArray], FloatArray] | None = None,
    vjp: Callable[[FloatArray, FloatArray], FloatArray] | None = None,
    check: str | None = None,
) -> Report:
    """The exact invariants of the softmax Jacobian (``jacobian(s)``, default funcnn's),
    then the Jacobian against ``scipy.differentiate.jacobian`` of softmax and the VJP
    (``vjp(s, g)``) against ``J^T g`` with the numerical and with the analytic ``J``."""
    dtype = check_float_dtype("dtype", dtype)
    seed = check_seed(seed)
    jac = check_callable("jacobian", jacobian, optional=True) or softmax_jacobian
    vjp_fn = check_callable("vjp", vjp, optional=True) or softmax_vjp
    check = check or f"softmax/{_dtype_name(dtype)}"
    rng = problem_rng(seed, check)
    z = softmax_logits(rng, dtype)
    z64 = z.astype(np.float64)
    u = eps_of(dtype) / 2
    # The exact invariants first, before any finite difference: a Jacobian that is not
    # symmetric or whose rows do not sum to 0 is wrong whatever scipy says.
    invariants = check_softmax_jacobian_invariants(z, jacobian=jac, name=check)
    start = time.perf_counter()
    s = softmax(z)
    J = np.asarray(jac(s), dtype=np.float64)
    numeric = _scipy_softmax_jacobian(z64)
    seconds = time.perf_counter() - start
    s64 = softmax(z64)
    rel = _softmax_rel_error(z64, u)[:, :, None]
    eye = np.eye(z.shape[1])
    mag = s64[:, :, None] * (eye + s64[:, None, :])
    tiny = float(np.finfo(np.dtype(dtype)).tiny)
    atol = MODEL_SAFETY * (2 * rel * mag + 2 * u * mag) + tiny
    rows = [compare_derivative(check, "softmax_jacobian", J.shape, J, numeric,
                               Tolerance(atol.reshape(-1), rtol_for(dtype)), dtype, seconds,
                               "J[b, i, j] = ds_i/dz_j vs scipy.differentiate.jacobian")]
    g = rng.standard_normal(z.shape).astype(dtype)
    g64 = g.astype(np.float64)
    start = time.perf_counter()
    analytic = np.asarray(vjp_fn(s, g), dtype=np.float64)
    J_num = numeric.value.reshape(J.shape)
    err_num = numeric.error.reshape(J.shape)
    product = np.einsum("bij,bi->bj", J_num, g64)
    product_err = np.einsum("bij,bi->bj", err_num, np.abs(g64))
    trunc = np.einsum("bij,bi->bj", numeric.truncation.reshape(J.shape), np.abs(g64))
    vjp_num = Derivative(
        product.reshape(-1), product_err.reshape(-1), trunc.reshape(-1),
        (product_err - trunc).reshape(-1), np.full(product.size, numeric.step.max()),
        np.zeros(product.size, np.int32), np.zeros(product.size, np.int32),
        np.zeros(product.size, dtype=bool),
    )
    width = z.shape[1]
    sg = np.sum(s64 * np.abs(g64), axis=1, keepdims=True)
    mag_v = s64 * (np.abs(g64) + sg)
    atol_v = (MODEL_SAFETY * (2 * _softmax_rel_error(z64, u) * mag_v + u * (width + 3) * mag_v)
              + width * tiny)
    rows.append(compare_derivative(check, "softmax_vjp vs J^T g (scipy J)", analytic.shape,
                                   analytic, vjp_num,
                                   Tolerance(atol_v.reshape(-1), rtol_for(dtype)), dtype,
                                   time.perf_counter() - start))
    # The VJP against the analytic Jacobian: both are rounding-exact formulas.
    exact = np.einsum("bij,bi->bj", J, g64)
    cross = Derivative(
        exact.reshape(-1), np.zeros(exact.size), np.zeros(exact.size), np.zeros(exact.size),
        np.full(exact.size, np.nan), np.zeros(exact.size, np.int32),
        np.zeros(exact.size, np.int32), np.zeros(exact.size, dtype=bool),
    )
    atol_c = 2 * atol_v + MODEL_SAFETY * u * width * np.einsum("bij,bi->bj", mag, np.abs(g64))
    row = compare_derivative(check, "softmax_vjp vs J^T g (analytic J)", analytic.shape,
                             analytic, cross, Tolerance(atol_c.reshape(-1), rtol_for(dtype)),
                             dtype, note="a = vjp, n = einsum(J, g)")
    rows.append(replace(row, mode="cross"))
    return Report((*invariants.rows, *rows), {})


# -- 3 and 4. losses ------------------------------------------------------------------


def loss_logits(
    rng: np.random.Generator, dtype: Any, batch: int = 16, width: int = 10
) -> FloatArray:
    scales = np.geomspace(0.3, 12.0, batch)[:, None]
    out: FloatArray = (rng.standard_normal((batch, width)) * scales).astype(dtype)
    return out


def _loss_row(
    check: str, tensor: str, loss: str, z: FloatArray, y: Array, dtype: Any,
    grad_fn: Callable[[FloatArray], FloatArray],
) -> Report:
    """A loss gradient in ``dtype`` against finite differences of the float64 loss,
    with the loss gradient's rounding model as ``atol``."""
    t = dense_targets(y, *z.shape)
    info = np.finfo(np.dtype(dtype))
    bound = loss_gradient_error(loss, z.astype(np.float64), np.zeros(z.shape), t,
                                float(info.eps) / 2, float(info.tiny))[1]
    report = check_loss_gradient(loss, z, y, grad_fn, name=check, tensor=tensor,
                                 error_bound=bound)
    rows = tuple(
        replace(row, tensor=f"{tensor}: loss value") if row.tensor == "loss value" else row
        for row in report.rows
    )
    return Report(rows, report.meta)


def check_cross_entropy(
    dtype: Any = np.float64,
    targets: str = "labels",
    *,
    seed: int = 0,
    jacobian: Callable[[FloatArray], FloatArray] | None = None,
    check: str | None = None,
) -> Report:
    """Cross-entropy gradients in the logits, with integer ``labels`` or ``onehot``
    float targets: fused, funcnn's explicit path, an explicit path composed from
    ``-y/p`` and ``jacobian`` (default funcnn's softmax Jacobian), each against finite
    differences of the loss, and explicit against fused."""
    dtype = check_float_dtype("dtype", dtype)
    if targets not in ("labels", "onehot"):
        raise InvalidArgumentError(f"targets: expected 'labels' or 'onehot', got {targets!r}")
    seed = check_seed(seed)
    jac = check_callable("jacobian", jacobian, optional=True) or softmax_jacobian
    check = check or f"cross_entropy/{targets}/{_dtype_name(dtype)}"
    rng = problem_rng(seed, check)
    z = loss_logits(rng, dtype)
    batch, width = z.shape
    labels = np.asarray(rng.integers(0, width, size=batch))
    y: Array = labels if targets == "labels" else np.eye(width, dtype=dtype)[labels]
    t = dense_targets(y, batch, width)

    def composed(zz: FloatArray) -> FloatArray:
        p = softmax(zz)
        dp = -t.astype(zz.dtype) / np.maximum(p, np.finfo(zz.dtype).tiny) / batch
        out: FloatArray = np.einsum("bij,bi->bj", jac(p), dp)
        return out

    fused = _loss_row(check, "dL/dz fused (softmax_cross_entropy_grad)",
                      "softmax_cross_entropy", z, y, dtype,
                      lambda zz: funcnn_losses.softmax_cross_entropy_grad(zz, y))
    explicit = _loss_row(check, "dL/dz explicit (softmax_then_cross_entropy_grad)",
                         "softmax_then_cross_entropy", z, y, dtype,
                         lambda zz: funcnn_losses.softmax_then_cross_entropy_grad(zz, y))
    built = _loss_row(check, "dL/dz explicit composed (-y/p through softmax_jacobian)",
                      "softmax_then_cross_entropy", z, y, dtype, composed)
    # Explicit against fused, entry by entry, within both rounding bounds.
    u = eps_of(dtype) / 2
    tiny = float(np.finfo(np.dtype(dtype)).tiny)
    z64 = z.astype(np.float64)
    b_fused = loss_gradient_error("softmax_cross_entropy", z64, np.zeros(z.shape), t, u, tiny)[1]
    b_expl = loss_gradient_error("softmax_then_cross_entropy", z64, np.zeros(z.shape), t, u,
                                 tiny)[1]
    g_f = np.asarray(funcnn_losses.softmax_cross_entropy_grad(z, y), dtype=np.float64)
    g_e = np.asarray(composed(z), dtype=np.float64)
    exact = Derivative(
        g_f.reshape(-1), np.zeros(g_f.size), np.zeros(g_f.size), np.zeros(g_f.size),
        np.full(g_f.size, np.nan), np.zeros(g_f.size, np.int32), np.zeros(g_f.size, np.int32),
        np.zeros(g_f.size, dtype=bool),
    )
    cross = compare_derivative(
        check, "explicit composed vs fused", z.shape, g_e, exact,
        Tolerance(MODEL_SAFETY * (b_fused + b_expl).reshape(-1), rtol_for(dtype)), dtype,
        note="a = explicit (composed), n = fused",
    )
    return Report.combine([fused, explicit, built, Report((replace(cross, mode="cross"),))])


def check_losses(dtype: Any = np.float64, *, seed: int = 0, check: str | None = None) -> Report:
    """MSE (real targets), binary cross-entropy (probability targets and labels) and
    softmax binary cross-entropy (one-hot labels) gradients against finite differences."""
    dtype = check_float_dtype("dtype", dtype)
    seed = check_seed(seed)
    check = check or f"losses/{_dtype_name(dtype)}"
    rng = problem_rng(seed, check)
    z = loss_logits(rng, dtype)
    batch, width = z.shape
    cases: list[tuple[str, str, Array]] = [
        ("mse", "real targets", rng.standard_normal((batch, width)).astype(dtype)),
        ("binary_cross_entropy", "probability targets", rng.random((batch, width)).astype(dtype)),
        ("binary_cross_entropy", "labels", np.asarray(rng.integers(0, width, size=batch))),
        ("softmax_binary_cross_entropy", "labels", np.asarray(rng.integers(0, width, size=batch))),
    ]
    reports = []
    for loss, kind, y in cases:
        grad: Callable[[FloatArray, Array], FloatArray] = getattr(funcnn_losses, f"{loss}_grad")
        reports.append(_loss_row(check, f"dL/dz {loss} ({kind})", loss, z, y, dtype,
                                 _bind(grad, y)))
    return Report.combine(reports)


def _bind(
    grad: Callable[[FloatArray, Array], FloatArray], y: Array
) -> Callable[[FloatArray], FloatArray]:
    return lambda zz: grad(zz, y)


# -- 5. dense -------------------------------------------------------------------------


def check_dense(
    dtype: Any = np.float64,
    *,
    seed: int = 0,
    vjp: Callable[[dict[str, FloatArray], FloatArray, FloatArray], Any] | None = None,
    check: str | None = None,
) -> Report:
    """``dense_vjp`` (or ``vjp``) against finite differences of ``sum(dense(x) * g)``
    with respect to W, b and x."""
    dtype = check_float_dtype("dtype", dtype)
    seed = check_seed(seed)
    vjp_fn = check_callable("vjp", vjp, optional=True) or dense_vjp
    check = check or f"dense/{_dtype_name(dtype)}"
    rng = problem_rng(seed, check)
    batch, n_in, n_out = 6, 7, 5
    params = {
        "W": rng.standard_normal((n_in, n_out)).astype(dtype),
        "b": rng.standard_normal(n_out).astype(dtype),
        "x": rng.standard_normal((batch, n_in)).astype(dtype),
    }
    g = rng.standard_normal((batch, n_out)).astype(dtype)
    g64 = g.astype(np.float64)

    def loss_fn(p: dict[str, FloatArray]) -> float:
        return float(np.sum(dense({"W": p["W"], "b": p["b"]}, p["x"]) * g64))

    def grad_fn(p: dict[str, FloatArray]) -> dict[str, FloatArray]:
        grads, dx = vjp_fn({"W": p["W"], "b": p["b"]}, p["x"], g)
        return {"W": grads["W"], "b": grads["b"], "x": dx}

    u = eps_of(dtype) / 2
    abs_x = np.abs(params["x"].astype(np.float64))
    abs_w = np.abs(params["W"].astype(np.float64))
    abs_g = np.abs(g64)
    # Running error bounds of the three products (see verification.error_model).
    bound = {
        "W": u * (batch + 1) * (abs_x.T @ abs_g),
        "b": u * (batch + 1) * np.sum(abs_g, axis=0),
        "x": u * (n_out + 1) * (abs_g @ abs_w.T),
    }
    return check_gradients(loss_fn, grad_fn, params, name=check, error_bound=bound)


# -- 6. networks ----------------------------------------------------------------------


def network_case(
    arch: str, activation: str, loss: str, dtype: Any, seed: int
) -> tuple[MLP, Params, FloatArray, Array, str]:
    """The fixed-seed problem of one network check: ``(spec, params, x, y, source)``.

    ``y`` are integer labels for the softmax cross-entropies, one-hot float targets of
    ``dtype`` for the other losses; ``source`` is ``"mnist"``, ``"random"`` or ``"xor"``.
    """
    info = _architecture(arch)
    dtype = check_float_dtype("dtype", dtype)
    seed = check_seed(seed)
    get_loss(loss)
    rng = problem_rng(seed, f"network/{arch}/{activation}/{loss}")
    spec = MLP(info.sizes, activation)
    params = init(spec, rng, info.scheme, dtype=dtype)
    if arch == "2-3-1":
        x, labels, source = _XOR_X.copy(), _XOR_Y.copy(), "xor"
    else:
        x, labels, source = sample_batch(spec.n_in, spec.n_out, BATCH, rng)
    if loss in ("softmax_cross_entropy", "softmax_then_cross_entropy"):
        y: Array = labels if spec.n_out > 1 else np.zeros_like(labels)
    else:
        y = dense_targets(labels, len(labels), spec.n_out).astype(dtype)
    return spec, params, x.astype(dtype), y, source


def check_network_case(
    arch: str,
    activation: str,
    loss: str,
    dtype: Any = np.float64,
    *,
    seed: int = 0,
    mode: str = "auto",
    subset: Any = None,
    check: str | None = None,
) -> Report:
    """:func:`verification.engine.check_network` on :func:`network_case`."""
    spec, params, x, y, source = network_case(arch, activation, loss, dtype, seed)
    check = check or f"network/{arch}/{activation}/{loss}/{_dtype_name(dtype)}"
    report = check_network(spec, params, x, y, loss, mode=mode, subset=subset, seed=seed,
                           name=check)
    rows = tuple(replace(row, note=(row.note + "; " if row.note else "") + f"data: {source}")
                 if row.tensor == "loss value" else row for row in report.rows)
    return Report(rows, {**report.meta, "data": source})


def _architecture(arch: Any) -> Architecture:
    """The architecture named ``arch`` (a key of :data:`ARCHITECTURES`)."""
    if not isinstance(arch, str):
        raise ArgumentTypeError(f"arch: expected a str, got {type(arch).__name__}")
    if arch not in ARCHITECTURES:
        raise InvalidArgumentError(
            f"arch: unknown architecture {arch!r}; expected one of {list(ARCHITECTURES)}"
        )
    return ARCHITECTURES[arch]


def _invariants(arch: str, dtype: Any, seed: int, check: str) -> Report:
    info = ARCHITECTURES[arch]
    loss = "mse" if arch == "2-3-1" else "softmax_cross_entropy"
    spec, params, x, y, _ = network_case(arch, info.activation, loss, dtype, seed)
    return check_invariants(spec, params, x, y, loss, name=check)


def _conformance(arch: str, dtype: Any, seed: int, check: str) -> Report:
    info = ARCHITECTURES[arch]
    loss = "softmax_cross_entropy"
    spec, params, x, y, _ = network_case(arch, info.activation, loss, dtype, seed)
    return check_conformance(textbook_value_and_grad(spec, loss), spec, params, x, y, loss,
                             name=check, seed=seed, other_name="textbook")


def network_matrix() -> list[tuple[str, str, str]]:
    """(arch, activation, loss): every activation with cross-entropy, and every loss with
    the architecture's own activation, for every architecture."""
    out = []
    for arch, info in ARCHITECTURES.items():
        combos = [(act, "softmax_cross_entropy") for act in sorted(ACTIVATIONS)]
        combos += [
            (info.activation, loss) for loss in sorted(LOSSES) if loss != "softmax_cross_entropy"
        ]
        out += [(arch, act, loss) for act, loss in combos]
    return out


_QUICK_NETWORKS = {
    ("784-32-32-10", "sigmoid", "softmax_cross_entropy"),
    ("784-128-10", "relu", "softmax_cross_entropy"),
    ("784-100-200-10", "relu", "softmax_then_cross_entropy"),
    ("784-500-250-100-10", "tanh", "softmax_cross_entropy"),
}


def _activation_check(name: str, dtype: Any) -> Callable[[int], Report]:
    return lambda seed: check_activation(name, dtype)


def _seeded(fn: Callable[..., Report], *args: Any) -> Callable[[int], Report]:
    """``seed -> fn(*args, seed=seed)``."""
    return lambda seed: fn(*args, seed=seed)


def build_catalogue(quick: bool = False) -> list[Check]:
    """Every check, in run order; with ``quick`` only those marked quick."""
    checks: list[Check] = []

    def add(name: str, group: str, is_quick: bool, run: Callable[[int], Report]) -> None:
        checks.append(Check(name, group, is_quick, run))

    # The exact invariants of backprop first: they need no finite difference, and a
    # network that breaks one is wrong whatever the numerical checks find.
    for dtype in DTYPES:
        dn = _dtype_name(dtype)
        for arch in ARCHITECTURES:
            name = f"invariants/{arch}/{dn}"
            add(name, "invariants", arch in ("2-3-1", "784-32-32-10"),
                _invariants_check(arch, dtype, name))
    for dtype in DTYPES:
        dn = _dtype_name(dtype)
        for act in sorted(ACTIVATIONS):
            add(f"activation/{act}/{dn}", "activations", True, _activation_check(act, dtype))
        add(f"softmax/{dn}", "softmax", True, _seeded(check_softmax, dtype))
        for kind in ("labels", "onehot"):
            add(f"cross_entropy/{kind}/{dn}", "cross_entropy", True,
                _seeded(check_cross_entropy, dtype, kind))
        add(f"losses/{dn}", "losses", True, _seeded(check_losses, dtype))
        add(f"dense/{dn}", "dense", True, _seeded(check_dense, dtype))
    for dtype in DTYPES:
        dn = _dtype_name(dtype)
        for arch, act, loss in network_matrix():
            is_quick = arch == "2-3-1" or (
                (arch, act, loss) in _QUICK_NETWORKS
                and (dtype == np.float64 or arch == "784-32-32-10")
            )
            add(f"network/{arch}/{act}/{loss}/{dn}", "networks", is_quick,
                _seeded(check_network_case, arch, act, loss, dtype))
    for arch in ("784-32-32-10", "784-128-10"):
        name = f"conformance/textbook/{arch}/float64"
        add(name, "conformance", arch == "784-32-32-10", _conformance_check(arch, name))
    return [c for c in checks if c.quick] if quick else checks


def _invariants_check(arch: str, dtype: Any, name: str) -> Callable[[int], Report]:
    return lambda seed: _invariants(arch, dtype, seed, name)


def _conformance_check(arch: str, name: str) -> Callable[[int], Report]:
    return lambda seed: _conformance(arch, np.float64, seed, name)


def select(checks: Sequence[Check], patterns: Iterable[str]) -> list[Check]:
    """Checks whose name matches any pattern (shell wildcards, or a plain substring)."""
    pats = list(patterns)
    if not pats:
        return list(checks)
    return [
        c for c in checks
        if any(fnmatch.fnmatchcase(c.name, p) or (not any(ch in p for ch in "*?[") and p in c.name)
               for p in pats)
    ]


def run_checks(
    checks: Sequence[Check],
    seed: int = 0,
    progress: Callable[[int, int, Check, Report, float], None] | None = None,
) -> Report:
    """Run ``checks`` in order; an exception inside a check becomes a failing row."""
    # Typed as a sequence, but called from untyped code too: check what arrived.
    if isinstance(checks, str | bytes) or not isinstance(checks, Sequence):  # type: ignore[unreachable]
        raise ArgumentTypeError(
            f"checks: expected a sequence of Check, got {type(checks).__name__}"
        )
    for index, item in enumerate(checks):
        if not isinstance(item, Check):
            raise ArgumentTypeError(
                f"checks: expected a sequence of Check, got {type(item).__name__} at "
                f"index {index}"
            )
    seed = check_seed(seed)
    check_callable("progress", progress, optional=True)
    reports = []
    started = time.perf_counter()
    sources: set[str] = set()
    for index, item in enumerate(checks):
        start = time.perf_counter()
        try:
            with single_threaded_blas():
                report = item.run(seed)
        except Exception as exc:  # a crash is a failed check, reported, never hidden
            report = Report((CheckRow(item.name, "error", (), "exact", "-", "fail",
                                      note=f"{type(exc).__name__}: {exc}"),), {})
        seconds = time.perf_counter() - start
        if "data" in report.meta:
            sources.add(str(report.meta["data"]))
        reports.append(Report(report.rows, {}))
        if progress is not None:
            progress(index, len(checks), item, report, seconds)
    return Report.combine(reports, {
        "seed": seed,
        "checks": len(checks),
        "seconds": round(time.perf_counter() - started, 3),
        "data": sorted(sources),
        "numpy": np.__version__,
        "scipy": _scipy_version(),
    })


def _scipy_version() -> str:
    import scipy

    return str(scipy.__version__)

