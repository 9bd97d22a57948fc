"""Matching an implementation's signal against what it should be: closeness at the
dtype's rounding, named candidate mistakes, and a plain-words hint when none matches.

Every comparison is over the probe samples at once: a signal matches only when it
matches on every sample, so a candidate that happens to coincide on one sample (a
relu derivative at 0, a label that equals the prediction) does not get the blame.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from funcnn.typing import FloatArray
from verification.engine.bounds.tolerances import eps_of

__all__ = ["Candidate", "close", "first_match", "hint", "ratio", "rtol_of"]

Signals = Sequence[FloatArray]
"""One array per probe sample."""


def rtol_of(dtype: np.dtype[np.floating]) -> float:
    """Relative tolerance (to each tensor's largest entry) for equal-up-to-rounding.

    4096 eps is far above the rounding of a small network's backprop and far below
    every planted bug's effect (the smallest, an ``eps = 1e-7`` in a log, is ~1e-6).
    """
    return 4096 * eps_of(dtype)


def _scale(u: FloatArray, e: FloatArray) -> float:
    return max(float(np.max(np.abs(e), initial=0.0)), float(np.max(np.abs(u), initial=0.0)))


def close(got: Signals, want: Signals, rtol: float) -> bool:
    """``got[i]`` equals ``want[i]`` within ``rtol`` times its largest entry, for all i."""
    for u, e in zip(got, want, strict=True):
        if np.shape(u) != np.shape(e):
            return False
        tol = rtol * _scale(u, e) + np.finfo(np.float64).tiny
        if not np.all(np.abs(np.asarray(u, np.float64) - e) <= tol):
            return False
    return True


def ratio(got: Signals, want: Signals) -> float:
    """The least-squares ``k`` of ``got ~ k want`` over all samples (nan if want is 0)."""
    u = np.concatenate([np.ravel(g).astype(np.float64) for g in got])
    e = np.concatenate([np.ravel(w).astype(np.float64) for w in want])
    denominator = float(e @ e)
    return float(u @ e) / denominator if denominator > 0 else float("nan")


@dataclass(frozen=True)
class Candidate:
    """A named mistake and the signal it would produce on each probe sample."""

    kind: str
    text: str
    values: tuple[FloatArray, ...]


def first_match(
    got: Signals, want: Signals, candidates: Sequence[Candidate], rtol: float
) -> Candidate | None:
    """The first candidate that ``got`` matches and the correct signal ``want`` does not
    (a candidate equal to the right answer on these samples cannot be told apart)."""
    for candidate in candidates:
        if close(candidate.values, want, rtol):
            continue
        if close(got, candidate.values, rtol):
            return candidate
    return None


def _factor_text(k: float, factors: Mapping[str, float]) -> str:
    for name, value in factors.items():
        if value and np.isclose(k, value, rtol=1e-6, atol=0.0):
            return f"{k:.4g} x (= {name})"
    return f"{k:.4g} x"


def hint(got: Signals, want: Signals, rtol: float, factors: Mapping[str, float]) -> str:
    """What ``got`` looks like next to ``want``, in words: all zeros, a sign flip, a
    uniform factor (named when it is one of ``factors``), a transposition, or the
    largest relative error and where."""
    u_max = max(float(np.max(np.abs(g), initial=0.0)) for g in got)
    e_max = max(float(np.max(np.abs(w), initial=0.0)) for w in want)
    if u_max == 0.0:
        return "is all zeros"
    if e_max == 0.0:
        return f"should be zero but is not (largest entry {u_max:.3g})"
    k = ratio(got, want)
    if np.isfinite(k) and close(got, [k * w for w in want], rtol):
        if np.isclose(k, -1.0, rtol=1e-6):
            return "has the wrong sign (-1 x the right value)"
        return f"is {_factor_text(k, factors)} the right value on every entry"
    if all(np.ndim(w) == 2 and np.shape(w)[0] == np.shape(w)[1] for w in want) and close(
        got, [np.transpose(w) for w in want], rtol
    ):
        return "is the transpose of the right value"
    worst, where, sample = 0.0, [0], 0
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        rel = np.abs(g - w) / max(_scale(g, w), np.finfo(np.float64).tiny)
        index = np.unravel_index(int(np.argmax(rel)), rel.shape) if rel.size else ()
        if rel.size and float(rel[index]) > worst:
            worst, where, sample = float(rel[index]), [int(j) for j in index], i
    return (
        f"differs from the right value by up to {worst:.3g} of its largest entry "
        f"(at index {where} of probe sample {sample})"
    )
