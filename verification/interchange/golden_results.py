"""Another program's outputs on the golden cases, compared by funcnn's rule
(``funcnn-verify --compare-golden RESULTS.json --golden DIR``), so that no language
has to reimplement the rule or the hints.

A results file (``schemas/golden-results.schema.json``, ``docs/golden-format.md``) maps
case ids to outputs: ``value`` as a JSON number, each array output as its entries in
row-major order (a flat or nested JSON array; non-finite entries as the strings
``"NaN"``, ``"Infinity"``, ``"-Infinity"``) or as raw little-endian bytes
(``{"dtype", "hex" | "base64"}``). :func:`read_results` checks every field against the
golden directory and names the one at fault; :func:`compare_results` gives one
:class:`~verification.reporting.report.CheckRow` per output (``check`` is the case id),
with the pattern hints of :mod:`verification.reporting.patterns` for a failing tensor;
:func:`case_lines` is the verdict of each case in one line.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from funcnn.errors import ArgumentTypeError, DataFormatError
from funcnn.typing import FloatArray
from verification.interchange.golden import load_golden, output_bound, value_bound
from verification.interchange.golden_format import GoldenFiles
from verification.reporting.patterns import hints
from verification.reporting.report import CheckRow, Report

__all__ = [
    "RESULTS_FORMAT",
    "GoldenResults",
    "case_lines",
    "compare_results",
    "parse_results",
    "read_results",
]

RESULTS_FORMAT = "funcnn-golden-results/1"

_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_RAW = {"float64": "<f8", "float32": "<f4"}
_NOTE = "a = the program's output, n = the golden value"


@dataclass(frozen=True)
class GoldenResults:
    """A results file, checked against its golden directory: per case id, per output
    name, the program's value (a float) or array (float64, the golden tensor's shape)."""

    cases: dict[str, dict[str, float | FloatArray]]
    program: str
    not_compared: tuple[str, ...]


class _At:
    def __init__(self, where: str) -> None:
        self.where = where

    def bad(self, field: str, message: str) -> DataFormatError:
        return DataFormatError(f"results file {self.where!r}: {field}: {message}")


def _refuse_constant(token: str) -> Any:
    raise ValueError(f"bare {token} is not JSON; write the string \"{token}\"")


def _load(path: Path, at: _At) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"results file {at.where!r}: cannot read it ({exc})") from exc
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise DataFormatError(f"results file {at.where!r}: nested too deeply") from None
    except ValueError as exc:
        where = getattr(exc, "pos", None)
        tail = "" if where is None else text[where:where + 4].lower()
        extra = ('; write non-finite numbers as the strings "NaN", "Infinity", "-Infinity"'
                 if tail.startswith(("nan", "inf", "-inf", "-nan")) else "")
        raise DataFormatError(f"results file {at.where!r}: not JSON ({exc}){extra}") from exc


def _entry(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value in _SPECIAL:
        return _SPECIAL[value]
    return None


def _flatten(value: list[Any], at: _At, field: str) -> tuple[list[float], tuple[int, ...]]:
    """Entries of a (nested) JSON array in row-major order, and its shape."""
    if value and all(isinstance(v, list) for v in value):
        parts = [_flatten(v, at, f"{field}[{i}]") for i, v in enumerate(value)]
        if any(shape != parts[0][1] for _, shape in parts):
            raise at.bad(field, "rows of different lengths, expected a regular array")
        return [x for flat, _ in parts for x in flat], (len(value), *parts[0][1])
    flat = [_entry(v) for v in value]
    if None in flat:
        i = flat.index(None)
        raise at.bad(f"{field}[{i}]", f"{value[i]!r}, expected a number (or \"NaN\", "
                                      "\"Infinity\", \"-Infinity\")")
    return [float(x) for x in flat if x is not None], (len(value),)


def _raw(value: dict[str, Any], shape: tuple[int, ...], at: _At, field: str) -> FloatArray:
    extra = sorted(set(value) - {"dtype", "shape", "hex", "base64"})
    if extra:
        raise at.bad(field, f"unknown fields {extra}, expected dtype, shape, hex or base64")
    dtype = value.get("dtype")
    code = _RAW.get(dtype) if isinstance(dtype, str) else None
    if code is None:
        raise at.bad(f"{field}.dtype", f"{value.get('dtype')!r}, expected one of "
                                       f"{sorted(_RAW)}")
    if "shape" in value and value["shape"] != list(shape):
        raise at.bad(f"{field}.shape", f"{value['shape']!r}, expected {list(shape)} (the "
                                       "golden tensor's)")
    if ("hex" in value) == ("base64" in value):
        raise at.bad(field, "expected exactly one of hex and base64")
    key = "hex" if "hex" in value else "base64"
    try:
        if not isinstance(value[key], str):
            raise ValueError("not a string")
        raw = (bytes.fromhex(value[key]) if key == "hex"
               else base64.b64decode(value[key], validate=True))
    except (ValueError, binascii.Error) as exc:
        raise at.bad(f"{field}.{key}", f"cannot decode it ({exc})") from None
    size = int(np.prod(shape, dtype=np.int64)) * np.dtype(code).itemsize
    if len(raw) != size:
        raise at.bad(f"{field}.{key}", f"{len(raw)} bytes, expected {size} "
                                       f"({math.prod(shape)} {value['dtype']} entries)")
    return np.frombuffer(raw, code).astype(np.float64).reshape(shape)


def _array(value: Any, shape: tuple[int, ...], at: _At, field: str) -> FloatArray:
    if isinstance(value, dict):
        return _raw(value, shape, at, field)
    if not isinstance(value, list):
        raise at.bad(field, f"a {type(value).__name__}, expected an array (a JSON array or "
                            "{\"dtype\", \"hex\" | \"base64\"})")
    try:
        flat, got = _flatten(value, at, field)
    except RecursionError:
        raise at.bad(field, "nested too deeply") from None
    size = math.prod(shape)
    if got != shape and got != (size,):
        raise at.bad(field, f"shape {list(got)}, expected {list(shape)} (or {size} entries "
                            "flat)")
    return np.asarray(flat, dtype=np.float64).reshape(shape)


def _outputs(golden: GoldenFiles, case_id: str) -> list[str]:
    """The outputs of a case by name, ``grads/*`` expanded to the tensors it stands for."""
    case = golden.cases[case_id]
    names = []
    for name in case.get("outputs", []):
        if name.endswith("/*"):
            names += [t for t in case["tensors"] if t.startswith(name[:-1])]
        else:
            names.append(name)
    return names


def _case(golden: GoldenFiles, case_id: str, given: Any, at: _At
          ) -> dict[str, float | FloatArray]:
    field = f"cases[{case_id!r}]"
    if case_id not in golden.cases:
        raise at.bad(field, "not a case of the golden directory")
    if not isinstance(given, dict) or not given:
        raise at.bad(field, f"{given!r}, expected an object of outputs")
    wanted = _outputs(golden, case_id)
    extra = [name for name in given if name not in wanted]
    if extra:
        raise at.bad(f"{field}[{extra[0]!r}]", f"not an output of this case (its outputs: "
                                               f"{', '.join(wanted)})")
    missing = [name for name in wanted if name not in given]
    if missing:
        raise at.bad(field, f"outputs {missing} missing (leave a case out rather than "
                            "give part of it)")
    tensors = golden.cases[case_id]["tensors"]
    out: dict[str, float | FloatArray] = {}
    for name in wanted:
        if name == "value" and name not in tensors:  # a network's or loss's mean loss
            number = _entry(given[name])
            if number is None:
                raise at.bad(f"{field}['value']", f"{given[name]!r}, expected a number")
            out[name] = number
        else:
            out[name] = _array(given[name], tuple(tensors[name]["shape"]), at,
                               f"{field}[{name!r}]")
    return out


def read_results(path: str | Path, golden: GoldenFiles) -> GoldenResults:
    """The results file at ``path``, checked against ``golden`` (its case ids, outputs
    and shapes); each fault a :class:`~funcnn.errors.DataFormatError` naming the field."""
    if not isinstance(path, str | PathLike):
        raise ArgumentTypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    return parse_results(_load(Path(path), _At(str(path))), golden, str(path))


def parse_results(doc: Any, golden: GoldenFiles, where: str) -> GoldenResults:
    """A parsed results document (see :func:`read_results`); ``where`` names it in
    errors."""
    at = _At(where)
    if not isinstance(doc, dict) or doc.get("format") != RESULTS_FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise at.bad("format", f"{found!r}, expected {RESULTS_FORMAT!r}")
    extra = sorted(set(doc) - {"format", "seed", "program", "cases"})
    if extra:
        raise at.bad(extra[0], "unknown field, expected format, seed, program and cases")
    seed = golden.manifest.get("seed")
    if "seed" in doc and doc["seed"] != seed:
        raise at.bad("seed", f"{doc['seed']!r}, but the golden files were drawn with seed "
                             f"{seed!r}: compare with the files the program read")
    if not isinstance(doc.get("program", ""), str):
        raise at.bad("program", f"{doc['program']!r}, expected a string")
    cases = doc.get("cases")
    if not isinstance(cases, dict) or not cases:
        raise at.bad("cases", f"{cases!r}, expected an object of at least one case id")
    checked = {case_id: _case(golden, case_id, given, at) for case_id, given in cases.items()}
    rest = tuple(case_id for case_id in golden.cases if case_id not in checked)
    return GoldenResults(checked, str(doc.get("program", "")), rest)


def _row(case: dict[str, Any], name: str, have: FloatArray, want: FloatArray,
         bound: FloatArray) -> CheckRow:
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(have - want)
        ratios = np.where(np.isnan(diff), np.inf, diff / np.maximum(
            bound, np.finfo(np.float64).tiny))
        rel = diff / np.maximum(np.abs(want), np.finfo(np.float64).tiny)
    failed = ratios > 1.0
    at = np.unravel_index(int(np.argmax(ratios)), ratios.shape) if ratios.size else ()
    index = tuple(int(i) for i in at)
    return CheckRow(
        check=case["id"], tensor=name, shape=tuple(want.shape), mode="golden",
        dtype=case["dtype"], verdict="fail" if failed.any() else "pass",
        n_checked=int(want.size), n_failed=int(failed.sum()),
        max_abs_error=float(np.max(np.where(np.isnan(diff), np.inf, diff), initial=0.0)),
        max_rel_error=float(np.max(np.where(np.isnan(rel), np.inf, rel), initial=0.0)),
        tolerance=float(bound[at]) if ratios.size else math.nan,
        ratio=float(ratios[at]) if ratios.size else 0.0, worst_index=index,
        analytic=float(have[at]) if ratios.size else math.nan,
        numeric=float(want[at]) if ratios.size else math.nan, note=_NOTE,
        hint=hints(have, want, bound, failed) if want.ndim and failed.any() else "",
    )


def compare_results(results: str | Path, golden: str | Path) -> Report:
    """Compare a results file with the golden directory ``golden`` by the manifest's
    rule: one row per output of every case the file gives."""
    files = load_golden(golden)
    given = read_results(results, files)
    rows = []
    for case_id, outputs in given.cases.items():
        case = files.cases[case_id]
        arrays = files.arrays(case_id)
        for name, got in outputs.items():
            if isinstance(got, float):
                want = np.asarray(float(case["value"]))
                rows.append(_row(case, name, np.asarray(got), want,
                                 np.asarray(value_bound(case))))
            else:
                rows.append(_row(case, name, got, arrays[name].astype(np.float64),
                                 output_bound(case, arrays, name)))
    meta = {"golden": str(golden), "results": str(results), "program": given.program,
            "cases": len(given.cases), "not_compared": list(given.not_compared)}
    return Report(tuple(rows), meta)


def case_lines(report: Report) -> list[str]:
    """One line per case of :func:`compare_results`' report: its verdict and its worst
    entry (ratio of the error to what the rule allows)."""
    by_case: dict[str, list[CheckRow]] = {}
    for row in report.rows:
        by_case.setdefault(row.check, []).append(row)
    lines = []
    for case_id, rows in by_case.items():
        worst = max(rows, key=lambda row: row.ratio)
        where = worst.tensor + (str(list(worst.worst_index)) if worst.worst_index else "")
        verdict = "PASS" if all(row.passed for row in rows) else "FAIL"
        lines.append(f"{verdict} {case_id}  {worst.ratio:.3g} x allowed at {where}")
    return lines
