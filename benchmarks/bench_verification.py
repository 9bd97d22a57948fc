"""Scenario D: the verification suite against ``torch.autograd.gradcheck``.

The problem is fixed: the 784-32-32-10 sigmoid network (26,506 parameters,
``inverse_max_fan_normal`` init, seed 0), 32 MNIST test samples (random inputs when the
data is absent), float64, fused softmax cross-entropy. Measured, each as the median of
``--reps`` (>= 5) repetitions after one first call that is reported on its own:

- ``verification.check_network(..., mode="full")``: every parameter, scipy derivatives
  with an error estimate per entry;
- ``check_network(..., mode="directional")``, warm: 3 unit directions per tensor;
- ``torch.autograd.gradcheck`` on the same loss (``fast_mode=False`` and ``True``, first
  call and warm), when torch is installed; ``jax.test_util.check_grads`` when jax is.

Run ``python -m benchmarks.bench_verification [--reps N] [--json PATH] [--quick]``;
``benchmarks/run.py`` imports :func:`run` for its section D.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import funcnn as fn
from verification.data import sample_batch
from verification.engine import check_network

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


def _time(call: Callable[[], Any], reps: int) -> tuple[float, list[float], Any]:
    """First-call time, then ``reps`` warm times; returns (first, warm samples, result)."""
    start = time.perf_counter()
    result = call()
    first = time.perf_counter() - start
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        result = call()
        samples.append(time.perf_counter() - start)
    return first, samples, result


def _row(key: str, label: str, value: float | None, *, target: float | None = None,
         note: str = "", samples: list[float] | None = None,
         extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "scenario": "D",
        "key": f"D.{key}",
        "label": label,
        "value": value,
        "unit": "s",
        "target": None if target is None else {"op": "<=", "bound": target, "aim": False},
        "note": note,
        "samples": samples or [],
        "extra": extra or {},
    }


def _torch_rows(
    spec: fn.MLP, params: fn.Params, x: Any, y: Any, reps: int, threads: int
) -> list[dict[str, Any]]:
    try:
        # Imported by name: the peers are optional and untyped.
        torch = importlib.import_module("torch")
    except ImportError:
        return [_row("torch", "torch.autograd.gradcheck", None, note="torch not installed")]
    torch.set_num_threads(threads)
    tensors = []
    for layer in params:
        tensors += [torch.tensor(layer["W"], dtype=torch.float64, requires_grad=True),
                    torch.tensor(layer["b"], dtype=torch.float64, requires_grad=True)]
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

    rows = []
    for fast in (False, True):
        # Full mode takes seconds per call: one warm repetition of it.
        reps_here = reps if fast else 1
        first, samples, ok = _time(gradcheck(fast), reps_here)
        name = "fast" if fast else "full"
        rows.append(_row(f"torch.{name}.first", f"torch gradcheck fast_mode={fast}, first call",
                         first, note=f"passed={ok}; no error estimates"))
        rows.append(_row(f"torch.{name}.warm", f"torch gradcheck fast_mode={fast}, warm",
                         statistics.median(samples), samples=samples,
                         note=f"median of {reps_here}; torch {torch.__version__}, "
                              f"{threads} thread(s)"))
    return rows


def _jax_rows(params: fn.Params, x: Any, y: Any, reps: int) -> list[dict[str, Any]]:
    try:
        jax = importlib.import_module("jax")
        check_grads = importlib.import_module("jax.test_util").check_grads
    except ImportError:
        return [_row("jax", "jax.test_util.check_grads", None, note="jax not installed")]
    # float64, as for the others; set for this benchmark process only.
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

    first, samples, _ = _time(run_check, reps)
    return [
        _row("jax.first", "jax.test_util.check_grads (rev, order 1), first call", first,
             note="includes tracing; no error estimates"),
        _row("jax.warm", "jax.test_util.check_grads (rev, order 1), warm",
             statistics.median(samples), samples=samples,
             note=f"median of {len(samples)}; jax {jax.__version__}, not jitted"),
    ]


def run(quick: bool = False, reps: int = 5, torch_threads: int = 2) -> list[dict[str, Any]]:
    """Scenario D's rows (mappings in ``benchmarks.harness.Row.to_dict`` form)."""
    reps = max(5, reps) if not quick else max(2, min(reps, 3))
    spec, params, x, y, source = problem()
    rows = []
    first, samples, report = _time(lambda: check_network(spec, params, x, y, mode="full"), reps)
    if not report.passed:
        raise RuntimeError("the full check failed on correct code:\n" + report.table())
    worst_est = max(row.error_estimate for row in report.rows[1:])
    rows.append(_row("full.first", "verification full mode (26,506 params), first call", first,
                     note=f"data: {source}"))
    rows.append(_row(
        "full", "verification full mode (26,506 params), warm", statistics.median(samples),
        target=2.0, samples=samples,
        note=f"median of {len(samples)}; error estimate per entry (max {worst_est:.1e})",
        extra={"n_params": spec.n_params, "data": source},
    ))
    first, samples, report = _time(
        lambda: check_network(spec, params, x, y, mode="directional"), max(reps, 5) * 4
    )
    if not report.passed:
        raise RuntimeError("the directional check failed on correct code:\n" + report.table())
    rows.append(_row("directional.first", "verification directional (3 probes/tensor), first",
                     first))
    rows.append(_row(
        "directional", "verification directional (3 probes/tensor), warm",
        statistics.median(samples), target=0.010, samples=samples,
        note=f"median of {len(samples)}",
    ))
    rows += _torch_rows(spec, params, x, y, reps, torch_threads)
    rows += _jax_rows(params, x, y, reps)
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'measurement':<58} {'value':>10} {'target':>8}  note"]
    for row in rows:
        value = "-" if row["value"] is None else f"{row['value']:.4f} s"
        target = "" if row["target"] is None else f"<= {row['target']['bound']:g}"
        lines.append(f"{row['label']:<58} {value:>10} {target:>8}  {row['note']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print scenario D's table; optionally write its rows as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_verification")
    parser.add_argument("--reps", type=int, default=5, help="warm repetitions (>= 5)")
    parser.add_argument("--json", type=Path, help="write the rows to this JSON file")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--torch-threads", type=int, default=2,
                        help="torch intra-op threads (default 2, as the other scenarios)")
    args = parser.parse_args(argv)
    rows = run(quick=args.quick, reps=args.reps, torch_threads=args.torch_threads)
    print(_table(rows))
    if args.json is not None:
        args.json.write_text(json.dumps({"rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
