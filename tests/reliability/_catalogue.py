"""The catalogue's row type and its check: exact error type, argument named, expectation said.

A row is a :class:`Case`: a thunk making one bad call, the exact exception type it must
raise, the argument its message must name (as a whole token, so ``x`` is not found
inside ``expected``) and a regular expression for what was expected.
:func:`rows` turns cases into pytest parameters, marking those of known bugs
``xfail(strict=True)``.
"""

from __future__ import annotations

import re
import sys
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.reliability._bugs import known_bug
from tests.reliability._tally import tally

__all__ = ["Case", "check", "rows", "thunk", "wrong"]


@dataclass(frozen=True)
class Case:
    """One bad call and what it must raise."""

    id: str
    call: Callable[[], object]
    error: type[BaseException]
    arg: str
    expected: str
    bug: str | None = None


def wrong(value: object) -> Any:
    """``value``, typed ``Any``: marks an argument of a deliberately wrong type."""
    return value


def thunk(f: Callable[..., object], *args: Any, **kwargs: Any) -> Callable[[], object]:
    """A thunk calling ``f(*args, **kwargs)`` (binds loop variables, unlike a lambda)."""
    return lambda: f(*args, **kwargs)


def names(message: str, arg: str) -> bool:
    """Whether ``message`` contains ``arg`` as a whole token."""
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(arg)}(?![A-Za-z0-9_])", message) is not None


def rows(cases: Iterable[Case]) -> list[Any]:
    """pytest parameters for ``cases``, ids unique, known bugs marked xfail."""
    out = []
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise AssertionError(f"duplicate case id {case.id!r}")
        seen.add(case.id)
        marks = [known_bug(case.bug)] if case.bug else []
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


def check(case: Case, counter: str = "bad_inputs") -> None:
    """Run ``case`` and assert its error, and that nothing leaked (no unraisable warning)."""
    leaks: list[str] = []
    previous = sys.unraisablehook
    sys.unraisablehook = lambda event: leaks.append(f"{event.exc_type.__name__}: {event.exc_value}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            # matplotlib 3.8 (the CI floor) on pyparsing 3.3: as in pyproject's filterwarnings.
            warnings.filterwarnings(
                "ignore", "'[A-Za-z]+' deprecated - use '[a-z_]+'", DeprecationWarning
            )
            try:
                case.call()
            except Exception as exc:  # any exception: its exact type is asserted below
                kind, message = type(exc), str(exc)
                # Drop the traceback now: objects it kept alive (open files...) are freed
                # here, so a leak warns inside this test rather than in a later one.
                exc.__traceback__ = None
                del exc
            else:
                pytest.fail(f"{case.id}: no exception raised, expected {case.error.__name__}")
    finally:
        sys.unraisablehook = previous
    assert kind is case.error, (
        f"{case.id}: raised {kind.__name__}: {message}; expected {case.error.__name__}"
    )
    assert names(message, case.arg), f"{case.id}: message does not name {case.arg!r}: {message}"
    assert re.search(case.expected, message), (
        f"{case.id}: message does not say what was expected ({case.expected!r}): {message}"
    )
    assert not leaks, f"{case.id}: resources leaked while failing: {leaks}"
    tally(counter)
