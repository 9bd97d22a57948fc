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
  case (shape comma-separated, ``-`` for a scalar; lists comma-separated).

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

from funcnn.errors import ArgumentTypeError, DataFormatError
from funcnn.typing import Array

__all__ = ["DATA_FILE", "FORMAT", "INDEX_FILE", "MANIFEST", "GoldenFiles", "read_golden",
           "write_golden"]

FORMAT = "funcnn-golden/2"
"""Value of the manifest's ``format`` entry."""

MANIFEST = "manifest.json"
DATA_FILE = "data.bin"
INDEX_FILE = "index.txt"

_DTYPES = {"float64": "<f8", "float32": "<f4", "int32": "<i4"}
"""The element types a golden file uses, by manifest name."""

_ALIGN = 8


class GoldenFiles:
    """A loaded golden directory: ``manifest`` (the parsed JSON) and ``arrays(case)``."""

    def __init__(self, manifest: dict[str, Any], data: bytes, where: str) -> None:
        self.manifest = manifest
        self._data = data
        self._where = where
        self.cases: dict[str, dict[str, Any]] = {c["id"]: c for c in manifest["cases"]}

    def arrays(self, case: str) -> dict[str, Array]:
        """Every tensor of ``case`` as a numpy array (native byte order, a copy)."""
        entry = self.cases[case]
        out = {}
        for name, info in entry["tensors"].items():
            offset, nbytes = int(info["offset"]), int(info["nbytes"])
            if info.get("dtype") not in _DTYPES or offset < 0 or offset + nbytes > len(self._data):
                raise DataFormatError(
                    f"golden file {self._where!r}: tensor {name!r} of case {case!r} has dtype "
                    f"{info.get('dtype')!r} and bytes [{offset}, {offset + nbytes}); expected "
                    f"one of {sorted(_DTYPES)} within the {len(self._data)}-byte data file"
                )
            flat = np.frombuffer(self._data, _DTYPES[info["dtype"]], nbytes // np.dtype(
                _DTYPES[info["dtype"]]).itemsize, offset)
            out[name] = flat.reshape(tuple(info["shape"])).astype(_DTYPES[info["dtype"]][1:])
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
    index = [f"format {FORMAT}", f"data_file {DATA_FILE}",
             *_rule_lines(header.get("comparison", {}))]
    for entry in entries:
        index += _index_line(entry)
    _atomic_write(root / INDEX_FILE, ("\n".join(index) + "\n").encode())
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
    return GoldenFiles(manifest, data, str(path))
