"""The JSON-lines conversation with a foreign program (see ``docs/foreign-protocol.md``):
start it, send one request per line, read one answer line per request (at most
``max_answer_bytes`` of it), and turn every way it can go wrong (a crash, a hang, an
exit before answering, a runaway line) into one :class:`ForeignError` line; the answers'
fields are checked by :mod:`verification.interchange.foreign_messages`. The process is always
ended, killed if need be."""

from __future__ import annotations

import base64
import collections
import contextlib
import json
import queue
import shlex
import signal
import subprocess
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from funcnn.core.losses import Loss
from funcnn.core.spec import MLP
from funcnn.typing import Array, Params
from verification.interchange.foreign_messages import (
    PROTOCOL,
    WIRE,
    ForeignError,
    check_losses,
    check_problem,
    check_value_and_grad,
    decode_array,
    one_line,
    parse_answer,
    shown_type,
)

__all__ = ["MAX_ANSWER_BYTES", "PROTOCOL", "ForeignError", "ForeignProgram", "decode_array",
           "encode_array", "shown_type"]

MAX_ANSWER_BYTES = 64 * 2**20
"""Default cap on one answer line (64 MiB): a 784-32-32-10 gradient is about 0.3 MB in
base64 and 0.7 MB as JSON lists, a million parameters about 11 and 25 MB. A longer line
is not read into memory: the program is stopped with an error naming the cap."""

STDERR_LINES = 3
"""How many of the program's last stderr lines a failure quotes (joined by `` | ``)."""

STDERR_CHARS = 300
"""At most this many characters of them (the end is kept)."""

_TOO_LONG = b""
"""Put in the line queue (an empty line never comes from readline) for a line past the cap."""


def encode_array(array: Array, encoding: str) -> dict[str, Any]:
    """``{"shape", "dtype", "base64"}`` (little-endian bytes) or ``{"shape", "dtype",
    "data"}`` (a flat row-major JSON list)."""
    arr = np.asarray(array)
    dtype = "int32" if arr.dtype.kind in "iu" else str(arr.dtype)
    flat = np.ascontiguousarray(arr, dtype=WIRE[dtype]).reshape(-1)
    if encoding == "base64":
        return {"shape": list(arr.shape), "dtype": dtype,
                "base64": base64.b64encode(flat.tobytes()).decode("ascii")}
    return {"shape": list(arr.shape), "dtype": dtype, "data": flat.tolist()}


class ForeignProgram:
    """A running foreign program; use as a context manager (it is killed on exit).

    ``command`` is a shell-style string (split with :func:`shlex.split`, not run by a
    shell) or an argument list; ``timeout`` the seconds allowed for each answer;
    ``max_answer_bytes`` the longest answer line read (its newline not counted).
    """

    def __init__(self, command: str | Sequence[str], timeout: float = 60.0,
                 encoding: str = "base64", max_answer_bytes: int = MAX_ANSWER_BYTES) -> None:
        self.argv = shlex.split(command) if isinstance(command, str) else list(command)
        if not self.argv:
            raise ForeignError("command: empty, expected a program to run")
        self.name = " ".join(self.argv)
        self.timeout = float(timeout)
        self.encoding = encoding
        self.max_answer_bytes = int(max_answer_bytes)
        self.requests = 0
        self.sent_bytes = 0
        """Bytes of requests written so far."""
        self.protocol = PROTOCOL
        """The version spoken, once ``hello`` is answered (see ``check_foreign``)."""
        self.evaluations = 0
        """Loss evaluations asked for so far (points of ``loss`` and ``moves`` messages,
        and each ``problem``)."""
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
        # A line is read up to the cap and no further, so that a runaway answer cannot
        # fill the memory; past the cap reading stops and the request says why.
        cap = self.max_answer_bytes
        try:
            assert self._proc.stdout is not None
            while line := self._proc.stdout.readline(cap + 1):
                if len(line) > cap and not line.endswith(b"\n"):
                    self._lines.put(_TOO_LONG)
                    return
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
            # stdin may still hold a request for a program that exited before reading
            # it (a bad flag, a crash at start-up): closing flushes it into a broken
            # pipe. That is no error of ours; the exit status says what happened.
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    stream.close()

    def _fail(self, what: str) -> ForeignError:
        self.close()
        status = self._proc.returncode
        # The last lines, not just the last one: a usage error often ends with a hint
        # ("Try --help") after the line that says what was wrong.
        said = " | ".join(line for line in list(self._stderr)[-STDERR_LINES:] if line.strip())
        if len(said) > STDERR_CHARS:
            said = "..." + said[-STDERR_CHARS:]
        said = one_line(said, STDERR_CHARS + 3)
        tail = f" (stderr: {said})" if said else ""
        return ForeignError(f"{self.name!r} {_ended(status)} {what}{tail}")

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send ``message`` (an ``id`` is added) and return the program's answer."""
        self.requests += 1
        op = message.get("op")
        payload = json.dumps({"id": self.requests, **message}).encode() + b"\n"
        self.sent_bytes += len(payload)
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
        if line is _TOO_LONG:
            self._proc.kill()
            self.close()
            raise ForeignError(f"answer to {op!r} is longer than {self.max_answer_bytes:,} "
                               "bytes (not read further; see --max-answer-bytes)")
        return parse_answer(line, str(op), self.requests)

    def _write(self, payload: bytes) -> None:
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.write(payload)
            self._proc.stdin.flush()
        except (OSError, ValueError):
            pass  # it exited: the reader sees the end of its output and says so

    def _problem(self, spec: MLP, x: Array, y: Array, loss: str | Loss, dtype: str
                 ) -> dict[str, Any]:
        return {"spec": {"sizes": list(spec.sizes), "activations": list(spec.hidden_activations),
                         "loss": loss if isinstance(loss, str) else loss.name},
                "dtype": dtype, "x": encode_array(np.asarray(x, dtype=dtype), self.encoding),
                "y": encode_array(np.asarray(y) if np.asarray(y).dtype.kind in "iu"
                                  else np.asarray(y, dtype=dtype), self.encoding)}

    def _params(self, params: Params, dtype: str) -> list[dict[str, Any]]:
        return [{k: encode_array(np.asarray(layer[k], dtype=dtype), self.encoding)
                 for k in ("W", "b")} for layer in params]

    def value_and_grad(self, spec: MLP, params: Params, x: Array, y: Array, loss: str | Loss,
                       dtype: str) -> tuple[float, Params]:
        """The program's mean loss and gradient (float64 arrays, shapes checked)."""
        answer = self.request({"op": "value_and_grad", **self._problem(spec, x, y, loss, dtype),
                               "params": self._params(params, dtype)})
        shapes = [{k: tuple(np.shape(layer[k])) for k in ("W", "b")} for layer in params]
        value, grads = check_value_and_grad(answer, shapes)
        return value, list(grads)

    def losses(self, spec: MLP, params_list: Sequence[Params], x: Array, y: Array, loss: str | Loss,
               dtype: str) -> Array:
        """The program's mean loss at each params of ``params_list``, in one message."""
        self.evaluations += len(params_list)
        answer = self.request({"op": "loss", **self._problem(spec, x, y, loss, dtype),
                               "params_list": [self._params(p, dtype) for p in params_list]})
        return check_losses(answer, len(params_list))

    def set_problem(self, spec: MLP, params: Params, x: Array, y: Array, loss: str | Loss,
                    dtype: str) -> float:
        """Version 2: the program keeps ``spec``, ``x``, ``y`` and ``params`` (in
        ``dtype``) for the ``moves`` that follow, and answers its loss at ``params``."""
        self.evaluations += 1
        answer = self.request({"op": "problem", **self._problem(spec, x, y, loss, dtype),
                               "params": self._params(params, dtype)})
        return check_problem(answer)

    def moves(self, offsets: Array, index: Array, value: Array, which: Array, step: Array
              ) -> Array:
        """Version 2: the kept problem's loss at ``params + step[p] * d[which[p]]`` for
        every point ``p``, where the directions ``d`` are the rows of a sparse matrix
        (row ``r``: ``value[offsets[r]:offsets[r + 1]]`` at the flat positions
        ``index[offsets[r]:offsets[r + 1]]``, in ``funcnn.ravel`` order)."""
        self.evaluations += len(which)
        answer = self.request({"op": "moves", "directions": {
            "offsets": encode_array(np.asarray(offsets, dtype=np.int32), self.encoding),
            "index": encode_array(np.asarray(index, dtype=np.int32), self.encoding),
            "value": encode_array(np.asarray(value, dtype=np.float64), self.encoding)},
            "which": encode_array(np.asarray(which, dtype=np.int32), self.encoding),
            "step": encode_array(np.asarray(step, dtype=np.float64), self.encoding)})
        return check_losses(answer, len(which), "moves")


def _ended(status: int | None) -> str:
    """How the program ended, from its return code (negative: the signal's number)."""
    if status is not None and status >= 0:
        return f"exited with status {status}"
    try:
        return f"died of {signal.Signals(-status).name}" if status is not None else "died"
    except ValueError:
        return "died"
