"""Check an MLP implemented in another program (any language) through the JSON-lines
protocol of :mod:`verification.interchange.foreign_protocol`.

For each problem (a row of the catalogue's network matrix that the program supports):

- conformance against funcnn (:func:`verification.external.conformance.check_conformance`):
  the foreign loss and every gradient tensor against funcnn's, within both sides'
  rounding bounds, and the foreign gradient against finite differences of funcnn's loss;
- the foreign gradient against finite differences of the foreign program's *own* loss
  (:func:`verification.engine.gradients.check_gradients` with the per-entry error model), so a
  loss and gradient that disagree with each other are caught even where both differ
  from funcnn; the perturbed points go out in one ``loss`` message per scipy iteration;
- when a row fails and ``verification.external.diagnosis`` is installed, its root-cause
  diagnosis (``diagnose_mlp`` on the foreign backprop), as text in
  ``report.meta["diagnosis"]``, by problem.

Command line: ``funcnn-verify --foreign "CMD ARGS" [--timeout S] [--quick] [--only PAT]``.
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from funcnn.core.activations import get_activation
from funcnn.core.pytree import ravel
from funcnn.core.spec import MLP
from funcnn.errors import ArgumentTypeError, FuncnnError, InvalidArgumentError
from funcnn.typing import Array, FloatArray, Params
from verification.catalogue.suite import DTYPES, network_case, network_matrix
from verification.engine.bounds.error_model import gradient_error_bound
from verification.engine.common.arguments import check_nonnegative_number, check_seed
from verification.engine.common.layout import kink_side
from verification.engine.common.reference import dense_targets, loss_kink_side
from verification.engine.evaluators.perturbed import NetworkLoss
from verification.engine.gradients import check_gradients
from verification.external.conformance import check_conformance
from verification.interchange.foreign_protocol import PROTOCOL, ForeignError, ForeignProgram
from verification.reporting.report import Report

__all__ = ["FULL_LIMIT", "ForeignError", "check_foreign", "foreign_problems"]

FULL_LIMIT = 2_000
"""Up to this many parameters the foreign loss is differentiated per coordinate
(full mode); above, along random directions (each scipy iteration is one message)."""

Problem = tuple[str, str, str, str]


def foreign_problems(
    supported: dict[str, Any], quick: bool = False, only: Iterable[str] = ()
) -> list[Problem]:
    """(arch, activation, loss, dtype) the program declared it supports: every XOR row
    of the network matrix and 784-32-32-10 with sigmoid and cross-entropy (``quick``:
    one XOR row per activation); every 784-32-32-10 row without ``quick``."""
    acts = set(supported.get("activations") or ["identity", "leaky_relu", "relu", "sigmoid",
                                                  "softplus", "tanh"])
    losses = set(supported.get("losses") or [m[2] for m in network_matrix()])
    dtypes = [str(np.dtype(d)) for d in DTYPES if str(np.dtype(d)) in
              set(supported.get("dtypes") or ["float64", "float32"])]
    rows = [r for r in network_matrix() if r[0].startswith("2-3-")]
    if quick:
        firsts: dict[str, tuple[str, str, str]] = {}
        for row in rows:
            if row[1] in acts and row[2] in losses:
                firsts.setdefault(row[1], row)
        rows = list(firsts.values())
    mid = [r for r in network_matrix() if r[0] == "784-32-32-10"]
    rows += [r for r in mid if not quick or r[1:] == ("sigmoid", "softmax_cross_entropy")]
    chosen = [(*r, d) for d in dtypes for r in rows if r[1] in acts and r[2] in losses]
    pats = list(only)
    return [p for p in chosen if not pats or any(
        fnmatch.fnmatchcase("/".join(p), pat) or pat in "/".join(p) for pat in pats)]


def _kink_pattern(spec: MLP, x: Array, y: Array, loss: str
                  ) -> Callable[[Params], Array] | None:
    """Which side of its kinks every pre-activation of a kinked activation (relu, leaky
    relu) is on, and every output of a kinked loss (one that declares ``kinks``, e.g.
    Huber), from funcnn's float64 forward pass: where it changes between two perturbed
    points, the foreign loss has a kink there and the engine resolves it."""
    kinks = [get_activation(a).kinks for a in spec.hidden_activations]
    kinked = [i for i, k in enumerate(kinks) if k]
    loss_side = loss_kink_side(loss)
    if not kinked and loss_side is None:
        return None

    def pattern(p: Params) -> Array:
        evaluator = NetworkLoss(spec, p, x, y, loss)
        pre = evaluator.forward_pass[1]
        parts = [kink_side(pre[i], kinks[i]).reshape(-1) for i in kinked]
        if loss_side is not None:
            t = dense_targets(y, pre[-1].shape[0], spec.n_out)
            parts.append(np.asarray(loss_side(pre[-1], t)).reshape(-1))
        return np.concatenate(parts)
    return pattern


def _diagnosis(program: ForeignProgram, spec: MLP, params: Params, x: Array, loss: str,
               dtype: str, seed: int) -> str | None:
    """The root-cause diagnosis (``verification.external.diagnosis.diagnose_mlp``) of the foreign
    backprop, as text; None where that module is not installed."""
    try:
        module = importlib.import_module("verification.external.diagnosis")
    except ModuleNotFoundError as exc:
        if exc.name != "verification.external.diagnosis":
            raise  # installed but broken: that must not pass for "not installed"
        return None

    def value_and_grad(p: Params, xx: Array, yy: Array) -> tuple[float, Params]:
        return program.value_and_grad(spec, p, xx, yy, loss, dtype)

    try:
        return str(module.diagnose_mlp(spec, value_and_grad, loss, params=params, x=x,
                                       seed=seed, name=program.name))
    except ForeignError:
        raise
    except FuncnnError as exc:  # a problem the diagnosis does not cover: say so, go on
        return f"no diagnosis: {exc}"


def _check_problem(program: ForeignProgram, problem: Problem, seed: int, fd_dtype: str
                   ) -> Report:
    """Conformance, then the foreign gradient against finite differences of the foreign
    loss evaluated in ``fd_dtype`` (float64 unless the program only does float32)."""
    arch, act, loss, dtype = problem
    spec, params, x, y, _ = network_case(arch, act, loss, np.dtype(dtype), seed)
    name = f"foreign/{arch}/{act}/{loss}/{dtype}"

    def other(p: Params, xx: Array, yy: Array) -> tuple[float, Params]:
        value, grads = program.value_and_grad(spec, p, xx, yy, loss, dtype)
        return value, [{k: g.astype(dtype) for k, g in layer.items()} for layer in grads]

    flat64, unravel = ravel([{k: v.astype(np.float64) for k, v in layer.items()}
                             for layer in params])
    mode = "full" if flat64.size <= FULL_LIMIT else "directional"
    conformance = check_conformance(other, spec, params, x, y, loss, name=name, seed=seed,
                                    other_name="foreign", mode=mode)
    x64 = np.asarray(x, dtype=np.float64)
    y64 = y if np.asarray(y).dtype.kind in "iu" else np.asarray(y, dtype=np.float64)

    def batched(thetas: FloatArray) -> FloatArray:
        return program.losses(spec, [unravel(t) for t in thetas], x64, y64, loss, fd_dtype)

    own = check_gradients(
        lambda p: float(program.losses(spec, [p], x64, y64, loss, fd_dtype)[0]),
        lambda p: other(p, x, y)[1], params, mode=mode,
        seed=seed, name=f"{name}: foreign grads vs foreign loss", batched_loss=batched,
        pattern_fn=_kink_pattern(spec, x64, y64, loss),
        error_bound=gradient_error_bound(spec, params, x, y, loss, dtype),
    )
    report = Report.combine([conformance, own], {})
    if not report.passed:
        diagnosis = _diagnosis(program, spec, params, x, loss, dtype, seed)
        if diagnosis is not None:
            report = Report(report.rows, {**report.meta, "diagnosis": {name: diagnosis}})
    return report


def _check_arguments(command: Any, timeout: Any, encoding: Any) -> None:
    parts = [command] if isinstance(command, str) else command
    if not isinstance(parts, Sequence) or not all(isinstance(p, str) for p in parts):
        raise ArgumentTypeError(f"command: expected a str or a sequence of str, got "
                                f"{type(command).__name__}")
    if not any(p.strip() for p in parts):
        raise InvalidArgumentError("command: empty, expected a program to run")
    if check_nonnegative_number("timeout", timeout) == 0:
        raise InvalidArgumentError("timeout: 0, expected seconds > 0")
    if encoding not in ("base64", "list"):
        raise InvalidArgumentError(f"encoding: {encoding!r}, expected 'base64' or 'list'")


def check_foreign(
    command: str | Sequence[str],
    *,
    seed: int = 0,
    timeout: float = 60.0,
    quick: bool = False,
    only: Iterable[str] = (),
    encoding: str = "base64",
) -> Report:
    """Run ``command`` and check its MLP on every supported problem; one report.

    ``command``: a shell-style string (split, not run by a shell) or an argument list;
    ``only``: patterns (shell wildcards or substrings) on ``arch/activation/loss/dtype``;
    ``encoding``: how arrays are sent, ``"base64"`` or ``"list"``. Raises
    :class:`ForeignError` (one line) when the program breaks the protocol, crashes, hangs
    past ``timeout`` seconds per answer, or answers non-finite numbers; the program is
    ended in every case.
    """
    _check_arguments(command, timeout, encoding)
    seed = check_seed(seed)
    with ForeignProgram(command, timeout, encoding) as program:
        hello = program.request({"op": "hello", "protocol": PROTOCOL})
        if hello.get("protocol", PROTOCOL) != PROTOCOL:
            raise ForeignError(f"answer to 'hello': protocol {hello.get('protocol')!r}, "
                               f"expected {PROTOCOL!r}")
        problems = foreign_problems(hello, quick, only)
        if not problems:
            raise ForeignError(f"no problem matches what {program.name!r} supports "
                               f"({hello}) and --only {list(only)}")
        declared = hello.get("dtypes") or ["float64"]
        fd_dtype = "float64" if "float64" in declared else "float32"
        reports = [_check_problem(program, problem, seed, fd_dtype) for problem in problems]
        diagnoses = {k: v for r in reports for k, v in r.meta.get("diagnosis", {}).items()}
        return Report.combine(reports, {"foreign": program.name, "problems": len(problems),
                                        "messages": program.requests,
                                        **({"diagnosis": diagnoses} if diagnoses else {})})
