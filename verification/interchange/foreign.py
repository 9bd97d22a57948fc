"""Check an MLP implemented in another program (any language) through the JSON-lines
protocol of :mod:`verification.interchange.foreign_protocol`.

For each problem (a row of the catalogue's network matrix that the program supports, or
of the small non-square network: :mod:`verification.interchange.foreign_problems`):

- conformance against funcnn (:func:`verification.external.conformance.check_conformance`):
  the foreign loss and every gradient tensor against funcnn's, within both sides'
  rounding bounds, and the foreign gradient against finite differences of funcnn's loss;
- the foreign gradient against finite differences of the foreign program's *own* loss
  (:func:`verification.engine.gradients.check_gradients` with the per-entry error model), so a
  loss and gradient that disagree with each other are caught even where both differ
  from funcnn. With protocol version 2 the program keeps the problem and is sent only
  the moves (:mod:`verification.interchange.foreign_loss`); a version-1 program gets
  every perturbed point as a whole parameter set in a ``loss`` message;
- when a row fails and ``verification.external.diagnosis`` is installed, its root-cause
  diagnosis (``diagnose_mlp`` on the foreign backprop), as text in
  ``report.meta["diagnosis"]``, by problem.

Command line: ``funcnn-verify --foreign "CMD ARGS" [--timeout S] [--quick] [--only PAT]
[--quiet]`` (progress on stderr unless ``--quiet``).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any, TextIO

import numpy as np

from funcnn.core.activations import get_activation
from funcnn.core.losses import LOSSES, Loss
from funcnn.core.pytree import ravel
from funcnn.core.spec import MLP
from funcnn.errors import ArgumentTypeError, FuncnnError, InvalidArgumentError
from funcnn.typing import Array, FloatArray, Params
from verification.engine.bounds.error_model import gradient_error_bound
from verification.engine.bounds.settings import Settings
from verification.engine.bounds.tolerances import EPS64, ORDER, STEP_UNIT, eps_of
from verification.engine.common.arguments import (
    check_extra_losses,
    check_nonnegative_number,
    check_seed,
)
from verification.engine.common.layout import kink_side
from verification.engine.common.reference import dense_targets, loss_kink_side
from verification.engine.evaluators.perturbed import NetworkLoss
from verification.engine.gradients import check_gradients
from verification.external.conformance import check_conformance
from verification.external.heads import head
from verification.interchange.foreign_loss import Progress, foreign_evaluator
from verification.interchange.foreign_messages import (
    PROTOCOL,
    PROTOCOL_V1,
    PROTOCOLS,
    check_heads,
    check_hello,
    one_line,
    spoken_protocol,
)
from verification.interchange.foreign_problems import Problem, foreign_problems, problem_case
from verification.interchange.foreign_protocol import (
    MAX_ANSWER_BYTES,
    ForeignError,
    ForeignProgram,
)
from verification.reporting.report import Report

__all__ = ["FULL_LIMIT", "ForeignError", "check_foreign", "foreign_problems"]

FULL_LIMIT = 2_000
"""Up to this many parameters the foreign loss is differentiated per coordinate
(full mode); above, along random directions (each scipy iteration is one message)."""

BLACK_BOX_LEAF = 64
"""A tensor whose directional probe fails is bisected down to this many entries before
they are checked one by one (funcnn's own checks stop at 512): every point costs the
program a forward pass, and the bisection names the worst entry all the same."""



def _kink_pattern(spec: MLP, x: Array, y: Array, loss: str | Loss
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


def loss_precision(spec: MLP, params: Params, x: Array, y: Array, loss: str | Loss,
                   dtype: str) -> tuple[float, Settings]:
    """The ``noise_scale`` and numerical settings for finite differences of a loss that
    is computed in ``dtype``.

    The engine models one evaluation's rounding as ``4 eps64 noise_scale``; a loss
    computed in ``dtype`` rounds ``eps(dtype) / eps64`` times as much, relative to
    what :func:`verification.engine.common.reference.noise_scale` says it scales with. The first
    step is scaled by ``(eps(dtype) / eps64)^(1/5)`` (the order-4 optimum moves with
    the rounding), and the three-point screen, tuned to float64 noise, is skipped.
    """
    ratio = eps_of(dtype) / EPS64
    scale = NetworkLoss(spec, params, x, y, loss).noise_scale * ratio
    if ratio == 1.0:
        return scale, Settings()
    return scale, Settings(step_unit=STEP_UNIT * ratio ** (1 / (ORDER + 1)), screen=False)


def _diagnosis(program: ForeignProgram, spec: MLP, params: Params, x: Array,
               loss: str | Loss, dtype: str, seed: int) -> str | None:
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


def _check_problem(program: ForeignProgram, problem: Problem, seed: int, fd_dtype: str,
                   progress: Progress | None, extra: dict[str, Loss] | None = None) -> Report:
    """Conformance, then the foreign gradient against finite differences of the foreign
    loss evaluated in ``fd_dtype`` (float64 unless the program only does float32);
    ``extra``: the losses outside funcnn's registry, by name."""
    arch, act, loss_name, dtype = problem
    loss: str | Loss = (extra or {}).get(loss_name, loss_name)
    spec, params, x, y = problem_case(arch, act, loss, np.dtype(dtype), seed)
    name = f"foreign/{arch}/{act}/{loss_name}/{dtype}"

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
        losses = program.losses(spec, [unravel(t) for t in thetas], x64, y64, loss, fd_dtype)
        if progress is not None:
            progress.tick(program)
        return losses

    noise, settings = loss_precision(spec, unravel(flat64), x64, y64, loss, fd_dtype)
    # Where conformance failed, its rows have already located the fault, in-process:
    # the foreign gradient's failing tensors bisected against funcnn's finite
    # differences, or the loss value that differs from funcnn's. Bisecting this second
    # look would cost the program a forward pass per point and add nothing.
    settings = replace(settings, recheck_limit=BLACK_BOX_LEAF, bisect_leaf=BLACK_BOX_LEAF,
                       localise=conformance.passed)
    v2 = program.protocol == PROTOCOL
    own = check_gradients(
        lambda p: float(program.losses(spec, [p], x64, y64, loss, fd_dtype)[0]),
        lambda p: other(p, x, y)[1], params, mode=mode,
        seed=seed, name=f"{name}: foreign grads vs foreign loss", batched_loss=batched,
        pattern_fn=_kink_pattern(spec, x64, y64, loss),
        error_bound=gradient_error_bound(spec, params, x, y, loss, dtype),
        noise_scale=noise, settings=settings,
        evaluator=foreign_evaluator(program, spec, x64, y64, loss, fd_dtype, noise, progress)
        if v2 else None,
    )
    report = Report.combine([conformance, own], {})
    if not report.passed:
        diagnosis = _diagnosis(program, spec, params, x, loss, dtype, seed)
        if diagnosis is not None:
            report = Report(report.rows, {**report.meta, "diagnosis": {name: diagnosis}})
    return report


def _check_arguments(command: Any, timeout: Any, encoding: Any, max_answer_bytes: Any
                     ) -> None:
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
    if isinstance(max_answer_bytes, bool) or not isinstance(max_answer_bytes, int):
        raise ArgumentTypeError(f"max_answer_bytes: expected an int, got "
                                f"{type(max_answer_bytes).__name__}")
    if max_answer_bytes < 1:
        raise InvalidArgumentError(f"max_answer_bytes: {max_answer_bytes}, expected >= 1")


def check_foreign(
    command: str | Sequence[str],
    *,
    seed: int = 0,
    timeout: float = 60.0,
    quick: bool = False,
    only: Iterable[str] = (),
    encoding: str = "base64",
    max_answer_bytes: int = MAX_ANSWER_BYTES,
    progress: TextIO | None = None,
    losses: Sequence[Loss] = (),
) -> Report:
    """Run ``command`` and check its MLP on every supported problem; one report.

    ``command``: a shell-style string (split, not run by a shell) or an argument list;
    ``only``: patterns (shell wildcards or substrings) on ``arch/activation/loss/dtype``;
    ``losses``: losses beyond funcnn's registry (any :class:`funcnn.Loss`, e.g. a head of
    :func:`verification.external.heads.head`), each checked on the rows a registry loss
    gets and sent to the program by its name, as are the heads its ``hello`` declares;
    ``encoding``: how arrays are sent, ``"base64"`` or ``"list"``;
    ``max_answer_bytes``: the longest answer line read; ``progress``: a stream for
    progress lines (the command line passes stderr), ``None`` for none. Raises
    :class:`ForeignError` (one line) when the program breaks the protocol, crashes, hangs
    past ``timeout`` seconds per answer, or answers non-finite numbers; the program is
    ended in every case. For example, a program that exits before the conversation
    starts is named with its exit status:

        >>> import sys
        >>> try:
        ...     check_foreign([sys.executable, "-c", "raise SystemExit(3)"])
        ... except ForeignError as error:
        ...     print(str(error).split(" exited ")[1])
        with status 3 before answering 'hello'
    """
    _check_arguments(command, timeout, encoding, max_answer_bytes)
    given = check_extra_losses(losses)
    seed = check_seed(seed)
    with ForeignProgram(command, timeout, encoding, max_answer_bytes) as program:
        hello = program.request({"op": "hello", "protocol": PROTOCOL,
                                 "protocols": list(PROTOCOLS)})
        extra = {**given, **{name: head(**fields, name=name) for name, fields in
                             check_heads(hello, [*LOSSES, *given]).items()}}
        problems = foreign_problems(hello, quick, only, list(extra.values()))
        declared = check_hello(hello)
        program.protocol = spoken_protocol(hello)
        if not problems:
            shown = one_line(", ".join(f"{k} {v}" for k, v in declared.items()
                                       if v is not None) or "everything", 200)
            raise ForeignError(f"no problem matches what {program.name!r} supports "
                               f"({shown}) and --only {list(only)}")
        fd_dtype = "float64" if "float64" in (declared["dtypes"] or ["float64"]) else "float32"
        reports = _check_problems(program, problems, seed, fd_dtype, Progress(progress), extra)
        diagnoses = {k: v for r in reports for k, v in r.meta.get("diagnosis", {}).items()}
        return Report.combine(reports, {"foreign": program.name, "problems": len(problems),
                                        "protocol": program.protocol,
                                        "messages": program.requests,
                                        "evaluations": program.evaluations,
                                        "bytes_sent": program.sent_bytes,
                                        **({"diagnosis": diagnoses} if diagnoses else {})})


def _check_problems(program: ForeignProgram, problems: Sequence[Problem], seed: int,
                    fd_dtype: str, progress: Progress, extra: dict[str, Loss]) -> list[Report]:
    """Every problem in turn, with a progress line as each one starts and ends."""
    if program.protocol == PROTOCOL_V1:
        progress.say(f"{program.name!r} speaks {PROTOCOL_V1}: every perturbed point is sent "
                     f"with x and all the parameters; a program that answers {PROTOCOL!r} "
                     "is sent them once per problem (see docs/foreign-protocol.md)")
    reports = []
    for number, problem in enumerate(problems, 1):
        name = "foreign/" + "/".join(problem)
        progress.begin(name)
        progress.say(f"[{number}/{len(problems)}] {name} ...")
        start, asked, sent = time.perf_counter(), program.evaluations, program.requests
        report = _check_problem(program, problem, seed, fd_dtype, progress, extra)
        reports.append(report)
        progress.say(f"[{number}/{len(problems)}] {name}: "
                     f"{'pass' if report.passed else 'FAIL'}, "
                     f"{time.perf_counter() - start:.1f} s, "
                     f"{program.requests - sent:,} messages, "
                     f"{program.evaluations - asked:,} loss evaluations")
    return reports
