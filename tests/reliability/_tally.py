"""Counters the reliability tests add to, reported at the end of the session.

A test adds to a counter only after its assertions passed, so the totals count inputs
that were handled correctly, kills that were survived and corruptions that were caught.
"""

from __future__ import annotations

from collections import Counter

__all__ = ["COUNTS", "LABELS", "tally"]

COUNTS: Counter[str] = Counter()

LABELS: dict[str, str] = {
    "bad_inputs": "bad inputs rejected with the documented error (catalogue rows)",
    "cli_bad_inputs": "bad command lines answered with one line and a non-zero exit",
    "fuzz_calls": "fuzzed calls (hypothesis examples over the public API)",
    "fuzz_rejected": "... of which rejected with funcnn's own error",
    "kills": "SIGKILLs delivered to processes writing checkpoints",
    "kills_mid_write": "... of which landed while the temporary file was being written",
    "kills_training": "SIGKILLs delivered to training processes, then resumed",
    "intact_loads": "checkpoints read back complete after a kill or while being rewritten",
    "bytes_flipped": "checkpoints with a flipped byte, all rejected",
    "truncations": "truncated or extended checkpoints, all rejected",
    "crafted_files": "sealed checkpoints with crafted content, rejected or loaded cleanly",
    "resumes_bit_exact": "resumed runs identical bit for bit to the uninterrupted run",
    "soak_epochs": "soak epochs, each with a checkpoint written and read back",
    "lost": "checkpoints lost or corrupted",
}
"""What each counter means, in report order."""


def tally(key: str, n: int = 1) -> None:
    """Add ``n`` to counter ``key`` (one of :data:`LABELS`)."""
    if key not in LABELS:
        raise KeyError(f"unknown counter {key!r}")
    COUNTS[key] += n
