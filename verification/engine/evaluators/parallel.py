"""ParallelLoss: a black-box loss's perturbed points evaluated by joblib workers.

Full mode over a large network asks
:class:`~verification.engine.evaluators.generic_loss.GenericLoss` for millions of
points, each one whole ``loss_fn`` call. Those calls are independent, so
:class:`ParallelLoss` cuts every batch of points into chunks and hands each chunk to
``GenericLoss`` itself in a joblib worker: the same object (pickled, with ``loss_fn``
and the parameters), the same code, only in another process or on another machine.
Which engine runs the chunks is joblib's business, chosen the usual way:

- ``n_jobs=N`` alone: joblib's default backend (loky: N local processes, kept between
  batches; the parameter vector goes to them as a memory-mapped file, not a copy);
- inside ``with joblib.parallel_config(backend="dask"):`` with a ``distributed.Client``
  open: the chunks are tasks on that Dask cluster, local or remote, and the evaluator
  is scattered to its workers once per batch (its ``__sizeof__`` tells Dask how large
  it is).

The result is the serial one, bit for bit: every point is one ``loss_fn`` call whatever
the chunk it lands in, the change is taken against the value the parent computed, and a
``batched_loss`` sees the same groups of rows as in the serial run (chunks are cut on
its group boundaries). This holds where the workers run the same numpy and BLAS on the
same kind of CPU (always, for local processes); on a cluster of mixed machines a loss
value can differ in its last bits, which is rounding noise the tolerances already allow.

Left out: the structured evaluators (``NetworkLoss``, ``LogitsLoss``) are vectorised
over points and gain nothing from processes; nothing here schedules work itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import NDArray

from funcnn.errors import ArgumentTypeError, FuncnnError, InvalidArgumentError
from funcnn.typing import FloatArray, IntArray
from verification.engine.common.layout import Directions
from verification.engine.common.threads import single_threaded_blas
from verification.engine.evaluators.generic_loss import GenericLoss

__all__ = ["MIN_CHUNK", "TASKS_PER_WORKER", "ParallelDependencyError", "ParallelLoss",
           "check_n_jobs", "workers"]

BoolArray = NDArray[np.bool_]

MIN_CHUNK = 64
"""Fewest points worth sending to a worker: below ``2 * MIN_CHUNK`` points a batch is
evaluated in this process (a loky round trip costs a few milliseconds)."""

TASKS_PER_WORKER = 4
"""Chunks per worker in one batch: enough that a slow worker does not hold up the batch,
few enough that each carries the evaluator once."""


class ParallelDependencyError(FuncnnError, ImportError):
    """``n_jobs`` was given but joblib is not installed (``pip install funcnn[parallel]``).

    For example:

        >>> from verification.engine.evaluators.parallel import ParallelDependencyError
        >>> issubclass(ParallelDependencyError, ImportError)    # except ImportError works
        True
    """


def check_n_jobs(n_jobs: Any) -> int | None:
    """``n_jobs`` checked: ``None`` (joblib's active configuration, else serial) or a
    non-zero int in joblib's meaning (``-1`` all cores)."""
    if n_jobs is None:
        return None
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int | np.integer):
        raise ArgumentTypeError(f"n_jobs: expected None or an int, got {type(n_jobs).__name__}")
    if n_jobs == 0:
        raise InvalidArgumentError("n_jobs: expected a non-zero int (-1: every core), got 0")
    return int(n_jobs)


def _joblib() -> Any:
    try:
        import joblib
    except ImportError as exc:
        raise ParallelDependencyError(
            "n_jobs: running the loss calls in parallel needs joblib, which is not "
            "installed; install it with: pip install 'funcnn[parallel]'"
        ) from exc
    return joblib


def workers(n_jobs: int | None) -> int:
    """How many workers ``n_jobs`` means under joblib's active configuration (1 when
    joblib is not imported, so ``n_jobs=None`` costs nothing without it)."""
    if n_jobs is None:
        import sys

        if sys.modules.get("joblib") is None:  # no parallel_config can be active
            return 1
    return int(_joblib().effective_n_jobs(n_jobs))


@dataclass(eq=False, frozen=True)
class _Shipped:
    """The evaluator as sent to the workers, with its pickled size as ``__sizeof__``
    (joblib's Dask backend scatters arguments larger than 1 kB once per batch)."""

    loss: GenericLoss
    nbytes: int

    def __sizeof__(self) -> int:
        return self.nbytes


def _pickled_size(base: GenericLoss) -> int:
    """Bytes of ``base`` as cloudpickle writes it; an argument that cannot be pickled is
    named."""
    try:
        import cloudpickle
    except ImportError:  # joblib before 1.5 carries its own copy
        from joblib.externals import cloudpickle

    for name, fn in base.callables().items():
        try:
            cloudpickle.dumps(fn)
        except Exception as exc:  # pickling raises anything (TypeError, PicklingError, ...)
            raise ArgumentTypeError(
                f"{name}: must be picklable to run on joblib workers (n_jobs); cloudpickle "
                f"failed with {type(exc).__name__}: {exc}. Define it at module level or "
                "capture only arrays and plain values (no open files, locks or clients)"
            ) from exc
    return len(cloudpickle.dumps(base))


def _coordinates(shipped: _Shipped, index: IntArray, t: FloatArray) -> tuple[
    FloatArray, BoolArray
]:
    # The workers keep BLAS to one thread, as the parent does for a check.
    with single_threaded_blas():
        return shipped.loss.coordinates(index, t)


def _directions(shipped: _Shipped, dirs: Directions, k: IntArray, t: FloatArray) -> tuple[
    FloatArray, BoolArray
]:
    with single_threaded_blas():
        return shipped.loss.directions(dirs, k, t)


class ParallelLoss:
    """A :class:`GenericLoss` whose batches of points are evaluated by joblib workers.

    ``n_jobs`` is joblib's: the number of workers (``-1`` every core), or ``None`` for
    the active ``joblib.parallel_config``. The backend is the active one (loky processes
    by default; Dask inside ``joblib.parallel_config(backend="dask")``). Everything but
    the perturbed points is ``base``'s.
    """

    def __init__(self, base: GenericLoss, n_jobs: int | None) -> None:
        self._joblib = _joblib()
        self._base = base
        self._n_jobs = n_jobs
        self._shipped = _Shipped(base, _pickled_size(base))

    @property
    def n(self) -> int:
        """Number of scalar parameters."""
        return self._base.n

    @property
    def value(self) -> float:
        """Loss at ``params``, computed in this process."""
        return self._base.value

    @property
    def noise_scale(self) -> float:
        """``base``'s noise scale."""
        return self._base.noise_scale

    @property
    def detects_kinks(self) -> bool:
        """``base``'s: whether a ``pattern_fn`` was given."""
        return self._base.detects_kinks

    @property
    def shipped_bytes(self) -> int:
        """Bytes of the evaluator as pickled for a worker (sent once per batch)."""
        return self._shipped.nbytes

    def coordinate_scale(self) -> FloatArray:
        """``base``'s (all ones)."""
        return self._base.coordinate_scale()

    def direction_scale(self, dirs: Directions) -> FloatArray:
        """``base``'s (all ones)."""
        return self._base.direction_scale(dirs)

    def _bounds(self, count: int) -> list[int]:
        """Chunk boundaries over ``count`` points, on ``base``'s group boundaries; one
        chunk when the batch is too small to pay for the workers."""
        group = self._base.points_per_call
        chunks = min(count // MIN_CHUNK, TASKS_PER_WORKER * workers(self._n_jobs))
        if chunks < 2:
            return [0, count]
        size = math.ceil(math.ceil(count / chunks) / group) * group
        return [*range(0, count, size), count]

    def coordinates(self, index: IntArray, t: FloatArray) -> tuple[FloatArray, BoolArray]:
        """``L(theta + t e_index) - L(theta)`` and kink flags, elementwise."""
        idx, steps = np.broadcast_arrays(np.asarray(index), np.asarray(t, dtype=np.float64))
        shape = idx.shape
        idx_flat, t_flat = idx.reshape(-1), steps.reshape(-1)
        bounds = self._bounds(idx_flat.size)
        if len(bounds) <= 2:
            return self._base.coordinates(index, t)
        call = self._joblib.delayed(_coordinates)
        parts = self._run(call(self._shipped, idx_flat[a:b], t_flat[a:b])
                          for a, b in pairwise(bounds))
        return parts[0].reshape(shape), parts[1].reshape(shape)

    def directions(
        self, dirs: Directions, k: IntArray, t: FloatArray
    ) -> tuple[FloatArray, BoolArray]:
        """``L(theta + t_p v_{k_p}) - L(theta)`` and kink flags for points ``p``."""
        k_flat = np.asarray(k, dtype=np.int64).reshape(-1)
        t_flat = np.asarray(t, dtype=np.float64).reshape(-1)
        bounds = self._bounds(k_flat.size)
        if len(bounds) <= 2:
            return self._base.directions(dirs, k, t)
        call = self._joblib.delayed(_directions)
        return self._run(call(self._shipped, dirs, k_flat[a:b], t_flat[a:b])
                         for a, b in pairwise(bounds))

    def _run(self, tasks: Any) -> tuple[FloatArray, BoolArray]:
        # Without n_jobs, Parallel takes the active configuration's (joblib 1.3 treats an
        # explicit None as 1).
        chosen = {} if self._n_jobs is None else {"n_jobs": self._n_jobs}
        results = self._joblib.Parallel(**chosen)(tasks)
        values = np.concatenate([r[0] for r in results])
        flags = np.concatenate([r[1] for r in results])
        return values, flags
