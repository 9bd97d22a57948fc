"""The benchmark harness: result rows with targets, interleaved timing, foreign CPU load.

Every benchmark produces :class:`Row` objects. A row holds one measured value (a median
time, a ratio of medians, a memory peak) with its unit, optionally a :class:`Target`
from issue 7, and derives its status from the two: ``pass``, ``miss``, ``info`` (no
target) or ``skipped`` (no value, e.g. a peer library that is not installed; the note
says why).

Other benchmark modules (``benchmarks/bench_verification.py`` for scenario D) may build
their rows with these classes and return them from ``run(quick: bool) -> list[Row]``;
plain mappings with the keys of :meth:`Row.to_dict` work too (see ``benchmarks/run.py``).
What the numbers depend on (machine, versions, BLAS) is :mod:`benchmarks.environment`'s
job; :func:`environment` is re-exported here.
"""

from __future__ import annotations

import gc
import math
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from benchmarks.environment import OPENBLAS_TUNING_VARS, environment

__all__ = [
    "OPENBLAS_TUNING_VARS",
    "ForeignLoad",
    "Quiet",
    "Row",
    "Target",
    "environment",
    "interleaved_times",
    "median",
    "minor_faults",
    "progress",
    "ratio_row",
]

Status = Literal["pass", "miss", "info", "skipped"]


@dataclass(frozen=True)
class Target:
    """An upper bound from the issue: the value must be ``<=`` (or ``<``) ``bound``.

    ``aim`` marks a stretch goal ("aim for 0.9"): reported as pass or miss like any
    target, but labelled so that a miss is not mistaken for a broken requirement.
    """

    op: Literal["<=", "<"]
    bound: float
    aim: bool = False

    def met(self, value: float) -> bool:
        """Whether ``value`` satisfies the bound."""
        return value <= self.bound if self.op == "<=" else value < self.bound

    def describe(self, unit: str) -> str:
        """The target as table text, e.g. ``<= 1.00`` or ``aim <= 0.90``."""
        text = f"{self.op} {_fmt(self.bound, unit)}"
        return f"aim {text}" if self.aim else text


@dataclass(frozen=True)
class Row:
    """One measured quantity.

    ``key`` is a stable identifier (``"A.funcnn/numpy"``); ``value`` is ``None`` when the
    measurement was skipped. ``samples`` are the raw repetitions behind a median, in the
    unit of ``value``. ``extra`` holds anything else worth keeping in the JSON.
    """

    scenario: str
    key: str
    label: str
    value: float | None
    unit: str
    target: Target | None = None
    note: str = ""
    samples: tuple[float, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> Status:
        """``skipped`` without a value, ``info`` without a target, else ``pass``/``miss``."""
        if self.value is None or not math.isfinite(self.value):
            return "skipped"
        if self.target is None:
            return "info"
        return "pass" if self.target.met(self.value) else "miss"

    @property
    def margin(self) -> float | None:
        """``value / bound``: below 1 passes with room, above 1 misses by that factor."""
        if self.value is None or self.target is None or self.target.bound == 0:
            return None
        return self.value / self.target.bound

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the runner's output format)."""
        return {
            "scenario": self.scenario,
            "key": self.key,
            "label": self.label,
            "value": self.value,
            "unit": self.unit,
            "target": None
            if self.target is None
            else {"op": self.target.op, "bound": self.target.bound, "aim": self.target.aim},
            "status": self.status,
            "margin": self.margin,
            "note": self.note,
            "samples": list(self.samples),
            "extra": dict(self.extra),
        }

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Row:
        """Rebuild a row from :meth:`to_dict` output (or a mapping with at least
        ``key``/``label``/``value``/``unit``)."""
        target = data.get("target")
        parsed: Target | None = None
        if isinstance(target, Mapping):
            op = target.get("op", "<=")
            parsed = Target(
                "<" if op == "<" else "<=", float(target["bound"]), bool(target.get("aim"))
            )
        value = data.get("value")
        return Row(
            scenario=str(data.get("scenario", "?")),
            key=str(data.get("key", data.get("label", "?"))),
            label=str(data.get("label", data.get("key", "?"))),
            value=None if value is None else float(value),
            unit=str(data.get("unit", "")),
            target=parsed,
            note=str(data.get("note", "")),
            samples=tuple(float(s) for s in data.get("samples", ())),
            extra=dict(data.get("extra", {})),
        )


def _fmt(value: float, unit: str) -> str:
    if unit == "ratio":
        return f"{value:.3f}"
    if unit in ("s", "s/epoch"):
        return f"{value:.4f}" if value < 10 else f"{value:.1f}"
    if unit in ("us/step", "us"):
        return f"{value:.2f}" if value < 100 else f"{value:.0f}"
    if unit == "MB":
        return f"{value:.1f}"
    return f"{value:.4g}"


def format_value(value: float | None, unit: str) -> str:
    """A value as table text (``-`` when skipped)."""
    return "-" if value is None or not math.isfinite(value) else _fmt(value, unit)


def median(samples: Sequence[float]) -> float:
    """The median of ``samples`` (which must be non-empty)."""
    return float(statistics.median(samples))


def ratio_row(
    scenario: str,
    key: str,
    label: str,
    numerator: Sequence[float] | None,
    denominator: Sequence[float] | None,
    target: Target | None = None,
    note: str = "",
    missing: str = "",
) -> Row:
    """``median(numerator) / median(denominator)``, skipped when either side is absent.

    The per-repetition ratios (the repetitions are interleaved, so pairs ran back to
    back) are kept as ``samples``; their median is a drift-robust cross-check in
    ``extra["paired_median"]``.
    """
    if not numerator or not denominator:
        return Row(scenario, key, label, None, "ratio", target, missing or note)
    value = median(numerator) / median(denominator)
    pairs = tuple(a / b for a, b in zip(numerator, denominator, strict=False))
    return Row(
        scenario,
        key,
        label,
        value,
        "ratio",
        target,
        note,
        pairs,
        {"paired_median": median(pairs)},
    )


def progress(message: str) -> None:
    """A progress line on stderr (stdout carries the table)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Quiet:
    """Guard against other processes: redo rounds during which they used the CPUs.

    A round of :func:`interleaved_times` (every case once) during which other processes
    used more than ``threshold`` of the machine's CPU time (:class:`ForeignLoad`) is
    discarded and redone, after waiting up to ``wait`` seconds for a quiet moment, at
    most ``retries`` times per call. On a 2-core machine one busy foreign process makes
    two-threaded OpenBLAS calls many times slower, so such rounds measure the neighbour,
    not the code. ``log`` collects, per call, the foreign load of every kept round and
    the number of discarded rounds.
    """

    threshold: float = 0.1
    wait: float = 60.0
    retries: int = 20
    log: list[dict[str, Any]] = field(default_factory=list)

    def settle(self) -> float | None:
        """Wait (up to ``wait`` seconds) for a 1-second window below ``threshold``."""
        deadline = time.perf_counter() + self.wait
        level: float | None = None
        while True:
            meter = ForeignLoad()
            time.sleep(1.0)
            level = meter.fraction()
            if level is None or level <= self.threshold or time.perf_counter() > deadline:
                return level


def interleaved_times(
    cases: Mapping[str, Callable[[int], object]],
    reps: int,
    warmup: int = 1,
    collect: bool = True,
    quiet: Quiet | None = None,
) -> dict[str, list[float]]:
    """Wall-clock seconds of each case, ``reps`` times, the cases taking turns.

    Each case is called with the repetition index (use it as a seed); warm-up calls get
    negative indices and are not timed. Round ``r`` starts at case ``r mod k`` so that no
    implementation always runs right after the same other one (thread pools spinning
    down, caches). With ``collect`` a garbage collection precedes every timed call,
    outside the timing. With ``quiet``, rounds disturbed by other processes are redone
    (see :class:`Quiet`).
    """
    names = list(cases)
    for w in range(warmup):
        for name in names:
            cases[name](-1 - w)
    times: dict[str, list[float]] = {name: [] for name in names}
    kept: list[float | None] = []
    discarded = 0
    perf = time.perf_counter
    r = 0
    if quiet is not None:
        quiet.settle()
    while r < reps:
        shift = r % len(names) if names else 0
        meter = ForeignLoad()
        lap: dict[str, float] = {}
        for name in names[shift:] + names[:shift]:
            if collect:
                gc.collect()
            start = perf()
            cases[name](r)
            lap[name] = perf() - start
        level = meter.fraction()
        noisy = quiet is not None and level is not None and level > quiet.threshold
        if quiet is not None and noisy and discarded < quiet.retries:
            discarded += 1
            quiet.settle()
            continue
        for name, seconds in lap.items():
            times[name].append(seconds)
        kept.append(level)
        r += 1
    if quiet is not None:
        quiet.log.append({"cases": names, "round_foreign_load": kept, "discarded": discarded})
    return times


def minor_faults(call: Callable[[], object]) -> int:
    """Minor page faults this process took during ``call()``.

    Each is a page the kernel had to map (and zero) on first touch: what a fresh array
    costs when the allocator got its memory from the system (``mmap``) rather than
    reusing freed memory. A loop that reuses its buffers takes almost none.
    """
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    call()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


class ForeignLoad:
    """How busy other processes kept the CPUs while a section ran.

    Measures system-wide busy CPU time (``/proc/stat``) minus this process's and its
    children's CPU time, as a fraction of the wall time times the CPU count. On a
    2-core machine a foreign load of 0.5 means one core was taken from the benchmark: the
    numbers are then unreliable (OpenBLAS's threads wait for each other), and the
    report says so. ``None`` where ``/proc/stat`` does not exist.
    """

    def __init__(self) -> None:
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        try:
            with open("/proc/stat", encoding="ascii") as handle:
                fields = handle.readline().split()[1:]
        except OSError:
            return None
        ticks = os.sysconf("SC_CLK_TCK")
        values = [float(v) / ticks for v in fields]
        # user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait
        busy = sum(values) - values[3] - (values[4] if len(values) > 4 else 0.0)
        own = os.times()
        mine = own.user + own.system + own.children_user + own.children_system
        return time.perf_counter(), busy, mine

    def fraction(self) -> float | None:
        """Foreign busy CPU time since construction / (wall time x CPU count)."""
        end = self._sample()
        if self._start is None or end is None:
            return None
        wall = end[0] - self._start[0]
        foreign = (end[1] - self._start[1]) - (end[2] - self._start[2])
        cpus = os.cpu_count() or 1
        return max(foreign, 0.0) / (wall * cpus) if wall > 0 else None
