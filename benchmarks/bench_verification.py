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


def _first(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def _interleaved(calls: dict[str, Callable[[], Any]], reps: int) -> dict[str, list[float]]:
    """Warm times of every call, measured in turn within each repetition, so that a
    change of load on a shared machine affects all of them alike."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(reps):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            samples[name].append(time.perf_counter() - start)
    return samples


def _row(key: str, label: str, value: float | None, *, target: float | None = None,
         note: str = "", samples: list[float] | None = None, unit: str = "s",
         extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "scenario": "D",
        "key": f"D.{key}",
        "label": label,
        "value": value,
        "unit": unit,
        "target": None if target is None else {"op": "<=", "bound": target, "aim": False},
        "note": note,
        "samples": samples or [],
        "extra": extra or {},
    }


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

    return {"full": gradcheck(False), "fast": gradcheck(True)}, (
        f"torch {torch.__version__}, {threads} thread(s)"
    )


def _jax_check(params: fn.Params, x: Any, y: Any) -> tuple[Callable[[], Any] | None, str]:
    """``jax.test_util.check_grads`` on the same loss (float64), or a note why not."""
    try:
        jax = importlib.import_module("jax")
        check_grads = importlib.import_module("jax.test_util").check_grads
    except ImportError:
        return None, "jax not installed"
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

    return run_check, f"jax {jax.__version__}, reverse mode, order 1, not jitted"


def run(quick: bool = False, reps: int = 5, torch_threads: int = 2) -> list[dict[str, Any]]:
    """Scenario D's rows (mappings in ``benchmarks.harness.Row.to_dict`` form)."""
    reps = max(5, reps) if not quick else max(2, min(reps, 3))
    spec, params, x, y, source = problem()

    def full() -> Any:
        return check_network(spec, params, x, y, mode="full")

    def directional() -> Any:
        return check_network(spec, params, x, y, mode="directional")

    torch_calls, torch_note = _torch_checks(params, x, y, torch_threads)
    jax_call, jax_note = _jax_check(params, x, y)
    rows = []
    first_full, report = _first(full)
    if not report.passed:
        raise RuntimeError("the full check failed on correct code:\n" + report.table())
    worst_est = max(row.error_estimate for row in report.rows[1:])
    first_dir, report = _first(directional)
    if not report.passed:
        raise RuntimeError("the directional check failed on correct code:\n" + report.table())
    firsts = {name: _first(call)[0] for name, call in torch_calls.items()}
    if jax_call is not None:
        firsts["jax"] = _first(jax_call)[0]
    # Full modes: ours every repetition, torch's (seconds per call) once more.
    full_samples = _interleaved({"ours": full}, reps)["ours"]
    torch_full = _interleaved({"torch": torch_calls["full"]}, 1)["torch"] if torch_calls else []
    quick_calls: dict[str, Callable[[], Any]] = {"ours": directional}
    if "fast" in torch_calls:
        quick_calls["torch"] = torch_calls["fast"]
    warm = _interleaved(quick_calls, 4 * reps)
    # jax runs XLA's own thread pool, which lingers: measured on its own, afterwards.
    if jax_call is not None:
        warm.update(_interleaved({"jax": jax_call}, 4 * reps))
    med = statistics.median
    rows.append(_row("full.first", "verification full mode (26,506 params), first call",
                     first_full, note=f"data: {source}"))
    rows.append(_row(
        "full", "verification full mode (26,506 params), warm", med(full_samples),
        target=2.0, samples=full_samples,
        note=f"median of {len(full_samples)}; error estimate per entry (max {worst_est:.1e})",
        extra={"n_params": spec.n_params, "data": source},
    ))
    rows.append(_row("directional.first", "verification directional (3 probes/tensor), first",
                     first_dir))
    rows.append(_row("directional", "verification directional (3 probes/tensor), warm",
                     med(warm["ours"]), target=0.010, samples=warm["ours"],
                     note=f"median of {len(warm['ours'])}, interleaved with torch's"))
    if torch_calls:
        rows.append(_row("torch.full.first", "torch gradcheck fast_mode=False, first call",
                         firsts["full"], note=f"{torch_note}; no error estimates"))
        rows.append(_row("torch.full.warm", "torch gradcheck fast_mode=False, warm",
                         med(torch_full), samples=torch_full, note=torch_note))
        rows.append(_row("torch.fast.first", "torch gradcheck fast_mode=True, first call",
                         firsts["fast"], note=torch_note))
        rows.append(_row("torch.fast.warm", "torch gradcheck fast_mode=True, warm",
                         med(warm["torch"]), samples=warm["torch"],
                         note=f"median of {len(warm['torch'])}"))
        rows.append(_row("full/torch", "ratio: our full mode / torch full mode",
                         med(full_samples) / med(torch_full), unit="ratio", target=0.5,
                         note="issue 7: <= half of torch's full mode"))
        rows.append(_row("directional/torch", "ratio: our directional / torch fast mode",
                         med(warm["ours"]) / med(warm["torch"]), unit="ratio",
                         note="same repetitions, interleaved"))
    else:
        rows.append(_row("torch", "torch.autograd.gradcheck", None, note=torch_note))
    if jax_call is not None:
        rows.append(_row("jax.first", "jax.test_util.check_grads, first call", firsts["jax"],
                         note=f"{jax_note}; includes tracing"))
        rows.append(_row("jax.warm", "jax.test_util.check_grads, warm", med(warm["jax"]),
                         samples=warm["jax"], note=f"median of {len(warm['jax'])}"))
    else:
        rows.append(_row("jax", "jax.test_util.check_grads", None, note=jax_note))
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'measurement':<58} {'value':>10} {'target':>8}  note"]
    for row in rows:
        unit = " s" if row["unit"] == "s" else ""
        value = "-" if row["value"] is None else f"{row['value']:.4f}{unit}"
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
