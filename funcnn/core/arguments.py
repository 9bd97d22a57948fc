"""The checks of a network's arguments, made once at the boundary of the pure API.

:func:`check_params` holds params to a spec (structure, shapes, one float dtype, and
optionally finiteness) and :func:`check_inputs` holds ``x`` to the spec and the params'
dtype; :func:`checked_batch` runs both and checks the targets against the loss. The
network's functions (:mod:`funcnn.core.network`), the training step and the
verification suite call them; ``funcnn.core.network`` re-exports the two public ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from funcnn.core.losses import Loss, get_loss
from funcnn.core.spec import MLP
from funcnn.core.validation import check_finite, check_targets, ensure_array
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.typing import Array, FloatArray

__all__ = ["check_inputs", "check_params", "checked_batch"]


def check_params(
    spec: MLP, params: Any, name: str = "params", *, finite: bool = True
) -> np.dtype[Any]:
    """Check ``params`` matches ``spec`` in structure, shapes and dtype; return the dtype.

    Every array must be float32 or float64, all of one dtype, and (with ``finite``)
    finite.
    """
    if not isinstance(spec, MLP):
        raise ArgumentTypeError(f"spec: expected an MLP, got {type(spec).__name__}")
    if not finite:
        conforming = _conforming_dtype(spec, params)
        if conforming is not None:
            return conforming
    if not isinstance(params, list):
        raise ArgumentTypeError(
            f"{name}: expected a list of {{'W', 'b'}} dicts, got {type(params).__name__}"
        )
    if len(params) != spec.n_layers:
        raise InvalidArgumentError(
            f"{name}: spec {spec.sizes} has {spec.n_layers} layers, params has {len(params)}"
        )
    dtype: np.dtype[Any] | None = None
    for index, (layer, (n_in, n_out)) in enumerate(zip(params, spec.layer_shapes, strict=True)):
        if not isinstance(layer, dict) or set(layer) != {"W", "b"}:
            keys = sorted(layer, key=repr) if isinstance(layer, dict) else type(layer).__name__
            raise InvalidArgumentError(
                f"{name}[{index}]: expected a dict with keys 'W' and 'b', got {keys}"
            )
        for key, shape in (("W", (n_in, n_out)), ("b", (n_out,))):
            where = f"{name}[{index}][{key!r}]"
            arr = layer[key]
            if not isinstance(arr, np.ndarray):
                raise ArgumentTypeError(
                    f"{where}: expected a numpy array, got {type(arr).__name__}"
                )
            if arr.dtype not in (np.float32, np.float64):
                raise ArgumentTypeError(f"{where}: expected float32 or float64, got {arr.dtype}")
            if dtype is None:
                dtype = arr.dtype
            elif arr.dtype != dtype:
                raise ArgumentTypeError(
                    f"{where}: dtype {arr.dtype} differs from the first parameter's {dtype}; "
                    "all params must share one dtype"
                )
            if arr.shape != shape:
                raise InvalidArgumentError(
                    f"{where}: expected shape {shape} for spec {spec.sizes}, got {arr.shape}"
                )
            if finite:
                check_finite(where, arr)
    assert dtype is not None
    return dtype


def _conforming_dtype(spec: MLP, params: Any) -> np.dtype[Any] | None:
    """The params' dtype if they are plainly right (plain arrays, one float dtype, the
    spec's shapes), checked in one quick pass; None sends :func:`check_params` through
    the pass that names what is wrong."""
    if type(params) is not list or len(params) != spec.n_layers:
        return None
    dtype = None
    for layer, (n_in, n_out) in zip(params, spec.layer_shapes, strict=True):
        if type(layer) is not dict or len(layer) != 2:
            return None
        W, b = layer.get("W"), layer.get("b")
        if type(W) is not np.ndarray or type(b) is not np.ndarray:
            return None
        if dtype is None:
            dtype = W.dtype
        if W.dtype != dtype or b.dtype != dtype or W.shape != (n_in, n_out) or b.shape != (n_out,):
            return None
    return dtype if dtype in (np.float32, np.float64) else None


def check_inputs(
    spec: MLP, x: Any, dtype: np.dtype[Any], name: str = "x", *, finite: bool = True
) -> FloatArray:
    """``x`` as a ``(B, n_in)`` array of ``dtype``; one ``(n_in,)`` sample becomes
    ``(1, n_in)``; with ``finite``, NaN and inf are rejected."""
    arr = ensure_array(name, x)
    if arr.dtype.kind != "f":
        raise ArgumentTypeError(
            f"{name}: expected a floating array of dtype {dtype} (params' dtype), got "
            f"{arr.dtype}; convert it first, e.g. x.astype(np.{dtype}) / 255"
        )
    if arr.dtype != dtype:
        raise ArgumentTypeError(
            f"{name}: dtype {arr.dtype} does not match params' dtype {dtype}; "
            f"cast one of them (no silent up- or down-cast)"
        )
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != spec.n_in:
        raise InvalidArgumentError(
            f"{name}: expected shape (B, {spec.n_in}) or ({spec.n_in},), got {np.shape(x)}"
        )
    if arr.shape[0] == 0:
        raise InvalidArgumentError(f"{name}: empty batch, expected at least one sample")
    if finite:
        check_finite(name, arr)
    result: FloatArray = arr
    return result



def checked_batch(
    spec: MLP, params: Any, x: Any, y: Any, loss: str | Loss
) -> tuple[FloatArray, Array, Loss]:
    """``x`` as a batch, ``y`` as its targets and ``loss`` as a :class:`Loss`, checked
    against the spec and the params (whose values are not read: see ``finite=False``)."""
    dtype = check_params(spec, params, finite=False)
    batch = check_inputs(spec, x, dtype, finite=False)
    resolved = get_loss(loss)
    y_arr = ensure_array("y", y)
    single_target = y_arr.ndim == 0 or (y_arr.ndim == 1 and y_arr.dtype.kind == "f")
    if np.ndim(x) == 1 and single_target:
        # One sample: its label is a scalar, its targets a vector; give both a batch axis.
        y_arr = y_arr[None, ...]
    targets = check_targets(y_arr, batch.shape[0], spec.n_out, dtype, resolved.target_kind)
    return batch, targets, resolved
