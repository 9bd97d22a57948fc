"""Malformed answers of a foreign program: every one gives one ForeignError line naming
the field and what was expected, never a traceback (examples, then a property test on
generated bad JSON), and an answer line longer than the cap is not read whole."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import verification.__main__ as cli
from verification.interchange.foreign import check_foreign, foreign_problems
from verification.interchange.foreign_messages import (
    ForeignError,
    check_hello,
    check_losses,
    check_value_and_grad,
    parse_answer,
)

SHAPES = [{"W": (2, 3), "b": (3,)}, {"W": (3, 2), "b": (2,)}]
GOOD_GRADS: list[dict[str, Any]] = [
    {"W": {"shape": [2, 3], "data": [0.1] * 6}, "b": [0.1, 0.2, 0.3]},
    {"W": {"shape": [3, 2], "dtype": "float64",
           "base64": "AAAAAAAA8D8AAAAAAAAAQAAAAAAAAAhAAAAAAAAAEEAAAAAAAAAUQAAAAAAAABhA"},
     "b": {"shape": [2], "data": [1, 2]}},
]


def _vg(answer: dict[str, Any]) -> Any:
    return check_value_and_grad(answer, SHAPES)


def _two_losses(answer: dict[str, Any]) -> Any:
    return check_losses(answer, 2)


READ: dict[str, Callable[[dict[str, Any]], Any]] = {
    "hello": check_hello, "vg": _vg, "loss": _two_losses}


def _line(value: Any) -> bytes:
    return json.dumps(value).encode() + b"\n"


def test_good_answers_are_read() -> None:
    value, grads = _vg({"loss": 0.5, "grads": GOOD_GRADS})
    assert value == 0.5 and grads[1]["W"][2, 1] == 6.0 and grads[1]["b"].tolist() == [1, 2]
    assert check_losses({"losses": [1, 2.5]}, 2).tolist() == [1.0, 2.5]
    assert check_hello({"protocol": "funcnn-foreign/1", "dtypes": ["float32"]}) == {
        "dtypes": ["float32"], "activations": None, "losses": None}
    assert parse_answer(b'{"id": 4, "losses": []}', "loss", 4) == {"id": 4, "losses": []}


def _grads(layer: int, key: str, value: Any) -> dict[str, Any]:
    grads = [dict(g) for g in GOOD_GRADS]
    grads[layer][key] = value
    return {"loss": 0.5, "grads": grads}


BAD: list[tuple[str, Any, str]] = [
    # hello: each list named, with what was expected
    ("hello", {"activations": 5}, r"^answer to 'hello': activations: expected a list of "
                                  r"names, got an integer$"),
    ("hello", {"dtypes": "float64"}, r"dtypes: expected a list of names, got a string$"),
    ("hello", {"losses": ["mse", 3]}, r"losses\[1\]: expected a name \(a string\), got an "
                                      r"integer$"),
    ("hello", {"protocol": 1}, r"protocol an integer, expected 'funcnn-foreign/2' or "
                                r"'funcnn-foreign/1'$"),
    ("hello", {"protocol": "funcnn-foreign/9"}, r"protocol 'funcnn-foreign/9', expected"),
    # value_and_grad
    ("vg", {"loss": "0.5", "grads": GOOD_GRADS}, r"loss: expected a number, got a string$"),
    ("vg", {"loss": True, "grads": GOOD_GRADS}, r"loss: expected a number, got a boolean$"),
    ("vg", {"loss": 10**400, "grads": GOOD_GRADS}, r"loss: not finite"),
    ("vg", {"loss": 0.5, "grads": {"W": 1}}, r"grads: expected a list of 2 \{W, b\} "
                                              r"objects, got an object$"),
    ("vg", {"loss": 0.5, "grads": GOOD_GRADS[:1]}, r"grads: .* got 1 entries$"),
    ("vg", {"loss": 0.5, "grads": [GOOD_GRADS[0], [1, 2]]},
     r"grads\[1\]: expected an object with W and b, got a list$"),
    ("vg", {"loss": 0.5, "grads": [{"W": GOOD_GRADS[0]["W"]}, GOOD_GRADS[1]]},
     r"grads\[0\]\['b'\]: missing$"),
    ("vg", _grads(0, "b", "0.1 0.2 0.3"), r"grads\[0\]\['b'\]: expected an array .* got a "
                                          r"string$"),
    ("vg", _grads(0, "b", [0.1, "0.2", 0.3]), r"grads\[0\]\['b'\]: expected a list of "
                                               r"numbers .* got a list holding a string$"),
    ("vg", _grads(0, "b", [True, False, True]), r"got a list holding a boolean$"),
    ("vg", _grads(0, "b", [[0.1], [0.2, 0.3]]), r"got lists of different lengths"),
    ("vg", _grads(0, "b", {"values": [1, 2, 3]}), r"grads\[0\]\['b'\]: expected an array "
                                                   r"object with 'base64' or 'data', got an "
                                                   r"object with keys \['values'\]$"),
    ("vg", _grads(0, "W", {"shape": "2x3", "data": [0.1] * 6}),
     r"grads\[0\]\['W'\]\.shape: expected a list of non-negative integers, got a string$"),
    ("vg", _grads(0, "W", {"shape": [-2, -3], "data": [0.1] * 6}),
     r"grads\[0\]\['W'\]\.shape: expected a list of non-negative integers, got \[-2, -3\]$"),
    ("vg", _grads(0, "W", {"shape": [2, 3], "data": [0.1] * 5}),
     r"grads\[0\]\['W'\]\.data: 5 numbers, expected 6 for shape \[2, 3\]$"),
    ("vg", _grads(1, "b", {"shape": [2], "base64": 5}),
     r"grads\[1\]\['b'\]\.base64: expected a string, got an integer$"),
    ("vg", _grads(1, "b", {"shape": [2], "base64": "not base64!"}),
     r"grads\[1\]\['b'\]\.base64: not base64"),
    ("vg", _grads(1, "b", {"shape": [2], "dtype": "float16", "base64": "AAAA"}),
     r"grads\[1\]\['b'\]\.dtype: 'float16', expected one of \['float32', 'float64', "
     r"'int32'\]$"),
    ("vg", _grads(1, "b", {"shape": [2], "dtype": ["float64"], "base64": "AAAA"}),
     r"grads\[1\]\['b'\]\.dtype: a list, expected one of"),
    ("vg", _grads(1, "b", {"shape": [2], "base64": "AAAAAAAA8D8="}),
     r"grads\[1\]\['b'\]\.base64: 8 bytes, expected 16 \(2 float64 entries for shape \[2\]\)$"),
    ("vg", _grads(0, "b", [0.1, float("nan"), 0.3]), r"grads\[0\]\['b'\]: not finite \(nan "
                                                      r"at index \[1\]\)$"),
    # loss
    ("loss", {"loss": 0.5}, r"^answer to 'loss': losses: missing$"),
    ("loss", {"losses": 0.5}, r"losses: expected an array .* got a number$"),
    ("loss", {"losses": [0.5, None]}, r"losses: expected a list of numbers .* holding "
                                      r"nothing$"),
]


@pytest.mark.parametrize(("op", "answer", "message"), BAD,
                         ids=[f"{op}-{i}" for i, (op, _, _) in enumerate(BAD)])
def test_each_bad_field_is_named_on_one_line(op: str, answer: Any, message: str) -> None:
    with pytest.raises(ForeignError, match=message) as info:
        READ[op](parse_answer(_line(answer), op, 1))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("line", "message"), [
    (b"[" * 100_000 + b"]" * 100_000, r"^answer to 'loss' is nested too deeply"),
    (b'{"a": ' * 50_000 + b"1" + b"}" * 50_000, r"^answer to 'loss' is nested too deeply"),
    (b"loss = 0.5", r"^answer to 'loss' is not JSON \(Expecting value: .*\): 'loss = 0.5'$"),
    (b"[1, 2]", r"^answer to 'loss': expected a JSON object, got a list$"),
    (b'{"id": "3"}', r"^answer to 'loss': id: a string, expected 1 \(the id of the request"),
    (b'{"id": 7}', r"^answer to 'loss': id: 7, expected 1 "),
    (b'{"error": "out of memory\\nin layer 2"}', r"^answer to 'loss': the program reports: "
                                                 r"out of memory \| in layer 2$"),
    (b'{"error": {"code": 5}}', r"the program reports: \{\"code\": 5\}$"),
])
def test_bad_lines_are_one_line_errors(line: bytes, message: str) -> None:
    with pytest.raises(ForeignError, match=message) as info:
        parse_answer(line, "loss", 1)
    assert "\n" not in str(info.value)


def test_foreign_problems_names_a_bad_list() -> None:
    with pytest.raises(ForeignError, match=r"activations: expected a list of names, got an "
                                           r"integer$"):
        foreign_problems({"activations": 5})
    assert foreign_problems({"dtypes": []}) == []  # declares nothing: nothing to check


# -- through a real program --------------------------------------------------------------

def _program(*answers: str) -> list[str]:
    """A program that answers its k-th request with ``answers[k]`` (then exits)."""
    code = ("import sys\n"
            f"answers = {list(answers)!r}\n"
            "for line, answer in zip(sys.stdin, answers):\n"
            "    print(answer, flush=True)\n")
    return [sys.executable, "-c", code]


@pytest.mark.parametrize(("hello", "message"), [
    ('{"activations": 5}', r"activations: expected a list of names, got an integer$"),
    ('{"dtypes": "float64"}', r"dtypes: expected a list of names, got a string$"),
    ("[" * 100_000, r"nested too deeply"),
    ('{"dtypes": ["float16"]}', r"^no problem matches what .* supports \(dtypes "
                                r"\['float16'\]\) and --only \[\]$"),
])
def test_a_bad_hello_stops_the_check_with_one_line(hello: str, message: str) -> None:
    with pytest.raises(ForeignError, match=message) as info:
        check_foreign(_program(hello), timeout=30)
    assert "\n" not in str(info.value)


RUNAWAY = ("import sys\n"
           "sys.stdin.readline()\n"
           "while True:\n"
           "    sys.stdout.write('x' * 65536)\n")


def test_an_answer_past_the_cap_is_not_read_whole() -> None:
    # The program never ends its line: without a cap the checker would read until the
    # timeout (or the memory) ran out.
    with pytest.raises(ForeignError, match=r"^answer to 'hello' is longer than 1,048,576 "
                                           r"bytes \(not read further; see "
                                           r"--max-answer-bytes\)$"):
        check_foreign([sys.executable, "-c", RUNAWAY], timeout=120, max_answer_bytes=2**20)


def test_the_cap_is_exact_and_configurable() -> None:
    hello = '{"dtypes": ["float16"]}'  # 23 bytes: passes a cap of 23, not one of 22
    with pytest.raises(ForeignError, match=r"no problem matches"):
        check_foreign(_program(hello), timeout=30, max_answer_bytes=len(hello))
    with pytest.raises(ForeignError, match=r"longer than 22 bytes"):
        check_foreign(_program(hello), timeout=30, max_answer_bytes=len(hello) - 1)


def test_the_command_line_flag(capsys: pytest.CaptureFixture[str]) -> None:
    command = shlex.join([sys.executable, "-c", RUNAWAY])
    assert cli.main(["--foreign", command, "--max-answer-bytes", "100000"]) == 1
    assert "is longer than 100,000 bytes" in capsys.readouterr().err
    assert cli.main(["--foreign", command, "--max-answer-bytes", "0"]) == 2
    assert "--max-answer-bytes 0: expected bytes >= 1" in capsys.readouterr().err


# -- property: generated bad JSON ----------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=12,
)

GOOD: dict[str, dict[str, Any]] = {
    "hello": {"protocol": "funcnn-foreign/1", "dtypes": ["float64"], "activations": ["relu"],
              "losses": ["mse"]},
    "vg": {"loss": 0.5, "grads": GOOD_GRADS},
    "loss": {"losses": [0.5, 0.25]},
}


def _sites(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value where another value can be put."""
    out = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _sites(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _sites(item, (*path, index))
    return out


def _put(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _put(value[path[0]], path[1:], new)
    return copy


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op=st.sampled_from(sorted(GOOD)), data=st.data(), new=JSON)
def test_any_bad_json_gives_one_line_of_our_own_error(op: str, data: st.DataObject,
                                                      new: Any) -> None:
    good = GOOD[op]
    path = data.draw(st.sampled_from(_sites(good)), label="path")
    answer = _put(good, path, new)
    line = json.dumps(answer, allow_nan=True).encode()
    try:
        READ[op](parse_answer(line, op, 1))
    except ForeignError as exc:
        text = str(exc)
        assert "\n" not in text and len(text) < 600, text
        if path and path[0] != "error" and isinstance(path[0], str) and not (
                op == "hello" and path[0] == "protocol"):
            assert path[0] in text, (path, text)  # the field is named


@settings(max_examples=200, deadline=None)
@given(raw=st.binary(max_size=64) | st.text(max_size=64).map(str.encode))
def test_any_line_at_all_gives_an_answer_or_one_line(raw: bytes) -> None:
    try:
        answer = parse_answer(raw, "loss", 1)
    except ForeignError as exc:
        assert "\n" not in str(exc)
        return
    try:
        check_losses(answer, 2)
    except ForeignError as exc:
        assert "\n" not in str(exc)


NEAR = st.one_of(
    JSON,
    st.sampled_from(["float64", "float32", "int32", "float16", [2], [2, 1], [-2], [0]]),
    st.sampled_from(["AAAAAAAA8D8AAAAAAAAAQA==", "AAAAAAAA8D8=", "AACAPwAAAEA=", "!!"]),
    st.lists(st.floats() | st.integers() | st.booleans(), max_size=3),
)


@settings(max_examples=400, deadline=None)
@given(fields=st.dictionaries(st.sampled_from(["shape", "dtype", "base64", "data", "x"]),
                              NEAR, max_size=4))
def test_any_array_object_is_read_or_named(fields: dict[str, Any]) -> None:
    from verification.interchange.foreign_messages import decode_array

    try:
        arr = decode_array(fields, "answer to 'loss': losses", (2,))
    except ForeignError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("answer to 'loss': losses")
        return
    assert arr.dtype == "float64" and arr.shape == (2,)


@settings(max_examples=200, deadline=None)
@given(fields=st.dictionaries(st.sampled_from(["protocol", "dtypes", "activations",
                                               "losses", "id"]), NEAR, max_size=4))
def test_any_hello_is_read_or_named(fields: dict[str, Any]) -> None:
    try:
        declared = check_hello(fields)
    except ForeignError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("answer to 'hello': ")
        return
    assert all(v is None or all(isinstance(n, str) for n in v) for v in declared.values())
