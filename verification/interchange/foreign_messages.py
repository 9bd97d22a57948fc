"""Reading a foreign program's answers (``docs/foreign-protocol.md``): one line parsed as
JSON, then every field of a ``hello``, ``value_and_grad``, ``problem``, ``moves`` or
``loss`` answer checked for its type, shape and finiteness. Whatever is wrong gives one
:class:`ForeignError` line that names the field and what was expected; no other
exception leaves this module for any input line.
"""

from __future__ import annotations

import base64
import binascii
import importlib.resources
import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from funcnn.errors import FuncnnError
from funcnn.typing import Array, FloatArray
from verification.external.heads import OUTPUTS

__all__ = [
    "PROTOCOL",
    "PROTOCOLS",
    "PROTOCOL_V1",
    "SHOWN_CHARS",
    "ForeignError",
    "check_heads",
    "check_hello",
    "check_losses",
    "check_problem",
    "check_value_and_grad",
    "decode_array",
    "one_line",
    "parse_answer",
    "protocol_schema",
    "shown_type",
    "spoken_protocol",
]

PROTOCOL = "funcnn-foreign/2"
"""The protocol the checker asks for first: the program keeps a problem (``problem``)
and evaluates its loss at moves of the parameters (``moves``)."""

PROTOCOL_V1 = "funcnn-foreign/1"
"""The first version, still served: every perturbed point travels as a whole parameter
set with ``x`` and ``y`` (``loss``); a ``hello`` answer without ``protocol`` is one."""

PROTOCOLS = (PROTOCOL, PROTOCOL_V1)
"""Every version the checker speaks, newest first (sent in ``hello`` as ``protocols``)."""

WIRE = {"float64": "<f8", "float32": "<f4", "int32": "<i4"}
"""Element types of an array object, by ``dtype`` name, as little-endian numpy codes."""

SHOWN_CHARS = 300
"""A quoted piece of the program's output is cut to this many characters."""

HELLO_LISTS = ("dtypes", "activations", "losses")
"""The optional lists of a ``hello`` answer (missing or null: everything)."""


class ForeignError(FuncnnError):
    """The foreign program broke the protocol, crashed, hung or answered non-finite
    numbers; the message is one line that says which and where.

        >>> import sys
        >>> from verification import ForeignError, check_foreign
        >>> try:                                   # a program that does not speak the protocol
        ...     check_foreign([sys.executable, "-c", "print('hello')"], quick=True)
        ... except ForeignError as error:
        ...     print(error)
        answer to 'hello' is not JSON (Expecting value: line 1 column 1 (char 0)): 'hello'
    """


def one_line(text: str, limit: int = SHOWN_CHARS) -> str:
    """``text`` on one line (line breaks shown as `` | ``), cut to ``limit`` characters."""
    flat = " | ".join(part for part in str(text).splitlines() if part.strip())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def shown_type(value: Any) -> str:
    """How a JSON value is named in an error message."""
    names = {type(None): "nothing", bool: "a boolean", int: "an integer", float: "a number",
             str: "a string", list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)


def parse_answer(line: bytes, op: str, request_id: int) -> dict[str, Any]:
    """The JSON object on ``line``, the answer to request ``request_id`` (``op``); a
    program's ``{"error": ...}`` and an ``id`` other than the request's are errors."""
    try:
        answer = json.loads(line)
    except RecursionError:
        raise ForeignError(f"answer to {op!r} is nested too deeply to be an answer "
                           "(lists or objects in one another beyond Python's recursion "
                           "limit)") from None
    except ValueError as exc:
        shown = one_line(line[:60].decode("utf-8", "replace"))
        raise ForeignError(f"answer to {op!r} is not JSON ({one_line(str(exc))}): "
                           f"{shown!r}") from None
    if not isinstance(answer, dict):
        raise ForeignError(f"answer to {op!r}: expected a JSON object, got "
                           f"{shown_type(answer)}")
    if "error" in answer:
        said = answer["error"]
        said = said if isinstance(said, str) else json.dumps(said)[:SHOWN_CHARS]
        raise ForeignError(f"answer to {op!r}: the program reports: {one_line(said)}")
    if "id" in answer and (not _is_int(answer["id"]) or answer["id"] != request_id):
        got = answer["id"] if _is_int(answer["id"]) else shown_type(answer["id"])
        raise ForeignError(f"answer to {op!r}: id: {got}, expected {request_id} (the id of "
                           "the request, or no id)")
    return answer


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def protocol_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of every message, shipped with the package
    (``verification/interchange/schemas/foreign-protocol.schema.json``): the document
    validates a request, ``#/$defs/answer_<op>`` an answer to an ``op`` request."""
    path = importlib.resources.files("verification.interchange") / "schemas" / \
        "foreign-protocol.schema.json"
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def spoken_protocol(answer: dict[str, Any]) -> str:
    """The protocol version a ``hello`` answer chose: one of :data:`PROTOCOLS`
    (:data:`PROTOCOL_V1` when it says none, as version 1 allowed)."""
    got = answer.get("protocol", PROTOCOL_V1)
    if got not in PROTOCOLS:
        shown = repr(one_line(got, 60)) if isinstance(got, str) else shown_type(got)
        raise ForeignError(f"answer to 'hello': protocol {shown}, expected "
                           f"{' or '.join(map(repr, PROTOCOLS))}")
    return str(got)


def check_hello(answer: dict[str, Any]) -> dict[str, list[str] | None]:
    """The lists a ``hello`` answer declares (``None``: not given, i.e. everything),
    each checked to be a list of strings; its ``protocol``, if any, must be one of
    :data:`PROTOCOLS`."""
    spoken_protocol(answer)
    out: dict[str, list[str] | None] = {}
    for key in HELLO_LISTS:
        value = answer.get(key)
        if value is None:
            out[key] = None
            continue
        if not isinstance(value, list):
            raise ForeignError(f"answer to 'hello': {key}: expected a list of names, got "
                               f"{shown_type(value)}")
        for index, name in enumerate(value):
            if not isinstance(name, str):
                raise ForeignError(f"answer to 'hello': {key}[{index}]: expected a name "
                                   f"(a string), got {shown_type(name)}")
        out[key] = list(value)
    return out


HEAD_FIELDS = {"output": None, "loss": None, "outputs": "mean", "half": False}
"""The fields of a ``heads`` entry of a ``hello`` answer, with their defaults (None:
required): the arguments of :func:`verification.external.heads.head`."""


def check_heads(answer: dict[str, Any], known: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The heads a ``hello`` answer declares (``heads``: an object from a loss name to
    ``{"output", "loss", "outputs", "half"}``, as :func:`~verification.external.heads.head`
    takes them), each field checked and the defaults filled in; ``known``: the loss
    names a head may not take (funcnn's own). Missing or null: none."""
    heads = answer.get("heads")
    if heads is None:
        return {}
    what = "answer to 'hello': heads"
    if not isinstance(heads, dict):
        raise ForeignError(f"{what}: expected an object from loss names to heads, got "
                           f"{shown_type(heads)}")
    out = {}
    for name, entry in heads.items():
        at = f"{what}[{one_line(repr(name), 60)}]"
        if not name.strip() or name in known:
            raise ForeignError(f"{at}: expected a new loss name (not empty, not one of "
                               f"funcnn's: {sorted(known)})")
        if not isinstance(entry, dict):
            raise ForeignError(f"{at}: expected an object with output and loss, got "
                               f"{shown_type(entry)}")
        unknown = sorted(set(entry) - set(HEAD_FIELDS))
        if unknown:
            raise ForeignError(f"{at}: unknown field {one_line(repr(unknown[0]), 60)}, "
                               f"expected {list(HEAD_FIELDS)}")
        fields = {}
        for key, default in HEAD_FIELDS.items():
            value = entry.get(key, default)
            if value is None:
                raise ForeignError(f"{at}.{key}: missing")
            allowed = _HEAD_VALUES[key]
            if value not in allowed or type(value) is not type(allowed[0]):
                shown = repr(one_line(value, 40)) if isinstance(value, str) else (
                    json.dumps(value) if isinstance(value, bool) else shown_type(value))
                raise ForeignError(f"{at}.{key}: {shown}, expected one of "
                                   f"{json.dumps(list(allowed))}")
            fields[key] = value
        if fields["loss"] == "cross_entropy" and fields["output"] not in ("softmax", "sigmoid"):
            raise ForeignError(f"{at}.loss: cross_entropy needs output softmax or sigmoid, "
                               f"got output {fields['output']!r}")
        out[str(name)] = fields
    return out


_HEAD_VALUES: dict[str, tuple[Any, ...]] = {
    "output": tuple(sorted(OUTPUTS)),
    "loss": ("squared", "cross_entropy"),
    "outputs": ("mean", "sum"),
    "half": (False, True),
}


def finite_number(value: Any, what: str) -> float:
    """``value`` as a finite float; a JSON boolean, string, list or object is an error."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ForeignError(f"{what}: expected a number, got {shown_type(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
        raise ForeignError(f"{what}: not finite ({one_line(str(value), 40)})")
    return number


def _shape(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(_is_int(n) and n >= 0 for n in value):
        shown = shown_type(value) if not isinstance(value, list) else one_line(
            json.dumps(value), 60)
        raise ForeignError(f"{what}.shape: expected a list of non-negative integers, got "
                           f"{shown}")
    return tuple(value)


def _dtype(value: dict[str, Any], what: str) -> str:
    """An array object's ``dtype`` (default float64), one of :data:`WIRE`'s names."""
    dtype = value.get("dtype", "float64")
    if not isinstance(dtype, str) or dtype not in WIRE:
        shown = repr(one_line(dtype, 40)) if isinstance(dtype, str) else shown_type(dtype)
        raise ForeignError(f"{what}.dtype: {shown}, expected one of {sorted(WIRE)}")
    return dtype


def _from_base64(value: dict[str, Any], what: str) -> Array:
    dtype = _dtype(value, what)
    text = value["base64"]
    if not isinstance(text, str):
        raise ForeignError(f"{what}.base64: expected a string, got {shown_type(text)}")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ForeignError(f"{what}.base64: not base64 ({one_line(str(exc), 80)})") from None
    item = np.dtype(WIRE[dtype]).itemsize
    shape = _shape(value["shape"], what) if "shape" in value else (len(raw) // item,)
    count = math.prod(shape)
    if len(raw) != count * item:
        raise ForeignError(f"{what}.base64: {len(raw)} bytes, expected {count * item} "
                           f"({count} {dtype} entries for shape {list(shape)})")
    return np.frombuffer(raw, WIRE[dtype]).reshape(shape)


def _numbers(value: Any, what: str) -> Array:
    """A (nested) JSON list of numbers as an array; anything else named."""
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError, OverflowError):
        arr = np.asarray(None)
    # Not "b": a JSON true is not the number 1, nor is it among numbers, where numpy
    # would take [0.5, false] for [0.5, 0.0].
    if arr.dtype.kind not in "iuf" or _holds_boolean(value):
        raise ForeignError(f"{what}: expected a list of numbers (nested lists of equal "
                           f"length at most), got {_describe_numbers(value)}")
    return arr


def _holds_boolean(value: Any) -> bool:
    """Whether a JSON true or false sits anywhere in the (nested) lists ``value``."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            if any(isinstance(v, bool) for v in item):
                return True
            stack.extend(v for v in item if isinstance(v, list))
    return False


def _describe_numbers(value: Any) -> str:
    if not isinstance(value, list):
        return shown_type(value)
    stack: list[Any] = [value]
    seen = 0
    while stack and seen < 10_000:  # the first entry that is not a number or a list
        item = stack.pop()
        seen += 1
        if isinstance(item, list):
            stack.extend(reversed(item))
        elif isinstance(item, bool) or not isinstance(item, int | float):
            return f"a list holding {shown_type(item)}"
    return "lists of different lengths or a number too large"


def decode_array(value: Any, what: str, shape: tuple[int, ...]) -> FloatArray:
    """A float64 array of ``shape`` from an array object (``base64`` or ``data``) or a
    plain (nested) list of numbers; ``what`` names the field in every error."""
    if isinstance(value, dict) and "base64" in value and "data" in value:
        raise ForeignError(f"{what}: both 'base64' and 'data', expected one of them")
    if isinstance(value, dict) and "base64" in value:
        arr = _from_base64(value, what)
    elif isinstance(value, dict) and "data" in value:
        _dtype(value, what)  # the numbers are taken as they are, but a dtype must be known
        arr = _numbers(value["data"], f"{what}.data")
        if "shape" in value:
            want = _shape(value["shape"], what)
            if arr.size != math.prod(want):
                raise ForeignError(f"{what}.data: {arr.size} numbers, expected "
                                   f"{math.prod(want)} for shape {list(want)}")
            arr = arr.reshape(want)
    elif isinstance(value, dict):
        keys = one_line(", ".join(map(repr, list(value)[:5])), 80)
        raise ForeignError(f"{what}: expected an array object with 'base64' or 'data', got "
                           f"an object with keys [{keys}]")
    elif isinstance(value, list):
        arr = _numbers(value, what)
    else:
        raise ForeignError(f"{what}: expected an array (an object with 'shape' and 'base64' "
                           f"or 'data', or a list of numbers), got {shown_type(value)}")
    if arr.shape != shape:
        raise ForeignError(f"{what}: shape {tuple(arr.shape)}, expected {shape}")
    with np.errstate(over="ignore"):
        out = arr.astype(np.float64)
    if not np.all(np.isfinite(out)):
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(out))[0])
        raise ForeignError(f"{what}: not finite ({out[where]} at index {list(where)})")
    return out


def check_value_and_grad(answer: dict[str, Any], shapes: Sequence[dict[str, tuple[int, ...]]]
                         ) -> tuple[float, list[dict[str, FloatArray]]]:
    """``loss`` and ``grads`` of a ``value_and_grad`` answer; ``shapes`` per layer, the
    shapes of ``W`` and ``b``."""
    what = "answer to 'value_and_grad'"
    value = finite_number(answer.get("loss"), f"{what}: loss")
    grads = answer.get("grads")
    if not isinstance(grads, list) or len(grads) != len(shapes):
        got = f"{len(grads)} entries" if isinstance(grads, list) else shown_type(grads)
        raise ForeignError(f"{what}: grads: expected a list of {len(shapes)} {{W, b}} "
                           f"objects, got {got}")
    out = []
    for i, (layer, g) in enumerate(zip(shapes, grads, strict=True)):
        if not isinstance(g, dict):
            raise ForeignError(f"{what}: grads[{i}]: expected an object with W and b, got "
                               f"{shown_type(g)}")
        for key in ("W", "b"):
            if key not in g:
                raise ForeignError(f"{what}: grads[{i}][{key!r}]: missing")
        out.append({k: decode_array(g[k], f"{what}: grads[{i}][{k!r}]", layer[k])
                    for k in ("W", "b")})
    return value, out


def check_losses(answer: dict[str, Any], count: int, op: str = "loss") -> FloatArray:
    """The ``count`` losses of a ``loss`` (or ``moves``: ``op``) answer."""
    if "losses" not in answer:
        raise ForeignError(f"answer to {op!r}: losses: missing")
    return decode_array(answer["losses"], f"answer to {op!r}: losses", (count,))


def check_problem(answer: dict[str, Any]) -> float:
    """The loss at the parameters of a ``problem`` answer."""
    return finite_number(answer.get("loss"), "answer to 'problem': loss")
