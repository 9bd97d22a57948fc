"""Argument checks of the verification entry points.

The suite is what people run to decide whether a backprop implementation can be
trusted, so a bad argument must never surface as a raw ``TypeError`` from deep inside
scipy or numpy (or, worse, as a check that quietly ran on nonsense). Each helper here
returns its argument, normalised, or raises one of funcnn's own errors
(:mod:`funcnn.errors`) naming the argument and saying what was expected, like the
checks of :mod:`funcnn.core.validation` that the library itself uses.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from funcnn.core.losses import LOSSES, Loss
from funcnn.core.spec import MLP
from funcnn.core.validation import check_float_dtype
from funcnn.errors import ArgumentTypeError, InvalidArgumentError, NonFiniteError

__all__ = [
    "check_callable",
    "check_extra_losses",
    "check_float_dtype",
    "check_loss_value",
    "check_nonnegative_number",
    "check_seed",
    "check_spec",
    "require_finite",
]


def check_callable(name: str, value: Any, *, optional: bool = False) -> Any:
    """``value`` if it is callable (or ``None`` when ``optional``)."""
    if value is None and optional:
        return None
    if not callable(value):
        expected = "a callable or None" if optional else "a callable"
        raise ArgumentTypeError(f"{name}: expected {expected}, got {type(value).__name__}")
    return value


def check_seed(seed: Any, name: str = "seed") -> int:
    """``seed`` as an ``int >= 0`` (what ``numpy.random.default_rng`` accepts in a list)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise ArgumentTypeError(f"{name}: expected an int >= 0, got {type(seed).__name__}")
    if seed < 0:
        raise InvalidArgumentError(f"{name}: expected an int >= 0, got {int(seed)}")
    return int(seed)


def check_spec(spec: Any, name: str = "spec") -> MLP:
    """``spec`` if it is a :class:`funcnn.MLP`."""
    if not isinstance(spec, MLP):
        raise ArgumentTypeError(f"{name}: expected an MLP, got {type(spec).__name__}")
    return spec


def check_nonnegative_number(name: str, value: Any) -> float:
    """``value`` as a finite float ``>= 0``; bools and non-numbers are rejected."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ArgumentTypeError(f"{name}: expected a finite number >= 0, got "
                                f"{type(value).__name__}")
    out = float(value)
    if not (math.isfinite(out) and out >= 0):
        raise InvalidArgumentError(f"{name}: expected a finite number >= 0, got {out}")
    return out


def check_loss_value(name: str, value: Any) -> float:
    """A loss function's result as a float: a real number or a one-element float array.

    Strings, complex numbers and arrays of several values are type errors rather than
    whatever ``float()`` makes of them (``float("1e3")`` would be accepted silently).
    """
    if isinstance(value, bool | str | bytes) or value is None:
        raise ArgumentTypeError(
            f"{name}: expected to return a real number, got {type(value).__name__}"
        )
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iuf":
        return float(value.reshape(()))
    raise ArgumentTypeError(
        f"{name}: expected to return a real number, got {type(value).__name__}"
        + (f" of shape {value.shape} and dtype {value.dtype}"
           if isinstance(value, np.ndarray) else "")
    )


def require_finite(what: str, compute: Callable[[], Any], check: Callable[[Any], bool]) -> Any:
    """``compute()`` with overflow warnings suppressed, then :class:`NonFiniteError` naming
    ``what`` unless ``check(result)`` holds.

    Used where finite inputs can overflow (huge activations, weights near the float
    limits): numpy would warn (an error under ``-W error``) and hand on inf or NaN, which
    a gradient check must not mistake for a derivative. Suppressing the warning is safe
    because the result is tested explicitly right after.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        result = compute()
    if not check(result):
        raise NonFiniteError(f"{what}")
    return result


_LOSS_NAME = re.compile("[a-z0-9_]+")


def check_extra_losses(losses: Any) -> dict[str, Loss]:
    """``losses`` (a sequence of :class:`funcnn.Loss` outside the registry) by name;
    anything else, or a name taken twice or by a registry loss, names ``losses[i]``."""
    if isinstance(losses, str | bytes | Loss) or not isinstance(losses, Sequence):
        raise ArgumentTypeError(f"losses: expected a sequence of funcnn.Loss, got "
                                f"{type(losses).__name__}")
    out: dict[str, Loss] = {}
    for index, loss in enumerate(losses):
        if not isinstance(loss, Loss):
            raise ArgumentTypeError(f"losses[{index}]: expected a funcnn.Loss, got "
                                    f"{type(loss).__name__}")
        if loss.name in LOSSES or loss.name in out:
            raise InvalidArgumentError(
                f"losses[{index}]: name {loss.name!r} is taken (by funcnn's registry or an "
                "earlier entry); expected a new name")
        if not _LOSS_NAME.fullmatch(loss.name):
            raise InvalidArgumentError(
                f"losses[{index}]: name {loss.name!r}: expected lowercase letters, digits and "
                "_ (it names problems, golden cases and the loss on the wire)")
        out[loss.name] = loss
    return out
