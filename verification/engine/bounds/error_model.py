"""A first-order running error bound for an MLP gradient computed in float32 or float64.

A float32 gradient differs from the exact gradient of the same function by rounding,
and by very different amounts per entry: an entry that sums large terms of both signs,
or passes through a saturated sigmoid (``a(1 - a)`` with ``a`` one ulp below 1), keeps
only a few correct digits, while its neighbours keep seven. A single relative tolerance
either fails such entries on correct code or lets real errors through elsewhere. This
module bounds the rounding error of *each entry* instead, by the standard running
error analysis of a sum of products (Higham, *Accuracy and Stability of Numerical
Algorithms*, 2nd ed., sections 3.1 and 3.5: ``|fl(x . y) - x . y| <= gamma_n |x| . |y|``
with ``gamma_n ~= n u``), carried through the forward and backward passes:

- forward, each layer: ``EZ = u (n_in + 1) (|a| |W| + |b|) + EA |W|``; after the
  activation ``EA = L EZ + 2 u |a|`` with ``L`` the activation's slope bound on
  ``[z - EZ, z + EZ]`` (1 across a relu kink);
- the loss gradient at the logits: the rounding of its formula plus its sensitivity to
  the logits' error ``EZ`` (per loss, see :func:`loss_gradient_error`);
- backward, each layer: the weight gradient ``a^T g`` gets ``u (B + 1) |a|^T |g| +
  EA^T (|g| + EG) + |a|^T EG`` (the product of errors is kept: where a relu may flip,
  both are as large as the values); going down through ``W^T`` and the activation
  derivative adds
  ``u (n_out + 1) |g| |W|^T``, and the derivative's own error ``|act''| EZ`` plus its
  rounding (:func:`derivative_rounding`), or the full jump where ``|z| <= EZ > 0`` could
  flip a relu.

``u`` is the unit roundoff ``eps / 2`` of the dtype the gradient was computed in; all
bounds are evaluated in float64 at the same (exactly up-cast) parameters and inputs.
The result is used as the per-entry absolute tolerance of float32 (and, negligibly
small, float64) checks; see :mod:`verification.engine.bounds.tolerances`.

The running bound adds absolute values through every layer, so on deep, wide networks
it grows far beyond any real error (784-500-250-100-10 in float32: up to 4,000 times
the tensor's largest gradient, while the measured float32 error stays below 0.2% of
``sqrt(eps)`` times it), and a bound that large would pass a gradient of zeros. So,
below float64, each entry's bound is capped (:func:`cap_by_measurement`) at
``sqrt(eps)`` times the tensor's largest float64 gradient, but never below the error
funcnn's own computation in that dtype actually makes on this problem (measured
against funcnn in float64): the bound stays true for funcnn by construction, and
stays decisive.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from funcnn.core.activations import Activation, get_activation
from funcnn.core.losses import Loss, get_loss
from funcnn.core.network import check_inputs, check_params, value_and_grad
from funcnn.core.spec import MLP
from funcnn.errors import FuncnnError
from funcnn.typing import Array, FloatArray, Params
from verification.engine.bounds.derived_loss import derived_loss_error
from verification.engine.common.arguments import check_float_dtype
from verification.engine.common.reference import dense_targets, has_reference

__all__ = [
    "activation_bounds",
    "cap_by_measurement",
    "derivative_rounding",
    "estimated_bounds",
    "gradient_error_bound",
    "loss_gradient_error",
    "reference_gradient",
]

_GRID = np.linspace(-40.0, 40.0, 160_001)
"""Where a new activation's bounds are estimated (step 5e-4)."""


def activation_bounds(name: str) -> tuple[float, float, float]:
    """(sup |f'|, sup |f''|, jump of f' at a kink) of the activation ``name``.

    The constants the activation declares (``Activation.derivative_bounds``: exact for
    the built-ins); for an activation that declares none, an estimate from its own value
    and derivative (:func:`estimated_bounds`), so that a new entry in
    ``funcnn.ACTIVATIONS`` is checked with no edit here.
    """
    act = get_activation(name)
    if act.derivative_bounds is not None:
        return act.derivative_bounds
    return estimated_bounds(act)


@lru_cache(maxsize=64)
def estimated_bounds(act: Activation) -> tuple[float, float, float]:
    """(sup |f'|, sup |f''|, jump of f' at a kink) of ``act`` estimated on [-40, 40]
    (step 5e-4; ``f''`` from differences of ``f'`` away from the kinks), each with a 50%
    margin."""
    z = _GRID
    with np.errstate(all="ignore"):
        d = np.asarray(act.derivative(z, act.fn(z)), dtype=np.float64)
        slopes = np.abs(np.diff(d)) / np.diff(z)
        near = np.zeros(slopes.shape, dtype=bool)
        for k in act.kinks:
            near |= (z[:-1] <= k + 1e-3) & (z[1:] >= k - 1e-3)
        kinks = np.asarray(act.kinks, dtype=np.float64)
        eps = 1e-9 * np.maximum(1.0, np.abs(kinks))
        jumps = np.abs(act.derivative(kinks + eps, act.fn(kinks + eps))
                       - act.derivative(kinks - eps, act.fn(kinks - eps)))
    finite = np.isfinite(d)
    sup1 = 1.5 * float(np.max(np.abs(d[finite]), initial=0.0))
    sup2 = 1.5 * float(np.max(slopes[~near & np.isfinite(slopes)], initial=0.0))
    return sup1, sup2, 1.5 * float(np.max(jumps, initial=0.0))


def derivative_rounding(name: str, a: FloatArray, d: FloatArray, u: float) -> FloatArray:
    """Rounding error of evaluating activation ``name``'s derivative ``d`` from ``a``.

    sigmoid ``a (1 - a)`` inherits the rounding of ``a`` (up to ``u |a|``, which is what
    makes it inexact where ``a`` is within an ulp of 1); tanh ``1 - a**2`` likewise with
    ``2 u a**2``; softplus' derivative is a sigmoid; identity, relu and leaky relu are
    exact up to the final rounding. Each term carries a factor 3 for the operations
    involved. Any other activation gets the sigmoid-like allowance ``3 u (|a| + |d|)``.
    """
    if name == "sigmoid":
        out: FloatArray = 3 * u * (np.abs(a) + d)
    elif name == "tanh":
        out = 3 * u * (a * a + d)
    elif name == "softplus":
        out = 3 * u * d
    elif name in ("identity", "relu", "leaky_relu"):
        out = u * d
    else:
        out = 3 * u * (np.abs(a) + np.abs(d))
    return out


def _softmax(z: FloatArray) -> FloatArray:
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    out: FloatArray = e / np.sum(e, axis=-1, keepdims=True)
    return out


def loss_gradient_error(
    loss: str | Loss, z: FloatArray, ez: FloatArray, t: FloatArray, u: float, tiny: float
) -> tuple[FloatArray, FloatArray]:
    """``(|dL/dz|, bound on its computed error)`` for logits ``z`` known to within ``ez``.

    ``t`` are dense float64 targets; shapes (B, C); ``u`` and ``tiny`` the unit roundoff
    and smallest normal number of the dtype the gradient was computed in. Per loss, the
    error is the rounding of the gradient's formula (relative ``u`` per operation on the
    magnitudes that enter it, e.g. ``p`` and ``t`` for ``p - t``), the change of the
    exact gradient when the logits move by ``ez`` (through the loss's second
    derivative), and underflow: a probability below ``tiny`` is known only to within
    ``tiny``, and where the dtype clips a probability (at ``tiny`` or ``1 - eps``) the
    whole clipped term is counted as error, since float64 does not clip there.

    Those models are written for funcnn's built-in losses (the registry's own entries);
    any other :class:`~funcnn.Loss` gets :func:`derived_loss_error`, measured from its
    own gradient.
    """
    if not has_reference(loss):
        return derived_loss_error(get_loss(loss), z, ez, t, u, tiny)
    name = get_loss(loss).name
    batch, width = z.shape
    e_max = np.max(ez, axis=1, keepdims=True)
    spread = np.abs(z - np.max(z, axis=1, keepdims=True))
    n = batch * width
    if name in ("softmax_cross_entropy", "softmax_then_cross_entropy",
                "softmax_binary_cross_entropy"):
        s = _softmax(z)
        # p = exp(log_softmax): relative error ~ u (|z - max| + log C + 4) from rounding,
        # 2 max(ez) from the logits (softmax's log-Jacobian rows sum to <= 2), and
        # tiny / p once p is subnormal in the dtype.
        floor = np.finfo(np.float64).tiny
        rel_s = u * (spread + np.log(width) + 4) + 2 * e_max + tiny / np.maximum(s, floor)
    if name in ("softmax_cross_entropy", "softmax_then_cross_entropy"):
        total = np.sum(t, axis=1, keepdims=True)
        grad = (s * total - t) / batch
        ops = width + 2 if name == "softmax_then_cross_entropy" else 2
        err = (s * np.minimum(rel_s, 1) * total + u * ops * (s * total + np.abs(t))) / batch
        if name == "softmax_then_cross_entropy":
            # The explicit path forms J = diag(p) - p p^T and divides by p clipped at
            # tiny. Where p_i or a product p_i p_j underflows, the term t_i / p_i J_ij
            # it should carry (t_i for the diagonal, t_i p_j off it) is lost.
            small = 2 * tiny
            lost_diag = t * (s < small)
            lost_outer = (s[:, :, None] * s[:, None, :] < small) * t[:, :, None]
            err = err + (lost_diag + s * np.sum(lost_outer, axis=1)) / batch
        return np.abs(grad), err + tiny * (total + 1) / batch
    if name == "mse":
        grad = 2 * (z - t) / n
        err = 2 * (ez + 2 * u * (np.abs(z) + np.abs(t))) / n
        return np.abs(grad), err + tiny / n
    if name == "binary_cross_entropy":
        sig = np.exp(-np.logaddexp(0.0, -z))
        grad = (sig - t) / n
        err = (0.25 * ez + 2 * u * (sig + np.abs(t)) + tiny) / n
        return np.abs(grad), err
    if name == "softmax_binary_cross_entropy":
        info = np.finfo(np.float64)
        p = np.clip(s, info.tiny, 1 - info.epsneg)
        q = 1 - p
        rel_p = np.minimum(rel_s, 1)
        dp = (-t / p + (1 - t) / q) / n
        mag_dp = (t / p + (1 - t) / q) / n
        # 1 - p loses relative accuracy (rel_p p + 2u) / (1 - p) near p = 1; past the
        # dtype's clip at 1 - eps that ratio exceeds 1 and the term is lost entirely.
        err_dp = (t / p * (rel_s + 2 * u) + (1 - t) / q * ((rel_p * p + 2 * u) / q + 2 * u)) / n
        inner = np.sum(s * dp, axis=1, keepdims=True)
        grad = s * (dp - inner)
        mag_inner = np.sum(s * mag_dp, axis=1, keepdims=True)
        err_inner = np.sum(s * (err_dp + rel_p * mag_dp), axis=1, keepdims=True)
        err = s * (err_dp + err_inner) + s * rel_p * (mag_dp + mag_inner)
        err += u * (width + 3) * s * (mag_dp + mag_inner)
        return np.abs(grad), err + tiny / n
    raise AssertionError(f"has_reference({name!r}) but no error model")  # pragma: no cover


def gradient_error_bound(
    spec: MLP,
    params: Params,
    x: Array,
    y: Any,
    loss: str | Loss,
    dtype: Any,
    forward: tuple[Sequence[FloatArray], Sequence[FloatArray]] | None = None,
    *,
    cap: bool = True,
) -> list[dict[str, FloatArray]]:
    """Per-entry bound on ``|computed gradient - exact gradient|`` in ``dtype``.

    ``params`` and ``x`` are the values the gradient was computed from (any float
    dtype; they are up-cast); ``y`` labels or targets. ``forward``, when given, is the
    float64 forward pass at those values, ``(inputs, pre)`` as kept by
    :class:`verification.engine.evaluators.perturbed.NetworkLoss` (``inputs[l]`` enters layer ``l``,
    ``pre[l]`` leaves it), and is reused instead of recomputed. ``cap``: apply
    :func:`cap_by_measurement` (below float64 only). Returns a params-shaped list of
    float64 ``{"W", "b"}`` arrays.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> from verification import gradient_error_bound
        >>> spec, rng = fn.MLP((3, 4, 2), activation="tanh"), np.random.default_rng(0)
        >>> params, x = fn.init(spec, rng), rng.standard_normal((5, 3))
        >>> y = np.array([0, 1, 1, 0, 1])
        >>> bound = gradient_error_bound(spec, params, x, y, "softmax_cross_entropy", np.float32)
        >>> [b["W"].shape for b in bound], all(bool((b["W"] > 0).all()) for b in bound)
        ([(3, 4), (4, 2)], True)
    """
    info = np.finfo(check_float_dtype("dtype", dtype))
    u, tiny = float(info.eps) / 2, float(info.tiny)
    resolved = get_loss(loss)
    check_inputs(spec, x, check_params(spec, params))
    Ws = [np.asarray(layer["W"], dtype=np.float64) for layer in params]
    bs = [np.asarray(layer["b"], dtype=np.float64) for layer in params]
    absW = [np.abs(W) for W in Ws]
    acts = spec.hidden_activations
    a: FloatArray = np.asarray(x, dtype=np.float64).reshape(-1, spec.n_in)
    batch = a.shape[0]
    ea = np.zeros_like(a)
    inputs, errs_a, pres, errs_z = [a], [ea], [], []
    for layer, (W, b) in enumerate(zip(Ws, bs, strict=True)):
        z = a @ W + b if forward is None else forward[1][layer]
        ez = u * (W.shape[0] + 1) * (np.abs(a) @ absW[layer] + np.abs(b))
        if layer:  # the inputs themselves are exact
            ez = ez + ea @ absW[layer]
        pres.append(z)
        errs_z.append(ez)
        if layer < len(acts):
            act = get_activation(acts[layer])
            sup1, sup2, jump = activation_bounds(acts[layer])
            a = act.fn(z) if forward is None else forward[0][layer + 1]
            slope = np.abs(act.derivative(z, a))
            if jump:
                slope = np.where(_may_flip(z, ez, act.kinks), sup1, slope)
            else:
                slope = np.minimum(slope + sup2 * ez, sup1)
            ea = slope * ez + 2 * u * np.abs(a) + tiny
            inputs.append(a)
            errs_a.append(ea)
    t = dense_targets(y, batch, spec.n_out)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        g, eg = loss_gradient_error(resolved, pres[-1], errs_z[-1], t, u, tiny)
    # Where the model overflows (probabilities clipped in both dtypes), nothing is
    # guaranteed: an infinite bound makes the engine report the entry inconclusive.
    eg = np.where(np.isnan(eg), np.inf, eg)
    bounds: list[dict[str, FloatArray]] = [{} for _ in params]
    with np.errstate(over="ignore", invalid="ignore"):
        _backward_bounds(Ws, absW, inputs, errs_a, pres, errs_z, acts, g, eg, u, tiny, batch,
                         bounds)
    out = [{k: np.where(np.isnan(v), np.inf, v) for k, v in layer.items()} for layer in bounds]
    if cap and info.eps > np.finfo(np.float64).eps:
        out = cap_by_measurement(spec, params, x, y, loss, info.dtype, out)
    return out


def cap_by_measurement(
    spec: MLP, params: Params, x: Array, y: Any, loss: str | Loss, dtype: Any,
    bounds: list[dict[str, FloatArray]],
) -> list[dict[str, FloatArray]]:
    """``min(bound, max(sqrt(eps) * scale, measured))`` per entry.

    ``scale`` is the tensor's largest float64 gradient entry and ``measured`` the
    difference between funcnn's gradient in ``dtype`` and in float64 at the same
    (up-cast) values. Where that measurement is not finite (overflow), the bound is
    left as it is.
    """
    try:
        with np.errstate(all="ignore"):
            low = _gradient_in(spec, params, x, y, loss, np.dtype(dtype))
            high = reference_gradient(spec, params, x, y, loss)
    except (FuncnnError, ValueError, ArithmeticError):
        return bounds
    rtol = float(np.sqrt(np.finfo(dtype).eps))
    out: list[dict[str, FloatArray]] = []
    for bound, g_low, g_high in zip(bounds, low, high, strict=True):
        layer = {}
        for key, b in bound.items():
            measured = np.abs(np.asarray(g_low[key], np.float64) - g_high[key])
            scale = float(np.max(np.abs(g_high[key]), initial=0.0))
            ok = np.all(np.isfinite(measured)) and np.isfinite(scale)
            layer[key] = np.minimum(b, np.maximum(rtol * scale, measured)) if ok else b
        out.append(layer)
    return out


def reference_gradient(spec: MLP, params: Params, x: Array, y: Any, loss: str | Loss
                       ) -> Params:
    """funcnn's float64 gradient at the up-cast params and inputs."""
    return _gradient_in(spec, params, x, y, loss, np.dtype(np.float64))


def _gradient_in(spec: MLP, params: Params, x: Array, y: Any, loss: str | Loss,
                 dtype: np.dtype[Any]
                 ) -> Params:
    """funcnn's gradient with params, inputs and float targets cast to ``dtype``."""
    cast = [{k: np.asarray(v).astype(dtype) for k, v in layer.items()} for layer in params]
    y_arr = np.asarray(y)
    targets = y_arr.astype(dtype) if y_arr.dtype.kind == "f" else y_arr
    return value_and_grad(spec, cast, np.asarray(x).astype(dtype), targets, loss)[1]


def _may_flip(z: FloatArray, ez: FloatArray, kinks: tuple[float, ...] = (0.0,)) -> Any:
    """Where rounding may put ``z`` on the other side of a kink: within its error of one,
    unless it is exact (a zero computed from zero inputs and biases stays zero)."""
    near = np.zeros(z.shape, dtype=bool)
    for k in kinks:
        near |= np.abs(z - k) <= ez
    return near & (ez > 0)


def _backward_bounds(
    Ws: Sequence[FloatArray], absW: Sequence[FloatArray], inputs: Sequence[FloatArray],
    errs_a: Sequence[FloatArray], pres: Sequence[FloatArray], errs_z: Sequence[FloatArray],
    acts: tuple[str, ...], g: FloatArray, eg: FloatArray, u: float, tiny: float, batch: int,
    bounds: list[dict[str, FloatArray]],
) -> None:
    """The backward half of :func:`gradient_error_bound`, filling ``bounds`` in place."""
    for layer in range(len(Ws) - 1, -1, -1):
        a_in = np.abs(inputs[layer])
        # |a|^T (u (B+1) g + eg): the product's own rounding and the upstream error.
        bound_W = a_in.T @ (u * (batch + 1) * g + eg)
        if layer:  # the network's inputs are exact (errs_a[0] is zero)
            # ea^T (g + eg): the product of two errors is first order where a relu
            # flip makes both of them as large as the values themselves.
            bound_W += errs_a[layer].T @ (g + eg)
        bounds[layer] = {
            "W": bound_W,
            "b": u * (batch + 1) * np.sum(g, axis=0) + np.sum(eg, axis=0),
        }
        if layer == 0:
            break
        g_in = g @ absW[layer].T
        eg_in = u * (Ws[layer].shape[1] + 1) * g_in + eg @ absW[layer].T
        name_act = acts[layer - 1]
        act = get_activation(name_act)
        z, ez = pres[layer - 1], errs_z[layer - 1]
        a_act = inputs[layer]
        d = np.abs(act.derivative(z, a_act))
        _, sup2, jump = activation_bounds(name_act)
        ed = sup2 * ez + derivative_rounding(name_act, a_act, d, u) + tiny
        if jump:
            ed = ed + jump * _may_flip(z, ez, act.kinks)
        g, eg = g_in * d, eg_in * (d + ed) + g_in * ed
