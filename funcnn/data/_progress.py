"""Download progress on stderr, for :func:`funcnn.data.download.download_mnist`."""

from __future__ import annotations

import sys
import time


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


class StderrProgress:
    """Download progress on stderr: a live line on a terminal, start and end lines otherwise."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._line_open = False  # a live (tty) line is waiting for its newline
        self._last = 0.0
        self._started = 0.0
        self._url = ""

    def attempt(self, url: str, timeout: float) -> None:
        """Say which URL is being connected to, before the wait, and report on it next."""
        self._url = url
        message = f"connecting to {url} (waiting up to {timeout:g} s)"
        if self._tty:
            sys.stderr.write(f"\r{message}\x1b[K")
            self._line_open = True
        else:
            sys.stderr.write(message + "\n")
        sys.stderr.flush()

    def note(self, message: str) -> None:
        """Print ``message`` on a line of its own."""
        sys.stderr.write(("\n" if self._line_open else "") + message + "\n")
        sys.stderr.flush()
        self._line_open = False

    def __call__(self, name: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if done == 0:
            self._started = now
        finished = total is not None and done >= total
        if self._tty:
            if done == 0 or finished or now - self._last >= 0.1:
                self._last = now
                size = f"{_size(done)} of {_size(total)}" if total else _size(done)
                pct = f"{100 * done // total:3d}% " if total else ""
                sys.stderr.write(f"\rdownloading {self._url}: {pct}{size}\x1b[K")
                self._line_open = not finished
                if finished:
                    sys.stderr.write("\n")
        elif done == 0:
            sys.stderr.write(
                f"downloading {self._url} ({_size(total) if total else 'size unknown'})\n"
            )
        elif finished:
            sys.stderr.write(f"downloaded {name}: {_size(done)} in {now - self._started:.1f} s\n")
        sys.stderr.flush()
