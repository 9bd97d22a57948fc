"""The portable golden format: a JSON manifest, one raw little-endian data file and a flat
text index, readable from any language without numpy (see ``docs/golden-format.md``).

A golden directory holds:

- ``manifest.json``: ``format``, ``seed``, ``data_file``, ``byte_order``, ``layout``,
  ``conventions``, ``comparison`` (every rule, as a formula and its constants) and
  ``cases``: per case its id, ``kind``, ``dtype`` and kind-specific fields (for a
  network: ``sizes``, ``activations``, ``loss``, ``reduction``, ``labels``, ``value``)
  and ``tensors``: ``{name: {"dtype", "shape", "offset", "nbytes"}}``;
- ``data.bin``: every tensor's bytes, row-major (C order), little-endian, each starting
  at a multiple of 8 (so a JavaScript ``Float64Array`` can view it in place);
- ``index.txt``: the same facts as lines of space-separated fields, for readers (C)
  that would rather not parse JSON: ``rule <kind> <constant>=<value>...`` per
  comparison rule, then per case ``case <id> <kind> <dtype> <key>=<value>...`` followed
  by one ``tensor <name> <dtype> <offset> <nbytes> <shape>`` line per tensor of that
  case (shape comma-separated, ``-`` for a scalar; lists comma-separated; a mapping such
  as ``scale`` as comma-separated ``key:value`` pairs).

This module writes and reads that layout; :mod:`verification.interchange.golden` decides
what goes in.
"""

from __future__ import annotations

import json
import os
import tempfile
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from funcnn.errors import ArgumentTypeError, DataFormatError, InvalidArgumentError
from funcnn.typing import Array
from verification.interchange.golden_check import ALIGN as _ALIGN
from verification.interchange.golden_check import DTYPES as _DTYPES
from verification.interchange.golden_check import check_case

__all__ = ["DATA_FILE", "FORMAT", "INDEX_FILE", "MANIFEST", "GoldenFiles", "read_golden",
           "write_golden"]

FORMAT = "funcnn-golden/2"
"""Value of the manifest's ``format`` entry."""

MANIFEST = "manifest.json"
DATA_FILE = "data.bin"
INDEX_FILE = "index.txt"



class GoldenFiles:
    """A loaded golden directory: ``manifest`` (the parsed JSON) and ``arrays(case)``."""

    def __init__(self, manifest: dict[str, Any], data: bytes, where: str) -> None:
        self.manifest = manifest
        self._data = data
        self._where = where
        self.cases: dict[str, dict[str, Any]] = {c["id"]: c for c in manifest["cases"]}

    def arrays(self, case: str) -> dict[str, Array]:
        """Every tensor of ``case`` as a numpy array (native byte order, a copy); the
        manifest was checked against the data file when it was read."""
        if case not in self.cases:
            raise InvalidArgumentError(f"case: {case!r} is not a case of golden file "
                                       f"{self._where!r}")
        out = {}
        for name, info in self.cases[case]["tensors"].items():
            code = _DTYPES[info["dtype"]]
            flat = np.frombuffer(self._data, code, info["nbytes"] // np.dtype(code).itemsize,
                                 info["offset"])
            out[name] = flat.reshape(tuple(info["shape"])).astype(code[1:])
        return out


def _index_line(case: dict[str, Any]) -> list[str]:
    fields = [f"{k}={_flat(v)}" for k, v in case.items()
              if k not in ("id", "kind", "dtype", "tensors") and _flat(v)]
    lines = [" ".join(["case", case["id"], case["kind"], case["dtype"], *fields])]
    for name, info in case["tensors"].items():
        shape = ",".join(map(str, info["shape"])) or "-"
        lines.append(f"tensor {name} {info['dtype']} {info['offset']} {info['nbytes']} {shape}")
    return lines


def _flat(value: Any) -> str:
    """A manifest value as one index field (no spaces); "" for those left out."""
    if isinstance(value, list):
        return ",".join(map(str, value)) or "-"
    if isinstance(value, dict):  # e.g. scale: {output: number}
        return ",".join(f"{k}:{_flat(v)}" for k, v in value.items()) or "-"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int | str) and " " not in str(value):
        return str(value)
    return ""


def _rule_lines(rules: dict[str, Any]) -> list[str]:
    """``rule <kind> <constant>=<value>...``: the numbers of each comparison rule (the
    formulas themselves are in the manifest), nested keys joined by ``_``."""
    lines = []
    for kind, rule in rules.items():
        if not isinstance(rule, dict):
            continue
        fields = []
        for key, value in rule.items():
            items = value.items() if isinstance(value, dict) else [("", value)]
            fields += [f"{key}{'_' + sub if sub else ''}={v!r}" for sub, v in items
                       if isinstance(v, int | float)]
        lines.append(" ".join(["rule", kind, *fields]))
    return lines


def _index_lines(manifest: dict[str, Any]) -> list[str]:
    """``index.txt`` of a manifest, line by line (written, and compared when read)."""
    comparison = manifest.get("comparison", {})
    index = [f"format {FORMAT}", f"data_file {manifest.get('data_file', DATA_FILE)}",
             *_rule_lines(comparison if isinstance(comparison, dict) else {})]
    for entry in manifest["cases"]:
        index += _index_line(entry)
    return index


def _atomic_write(path: Path, payload: bytes) -> None:
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(payload)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; these are files to share
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_golden(directory: str | Path, header: dict[str, Any],
                 cases: list[tuple[dict[str, Any], dict[str, Array]]]) -> Path:
    """Write ``header`` plus ``cases`` (``(fields, {tensor name: array})`` each) to
    ``directory`` (created if missing); every file is replaced atomically."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    chunks: list[bytes] = []
    size = 0
    entries = []
    for fields, tensors in cases:
        described = {}
        for name, array in tensors.items():
            kind = "int32" if np.asarray(array).dtype.kind in "iu" else str(np.asarray(array).dtype)
            raw = np.ascontiguousarray(array, dtype=_DTYPES[kind]).tobytes()
            described[name] = {"dtype": kind, "shape": list(np.shape(array)), "offset": size,
                               "nbytes": len(raw)}
            pad = -len(raw) % _ALIGN
            chunks.append(raw + b"\0" * pad)
            size += len(raw) + pad
        entries.append({**fields, "tensors": described})
    manifest = {"format": FORMAT, **header, "data_file": DATA_FILE, "byte_order": "little",
                "cases": entries}
    _atomic_write(root / DATA_FILE, b"".join(chunks))
    _atomic_write(root / INDEX_FILE, ("\n".join(_index_lines(manifest)) + "\n").encode())
    _atomic_write(root / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())
    return root


def read_golden(path: str | Path) -> GoldenFiles:
    """Load a golden directory (or its ``manifest.json``), checking its format."""
    if not isinstance(path, str | PathLike):
        raise ArgumentTypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    root = Path(path)
    manifest_path = root if root.suffix == ".json" else root / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"golden file {str(path)!r}: cannot read its manifest ({exc})"
                              ) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise DataFormatError(
            f"golden file {str(path)!r}: format {found!r}, expected {FORMAT!r}"
        )
    cases = manifest.get("cases")
    if not isinstance(cases, list) or not all(
        isinstance(c, dict) and isinstance(c.get("id"), str) and isinstance(c.get("tensors"), dict)
        for c in cases
    ):
        raise DataFormatError(f"golden file {str(path)!r}: expected a list of cases, each with "
                              "an 'id' and 'tensors'")
    try:
        data = (manifest_path.parent / str(manifest.get("data_file", DATA_FILE))).read_bytes()
    except OSError as exc:
        raise DataFormatError(f"golden file {str(path)!r}: cannot read its data ({exc})") from exc
    ids = [c["id"] for c in cases]
    if len(set(ids)) != len(ids):
        twice = next(i for i in ids if ids.count(i) > 1)
        raise DataFormatError(f"golden file {str(path)!r}: case {twice!r} appears twice")
    for case in cases:
        check_case(case, len(data), str(path))
    _check_index(manifest, manifest_path.parent / INDEX_FILE, str(path))
    return GoldenFiles(manifest, data, str(path))


def _check_index(manifest: dict[str, Any], index: Path, where: str) -> None:
    """``index.txt`` must say what the manifest says, line for line: a reader of either
    gets the same tensors and constants."""
    try:
        have = index.read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"golden file {where!r}: cannot read its index ({exc})") from exc
    want = _index_lines(manifest)
    if have == want:
        return
    line = next((i for i, (a, b) in enumerate(zip(have, want, strict=False)) if a != b),
                min(len(have), len(want)))
    case = next((w.split()[1] for w in reversed(want[: line + 1]) if w.startswith("case ")),
                None)
    within = f" (case {case!r})" if case else ""

    def shown(lines: list[str]) -> str:
        text = lines[line] if line < len(lines) else "nothing (the file ends)"
        return repr(text if len(text) <= 100 else text[:97] + "...")

    raise DataFormatError(f"golden file {where!r}: {INDEX_FILE} line {line + 1}{within} reads "
                          f"{shown(have)}, the manifest gives {shown(want)}")
