"""The library's own exception types.

Every error funcnn raises on bad input is one of these. Each subclasses the built-in
exception a caller would expect (``ValueError`` or ``TypeError``), so ``except ValueError``
keeps working, while ``except FuncnnError`` catches exactly what this library raises.
"""

from __future__ import annotations


class FuncnnError(Exception):
    """Base class of every exception raised deliberately by funcnn."""


class InvalidArgumentError(FuncnnError, ValueError):
    """An argument has the right type but a wrong value, shape or content."""


class ArgumentTypeError(FuncnnError, TypeError):
    """An argument has the wrong type or dtype."""


class DataFormatError(FuncnnError, ValueError):
    """A data file (IDX, gzip, checkpoint) is corrupt, truncated or not what it claims."""


class NonFiniteError(FuncnnError, FloatingPointError):
    """A computation produced NaN or infinity where finite values were required."""
