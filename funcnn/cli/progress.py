"""What ``funcnn train`` prints while it runs: a tqdm bar on stderr and one line per epoch."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from funcnn.training.loop import BatchEnd, History

__all__ = ["Progress", "format_loss", "plural"]


def format_loss(value: float) -> str:
    """Four decimals, or scientific notation when that would print a wall of digits."""
    if value != value or abs(value) == float("inf"):  # nan and inf print as themselves
        return f"{value}"
    return f"{value:.4f}" if abs(value) < 1e5 else f"{value:.3g}"


def plural(count: int, noun: str) -> str:
    """``1 epoch``, ``2 epochs``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


class Progress:
    """Per-epoch tqdm bar on stderr (when wanted and available) and epoch lines on stdout."""

    def __init__(self, enabled: bool, lines: bool, out: TextIO) -> None:
        self.lines = lines
        self.out = out
        self.bar: Any = None
        self.tqdm: Any = None
        if enabled:
            try:
                from tqdm import tqdm

                self.tqdm = tqdm
            except ImportError:  # the bar is optional (funcnn[progress])
                self.tqdm = None

    def batch(self, event: BatchEnd, last_epoch: int) -> None:
        if self.tqdm is None:
            return
        if self.bar is None:
            self.bar = self.tqdm(
                total=event.n_batches,
                desc=f"epoch {event.epoch}/{last_epoch}",
                unit="batch",
                leave=False,
                file=sys.stderr,
                dynamic_ncols=True,
            )
        self.bar.update(event.batch - self.bar.n)
        self.bar.set_postfix_str(f"loss {format_loss(event.loss)}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def epoch(self, history: History, last_epoch: int) -> None:
        self.close()
        if not self.lines:
            return
        e = history.epochs - 1
        parts = [
            f"epoch {e + 1}/{last_epoch}",
            f"train loss {format_loss(history.epoch_train_loss[e])}",
        ]
        if history.epoch_train_accuracy:
            parts.append(f"acc {history.epoch_train_accuracy[e]:.2%}")
        if history.epoch_test_loss:
            parts.append(f"test loss {format_loss(history.epoch_test_loss[e])}")
        if history.epoch_test_accuracy:
            parts.append(f"acc {history.epoch_test_accuracy[e]:.2%}")
        parts.append(f"{history.epoch_time[e]:.2f}s")
        print("  ".join(parts), file=self.out, flush=True)
