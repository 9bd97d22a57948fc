"""Scenario D: the verification suite against ``torch.autograd.gradcheck``.

The problem is fixed: the 784-32-32-10 sigmoid network (26,506 parameters,
``inverse_max_fan_normal`` init, seed 0), 32 MNIST test samples (random inputs when the
data is absent), float64, fused softmax cross-entropy. Measured, each as the median of
``--reps`` (>= 5) repetitions after one first call that is reported on its own:

- ``verification.check_network(..., mode="full")``: every parameter, scipy derivatives
  with an error estimate per entry;
- ``check_network(..., mode="directional")``, warm: 3 unit directions per tensor;
- ``verification.check_gradients(loss_fn, grad_fn, params, mode="full")`` with the network
  given as a black box (``funcnn.loss`` and ``funcnn.value_and_grad`` as plain
  functions): one loss call per perturbed point, timed in turns with torch's full
  gradcheck (issue 14: no slower than it);
- ``torch.autograd.gradcheck`` on the same loss (``fast_mode=False`` and ``True``, first
  call and warm), when torch is installed; ``jax.test_util.check_grads`` when jax is.

Rounds during which other processes used more than 10% of the CPUs are redone
(:class:`benchmarks.harness.Quiet`; ``--no-quiet`` keeps them). Run
``python -m benchmarks.bench_verification [--reps N] [--json PATH] [--quick]``;
``python -m benchmarks`` imports :func:`run` for its section D.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import funcnn as fn
from benchmarks.harness import Quiet, Row, format_value, interleaved_times, progress
from benchmarks.verification_rows import (
    Times,
    jax_rows,
    make_row,
    our_rows,
    torch_fast_rows,
    torch_full_rows,
)
from verification.catalogue.data import sample_batch
from verification.engine.gradients import check_gradients
from verification.engine.network_check import check_network

__all__ = ["main", "problem", "run"]

SIZES = (784, 32, 32, 10)
BATCH = 32


def problem(seed: int = 0) -> tuple[fn.MLP, fn.Params, Any, Any, str]:
    """``(spec, params, x, y, source)`` of scenario D."""
    rng = np.random.default_rng(seed)
    spec = fn.MLP(SIZES, "sigmoid")
    params = fn.init(spec, rng, "inverse_max_fan_normal", dtype=np.float64)
    x, y, source = sample_batch(spec.n_in, spec.n_out, BATCH, rng)
    return spec, params, x, y, source


def _first(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def _timed(
    calls: dict[str, Callable[[], Any]], reps: int, quiet: Quiet | None
) -> dict[str, list[float]]:
    """Warm times of every call, taking turns within each repetition (so that a change of
    load on a shared machine affects all of them alike); rounds disturbed by other
    processes are redone when ``quiet`` is given. No warm-up: the first calls were made
    and timed before."""
    cases = {name: (lambda _, call=call: call()) for name, call in calls.items()}
    return interleaved_times(cases, reps, warmup=0, quiet=quiet)


def _torch_checks(
    params: fn.Params, x: Any, y: Any, threads: int
) -> tuple[dict[str, Callable[[], Any]], str]:
    """``{"full": ..., "fast": ...}`` gradcheck calls on the same loss, or a note why not."""
    try:
        # Imported by name: the peers are optional and untyped.
        torch = importlib.import_module("torch")
    except ImportError:
        return {}, "torch not installed"
    torch.set_num_threads(threads)
    tensors = []
    for layer in params:
        tensors += [
            torch.tensor(layer["W"], dtype=torch.float64, requires_grad=True),
            torch.tensor(layer["b"], dtype=torch.float64, requires_grad=True),
        ]
    xt = torch.tensor(x, dtype=torch.float64)
    yt = torch.tensor(np.asarray(y), dtype=torch.int64)

    def loss(*ps: Any) -> Any:
        a = xt
        for index in range(0, len(ps), 2):
            a = a @ ps[index] + ps[index + 1]
            if index + 2 < len(ps):
                a = torch.sigmoid(a)
        return torch.nn.functional.cross_entropy(a, yt)

    def gradcheck(fast: bool) -> Callable[[], Any]:
        return lambda: torch.autograd.gradcheck(loss, tuple(tensors), fast_mode=fast)

    # Fast mode first: the first gradcheck of the process pays torch's one-time set-up,
    # and it is the fast mode's first call that matters to a user (the full mode takes
    # seconds either way).
    return {"fast": gradcheck(True), "full": gradcheck(False)}, (
        f"torch {torch.__version__}, {threads} thread(s)"
    )


def _jax_check(params: fn.Params, x: Any, y: Any) -> tuple[Callable[[], Any] | None, str]:
    """``jax.test_util.check_grads`` on the same loss (float64), or a note why not."""
    try:
        jax = importlib.import_module("jax")
        check_grads = importlib.import_module("jax.test_util").check_grads
    except ImportError:
        return None, "jax not installed"
    # float64, as for the others; run() restores the previous setting afterwards.
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    xj = jnp.asarray(x, dtype=jnp.float64)
    yj = jnp.asarray(np.asarray(y))
    ps = tuple(jnp.asarray(layer[k], dtype=jnp.float64) for layer in params for k in ("W", "b"))

    def loss(*weights: Any) -> Any:
        a = xj
        for index in range(0, len(weights), 2):
            a = a @ weights[index] + weights[index + 1]
            if index + 2 < len(weights):
                a = jax.nn.sigmoid(a)
        logp = jax.nn.log_softmax(a)
        return -jnp.mean(jnp.take_along_axis(logp, yj[:, None], axis=1))

    def run_check() -> None:
        check_grads(loss, ps, order=1, modes=("rev",))

    return run_check, f"jax {jax.__version__}, reverse mode, order 1, not jitted"


def run(
    quick: bool = False,
    reps: int = 5,
    torch_threads: int = 2,
    quiet: Quiet | None = None,
) -> list[Row]:
    """Scenario D's rows: every time the median of ``reps`` (>= 5) warm repetitions.

    With ``quick`` (a smoke run) torch's full-mode gradcheck is called once only (its
    first call; a warm call takes seconds) and the repetitions are cut to 3.
    """
    reps = 3 if quick else max(5, reps)
    case = problem()
    torch_calls, torch_note = _torch_checks(case[1], case[2], case[3], torch_threads)
    jax_module = _optional_jax()
    x64 = None if jax_module is None else bool(jax_module.config.jax_enable_x64)
    try:
        return _measure(case, torch_calls, torch_note, reps, quick, quiet)
    finally:  # the jax check switches float64 on for this process: switch it back
        if jax_module is not None and x64 is not None:
            jax_module.config.update("jax_enable_x64", x64)


def _optional_jax() -> Any:
    try:
        return importlib.import_module("jax")
    except ImportError:
        return None


def _measure(
    case: tuple[fn.MLP, fn.Params, Any, Any, str],
    torch_calls: dict[str, Callable[[], Any]],
    torch_note: str,
    reps: int,
    quick: bool,
    quiet: Quiet | None,
) -> list[Row]:
    spec, params, x, y, source = case
    checks = _our_checks(case)
    ours = _time_ours(checks, reps, quiet)
    progress("D: torch and jax, first calls and warm repetitions")
    torch_first, torch_warm = _time_torch(checks["blackbox"], torch_calls, reps, quick, quiet)
    jax_call, jax_note = _jax_check(params, x, y)
    jax_first: dict[str, float] = {}
    jax_warm: dict[str, list[float]] = {}
    if jax_call is not None:
        jax_first["jax"] = _first(jax_call)[0]
        jax_warm["jax"] = _timed({"jax": jax_call}, 4 * reps, quiet)["jax"]
    times = Times(
        {**ours.first, **torch_first, **jax_first},
        {**ours.warm, **torch_warm, **jax_warm},
        ours.worst_est,
    )
    rows = our_rows(times, spec, source, reps)
    if torch_calls:
        rows += torch_full_rows(times, torch_note, reps) + torch_fast_rows(times, torch_note)
    else:
        rows.append(make_row("torch", "torch.autograd.gradcheck", None, note=torch_note))
    if jax_call is not None:
        rows += jax_rows(times, jax_note)
    else:
        rows.append(make_row("jax", "jax.test_util.check_grads", None, note=jax_note))
    return rows


def _our_checks(case: tuple[fn.MLP, fn.Params, Any, Any, str]) -> dict[str, Callable[[], Any]]:
    """The three checks of ours that are timed: ``full``, ``directional`` and ``blackbox``."""
    spec, params, x, y, _ = case

    def full() -> Any:
        return check_network(spec, params, x, y, mode="full")

    def directional() -> Any:
        return check_network(spec, params, x, y, mode="directional")

    def blackbox() -> Any:
        return check_gradients(
            lambda p: fn.loss(spec, p, x, y),
            lambda p: fn.value_and_grad(spec, p, x, y)[1],
            params,
            mode="full",
        )

    return {"full": full, "directional": directional, "blackbox": blackbox}


def _first_passing(what: str, check: Callable[[], Any]) -> tuple[float, Any]:
    """The time and report of ``check``'s first call; a failed report stops the benchmark."""
    seconds, report = _first(check)
    if not report.passed:
        raise RuntimeError(f"the {what} check failed on correct code:\n" + report.table())
    return seconds, report


def _time_ours(checks: dict[str, Callable[[], Any]], reps: int, quiet: Quiet | None) -> Times:
    """First calls and warm repetitions of our checks (the black box: its first call)."""
    # Ours first, before any peer runs: torch's OpenMP threads and XLA's pool keep
    # spinning after a call (the directional check right after a torch fast-mode call took
    # 15.5 ms instead of 9.5 ms, measured), so a peer's call must not precede ours.
    progress("D: verification, first calls and warm repetitions")
    first_full, report = _first_passing("full", checks["full"])
    worst_est = max(row.error_estimate for row in report.rows[1:])
    first_dir, _ = _first_passing("directional", checks["directional"])
    full = _timed({"ours": checks["full"]}, reps, quiet)["ours"]
    directional = _timed({"ours": checks["directional"]}, 4 * reps, quiet)["ours"]
    progress("D: black-box full mode, first call")
    first_box, _ = _first_passing("black-box full", checks["blackbox"])
    return Times(
        {"full": first_full, "directional": first_dir, "blackbox": first_box},
        {"full": full, "directional": directional, "blackbox": [first_box]},
        worst_est,
    )


def _time_torch(
    blackbox: Callable[[], Any],
    torch_calls: dict[str, Callable[[], Any]],
    reps: int,
    quick: bool,
    quiet: Quiet | None,
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """torch's first calls and warm repetitions (``first``, ``warm`` of :class:`Times`);
    the full mode in turns with our black-box check, which it replaces in ``warm``."""
    first = {f"torch.{name}": _first(call)[0] for name, call in torch_calls.items()}
    warm: dict[str, list[float]] = {}
    if "full" in torch_calls and not quick:
        # In turns, so that the load of a shared machine weighs on both alike.
        turns = _timed({"blackbox": blackbox, "torch": torch_calls["full"]}, reps, quiet)
        warm["blackbox"], warm["torch.full"] = turns["blackbox"], turns["torch"]
    if "fast" in torch_calls:
        warm["torch.fast"] = _timed({"torch": torch_calls["fast"]}, 4 * reps, quiet)["torch"]
    return first, warm


def _table(rows: list[Row]) -> str:
    lines = [f"{'measurement':<52} {'value':>10} {'target':>10}  {'status':<8} note"]
    for row in rows:
        value = format_value(row.value, row.unit) + (" s" if row.unit == "s" and row.value else "")
        target = "" if row.target is None else row.target.describe(row.unit)
        lines.append(f"{row.label:<52} {value:>10} {target:>10}  {row.status:<8} {row.note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print scenario D's table; optionally write its rows as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_verification")
    parser.add_argument("--reps", type=int, default=5, help="warm repetitions (>= 5)")
    parser.add_argument("--json", type=Path, help="write the rows to this JSON file")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=2,
        help="torch intra-op threads (default 2, as the other scenarios)",
    )
    parser.add_argument(
        "--no-quiet",
        action="store_true",
        help="keep repetitions during which other processes used the CPUs",
    )
    args = parser.parse_args(argv)
    if args.reps < 5:
        parser.error(f"--reps: at least 5 repetitions (medians), got {args.reps}")
    quiet = None if args.no_quiet else Quiet(threshold=0.1, retries=5)
    rows = run(quick=args.quick, reps=args.reps, torch_threads=args.torch_threads, quiet=quiet)
    print(_table(rows))
    if args.json is not None:
        args.json.write_text(json.dumps({"rows": [r.to_dict() for r in rows]}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
