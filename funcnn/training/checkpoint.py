"""Checkpoints: a whole training state in one ``.npz`` file, written atomically, no pickle.

A checkpoint holds the spec, the params, optionally the optimizer (its config), its
state, the rng state, the :class:`~funcnn.training.loop.History` and free-form JSON metadata.
Arrays are stored as ``.npy`` members; everything else is one UTF-8 JSON document stored
as a ``uint8`` array (member ``meta``). Loading uses ``allow_pickle=False`` throughout.

Writing is crash-safe (:mod:`funcnn.training._atomic`): the file is written to a
temporary file in the same directory, flushed and ``fsync``-ed, then moved over the
target with ``os.replace`` (atomic on POSIX), and the directory is ``fsync``-ed. A crash
at any point leaves either the old checkpoint or the new one, never a mixture. The file
gets the permissions an ordinary ``open()`` would give it (``0o666`` less the umask).

Integrity: the zip comment of every checkpoint is ``funcnn-sha256:`` plus the SHA-256 of
all bytes before the comment's length field, so a truncated file or any flipped byte is
detected before anything is parsed, and reported as a ``DataFormatError`` naming the file.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from funcnn.core.network import check_params
from funcnn.core.pytree import TreeDef, tree_flatten, tree_unflatten
from funcnn.core.spec import MLP
from funcnn.errors import ArgumentTypeError, DataFormatError, FuncnnError, InvalidArgumentError
from funcnn.training._atomic import write_atomically as _write_atomically
from funcnn.training.chain import Optimizer, OptState, check_optimizer
from funcnn.training.loop import History
from funcnn.training.optimizers import optimizer_from_config
from funcnn.typing import Array, Params

__all__ = ["FORMAT", "VERSION", "Checkpoint", "load_checkpoint", "save_checkpoint"]

FORMAT = "funcnn-checkpoint"
"""The ``format`` field of every checkpoint's metadata."""

VERSION = 1
"""The checkpoint format version this module writes and reads."""

_TAG = b"funcnn-sha256:"
_COMMENT_LEN = len(_TAG) + 64
_EOCD_SIG = b"PK\x05\x06"
_EOCD_SIZE = 22


@dataclass(frozen=True)
class Checkpoint:
    """Everything :func:`load_checkpoint` read back.

    ``optimizer``, ``opt_state``, ``rng_state`` and ``history`` are ``None`` when they
    were not saved; ``metadata`` is the JSON object passed to :func:`save_checkpoint`.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec = fn.MLP((2, 2))
        >>> rng = np.random.default_rng(0)
        >>> params = fn.init(spec, rng)
        >>> path = fn.save_checkpoint("c.ckpt", spec=spec, params=params, rng=rng)
        >>> ckpt = fn.load_checkpoint(path)
        >>> resumed = np.random.default_rng()
        >>> resumed.bit_generator.state = ckpt.rng_state        # continue the same stream
        >>> bool(resumed.random() == rng.random())
        True
    """

    spec: MLP
    params: Params
    optimizer: Optimizer | None = None
    opt_state: OptState | None = None
    rng_state: dict[str, Any] | None = None
    history: History | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def rng(self) -> np.random.Generator:
        """A new generator in exactly the saved state (raises if none was saved)."""
        if self.rng_state is None:
            raise InvalidArgumentError("checkpoint: no rng state was saved")
        return _generator_from_state(self.rng_state)


# --------------------------------------------------------------------------- encoding


def _treedef_to_json(treedef: TreeDef) -> Any:
    if treedef.kind == "leaf":
        return "*"
    children = [_treedef_to_json(child) for child in treedef.children]
    if treedef.kind == "dict":
        keys = list(treedef.keys)
        if not all(isinstance(k, str) for k in keys):
            raise ArgumentTypeError(f"checkpoint: dict keys must be strings, got {keys!r}")
        return {"dict": dict(zip(keys, children, strict=True))}
    return {treedef.kind: children}


def _treedef_from_json(data: Any) -> TreeDef:
    if data == "*":
        return TreeDef("leaf")
    if isinstance(data, dict) and len(data) == 1:
        ((kind, children),) = data.items()
        if kind == "dict" and isinstance(children, dict):
            keys = sorted(children)
            return TreeDef(
                "dict", tuple(keys), tuple(_treedef_from_json(children[k]) for k in keys)
            )
        if kind in ("list", "tuple") and isinstance(children, list):
            return TreeDef(kind, (), tuple(_treedef_from_json(c) for c in children))
    raise ValueError(f"bad tree structure {data!r}")


def _jsonable_state(value: Any) -> Any:
    """A bit generator state as JSON data (MT19937 keeps its key as an array)."""
    if isinstance(value, dict):
        return {str(k): _jsonable_state(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.str}
    if isinstance(value, np.integer):
        return int(value)
    return value


def _state_from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__ndarray__", "dtype"}:
            return np.asarray(value["__ndarray__"], dtype=np.dtype(value["dtype"]))
        return {k: _state_from_json(v) for k, v in value.items()}
    return value


def _generator_from_state(state: dict[str, Any]) -> np.random.Generator:
    name = state.get("bit_generator") if isinstance(state, dict) else None
    allowed = {"PCG64", "PCG64DXSM", "Philox", "SFC64", "MT19937"}
    if name not in allowed:
        raise InvalidArgumentError(
            f"rng state: unknown bit generator {name!r}; expected one of {sorted(allowed)}"
        )
    bit_generator = getattr(np.random, name)()
    try:
        bit_generator.state = _state_from_json(state)
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidArgumentError(f"rng state: not a valid {name} state ({exc})") from exc
    return np.random.Generator(bit_generator)


# --------------------------------------------------------------------------- the sealed .npz


def _npz_bytes(arrays: dict[str, Array]) -> bytes:
    """``arrays`` as the uncompressed ``.npz`` that ``np.savez`` writes, refusing to pickle.

    Written member by member, not with ``np.savez(..., allow_pickle=False)``: numpy 2.0
    and 2.1 do not know that keyword and would store it as an extra array.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
    return buffer.getvalue()


def _seal(data: bytes) -> bytes:
    """Append the SHA-256 zip comment to a freshly written zip without a comment."""
    if len(data) < _EOCD_SIZE or data[-_EOCD_SIZE : -_EOCD_SIZE + 4] != _EOCD_SIG:
        raise AssertionError("numpy wrote an unexpected zip layout")  # pragma: no cover
    body = data[:-2]
    digest = hashlib.sha256(body).hexdigest().encode("ascii")
    return body + _COMMENT_LEN.to_bytes(2, "little") + _TAG + digest


def _unseal(data: bytes, where: str) -> None:
    """Check the SHA-256 zip comment written by :func:`_seal`."""
    total = _EOCD_SIZE + _COMMENT_LEN
    if len(data) < total:
        raise DataFormatError(f"{where}: not a funcnn checkpoint (file too short: truncated?)")
    eocd = data[-total:]
    comment = eocd[_EOCD_SIZE:]
    if (
        eocd[:4] != _EOCD_SIG
        or int.from_bytes(eocd[20:22], "little") != _COMMENT_LEN
        or not comment.startswith(_TAG)
    ):
        raise DataFormatError(
            f"{where}: not a funcnn checkpoint, or truncated (no integrity record at the end)"
        )
    expected = comment[len(_TAG) :]
    actual = hashlib.sha256(data[: -(_COMMENT_LEN + 2)]).hexdigest().encode("ascii")
    if actual != expected:
        raise DataFormatError(f"{where}: checkpoint is corrupt (SHA-256 mismatch)")


# --------------------------------------------------------------------------- API


def save_checkpoint(
    path: str | os.PathLike[str],
    *,
    spec: MLP,
    params: Params,
    optimizer: Optimizer | None = None,
    opt_state: OptState | None = None,
    rng: np.random.Generator | None = None,
    history: History | None = None,
    metadata: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint to ``path`` atomically and return the path.

    ``params`` must match ``spec``; ``opt_state`` needs ``optimizer`` and must match
    ``params`` (it is checked with ``optimizer.check_state``); ``rng`` is stored as its
    ``bit_generator.state`` (the generator is not advanced); ``metadata`` must be
    JSON-serialisable. The parent directory must exist. Nothing is written if an
    argument is invalid, and an existing file at ``path`` survives any failure.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec = fn.MLP((4, 8, 3))
        >>> rng = np.random.default_rng(0)
        >>> params = fn.init(spec, rng)
        >>> optimizer = fn.adam(0.01)
        >>> path = fn.save_checkpoint("model.ckpt", spec=spec, params=params, optimizer=optimizer,
        ...                           opt_state=optimizer.init(params), rng=rng)
        >>> ckpt = fn.load_checkpoint(path)
        >>> ckpt.spec == spec, np.array_equal(ckpt.params[0]["W"], params[0]["W"])
        (True, True)
    """
    target = Path(_check_path(path))
    if not target.parent.is_dir():
        raise InvalidArgumentError(f"path: directory {str(target.parent)!r} does not exist")
    if target.is_dir():
        raise InvalidArgumentError(f"path: {str(target)!r} is a directory, expected a file name")
    check_params(spec, params)
    p_leaves, p_def = tree_flatten(params)
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "spec": {"sizes": list(spec.sizes), "activation": spec.activation},
        "params_tree": _treedef_to_json(p_def),
        "optimizer": None,
        "opt_state_tree": None,
        "rng": None,
        "history": None,
        "metadata": {},
    }
    arrays: dict[str, Array] = {f"params.{i:04d}": leaf for i, leaf in enumerate(p_leaves)}
    if opt_state is not None and optimizer is None:
        raise InvalidArgumentError("opt_state: saving an optimizer state needs optimizer=")
    if optimizer is not None:
        meta["optimizer"] = check_optimizer(optimizer).to_config()
    if opt_state is not None and optimizer is not None:
        optimizer.check_state(opt_state, p_leaves, p_def)
        s_leaves, s_def = tree_flatten(opt_state)
        meta["opt_state_tree"] = _treedef_to_json(s_def)
        arrays.update({f"opt_state.{i:04d}": np.asarray(a) for i, a in enumerate(s_leaves)})
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise ArgumentTypeError(
                f"rng: expected a numpy.random.Generator, got {type(rng).__name__}"
            )
        meta["rng"] = _jsonable_state(rng.bit_generator.state)
    if history is not None:
        if not isinstance(history, History):
            raise ArgumentTypeError(f"history: expected a History, got {type(history).__name__}")
        meta["history"] = history.to_dict()
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise ArgumentTypeError(f"metadata: expected a dict, got {type(metadata).__name__}")
        meta["metadata"] = metadata
    try:
        text = json.dumps(meta, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"metadata: not JSON-serialisable ({exc})") from exc
    arrays["meta"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    _write_atomically(target, _seal(_npz_bytes(arrays)))
    return target


def load_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`, checking it thoroughly.

    A missing or unreadable file raises ``InvalidArgumentError``; a file that is not a
    funcnn checkpoint, is truncated, corrupt, or of another format version raises
    ``DataFormatError``; both messages name the file.

        >>> import numpy as np
        >>> import funcnn as fn
        >>> spec = fn.MLP((2, 2))
        >>> params = fn.init(spec, np.random.default_rng(0))
        >>> ckpt = fn.load_checkpoint(fn.save_checkpoint("m.ckpt", spec=spec, params=params))
        >>> ckpt.spec, ckpt.optimizer, ckpt.opt_state
        (MLP(sizes=(2, 2), ...), None, None)
        >>> from pathlib import Path
        >>> data = bytearray(Path("m.ckpt").read_bytes())
        >>> data[100] ^= 0xFF                                  # flip one byte's bits
        >>> _ = Path("m.ckpt").write_bytes(bytes(data))
        >>> fn.load_checkpoint("m.ckpt")
        Traceback (most recent call last):
        ...
        funcnn.errors.DataFormatError: ...
    """
    where = _check_path(path)
    try:
        with open(where, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise InvalidArgumentError(
            f"path: cannot read checkpoint {where!r} ({exc.strerror or exc})"
        ) from exc
    _unseal(data, where)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (Exception, RecursionError) as exc:
        # zipfile and numpy raise many types for crafted archives (BadZipFile, ValueError,
        # NotImplementedError for unknown methods, RuntimeError for encrypted members).
        raise DataFormatError(
            f"{where}: cannot read the checkpoint's arrays ({type(exc).__name__}: {exc})"
        ) from exc
    try:
        return _decode(arrays)
    except FuncnnError as exc:
        raise DataFormatError(f"{where}: invalid checkpoint: {exc}") from exc
    except (Exception, RecursionError) as exc:
        # The content passed the integrity check, so it was written this way on purpose or
        # by another program: whatever decoding it trips over is a format error.
        detail = str(exc)[:200]
        raise DataFormatError(
            f"{where}: invalid checkpoint ({type(exc).__name__}: {detail})"
        ) from exc


def _check_path(path: Any) -> str:
    if not isinstance(path, str | os.PathLike):
        raise ArgumentTypeError(
            f"path: expected a str or os.PathLike file name, got {type(path).__name__}"
        )
    name = os.fspath(path)
    if not isinstance(name, str):
        raise ArgumentTypeError(f"path: expected a text path, got {type(name).__name__}")
    return name


def _group(arrays: dict[str, Array], prefix: str, n: int) -> list[Array]:
    leaves = []
    for i in range(n):
        name = f"{prefix}.{i:04d}"
        if name not in arrays:
            raise KeyError(f"missing array {name!r}")
        leaves.append(arrays[name])
    extra = [k for k in arrays if k.startswith(prefix + ".")]
    if len(extra) != n:
        raise ValueError(f"{prefix}: expected {n} arrays, found {len(extra)}")
    return leaves


def _decode(arrays: dict[str, Array]) -> Checkpoint:
    raw = arrays.get("meta")
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1:
        raise ValueError("no metadata record")
    meta = json.loads(raw.tobytes().decode("utf-8"))
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError("not a funcnn checkpoint")
    if meta.get("version") != VERSION:
        raise ValueError(f"format version {meta.get('version')!r}, this funcnn reads {VERSION}")
    spec_data = meta["spec"]
    activation = spec_data["activation"]
    spec = MLP(
        tuple(spec_data["sizes"]), activation if isinstance(activation, str) else tuple(activation)
    )
    p_def = _treedef_from_json(meta["params_tree"])
    params: Params = tree_unflatten(p_def, _group(arrays, "params", p_def.num_leaves))
    check_params(spec, params)
    optimizer = None if meta["optimizer"] is None else optimizer_from_config(meta["optimizer"])
    opt_state: OptState | None = None
    if meta["opt_state_tree"] is not None:
        if optimizer is None:
            raise ValueError("optimizer state without an optimizer")
        s_def = _treedef_from_json(meta["opt_state_tree"])
        opt_state = tree_unflatten(s_def, _group(arrays, "opt_state", s_def.num_leaves))
        p_leaves, _ = tree_flatten(params)
        optimizer.check_state(opt_state, p_leaves, p_def)
    else:
        _group(arrays, "opt_state", 0)
    rng_state = meta["rng"]
    if rng_state is not None:
        _generator_from_state(rng_state)  # validate now, not when resuming
    history = None if meta["history"] is None else History.from_dict(meta["history"])
    metadata = meta["metadata"]
    if not isinstance(metadata, dict):
        raise ValueError("metadata is not a JSON object")
    return Checkpoint(spec, params, optimizer, opt_state, rng_state, history, metadata)
