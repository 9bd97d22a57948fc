"""A damaged golden manifest is never trusted: every tensor's dtype, shape, byte count,
alignment and bounds, each case's fields and the tensors its kind needs, and the
agreement of manifest and index are checked when the files are read, and each fault is
a DataFormatError naming the case and the field (a shape of [-5, 3] used to load and
pass; a size that disagrees with the byte count ended in numpy's bare ValueError)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from funcnn.errors import DataFormatError, InvalidArgumentError
from verification.interchange.golden import export_golden, load_golden, verify_golden
from verification.interchange.golden_format import _index_lines

NET = "network/2-3-1/sigmoid/mse/float64"
LOSS = "loss/mse/real/float32"


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path: Path = tmp_path_factory.mktemp("golden")
    export_golden(path, networks=[("2-3-1", "sigmoid", "mse")])
    return path


def _damaged(original: Path, tmp_path: Path, change: Callable[[dict[str, Any]], None],
             index_too: bool = True) -> Path:
    """A copy whose manifest ``change`` edits; with ``index_too`` the index says the same
    (so that only the checks of the manifest itself can notice)."""
    for name in ("data.bin", "index.txt"):
        (tmp_path / name).write_bytes((original / name).read_bytes())
    manifest = json.loads((original / "manifest.json").read_text())
    change(manifest)
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    if index_too:
        try:
            lines = _index_lines(manifest)
        except (KeyError, TypeError):  # damage the index cannot even express
            return tmp_path
        (tmp_path / "index.txt").write_text("\n".join(lines) + "\n")
    return tmp_path


def _case(manifest: dict[str, Any], case_id: str) -> dict[str, Any]:
    return next(c for c in manifest["cases"] if c["id"] == case_id)


def _tensor(case_id: str, name: str, **fields: Any) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        _case(manifest, case_id)["tensors"][name].update(fields)
    return change


def _field(case_id: str, **fields: Any) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        case = _case(manifest, case_id)
        for key, value in fields.items():
            if value is _DROP:
                del case[key]
            else:
                case[key] = value
    return change


_DROP = object()


def _drop_tensor(case_id: str, name: str) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        del _case(manifest, case_id)["tensors"][name]
    return change


def _twice(manifest: dict[str, Any]) -> None:
    manifest["cases"].append(dict(manifest["cases"][0]))


W = f"case '{NET}': tensors\\['params/0/W'\\]"
DAMAGE: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("negative-shape", _tensor(NET, "params/0/W", shape=[-5, 3]),
     rf"{W}\.shape: \[-5, 3\], expected a list of non-negative integers$"),
    ("negative-dims-right-size", _tensor(NET, "params/0/W", shape=[-2, -3]),
     rf"{W}\.shape: \[-2, -3\], expected a list of non-negative integers$"),
    ("float-shape", _tensor(NET, "params/0/W", shape=[2.0, 3]), rf"{W}\.shape: \[2\.0, 3\]"),
    ("bool-shape", _tensor(NET, "params/0/W", shape=[True, 6]), rf"{W}\.shape: \[True, 6\]"),
    ("string-shape", _tensor(NET, "params/0/W", shape="2,3"), rf"{W}\.shape: '2,3'"),
    ("size-mismatch", _tensor(NET, "params/0/W", shape=[3, 3]),
     rf"{W}\.nbytes: 48, expected 72 \(9 float64 entries of 8 bytes for shape \[3, 3\]\)$"),
    ("nbytes", _tensor(NET, "params/0/W", nbytes=40), rf"{W}\.nbytes: 40, expected 48"),
    ("dtype", _tensor(NET, "params/0/W", dtype="float16"),
     rf"{W}\.dtype: 'float16', expected one of \['float32', 'float64', 'int32'\]$"),
    ("dtype-type", _tensor(NET, "params/0/W", dtype=["float64"]), rf"{W}\.dtype: \['float64'\]"),
    ("offset-negative", _tensor(NET, "params/0/W", offset=-8),
     rf"{W}\.offset: -8, expected a non-negative integer$"),
    ("offset-string", _tensor(NET, "params/0/W", offset="0"), rf"{W}\.offset: '0'"),
    ("offset-unaligned", _tensor(NET, "params/0/W", offset=4),
     rf"{W}\.offset: 4, expected a multiple of 8$"),
    ("offset-past-end", _tensor(NET, "params/0/W", offset=10**9),
     rf"{W}: bytes \[1000000000, 1000000048\), expected them within the \d+-byte data file$"),
    ("not-an-object", lambda m: _case(m, NET)["tensors"].update({"x": [4, 2]}),
     rf"case '{NET}': tensors\['x'\]: expected an object, got list$"),
    ("missing-tensor", _drop_tensor(NET, "tolerance/1/b"),
     rf"case '{NET}': tensors\['tolerance/1/b'\]: missing$"),
    ("sizes-disagree", _field(NET, sizes=[2, 4, 1]),
     rf"case '{NET}': tensors\['params/0/W'\]\.shape: \[2, 3\], expected \[2, 4\]$"),
    ("sizes-type", _field(NET, sizes="2-3-1"), rf"case '{NET}': sizes: '2-3-1'"),
    ("activations", _field(NET, activations=["sigmoid", "tanh"]),
     rf"case '{NET}': activations: .* expected 1 names$"),
    ("labels", _field(NET, labels="onehot"), rf"case '{NET}': labels: 'onehot'"),
    ("kind", _field(NET, kind="networks"), rf"case '{NET}': kind: 'networks', expected one of"),
    ("case-dtype", _field(NET, dtype="float16"), rf"case '{NET}': dtype: 'float16'"),
    ("value", _field(NET, value="0.25"), rf"case '{NET}': value: '0\.25', expected a finite"),
    ("value-nan", _field(NET, value=float("nan")), rf"case '{NET}': value: nan"),
    ("scale", _field(LOSS, scale={"grad": -1.0}), rf"case '{LOSS}': scale: .*non-negative"),
    ("scale-missing-output", _field(LOSS, scale={"other": 1.0}),
     rf"case '{LOSS}': scale: no scale for output 'grad'$"),
    ("loss-tensor", _drop_tensor(LOSS, "grad"), rf"case '{LOSS}': tensors\['grad'\]: missing$"),
    ("tolerance-shape", _tensor(LOSS, "tolerance/grad", shape=[16, 10, 1]),
     rf"case '{LOSS}': tensors\['tolerance/grad'\]\.shape: \[16, 10, 1\], expected \[16, 10\]$"),
    ("duplicate", _twice, r"case 'activation/identity/float64' appears twice$"),
]


@pytest.mark.parametrize(("change", "message"), [d[1:] for d in DAMAGE],
                         ids=[d[0] for d in DAMAGE])
def test_each_damage_is_named(original: Path, tmp_path: Path,
                              change: Callable[[dict[str, Any]], None], message: str) -> None:
    path = _damaged(original, tmp_path, change)
    with pytest.raises(DataFormatError, match=message) as info:
        load_golden(path)
    assert str(info.value).startswith(f"golden file {str(path)!r}: ")
    with pytest.raises(DataFormatError, match=message):
        verify_golden(path)


def test_the_untouched_copy_loads_and_passes(original: Path, tmp_path: Path) -> None:
    path = _damaged(original, tmp_path, lambda m: None)
    assert verify_golden(path).passed


def test_an_index_that_disagrees_is_named(original: Path, tmp_path: Path) -> None:
    path = _damaged(original, tmp_path, _tensor(NET, "params/0/W", offset=0), index_too=False)
    with pytest.raises(DataFormatError, match=rf"index\.txt line \d+ \(case '{NET}'\) reads "
                                              r"'tensor params/0/W float64 \d+ 48 2,3', the "
                                              r"manifest gives 'tensor params/0/W float64 0 48 "
                                              r"2,3'$"):
        load_golden(path)
    lines = (original / "index.txt").read_text().splitlines()
    (path / "manifest.json").write_text((original / "manifest.json").read_text())
    (path / "index.txt").write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(DataFormatError, match=r"reads 'nothing \(the file ends\)', the "
                                              r"manifest gives 'tensor "):
        load_golden(path)
    (path / "index.txt").write_text("\n".join([*lines, "tensor extra float64 0 8 1"]) + "\n")
    with pytest.raises(DataFormatError, match=r"reads 'tensor extra float64 0 8 1', the "
                                              r"manifest gives 'nothing \(the file ends\)'$"):
        load_golden(path)
    (path / "index.txt").unlink()
    with pytest.raises(DataFormatError, match=r"cannot read its index"):
        load_golden(path)


def test_an_unknown_case_is_named(original: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"^case: 'network/none' is not a case of "
                                                   r"golden file"):
        load_golden(original).arrays("network/none")
