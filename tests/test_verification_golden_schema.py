"""The JSON Schemas shipped with the golden format (verification/interchange/schemas/):
what export_golden writes validates against the manifest schema, every damaged manifest
that read_golden refuses is refused by the schema too (except the damages a schema
cannot see, named here and in the schema's description), the schemas' names agree with
the code's, and results files are judged alike by the schema and by read_results."""

from __future__ import annotations

import copy
import functools
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from funcnn.errors import DataFormatError
from verification.interchange.golden import FORMAT, export_golden, load_golden
from verification.interchange.golden_cases import _TARGETS
from verification.interchange.golden_check import DTYPES, KINDS
from verification.interchange.golden_results import RESULTS_FORMAT, read_results

from .test_verification_golden_manifest import DAMAGE

SCHEMAS = files("verification.interchange") / "schemas"
NETWORKS = [("2-3-1", "tanh", "binary_cross_entropy"), ("2-3-1", "sigmoid", "mse")]

# What a JSON Schema cannot say: sums and products across fields, the data file's size,
# shapes implied by other fields, unique ids; NaN is not JSON; and JSON Schema counts
# 2.0 as an integer. read_golden checks each (tests/test_verification_golden_manifest.py).
BEYOND_THE_SCHEMA = {
    "float-shape", "size-mismatch", "nbytes", "offset-past-end", "missing-tensor",
    "sizes-disagree", "activations", "value-nan", "tolerance-shape", "duplicate",
}


@functools.cache
def _schema(name: str) -> Any:
    schema = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path: Path = tmp_path_factory.mktemp("golden")
    export_golden(path, networks=NETWORKS)
    return path


@pytest.fixture(scope="module")
def manifest(golden: Path) -> dict[str, Any]:
    out: dict[str, Any] = json.loads((golden / "manifest.json").read_text())
    return out


def test_what_export_golden_writes_validates(manifest: dict[str, Any]) -> None:
    validator = _schema("golden-manifest.schema.json")
    assert list(validator.iter_errors(manifest)) == []
    assert {c["kind"] for c in manifest["cases"]} == set(KINDS)  # every kind was validated


@pytest.mark.parametrize(("name", "change"), [d[:2] for d in DAMAGE], ids=[d[0] for d in DAMAGE])
def test_a_damaged_manifest_is_refused_by_the_schema_too(
    manifest: dict[str, Any], name: str, change: Any
) -> None:
    damaged = copy.deepcopy(manifest)
    change(damaged)
    valid = _schema("golden-manifest.schema.json").is_valid(damaged)
    assert valid == (name in BEYOND_THE_SCHEMA)


@pytest.mark.parametrize(("path", "value"), [
    (("format",), "funcnn-golden/1"), (("byte_order",), "big"), (("seed",), -1),
    (("comparison", "network", "rtol"), {"float64": 1e-8}),
    (("cases", 0, "scale"), {"value": 1.0}),  # an activation needs its derivative's scale
    (("cases", -1, "reduction"), "sum"), (("cases", -1, "n_layers"), 0),
])
def test_other_damage_the_schema_refuses(manifest: dict[str, Any], path: tuple[Any, ...],
                                         value: Any) -> None:
    damaged = copy.deepcopy(manifest)
    target: Any = damaged
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert not _schema("golden-manifest.schema.json").is_valid(damaged)


def test_the_schemas_name_what_the_code_names() -> None:
    manifest = json.loads((SCHEMAS / "golden-manifest.schema.json").read_text())
    defs = manifest["$defs"]
    assert manifest["properties"]["format"]["const"] == FORMAT
    assert defs["case"]["properties"]["kind"]["enum"] == list(KINDS)
    assert defs["tensor"]["properties"]["dtype"]["enum"] == list(DTYPES)
    assert set(defs["loss"]["properties"]["targets"]["enum"]) == {
        t for kinds in _TARGETS.values() for t in kinds}
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in defs["case"]["oneOf"]} == set(KINDS)
    results = json.loads((SCHEMAS / "golden-results.schema.json").read_text())
    assert results["properties"]["format"]["const"] == RESULTS_FORMAT


def _results(cases: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"format": RESULTS_FORMAT, **top, "cases": cases}


NET = "network/2-3-1/sigmoid/mse/float64"
GOOD = {"value": 0.5, "grads/0/W": [[1, 2, 3], [4, 5, 6]], "grads/0/b": [1, "NaN", 3],
        "grads/1/W": {"dtype": "float64", "hex": "00" * 24},
        "grads/1/b": {"dtype": "float32", "base64": "AACAPw==", "shape": [1]}}
BAD_RESULTS: list[tuple[str, dict[str, Any]]] = [
    ("format", {"format": "funcnn-golden-results/0", "cases": {NET: GOOD}}),
    ("unknown-top", _results({NET: GOOD}, extra=1)),
    ("no-cases", _results({})),
    ("seed-type", _results({NET: GOOD}, seed="0")),
    ("value-string", _results({NET: {**GOOD, "value": "0.5"}})),
    ("value-bool", _results({NET: {**GOOD, "value": True}})),
    ("entry-lowercase-nan", _results({NET: {**GOOD, "grads/0/b": [1, "nan", 3]}})),
    ("entry-null", _results({NET: {**GOOD, "grads/0/b": [1, None, 3]}})),
    ("array-string", _results({NET: {**GOOD, "grads/0/b": "1,2,3"}})),
    ("raw-dtype", _results({NET: {**GOOD, "grads/1/W": {"dtype": "int32", "hex": ""}}})),
    ("raw-both", _results({NET: {**GOOD, "grads/1/W": {"dtype": "float64", "hex": "",
                                                       "base64": ""}}})),
    ("raw-neither", _results({NET: {**GOOD, "grads/1/W": {"dtype": "float64"}}})),
    ("raw-odd-hex", _results({NET: {**GOOD, "grads/1/W": {"dtype": "float64", "hex": "0"}}})),
    ("raw-extra", _results({NET: {**GOOD, "grads/1/W": {"dtype": "float64", "hex": "",
                                                        "endian": "big"}}})),
    ("case-empty", _results({NET: {}})),
]


@pytest.mark.parametrize(("doc",), [(d[1],) for d in BAD_RESULTS], ids=[d[0] for d in BAD_RESULTS])
def test_a_bad_results_file_is_refused_by_the_schema_and_the_reader(
    golden: Path, tmp_path: Path, doc: dict[str, Any]
) -> None:
    assert not _schema("golden-results.schema.json").is_valid(doc)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(DataFormatError, match=rf"^results file {str(path)!r}: "):
        read_results(path, load_golden(golden))


def test_a_good_results_file_is_accepted_by_both(golden: Path, tmp_path: Path) -> None:
    doc = _results({NET: GOOD}, seed=0, program="test")
    assert list(_schema("golden-results.schema.json").iter_errors(doc)) == []
    path = tmp_path / "results.json"
    path.write_text(json.dumps(doc))
    read = read_results(path, load_golden(golden)).cases[NET]
    assert read["value"] == 0.5
    assert np.array_equal(read["grads/0/W"], [[1, 2, 3], [4, 5, 6]])
    bias = read["grads/0/b"]
    assert isinstance(bias, np.ndarray) and np.isnan(bias[1])
    assert np.array_equal(read["grads/1/W"], np.zeros((3, 1)))
    assert np.array_equal(read["grads/1/b"], [1.0])


def test_a_head_exported_beyond_the_registry_validates(tmp_path: Path) -> None:
    from verification.external.heads import head

    quadratic = head("sigmoid", "squared", outputs="sum", half=True, name="sigmoid_quadratic")
    export_golden(tmp_path, networks=[("2-3-1", "sigmoid", "sigmoid_quadratic")],
                  losses=[quadratic])
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert list(_schema("golden-manifest.schema.json").iter_errors(manifest)) == []
    heads = {c["id"]: c["head"] for c in manifest["cases"] if "head" in c}
    assert heads["network/2-3-1/sigmoid/sigmoid_quadratic/float32"] == quadratic.declaration()
    assert "loss/sigmoid_quadratic/probability/float64" not in heads  # a real-target head
    assert heads["loss/sigmoid_quadratic/real/float64"]["output"] == "sigmoid"
