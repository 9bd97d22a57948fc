"""The optimizer recipes (chains of :mod:`funcnn.training.transforms`) and their registry.

Each recipe is one chain, with ``lr_t`` the learning rate (a number, or a
:class:`~funcnn.training.schedules.Schedule` of the update count) and decoupled weight
decay ``wd`` on the weight matrices (``add_decayed_weights``, skipped when 0)::

    sgd      = [trace(momentum, nesterov)] + [add_decayed_weights(wd)] + scale_by_learning_rate
    adam     = scale_by_adam(b1, b2, eps)  + [add_decayed_weights(wd)] + scale_by_learning_rate
    adamw    = adam with weight_decay=0.01 by default
    rmsprop  = scale_by_rms(alpha, eps, centered) + [trace(momentum)] + [decay] + lr
    adagrad  = scale_by_rss(eps, initial_accumulator_value) + [decay] + lr

(brackets: only when the setting is non-zero). The update rules are PyTorch's
(``torch.optim.SGD`` without dampening, ``RMSprop``, ``Adagrad`` without ``lr_decay``) and
Adam's paper; the weight decay is decoupled everywhere (it does not enter momentum or the
moment estimates; for plain SGD it equals L2 regularisation with coefficient ``wd / 2``),
where PyTorch's ``RMSprop`` and ``Adagrad`` add an L2 term to the gradient instead.

:data:`OPTIMIZERS` maps each name to its recipe: the CLI's ``--optimizer`` choices, the
config a checkpoint stores (the recipe's keyword arguments; keys missing from an older
config take the recipe's defaults) and the table in ``docs/training.md`` all come from it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.training.chain import (
    Optimizer,
    OptState,
    chain,
    chain_from_config,
)
from funcnn.training.explicit import sgd_step
from funcnn.training.leaves import check_fraction, check_non_negative
from funcnn.training.schedules import Schedule, as_schedule, schedule_from_config
from funcnn.training.transforms import (
    Transform,
    add_decayed_weights,
    scale_by_adam,
    scale_by_learning_rate,
    scale_by_rms,
    scale_by_rss,
    trace,
)

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "Adam",
    "OptState",
    "Optimizer",
    "OptimizerEntry",
    "adagrad",
    "adam",
    "adamw",
    "chain",
    "make_recipe",
    "optimizer_from_config",
    "optimizer_table",
    "register_optimizer",
    "rmsprop",
    "sgd",
    "sgd_step",
]


def make_recipe(
    name: str, title: str, parts: list[Transform | None], lr: float | Schedule, **settings: Any
) -> Optimizer:
    """The chain of ``parts`` (``None`` skipped) then ``scale_by_learning_rate(lr)``,
    remembering ``name`` and the recipe's keyword arguments (``settings``) as its config:
    how every recipe, and one registered with :func:`register_optimizer`, is built."""
    schedule = as_schedule(lr)
    transforms = (*(t for t in parts if t is not None), scale_by_learning_rate(schedule))
    return Optimizer(transforms, name, (("lr", schedule), *settings.items()), title)


def _decay(weight_decay: float) -> Transform | None:
    wd = check_non_negative("weight_decay", weight_decay)
    return add_decayed_weights(wd) if wd else None


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ArgumentTypeError(f"{name}: expected a bool, got {value!r}")
    return value


def sgd(
    lr: float | Schedule,
    *,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
) -> Optimizer:
    """SGD, with momentum or Nesterov momentum (PyTorch's convention, no dampening).

    ``lr`` is a number or a schedule (:class:`~funcnn.training.schedules.Schedule`);
    ``weight_decay`` is decoupled (SGDW: ``p <- p - lr * (d + wd * p)``) and applies to
    weight matrices only. The optimizer is pure: ``update`` returns new params and state.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> opt = fn.sgd(0.5, momentum=0.9)
        >>> params = [{"W": np.ones((1, 2)), "b": np.zeros(2)}]
        >>> grads = [{"W": np.ones((1, 2)), "b": np.ones(2)}]
        >>> state = opt.init(params)
        >>> params, state = opt.update(grads, state, params)
        >>> params[0]["b"], int(state["count"])
        (array([-0.5, -0.5]), 1)
        >>> params, state = opt.update(grads, state, params)       # velocity 0.9 * 1 + 1
        >>> params[0]["b"]
        array([-1.45, -1.45])
    """
    mu = check_fraction("momentum", momentum)
    if _bool("nesterov", nesterov) and mu == 0:
        raise InvalidArgumentError("nesterov: Nesterov momentum needs momentum > 0")
    return make_recipe(
        "sgd", "SGD", [trace(mu, nesterov) if mu else None, _decay(weight_decay)], lr,
        momentum=mu, nesterov=nesterov, weight_decay=float(weight_decay),
    )


def adam(
    lr: float | Schedule = 1e-3,
    *,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> Optimizer:
    """Adam (Kingma & Ba), or AdamW with ``weight_decay > 0``.

    ``lr`` is a number or a schedule; ``b1``, ``b2`` and ``eps`` as in the paper (and
    optax, PyTorch). Adam's first step moves every parameter by about ``lr`` against the
    sign of its gradient, whatever the gradient's size:

        >>> import numpy as np
        >>> import funcnn as fn
        >>> opt = fn.adam(0.01)
        >>> params = [{"W": np.ones((1, 2)), "b": np.zeros(2)}]
        >>> grads = [{"W": np.array([[100.0, -0.01]]), "b": np.ones(2)}]
        >>> new, state = opt.update(grads, opt.init(params), params)
        >>> np.round(new[0]["W"] - params[0]["W"], 6)
        array([[-0.01,  0.01]])
        >>> sorted(state)
        ['count', 'mu', 'nu']
    """
    scaling = scale_by_adam(b1, b2, eps)
    return make_recipe(
        "adam", "Adam", [scaling, _decay(weight_decay)], lr,
        b1=scaling.b1, b2=scaling.b2, eps=scaling.eps, weight_decay=float(weight_decay),
    )


def adamw(
    lr: float | Schedule = 1e-3,
    *,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
) -> Optimizer:
    """AdamW (Loshchilov & Hutter): :func:`adam` with decoupled decay 0.01 by default.

    For example:

        >>> import funcnn as fn
        >>> fn.adamw(0.01).to_config()["weight_decay"], fn.adam(0.01).to_config()["weight_decay"]
        (0.01, 0.0)
    """
    scaling = scale_by_adam(b1, b2, eps)
    return make_recipe(
        "adamw", "AdamW", [scaling, _decay(weight_decay)], lr,
        b1=scaling.b1, b2=scaling.b2, eps=scaling.eps, weight_decay=float(weight_decay),
    )


def rmsprop(
    lr: float | Schedule = 1e-2,
    *,
    alpha: float = 0.99,
    eps: float = 1e-8,
    momentum: float = 0.0,
    centered: bool = False,
    weight_decay: float = 0.0,
) -> Optimizer:
    """RMSprop as ``torch.optim.RMSprop`` computes it (``eps`` outside the root; momentum
    on the scaled gradient), with decoupled weight decay.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> opt = fn.rmsprop(0.01, momentum=0.9)
        >>> params = [{"W": np.ones((1, 2)), "b": np.zeros(2)}]
        >>> new, state = opt.update(fn.tree_map(np.ones_like, params), opt.init(params), params)
        >>> bool((new[0]["b"] < 0).all()), int(state["count"])
        (True, 1)
    """
    scaling = scale_by_rms(alpha, eps, centered)
    mu = check_fraction("momentum", momentum)
    return make_recipe(
        "rmsprop", "RMSprop", [scaling, trace(mu) if mu else None, _decay(weight_decay)], lr,
        alpha=scaling.alpha, eps=scaling.eps, momentum=mu, centered=centered,
        weight_decay=float(weight_decay),
    )


def adagrad(
    lr: float | Schedule = 1e-2,
    *,
    eps: float = 1e-10,
    initial_accumulator_value: float = 0.0,
    weight_decay: float = 0.0,
) -> Optimizer:
    """Adagrad as ``torch.optim.Adagrad`` computes it (no ``lr_decay``: use a schedule),
    with decoupled weight decay.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> opt = fn.adagrad(0.1)
        >>> params = [{"W": np.ones((1, 2)), "b": np.zeros(2)}]
        >>> grads = [{"W": np.array([[4.0, -4.0]]), "b": np.ones(2)}]
        >>> new, _ = opt.update(grads, opt.init(params), params)   # g / sqrt(g^2): a step of lr
        >>> np.round(new[0]["W"], 6)
        array([[0.9, 1.1]])
    """
    scaling = scale_by_rss(eps, initial_accumulator_value)
    return make_recipe(
        "adagrad", "Adagrad", [scaling, _decay(weight_decay)], lr,
        eps=scaling.eps, initial_accumulator_value=scaling.initial_accumulator_value,
        weight_decay=float(weight_decay),
    )


SGD = sgd
"""The name of the class :func:`sgd` returned before optimizers became chains."""
Adam = adam
"""The name of the class :func:`adam` returned before optimizers became chains."""


@dataclass(frozen=True)
class OptimizerEntry:
    """One registered optimizer: its recipe, how it is named, and the CLI's default rate.

    The recipe takes the learning rate first, then keyword arguments with defaults: those
    are its settings (config keys, CLI flags, docs columns).
    """

    name: str
    recipe: Callable[..., Optimizer]
    summary: str
    default_lr: float

    def settings(self) -> dict[str, Any]:
        """The recipe's keyword arguments and their defaults (``lr`` excluded)."""
        return {
            p.name: p.default
            for p in inspect.signature(self.recipe).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }

    def default_lr_of_recipe(self) -> Any:
        """The recipe's own default ``lr``, or None when it has none."""
        first = next(iter(inspect.signature(self.recipe).parameters.values()))
        return None if first.default is inspect.Parameter.empty else first.default

    def build(self, lr: float | Schedule, settings: dict[str, Any]) -> Optimizer:
        """The recipe with ``lr`` and ``settings`` (missing ones take their defaults)."""
        unknown = sorted(set(settings) - set(self.settings()))
        if unknown:
            raise InvalidArgumentError(
                f"config: bad arguments for optimizer {self.name!r}: unexpected {unknown}; "
                f"it takes {sorted(self.settings())}"
            )
        return self.recipe(lr, **settings)


OPTIMIZERS: dict[str, OptimizerEntry] = {}
"""Every optimizer by name (:func:`register_optimizer` adds one)."""


def register_optimizer(
    name: str, recipe: Callable[..., Optimizer], summary: str, default_lr: float
) -> OptimizerEntry:
    """Add (or replace) the optimizer ``name``; returns its entry. ``recipe(lr, **settings)``
    takes the learning rate (a number or a schedule) first, then keyword-only settings with
    JSON-serialisable defaults, and returns an :class:`Optimizer` whose ``recipe`` is
    ``name``, as :func:`make_recipe` builds it (see :func:`sgd` for the pattern).

        >>> import funcnn.training.transforms as tx
        >>> from funcnn.training.optimizers import (
        ...     OPTIMIZERS, make_recipe, optimizer_from_config, register_optimizer)
        >>> def clipped_sgd(lr, *, max_norm=1.0):
        ...     return make_recipe("clipped_sgd", "clipped SGD", [tx.clip_by_global_norm(max_norm)],
        ...                        lr, max_norm=max_norm)
        >>> entry = register_optimizer("clipped_sgd", clipped_sgd, "SGD on clipped gradients", 0.1)
        >>> config = clipped_sgd(0.1, max_norm=2.0).to_config()
        >>> config["name"], optimizer_from_config(config) == clipped_sgd(0.1, max_norm=2.0)
        ('clipped_sgd', True)
        >>> del OPTIMIZERS["clipped_sgd"]                    # keep the registry as it was
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ArgumentTypeError(f"name: expected an identifier string, got {name!r}")
    if not callable(recipe):
        raise ArgumentTypeError(f"recipe: expected a callable, got {type(recipe).__name__}")
    params = list(inspect.signature(recipe).parameters.values())
    if not params or params[0].kind is inspect.Parameter.KEYWORD_ONLY:
        raise InvalidArgumentError(
            f"recipe: {getattr(recipe, '__name__', recipe)!r} must take the learning rate first"
        )
    entry = OPTIMIZERS[name] = OptimizerEntry(name, recipe, summary, default_lr)
    return entry


register_optimizer("sgd", sgd, "SGD, momentum, Nesterov (PyTorch's convention)", 0.1)
register_optimizer("adam", adam, "Adam; AdamW with weight_decay > 0", 1e-3)
register_optimizer("adamw", adamw, "AdamW: Adam with decoupled decay 0.01", 1e-3)
register_optimizer("rmsprop", rmsprop, "RMSprop (PyTorch's semantics)", 1e-2)
register_optimizer("adagrad", adagrad, "Adagrad (PyTorch's semantics)", 1e-2)


def optimizer_from_config(config: Any) -> Optimizer:
    """Rebuild an optimizer from :meth:`Optimizer.to_config` output; settings missing
    from the config (saved before the setting existed) take the recipe's defaults.

        >>> import funcnn as fn
        >>> config = fn.sgd(0.1, momentum=0.9).to_config()     # JSON-serialisable
        >>> fn.optimizer_from_config(config).to_config() == config
        True
    """
    if not isinstance(config, dict):
        raise ArgumentTypeError(f"config: expected a dict, got {type(config).__name__}")
    args = dict(config)
    name = args.pop("name", None)
    if name == "chain":
        return chain_from_config(config)
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise InvalidArgumentError(
            f"config: unknown optimizer {name!r}; expected one of {sorted(OPTIMIZERS)} "
            "or 'chain'"
        )
    entry = OPTIMIZERS[name]
    lr = args.pop("lr", entry.default_lr_of_recipe())
    if lr is None:
        raise InvalidArgumentError(f"config: optimizer {name!r} needs 'lr'")
    schedule = schedule_from_config(lr) if isinstance(lr, dict) else lr
    return entry.build(schedule, args)


def optimizer_table() -> str:
    """The Markdown table of :data:`OPTIMIZERS` that ``docs/training.md`` shows."""
    rows = [
        "| name | what | settings (defaults) | CLI default lr |",
        "|---|---|---|---|",
    ]
    for name, entry in OPTIMIZERS.items():
        settings = ", ".join(f"`{k}={v!r}`" for k, v in entry.settings().items())
        rows.append(f"| `{name}` | {entry.summary} | {settings} | {entry.default_lr:g} |")
    return "\n".join(rows)
