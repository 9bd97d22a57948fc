"""The JSON-lines conversation with a foreign program (see ``docs/foreign-protocol.md``):
start it, send one request per line, read one answer per line, decode arrays, and turn
every way it can go wrong (bad JSON, wrong shapes, NaN, a crash, a hang) into one
:class:`ForeignError` line; the process is always ended, killed if need be."""

from __future__ import annotations

import base64
import collections
import json
import queue
import shlex
import subprocess
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from funcnn.core.spec import MLP
from funcnn.errors import FuncnnError
from funcnn.typing import Array, Params

__all__ = ["PROTOCOL", "ForeignError", "ForeignProgram", "decode_array", "encode_array"]

PROTOCOL = "funcnn-foreign/1"
"""Value of ``protocol`` in the ``hello`` exchange."""

_WIRE = {"float64": "<f8", "float32": "<f4", "int32": "<i4"}


class ForeignError(FuncnnError):
    """The foreign program broke the protocol, crashed, hung or answered non-finite
    numbers; the message is one line that says which and where."""


def encode_array(array: Array, encoding: str) -> dict[str, Any]:
    """``{"shape", "dtype", "base64"}`` (little-endian bytes) or ``{"shape", "dtype",
    "data"}`` (a flat row-major JSON list)."""
    arr = np.asarray(array)
    dtype = "int32" if arr.dtype.kind in "iu" else str(arr.dtype)
    flat = np.ascontiguousarray(arr, dtype=_WIRE[dtype]).reshape(-1)
    if encoding == "base64":
        return {"shape": list(arr.shape), "dtype": dtype,
                "base64": base64.b64encode(flat.tobytes()).decode("ascii")}
    return {"shape": list(arr.shape), "dtype": dtype, "data": flat.tolist()}


def decode_array(value: Any, what: str, shape: tuple[int, ...]) -> Array:
    """A float64 array from either encoding (or a plain nested list), of ``shape``."""
    try:
        if isinstance(value, dict) and "base64" in value:
            dtype = _WIRE[str(value.get("dtype", "float64"))]
            arr = np.frombuffer(base64.b64decode(value["base64"], validate=True), dtype)
            arr = arr.reshape(value.get("shape", arr.shape))
        elif isinstance(value, dict):
            arr = np.asarray(value["data"], dtype=np.float64).reshape(value.get("shape", -1))
        else:
            arr = np.asarray(value, dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise ForeignError(f"{what}: not an array ({type(exc).__name__}: {exc})") from exc
    if arr.shape != shape:
        raise ForeignError(f"{what}: shape {tuple(arr.shape)}, expected {shape}")
    out = arr.astype(np.float64)
    if not np.all(np.isfinite(out)):
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(out))[0])
        raise ForeignError(f"{what}: not finite ({out[where]} at index {list(where)})")
    return out


class ForeignProgram:
    """A running foreign program; use as a context manager (it is killed on exit).

    ``command`` is a shell-style string (split with :func:`shlex.split`, not run by a
    shell) or an argument list; ``timeout`` the seconds allowed for each answer.
    """

    def __init__(self, command: str | Sequence[str], timeout: float = 60.0,
                 encoding: str = "base64") -> None:
        self.argv = shlex.split(command) if isinstance(command, str) else list(command)
        if not self.argv:
            raise ForeignError("command: empty, expected a program to run")
        self.name = " ".join(self.argv)
        self.timeout = float(timeout)
        self.encoding = encoding
        self.requests = 0
        try:
            self._proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            raise ForeignError(f"cannot start {self.name!r}: {exc}") from exc
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        self._stderr: collections.deque[str] = collections.deque(maxlen=5)
        self._pumps = [threading.Thread(target=self._pump, daemon=True),
                       threading.Thread(target=self._pump_stderr, daemon=True)]
        for pump in self._pumps:
            pump.start()

    def _pump(self) -> None:
        # Reads on its own thread so that a silent program cannot block the checker
        # past its timeout; ends at the end of the output (or when close() closes it).
        try:
            assert self._proc.stdout is not None
            for line in self._proc.stdout:
                self._lines.put(line)
        except (OSError, ValueError):
            pass
        self._lines.put(None)

    def _pump_stderr(self) -> None:
        try:
            assert self._proc.stderr is not None
            for line in self._proc.stderr:
                self._stderr.append(line.decode("utf-8", "replace").rstrip())
        except (OSError, ValueError):
            pass

    def __enter__(self) -> ForeignProgram:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close its stdin, give it a moment to exit, then kill it."""
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.close()
                self._proc.wait(timeout=1.0)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
        for pump in self._pumps:  # the pipes end with the process: let them drain
            pump.join(timeout=1.0)
        for stream in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()

    def _fail(self, what: str) -> ForeignError:
        self.close()
        status = self._proc.returncode
        tail = f" (stderr: {self._stderr[-1]})" if self._stderr else ""
        gone = f"exited with status {status}" if status is not None and status >= 0 else "died"
        return ForeignError(f"{self.name!r} {gone} {what}{tail}")

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send ``message`` (an ``id`` is added) and return the program's answer."""
        self.requests += 1
        op = message.get("op")
        payload = json.dumps({"id": self.requests, **message}).encode() + b"\n"
        writer = threading.Thread(target=self._write, args=(payload,), daemon=True)
        writer.start()
        try:
            line = self._lines.get(timeout=self.timeout)
        except queue.Empty:
            self._proc.kill()
            raise self._fail(f"after no answer to {op!r} within {self.timeout:g} s "
                             "(killed; see --timeout)") from None
        if line is None:
            self._proc.wait()
            raise self._fail(f"before answering {op!r}")
        try:
            answer = json.loads(line)
        except ValueError as exc:
            shown = line[:60].decode("utf-8", "replace").rstrip()
            raise ForeignError(f"answer to {op!r} is not JSON ({exc}): {shown!r}") from exc
        if not isinstance(answer, dict):
            raise ForeignError(
                f"answer to {op!r}: expected a JSON object, got {shown_type(answer)}")
        if "error" in answer:
            raise ForeignError(f"answer to {op!r}: the program reports: {answer['error']}")
        return answer

    def _write(self, payload: bytes) -> None:
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.write(payload)
            self._proc.stdin.flush()
        except (OSError, ValueError):
            pass  # it exited: the reader sees the end of its output and says so

    def _problem(self, spec: MLP, x: Array, y: Array, loss: str, dtype: str) -> dict[str, Any]:
        return {"spec": {"sizes": list(spec.sizes), "activations": list(spec.hidden_activations),
                         "loss": loss},
                "dtype": dtype, "x": encode_array(np.asarray(x, dtype=dtype), self.encoding),
                "y": encode_array(np.asarray(y) if np.asarray(y).dtype.kind in "iu"
                                  else np.asarray(y, dtype=dtype), self.encoding)}

    def _params(self, params: Params, dtype: str) -> list[dict[str, Any]]:
        return [{k: encode_array(np.asarray(layer[k], dtype=dtype), self.encoding)
                 for k in ("W", "b")} for layer in params]

    def value_and_grad(self, spec: MLP, params: Params, x: Array, y: Array, loss: str,
                       dtype: str) -> tuple[float, Params]:
        """The program's mean loss and gradient (float64 arrays, shapes checked)."""
        answer = self.request({"op": "value_and_grad", **self._problem(spec, x, y, loss, dtype),
                               "params": self._params(params, dtype)})
        value = _finite_number(answer.get("loss"), "answer to 'value_and_grad': loss")
        grads = answer.get("grads")
        if not isinstance(grads, list) or len(grads) != spec.n_layers:
            raise ForeignError(f"answer to 'value_and_grad': grads must be a list of "
                               f"{spec.n_layers} {{W, b}} objects, got {shown_type(grads)}")
        out = []
        for i, (layer, g) in enumerate(zip(params, grads, strict=True)):
            if not isinstance(g, dict):
                raise ForeignError(f"answer to 'value_and_grad': grads[{i}] must be an "
                                   f"object with W and b, got {shown_type(g)}")
            out.append({k: decode_array(g.get(k), f"answer to 'value_and_grad': "
                                        f"grads[{i}][{k!r}]", np.shape(layer[k]))
                        for k in ("W", "b")})
        return value, out

    def losses(self, spec: MLP, params_list: Sequence[Params], x: Array, y: Array, loss: str,
               dtype: str) -> Array:
        """The program's mean loss at each params of ``params_list``, in one message."""
        answer = self.request({"op": "loss", **self._problem(spec, x, y, loss, dtype),
                               "params_list": [self._params(p, dtype) for p in params_list]})
        return decode_array(answer.get("losses"), "answer to 'loss': losses",
                            (len(params_list),))


def shown_type(value: Any) -> str:
    """How a JSON value is named in an error message."""
    return "nothing" if value is None else type(value).__name__


def _finite_number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ForeignError(f"{what}: expected a number, got {shown_type(value)}")
    if not np.isfinite(value):
        raise ForeignError(f"{what}: not finite ({value})")
    return float(value)
