"""Scenario D's rows: what :mod:`benchmarks.bench_verification` measured, as table rows.

:class:`Times` holds the measured seconds by call; :func:`our_rows`,
:func:`torch_full_rows`, :func:`torch_fast_rows` and :func:`jax_rows` (the last three
through :func:`first_and_warm`) turn them into :class:`~benchmarks.harness.Row` s with
their labels, targets (issues 7 and 14) and notes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import funcnn as fn
from benchmarks.harness import Row, Target, median

__all__ = [
    "Times",
    "first_and_warm",
    "jax_rows",
    "make_row",
    "our_rows",
    "torch_fast_rows",
    "torch_full_rows",
]


@dataclass(frozen=True)
class Times:
    """What scenario D measured, in seconds. ``first``: each first call ("full",
    "directional", "blackbox", "torch.fast", "torch.full", "jax"); ``warm``: the warm
    repetitions under the same names (the black box's is its first call alone unless it
    was timed in turns with torch's full mode); ``worst_est``: the full check's largest
    error estimate."""

    first: dict[str, float]
    warm: dict[str, list[float]]
    worst_est: float


def make_row(
    key: str,
    label: str,
    value: float | None,
    *,
    target: float | None = None,
    note: str = "",
    samples: list[float] | None = None,
    unit: str = "s",
    extra: dict[str, Any] | None = None,
) -> Row:
    """A row of scenario D (key ``D.<key>``), its target an upper bound when given."""
    return Row(
        "D",
        f"D.{key}",
        label,
        value,
        unit,
        None if target is None else Target("<=", target),
        note,
        tuple(samples or ()),
        extra or {},
    )


def our_rows(times: Times, spec: fn.MLP, source: str, reps: int) -> list[Row]:
    """Our checks' rows: the full mode (first, warm), the black box, the directional mode."""
    box = times.warm["blackbox"]
    return [
        make_row(
            "full.first",
            "verification full mode (26,506 params), first call",
            times.first["full"],
            note=f"data: {source}",
        ),
        make_row(
            "full",
            "verification full mode (26,506 params), warm",
            median(times.warm["full"]),
            target=2.0,
            samples=times.warm["full"],
            note=f"median of {reps}; error estimate per entry (max {times.worst_est:.1e})",
            extra={"n_params": spec.n_params, "data": source},
        ),
        make_row(
            "blackbox.full",
            "check_gradients full mode, black-box loss_fn/grad_fn",
            median(box),
            samples=box,
            note=(
                f"median of {len(box)}, in turns with torch's full mode"
                if "torch.full" in times.warm else "first call only"
            ),
        ),
        make_row(
            "directional.first",
            "verification directional (3 probes/tensor), first",
            times.first["directional"],
        ),
        make_row(
            "directional",
            "verification directional (3 probes/tensor), warm",
            median(times.warm["directional"]),
            target=0.010,
            samples=times.warm["directional"],
            note=f"median of {len(times.warm['directional'])}, before any torch or jax call",
        ),
    ]


def first_and_warm(
    key: str, label: str, first: float, warm: list[float] | None, first_note: str, warm_note: str
) -> list[Row]:
    """The rows ``<key>.first`` and ``<key>.warm`` of a call timed once and then warm
    (``warm`` None: not timed warm, the warm row is skipped)."""
    return [
        make_row(f"{key}.first", f"{label}, first call", first, note=first_note),
        make_row(
            f"{key}.warm",
            f"{label}, warm",
            None if warm is None else median(warm),
            samples=warm,
            note=warm_note,
        ),
    ]


def torch_full_rows(times: Times, torch_note: str, reps: int) -> list[Row]:
    """torch's full-mode gradcheck (first, warm) and how our full modes compare with it."""
    warm = times.warm.get("torch.full")
    rows = first_and_warm(
        "torch.full",
        "torch gradcheck fast_mode=False",
        times.first["torch.full"],
        warm,
        f"{torch_note}; no error estimates; after the fast mode's first call",
        "--quick: first call only" if warm is None else f"{torch_note}; median of {reps}",
    )
    if warm is None:
        return rows
    return [
        *rows,
        make_row(
            "blackbox/torch",
            "ratio: black-box full mode / torch full mode",
            median(times.warm["blackbox"]) / median(warm),
            unit="ratio",
            target=1.0,
            note="issue 14: no slower than torch's full mode (medians, in turns)",
        ),
        make_row(
            "full/torch",
            "ratio: our full mode / torch full mode",
            median(times.warm["full"]) / median(warm),
            unit="ratio",
            target=0.5,
            note="issue 7: <= half of torch's full mode (warm medians)",
        ),
    ]


def torch_fast_rows(times: Times, torch_note: str) -> list[Row]:
    """torch's fast-mode gradcheck (first, warm) and how our directional mode compares."""
    fast = times.warm["torch.fast"]
    return [
        *first_and_warm(
            "torch.fast",
            "torch gradcheck fast_mode=True",
            times.first["torch.fast"],
            fast,
            f"{torch_note}; the process's first gradcheck",
            f"median of {len(fast)}",
        ),
        make_row(
            "directional/torch",
            "ratio: our directional / torch fast mode",
            median(times.warm["directional"]) / median(fast),
            unit="ratio",
            note="medians of consecutive blocks (torch's threads would slow ours)",
        ),
    ]


def jax_rows(times: Times, jax_note: str) -> list[Row]:
    """jax's ``check_grads`` (first call with tracing, warm)."""
    return first_and_warm(
        "jax",
        "jax.test_util.check_grads",
        times.first["jax"],
        times.warm["jax"],
        f"{jax_note}; includes tracing",
        f"median of {len(times.warm['jax'])}",
    )
