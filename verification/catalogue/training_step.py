"""The gradient the training step applies, checked against finite differences.

:func:`funcnn.fit` and :func:`funcnn.make_step` do not hand their gradient to anyone:
they apply it, for plain SGD inside backprop itself (the learning rate folded into the
logits' gradient, each weight update fused into its gradient's product). So the check
observes what they do: one step from ``params`` with a learning rate ``lr`` that is a
power of two changes the parameters by ``lr * g``; ``g = (params - new) / lr`` is the
applied gradient, and it is checked like any other, per tensor, against scipy finite
differences of the loss with the engine's per-entry error model.

``lr = 2**20`` makes the subtraction's rounding negligible: ``new = fl(p - lr g)`` is off
by at most ``u |p - lr g|``, i.e. ``u (|p| / lr + |g|)`` after dividing by ``lr``, below
the rounding the error model already allows for ``g`` itself. Dividing by a power of
two is exact, and so is folding it into the logits' gradient.

Two optimizers cover the step's two ways of applying a gradient: plain SGD (applied
inside backprop) and SGD with momentum, whose first update from a zero velocity is
also ``p - lr g`` but goes through the stored gradient and the optimizer's kernel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from funcnn.core.initializers import init
from funcnn.core.losses import get_loss
from funcnn.core.spec import MLP
from funcnn.errors import InvalidArgumentError
from funcnn.training.optimizers import sgd
from funcnn.training.step import make_step
from funcnn.typing import Array, FloatArray, Params
from verification.engine.common.arguments import check_float_dtype, check_seed
from verification.engine.common.reference import dense_targets
from verification.engine.network_check import check_network
from verification.reporting.report import Report

__all__ = ["OPTIMIZERS", "STEP_LR", "STEP_SIZES", "applied_gradient", "check_training_step"]

STEP_LR = 2.0**20
"""The learning rate of the observed step (a power of two; see the module docstring)."""

STEP_SIZES = (20, 12, 8, 4)
"""The network every activation x loss x dtype is checked on: small enough for full mode
(every entry), deep enough for two hidden layers' backprop."""

OPTIMIZERS = ("sgd", "momentum")
"""``sgd``: applied inside backprop; ``momentum``: through the optimizer's kernel."""

_BATCH = 16


def applied_gradient(
    spec: MLP, x: FloatArray, y: Array, loss: str, optimizer: str
) -> Any:
    """``grad_fn(params)``: the gradient one training step applies at ``params``."""
    opt = sgd(STEP_LR) if optimizer == "sgd" else sgd(STEP_LR, momentum=0.5)
    step = make_step(spec, opt, loss)

    def grad_fn(params: Params) -> Params:
        new = [{k: v.copy() for k, v in layer.items()} for layer in params]
        new, _, _ = step(new, opt.init(new), x, y)  # the step owns (and empties) its input
        return [
            {k: (old[k] - moved[k]) / old[k].dtype.type(STEP_LR) for k in old}
            for old, moved in zip(params, new, strict=True)
        ]

    return grad_fn


def check_training_step(
    activation: str,
    loss: str,
    dtype: Any = np.float64,
    optimizer: str = "sgd",
    *,
    seed: int = 0,
    check: str | None = None,
) -> Report:
    """Check the gradient a training step with ``optimizer`` applies to a
    :data:`STEP_SIZES` network of ``activation`` under ``loss``, in full mode."""
    dtype = check_float_dtype("dtype", dtype)
    seed = check_seed(seed)
    if optimizer not in OPTIMIZERS:
        raise InvalidArgumentError(f"optimizer: expected one of {OPTIMIZERS}, got {optimizer!r}")
    rng = np.random.default_rng([seed, 0x73746570])  # "step"
    spec = MLP(STEP_SIZES, activation)
    params = init(spec, rng, "glorot_uniform", dtype=dtype)
    x = rng.standard_normal((_BATCH, spec.n_in)).astype(dtype)
    labels = rng.integers(0, spec.n_out, _BATCH)
    y: Array = labels
    if get_loss(loss).target_kind != "distribution":
        y = dense_targets(labels, _BATCH, spec.n_out).astype(dtype)
    name = check or f"train-step/{activation}/{loss}/{np.dtype(dtype).name}/{optimizer}"
    grad_fn = applied_gradient(spec, x, y, loss, optimizer)
    return check_network(spec, params, x, y, loss, mode="full", seed=seed, name=name,
                         grad_fn=grad_fn)
