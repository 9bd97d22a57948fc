"""The library's own exception types.

Every error funcnn raises on bad input is one of these. Each subclasses the built-in
exception a caller would expect (``ValueError`` or ``TypeError``), so ``except ValueError``
keeps working, while ``except FuncnnError`` catches exactly what this library raises.
"""

from __future__ import annotations


class FuncnnError(Exception):
    """Base class of every exception raised deliberately by funcnn.

    For example:

        >>> import funcnn as fn
        >>> issubclass(fn.InvalidArgumentError, fn.FuncnnError)
        True
        >>> [issubclass(fn.ArgumentTypeError, t) for t in (fn.FuncnnError, TypeError)]
        [True, True]
    """


class InvalidArgumentError(FuncnnError, ValueError):
    """An argument has the right type but a wrong value, shape or content.

    For example:

        >>> import funcnn as fn
        >>> try:
        ...     fn.get_activation("gelu")
        ... except ValueError as error:  # or fn.InvalidArgumentError
        ...     print(type(error).__name__, error)
        InvalidArgumentError activation: unknown activation 'gelu'; expected one of [...]
    """


class ArgumentTypeError(FuncnnError, TypeError):
    """An argument has the wrong type or dtype.

    For example:

        >>> import numpy as np
        >>> import funcnn as fn
        >>> fn.relu(np.array([1, 2]))
        Traceback (most recent call last):
        ...
        funcnn.errors.ArgumentTypeError: z: expected float32 or float64, got dtype int64
    """


class DataFormatError(FuncnnError, ValueError):
    """A data file (IDX, gzip, checkpoint) is corrupt, truncated or not what it claims.

    For example:

        >>> from pathlib import Path
        >>> import funcnn as fn
        >>> _ = Path("bad.idx").write_bytes(b"IDX")
        >>> fn.read_idx("bad.idx")
        Traceback (most recent call last):
        ...
        funcnn.errors.DataFormatError: bad.idx: too short for an IDX file: 3 bytes, ...
    """


class NonFiniteError(FuncnnError, FloatingPointError):
    """A computation produced NaN or infinity where finite values were required.

    For example, a float32 loss that overflows although its inputs are finite:

        >>> import numpy as np
        >>> import funcnn as fn
        >>> fn.mse(np.array([[3e38]], dtype=np.float32), np.array([[0.0]], dtype=np.float32))
        Traceback (most recent call last):
        ...
        funcnn.errors.NonFiniteError: mse(z, y): the result overflows float32 ...
    """
