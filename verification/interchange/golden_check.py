"""What a golden manifest must say about each case before any of it is trusted
(:func:`check_case`, called by :func:`verification.interchange.golden_format.read_golden` once per
case): every tensor's dtype, shape, byte count, alignment and place in the data file;
the case's kind, dtype, scalar value and scales; and the tensors its kind needs, with
shapes that fit together (a network's from its ``sizes``). Each fault is a
:class:`~funcnn.errors.DataFormatError` naming the file, the case and the field.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from funcnn.errors import DataFormatError

__all__ = ["ALIGN", "DTYPES", "KINDS", "check_case"]

DTYPES = {"float64": "<f8", "float32": "<f4", "int32": "<i4"}
"""The element types a golden file uses, by manifest name."""

ALIGN = 8
"""Every tensor starts at a multiple of this many bytes of the data file."""

KINDS = ("network", "activation", "softmax", "loss", "dense")

_NEEDS = {
    "activation": ("z", "value", "derivative"),
    "softmax": ("z", "g", "s", "jacobian", "vjp"),
    "loss": ("z", "y", "grad"),
    "dense": ("W", "b", "x", "g", "out", "dW", "db", "dx"),
}
"""The tensors of each elementwise kind (a network's follow from its sizes)."""


class _Case:
    """Raises the errors of one case, each naming the file, the case and the field."""

    def __init__(self, where: str, case_id: str) -> None:
        self.where, self.id = where, case_id

    def bad(self, field: str, message: str) -> DataFormatError:
        return DataFormatError(f"golden file {self.where!r}: case {self.id!r}: {field}: "
                               f"{message}")


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _check_tensor(at: _Case, name: str, info: Any, size: int) -> None:
    field = f"tensors[{name!r}]"
    if not isinstance(info, dict):
        raise at.bad(field, f"expected an object, got {type(info).__name__}")
    dtype, shape = info.get("dtype"), info.get("shape")
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise at.bad(f"{field}.dtype", f"{dtype!r}, expected one of {sorted(DTYPES)}")
    if not isinstance(shape, list) or not all(_count(n) for n in shape):
        raise at.bad(f"{field}.shape", f"{shape!r}, expected a list of non-negative integers")
    for key in ("offset", "nbytes"):
        if not _count(info.get(key)):
            raise at.bad(f"{field}.{key}", f"{info.get(key)!r}, expected a non-negative "
                                           "integer")
    offset, nbytes = info["offset"], info["nbytes"]
    item = np.dtype(DTYPES[dtype]).itemsize
    entries = math.prod(shape)
    if entries * item != nbytes:
        raise at.bad(f"{field}.nbytes", f"{nbytes}, expected {entries * item} ({entries} "
                                        f"{dtype} entries of {item} bytes for shape {shape})")
    if offset % ALIGN:
        raise at.bad(f"{field}.offset", f"{offset}, expected a multiple of {ALIGN}")
    if offset + nbytes > size:
        raise at.bad(field, f"bytes [{offset}, {offset + nbytes}), expected them within the "
                            f"{size}-byte data file")


def _check_fields(at: _Case, case: dict[str, Any]) -> None:
    if case.get("kind") not in KINDS:
        raise at.bad("kind", f"{case.get('kind')!r}, expected one of {list(KINDS)}")
    if case.get("dtype") not in ("float64", "float32"):
        raise at.bad("dtype", f"{case.get('dtype')!r}, expected 'float64' or 'float32'")
    if "value" in case and not _number(case["value"]):
        raise at.bad("value", f"{case['value']!r}, expected a finite number")
    scale = case.get("scale", {})
    if not isinstance(scale, dict) or not all(
            _number(v) and v >= 0 for v in scale.values()):
        raise at.bad("scale", f"{scale!r}, expected an object of non-negative numbers")
    for key in ("inputs", "outputs"):
        names = case.get(key, [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise at.bad(key, f"{names!r}, expected a list of names")


def _need(at: _Case, tensors: dict[str, Any], name: str, shape: list[int] | None = None
          ) -> list[int]:
    if name not in tensors:
        raise at.bad(f"tensors[{name!r}]", "missing")
    got: list[int] = tensors[name]["shape"]
    if shape is not None and got != shape:
        raise at.bad(f"tensors[{name!r}].shape", f"{got}, expected {shape}")
    return got


def _check_network(at: _Case, case: dict[str, Any], tensors: dict[str, Any]) -> None:
    sizes = case.get("sizes")
    if not isinstance(sizes, list) or len(sizes) < 2 or not all(
            _count(n) and n > 0 for n in sizes):
        raise at.bad("sizes", f"{sizes!r}, expected a list of at least 2 positive integers")
    acts = case.get("activations")
    if not isinstance(acts, list) or len(acts) != len(sizes) - 2 or not all(
            isinstance(a, str) for a in acts):
        raise at.bad("activations", f"{acts!r}, expected {len(sizes) - 2} names")
    if not isinstance(case.get("loss"), str):
        raise at.bad("loss", f"{case.get('loss')!r}, expected a name")
    if case.get("labels") not in ("int32", "dense"):
        raise at.bad("labels", f"{case.get('labels')!r}, expected 'int32' or 'dense'")
    batch = _need(at, tensors, "x")
    if len(batch) != 2 or batch[1] != sizes[0]:
        raise at.bad("tensors['x'].shape", f"{batch}, expected [batch, {sizes[0]}]")
    labels = [batch[0]] if case["labels"] == "int32" else [batch[0], sizes[-1]]
    _need(at, tensors, "y", labels)
    for layer in range(len(sizes) - 1):
        for prefix in ("params", "grads", "tolerance"):
            _need(at, tensors, f"{prefix}/{layer}/W", [sizes[layer], sizes[layer + 1]])
            _need(at, tensors, f"{prefix}/{layer}/b", [sizes[layer + 1]])


def check_case(case: dict[str, Any], size: int, where: str) -> None:
    """Raise :class:`~funcnn.errors.DataFormatError` unless ``case`` (a manifest entry
    with an ``id`` and ``tensors``) can be read from a ``size``-byte data file and
    compared by :func:`verification.interchange.golden.compare_case`."""
    at = _Case(where, case["id"])
    tensors = case["tensors"]
    for name, info in tensors.items():
        _check_tensor(at, name, info, size)
    _check_fields(at, case)
    if case["kind"] == "network":
        _check_network(at, case, tensors)
        return
    for name in _NEEDS[case["kind"]]:
        _need(at, tensors, name)
    for name in case.get("outputs", []):
        if name != "value":
            shape = _need(at, tensors, name)
            if f"tolerance/{name}" in tensors:
                _need(at, tensors, f"tolerance/{name}", shape)
            if name not in case.get("scale", {name: 0}):
                raise at.bad("scale", f"no scale for output {name!r}")
