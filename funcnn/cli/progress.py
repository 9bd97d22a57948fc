"""What ``funcnn train`` prints while it runs: a tqdm bar on stderr and one line per epoch
(:func:`funcnn.training.callbacks.epoch_line`, the line ``fit(verbose=...)`` prints)."""

from __future__ import annotations

from typing import TextIO

from funcnn.training.callbacks import Progress as FitProgress
from funcnn.training.callbacks import epoch_line, format_loss
from funcnn.training.loop import BatchEnd, History

__all__ = ["Progress", "format_loss", "plural"]


def plural(count: int, noun: str) -> str:
    """``1 epoch``, ``2 epochs``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class Progress:
    """The tqdm bar of ``fit(verbose=1)`` on stderr (when wanted and installed), and the
    epoch lines on ``out`` (stdout)."""

    def __init__(self, enabled: bool, lines: bool, out: TextIO) -> None:
        self.lines = lines
        self.out = out
        self.bar = FitProgress(verbose=1) if enabled else None

    def batch(self, event: BatchEnd) -> None:
        if self.bar is not None:
            self.bar(event)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def epoch(self, history: History, last_epoch: int) -> None:
        self.close()
        if self.lines:
            print(epoch_line(history, last_epoch), file=self.out, flush=True)
