"""Parameter initialisation schemes and :func:`init`, which builds a network's params.

A scheme maps ``(rng, n_in, n_out)`` to a float64 ``(W, b)`` pair; :func:`init` draws
the layers in order from one ``numpy.random.Generator`` and casts to the requested
dtype, so a float32 network starts as the float64 one rounded, and the same spec,
scheme, seed and dtype always give the same bits.

Named schemes (``fan_in = n_in``, ``fan_out = n_out``; biases 0 unless stated):

- ``glorot_uniform``: ``U(-r, r)``, ``r = sqrt(6 / (fan_in + fan_out))``
- ``glorot_normal``: ``N(0, 2 / (fan_in + fan_out))``
- ``he_normal``: ``N(0, 2 / fan_in)``; ``he_uniform``: ``U(±sqrt(6 / fan_in))``
- ``lecun_normal``: ``N(0, 1 / fan_in)``
- ``inverse_max_fan_normal``: ``N(0, 1 / max(fan_in, fan_out))``
- ``"normal:STD"`` or ``"normal:STD:BIAS"``: fixed standard deviation, constant bias,
  e.g. ``"normal:0.02"`` or ``"normal:0.01:0.01"`` (also :func:`normal`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeAlias

import numpy as np

from funcnn.core.spec import MLP
from funcnn.core.validation import check_finite, check_float_dtype
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.typing import Array, FloatArray, Params

__all__ = ["SCHEMES", "InitScheme", "get_scheme", "init", "normal"]

# The generator type is a string so that ``import funcnn`` does not import numpy.random
# (numpy loads it on first use); type checkers read it as the class (issue 23).
InitScheme: TypeAlias = Callable[["np.random.Generator", int, int], tuple[Array, Array]]
"""``scheme(rng, n_in, n_out) -> (W (n_in, n_out), b (n_out,))``.

For example, a scheme of our own that :func:`init` runs for every layer:

    >>> import numpy as np
    >>> import funcnn as fn
    >>> def ones(rng, n_in, n_out): return np.ones((n_in, n_out)), np.zeros(n_out)
    >>> params = fn.init(fn.MLP((2, 3, 1)), np.random.default_rng(0), ones)
    >>> [float(layer["W"].sum()) for layer in params]
    [6.0, 3.0]
"""


def _zeros(n_out: int) -> FloatArray:
    return np.zeros(n_out, dtype=np.float64)


def glorot_uniform(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[Array, Array]:
    """``W ~ U(±sqrt(6 / (n_in + n_out)))``, ``b = 0``."""
    limit = math.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, size=(n_in, n_out)), _zeros(n_out)


def glorot_normal(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[Array, Array]:
    """``W ~ N(0, std^2)`` with ``std = sqrt(2 / (n_in + n_out))``, ``b = 0``."""
    std = math.sqrt(2.0 / (n_in + n_out))
    return rng.normal(0.0, std, size=(n_in, n_out)), _zeros(n_out)


def he_normal(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[Array, Array]:
    """``W ~ N(0, 2 / n_in)``, ``b = 0``."""
    return rng.normal(0.0, math.sqrt(2.0 / n_in), size=(n_in, n_out)), _zeros(n_out)


def he_uniform(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[Array, Array]:
    """``W ~ U(±sqrt(6 / n_in))``, ``b = 0``."""
    limit = math.sqrt(6.0 / n_in)
    return rng.uniform(-limit, limit, size=(n_in, n_out)), _zeros(n_out)


def lecun_normal(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[Array, Array]:
    """``W ~ N(0, 1 / n_in)``, ``b = 0``."""
    return rng.normal(0.0, math.sqrt(1.0 / n_in), size=(n_in, n_out)), _zeros(n_out)


def inverse_max_fan_normal(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[Array, Array]:
    """``W ~ N(0, 1 / max(n_in, n_out))``, ``b = 0``."""
    std = math.sqrt(1.0 / max(n_in, n_out))
    return rng.normal(0.0, std, size=(n_in, n_out)), _zeros(n_out)


def normal(std: float, bias: float = 0.0) -> InitScheme:
    """A scheme drawing ``W ~ N(0, std^2)`` with every bias equal to ``bias``.

    For example (``fn.init(spec, rng, fn.normal(0.01))`` uses it for every layer):

        >>> import numpy as np
        >>> import funcnn as fn
        >>> W, b = fn.normal(0.01, bias=0.5)(np.random.default_rng(0), 3, 2)
        >>> W.shape, b
        ((3, 2), array([0.5, 0.5]))
    """
    for name, value in (("std", std), ("bias", bias)):
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise ArgumentTypeError(f"{name}: expected a real number, got {value!r}")
    if not (math.isfinite(std) and std >= 0):
        raise InvalidArgumentError(f"std: expected a finite number >= 0, got {std}")
    if not math.isfinite(bias):
        raise InvalidArgumentError(f"bias: expected a finite number, got {bias}")

    def scheme(rng: np.random.Generator, n_in: int, n_out: int) -> tuple[Array, Array]:
        return rng.normal(0.0, std, size=(n_in, n_out)), np.full(n_out, float(bias))

    scheme.__name__ = f"normal({std}, bias={bias})"
    return scheme


SCHEMES: dict[str, InitScheme] = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "lecun_normal": lecun_normal,
    "inverse_max_fan_normal": inverse_max_fan_normal,
}
"""Named schemes; ``"normal:STD[:BIAS]"`` strings are parsed by :func:`get_scheme`.

For example, one layer's ``(W, b)`` drawn by a scheme:

    >>> import numpy as np
    >>> import funcnn as fn
    >>> W, b = fn.SCHEMES["glorot_uniform"](np.random.default_rng(0), 3, 2)
    >>> W.shape, b
    ((3, 2), array([0., 0.]))
"""


def get_scheme(scheme: str | InitScheme) -> InitScheme:
    """Resolve a scheme name, a ``"normal:STD[:BIAS]"`` string, or pass a callable through.

    For example:

        >>> import numpy as np
        >>> import funcnn as fn
        >>> fn.get_scheme("he_normal") is fn.SCHEMES["he_normal"]
        True
        >>> W, b = fn.get_scheme("normal:0.01:0.1")(np.random.default_rng(0), 2, 3)
        >>> W.shape, b
        ((2, 3), array([0.1, 0.1, 0.1]))
    """
    if callable(scheme):
        return scheme
    if not isinstance(scheme, str):
        raise ArgumentTypeError(f"scheme: expected a name or a callable, got {scheme!r}")
    if scheme in SCHEMES:
        return SCHEMES[scheme]
    if scheme.startswith("normal:"):
        parts = scheme.split(":")[1:]
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            numbers = []
        if len(numbers) in (1, 2) and len(numbers) == len(parts):
            return normal(*numbers)
    raise InvalidArgumentError(
        f"scheme: unknown init scheme {scheme!r}; expected one of {sorted(SCHEMES)}, "
        "'normal:STD', 'normal:STD:BIAS' or a callable"
    )


def _unpack_layer(drawn: Any, index: int) -> tuple[Array, Array]:
    """A scheme's result as two numeric arrays ``(W, b)``, or a clear error naming it."""
    if not isinstance(drawn, tuple | list) or len(drawn) != 2:
        raise InvalidArgumentError(
            f"scheme: layer {index}: expected the scheme to return a pair (W, b), "
            f"got {type(drawn).__name__}"
            + (f" of length {len(drawn)}" if isinstance(drawn, tuple | list) else "")
        )
    arrays = []
    for part, value in zip("Wb", drawn, strict=True):
        try:
            arr: Array | None = np.asarray(value)
        except ValueError:  # ragged nested lists
            arr = None
        if arr is None or arr.dtype.kind not in "iuf":
            raise InvalidArgumentError(
                f"scheme: layer {index}: expected {part} as a real-valued array, "
                f"got {type(value).__name__}"
                + ("" if arr is None else f" of dtype {arr.dtype}")
            )
        arrays.append(arr)
    return arrays[0], arrays[1]


def init(
    spec: MLP,
    rng: np.random.Generator,
    scheme: str | InitScheme = "glorot_uniform",
    dtype: Any = np.float64,
) -> Params:
    """Fresh parameters for ``spec``: ``[{"W": (n_in, n_out), "b": (n_out,)}, ...]``.

    Layers are drawn in order from ``rng`` (which advances); arrays have ``dtype``
    (float32 or float64). A callable ``scheme`` must return arrays of the right shapes
    with finite values.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec = fn.MLP((784, 64, 10), activation="relu")
        >>> params = fn.init(spec, np.random.default_rng(0))
        >>> [(layer["W"].shape, layer["b"].shape) for layer in params]
        [((784, 64), (64,)), ((64, 10), (10,))]
        >>> fn.init(spec, np.random.default_rng(0), "he_normal", dtype=np.float32)[0]["W"].dtype
        dtype('float32')
    """
    if not isinstance(spec, MLP):
        raise ArgumentTypeError(f"spec: expected an MLP, got {type(spec).__name__}")
    if not isinstance(rng, np.random.Generator):
        raise ArgumentTypeError(
            f"rng: expected a numpy.random.Generator (np.random.default_rng(seed)), "
            f"got {type(rng).__name__}"
        )
    dt = check_float_dtype("dtype", dtype)
    draw = get_scheme(scheme)
    params: Params = []
    for index, (n_in, n_out) in enumerate(spec.layer_shapes):
        W, b = _unpack_layer(draw(rng, n_in, n_out), index)
        if W.shape != (n_in, n_out) or b.shape != (n_out,):
            raise InvalidArgumentError(
                f"scheme: layer {index} expected W {(n_in, n_out)} and b {(n_out,)}, "
                f"got W {W.shape} and b {b.shape}"
            )
        check_finite(f"scheme: layer {index} W", W)
        check_finite(f"scheme: layer {index} b", b)
        params.append({"W": W.astype(dt), "b": b.astype(dt)})
    return params
