"""The JSON Schema of the foreign protocol (verification/interchange/schemas/): a valid
draft 2020-12 schema that every request funcnn writes and every answer of the test
programs (Python; C when a compiler is present) satisfies, that rejects the malformed
answers the reader names, and that agrees with the reader on generated hello answers."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verification.interchange import foreign_protocol
from verification.interchange.foreign import check_foreign
from verification.interchange.foreign_messages import (
    ForeignError,
    check_heads,
    check_hello,
    decode_array,
    protocol_schema,
)

FOREIGN = Path(__file__).parent / "foreign"
SCHEMA = protocol_schema()
Exchange = tuple[dict[str, Any], dict[str, Any]]


def _validator(ref: str | None = None) -> jsonschema.Draft202012Validator:
    schema = SCHEMA if ref is None else {**SCHEMA, "$ref": f"#/$defs/{ref}"}
    return jsonschema.Draft202012Validator(schema)


REQUEST = _validator()


def _valid_answer(op: str, answer: dict[str, Any]) -> bool:
    return bool(_validator(f"answer_{op}").is_valid(answer))


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Exchange]]:
    """Every (request, answer) pair of the check_foreign runs inside the test."""
    seen: list[Exchange] = []
    original = foreign_protocol.ForeignProgram.request

    def request(self: foreign_protocol.ForeignProgram, message: dict[str, Any]
                ) -> dict[str, Any]:
        answer = original(self, message)
        seen.append(({"id": self.requests, **message}, answer))
        return answer

    monkeypatch.setattr(foreign_protocol.ForeignProgram, "request", request)
    yield seen


def test_the_schema_is_a_valid_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def _check_all(seen: list[Exchange]) -> set[str]:
    ops = set()
    for message, answer in seen:
        errors = [e.message for e in REQUEST.iter_errors(message)]
        assert not errors, (message["op"], errors[:3])
        assert _valid_answer(message["op"], answer), (message["op"], str(answer)[:200])
        ops.add(message["op"])
    return ops


@pytest.mark.parametrize("encoding", ["base64", "list"])
def test_every_message_of_both_versions_follows_the_schema(
    recorded: list[Exchange], encoding: str
) -> None:
    program = [sys.executable, str(FOREIGN / "numpy_mlp.py")]
    only = ["2-3-2/relu/softmax_cross_entropy/*", "3-5-4-3/tanh/mse/*"]
    check_foreign(program, only=only, encoding=encoding)
    check_foreign([*program, "--protocol", "1", "--bug", "grad-scale"], only=only[:1],
                  encoding=encoding)
    server = [sys.executable, str(FOREIGN / "funcnn_server.py")]
    check_foreign(server, only=["2-3-1/sigmoid/mse/float32"], encoding=encoding)
    assert _check_all(recorded) == {"hello", "value_and_grad", "problem", "moves", "loss"}


def test_the_c_servers_answers_follow_the_schema(recorded: list[Exchange],
                                                 tmp_path: Path) -> None:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler")
    binary = tmp_path / "serve"
    source = FOREIGN.parents[1] / "examples" / "foreign_c" / "serve.c"
    subprocess.run([compiler, "-O2", "-std=c99", "-o", str(binary), str(source), "-lm"],
                   check=True, timeout=120)
    check_foreign([str(binary)], only=["2-3-2/tanh/softmax_cross_entropy/*"])
    assert _check_all(recorded) == {"hello", "value_and_grad", "problem", "moves"}


@pytest.mark.parametrize(("op", "answer"), [
    ("hello", {"activations": 5}),
    ("hello", {"dtypes": "float64"}),
    ("hello", {"losses": ["mse", 3]}),
    ("hello", {"protocol": "funcnn-foreign/9"}),
    ("value_and_grad", {"loss": "0.5", "grads": []}),
    ("value_and_grad", {"loss": 0.5, "grads": [{"W": {"shape": [-5, 3], "data": []},
                                                 "b": [1.0]}]}),
    ("value_and_grad", {"loss": 0.5, "grads": [{"W": {"shape": [1], "data": ["1"]},
                                                 "b": [1.0]}]}),
    ("problem", {}),
    ("moves", {"losses": [1.0, True]}),
    ("moves", {"losses": {"shape": [1], "dtype": "float16", "data": [1.0]}}),
    ("moves", {"losses": {"shape": [1], "base64": "!!"}}),
])
def test_malformed_answers_are_rejected(op: str, answer: dict[str, Any]) -> None:
    assert not _valid_answer(op, answer)


NEAR = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=6),
    st.sampled_from(["funcnn-foreign/1", "funcnn-foreign/2", "float64", "relu"]),
    st.lists(st.none() | st.integers() | st.sampled_from(["float32", "mse"]), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(fields=st.dictionaries(st.sampled_from(["protocol", "dtypes", "activations",
                                               "losses"]), NEAR, max_size=4))
def test_schema_and_reader_agree_on_hello_answers(fields: dict[str, Any]) -> None:
    try:
        check_hello(fields)
        accepted = True
    except ForeignError:
        accepted = False
    assert _valid_answer("hello", fields) == accepted


@settings(max_examples=300, deadline=None)
@given(fields=st.dictionaries(
    st.sampled_from(["shape", "dtype", "base64", "data"]),
    st.one_of(st.sampled_from(["float64", "float32", "int32", "float16", [2], [1, 2], [-2],
                               "AAAAAAAA8D8AAAAAAAAAQA==", "AACAPwAAAEA=", "!!"]),
              st.lists(st.floats(allow_nan=False) | st.integers() | st.booleans(),
                       max_size=3)),
    max_size=4))
def test_an_array_the_reader_accepts_follows_the_schema(fields: dict[str, Any]) -> None:
    try:
        decode_array(fields, "losses", (2,))
    except ForeignError:
        return
    assert _validator("answered_array").is_valid(fields), fields


@pytest.mark.parametrize("value", [{"shape": [2], "data": [0.5, False]}, [[0.5], [True]],
                                   [0.5, True]])
def test_booleans_among_numbers_are_refused_by_reader_and_schema(value: Any) -> None:
    # numpy reads [0.5, false] as [0.5, 0.0]; the property test above found it.
    with pytest.raises(ForeignError, match=r"got a list holding a boolean$"):
        decode_array(value, "answer to 'moves': losses", (2,))
    assert not _validator("answered_array").is_valid(value)


def test_a_list_array_with_an_unknown_dtype_is_refused_by_reader_and_schema() -> None:
    value = {"dtype": "float16", "data": [1, 2]}  # found by the property test above
    with pytest.raises(ForeignError, match=r"losses\.dtype: 'float16', expected one of"):
        decode_array(value, "losses", (2,))
    assert not _validator("answered_array").is_valid(value)


GOOD_HEAD = {"output": "sigmoid", "loss": "squared"}


@pytest.mark.parametrize("heads", [
    None, {}, {"q": GOOD_HEAD}, {"q": {**GOOD_HEAD, "outputs": "sum", "half": True}},
    {"q": {"output": "softmax", "loss": "cross_entropy"}},
    [GOOD_HEAD], {"q": 3}, {"q": {**GOOD_HEAD, "extra": 1}}, {"q": {"loss": "squared"}},
    {"q": {**GOOD_HEAD, "output": "relu"}}, {"q": {**GOOD_HEAD, "half": 1}},
    {"q": {**GOOD_HEAD, "outputs": "max"}}, {" ": GOOD_HEAD},
])
def test_schema_and_reader_agree_on_heads(heads: Any) -> None:
    # (The schema cannot say that cross_entropy needs a softmax or sigmoid output, nor
    # that a head may not take a funcnn loss's name: the reader checks both.)
    try:
        check_heads({"heads": heads}, ["mse"])
        accepted = True
    except ForeignError:
        accepted = False
    assert _valid_answer("hello", {"heads": heads}) == accepted
