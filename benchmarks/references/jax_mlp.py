"""JAX CPU peer: one jitted SGD step (gather, forward, ``value_and_grad``, update).

The step is compiled ahead of time (``jit(...).lower(...).compile()``) for each batch
size an epoch uses, so compilation is excluded from the timed epochs and reported on its
own. The training set lives on the device; each step receives the batch's indices from a
host-side permutation and gathers inside the compiled step. JAX's CPU backend sizes its
thread pool to the cores the process may use (2 on issue 7's machine, which is the
thread count the comparison asks for; JAX has no supported setting for it). jax is
optional and imported through importlib (typed ``Any``), as torch is.
"""

from __future__ import annotations

import importlib
import os
import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks.references.gemm_floor import epoch_batches

__all__ = ["JaxMLP", "load_jax"]


def load_jax() -> tuple[Any, str]:
    """``(jax, description)``, or ``(None, why it is absent)``."""
    try:
        jax = importlib.import_module("jax")
        importlib.import_module("jax.numpy")
    except ImportError as exc:
        return None, f"jax absent ({exc})"
    jax.config.update("jax_platforms", "cpu")
    cores = _usable_cores()
    note = f"jax {jax.__version__}, CPU, XLA thread pool sized to the {cores} usable cores"
    if cores != 2:
        note += " (issue 7 compares at 2 threads: read this row with care)"
    return jax, note


def _usable_cores() -> int:
    """The cores this process may run on: what XLA's CPU thread pool is sized to."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class JaxMLP:
    """The model of :class:`~benchmarks.references.numpy_mlp.NumpyMLP` in JAX.

    ``x (N, n_in)`` and ``y (N,)`` are copied to the device once; :attr:`compile_seconds`
    is the total ahead-of-time compilation time of the step for every batch size of an
    epoch over them.
    """

    def __init__(
        self,
        jax: Any,
        layers: list[tuple[NDArray[Any], NDArray[Any]]],
        activation: str,
        lr: float,
        x: NDArray[Any],
        y: NDArray[Any],
        batch_size: int,
    ) -> None:
        jnp = importlib.import_module("jax.numpy")
        self.jax = jax
        act = {"relu": jax.nn.relu, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid}[activation]

        def loss_fn(params: Any, xb: Any, yb: Any) -> Any:
            h = xb
            for W, b in params[:-1]:
                h = act(h @ W + b)
            W, b = params[-1]
            logp = jax.nn.log_softmax(h @ W + b)
            return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

        def step(params: Any, X: Any, Y: Any, idx: Any) -> tuple[Any, Any]:
            loss, grads = jax.value_and_grad(loss_fn)(params, X[idx], Y[idx])
            new = jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)
            return new, loss

        self.params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in layers]
        self.X = jax.device_put(x)
        self.Y = jax.device_put(y.astype(np.int32))
        self.batch_size = batch_size
        self.n = x.shape[0]
        jitted = jax.jit(step)
        self.compiled: dict[int, Any] = {}
        start = time.perf_counter()
        for rows in sorted(set(epoch_batches(self.n, batch_size))):
            idx = np.zeros(rows, dtype=np.int32)
            self.compiled[rows] = jitted.lower(self.params, self.X, self.Y, idx).compile()
        self.compile_seconds = time.perf_counter() - start

    def train_epoch(self, rng: np.random.Generator) -> float:
        """One epoch in shuffled batches; blocks until the device is done; the mean loss."""
        perm = rng.permutation(self.n).astype(np.int32)
        params = self.params
        losses: list[Any] = []
        sizes: list[int] = []
        for start in range(0, self.n, self.batch_size):
            idx = perm[start : start + self.batch_size]
            params, loss = self.compiled[len(idx)](params, self.X, self.Y, idx)
            losses.append(loss)
            sizes.append(len(idx))
        self.params = self.jax.block_until_ready(params)
        # One transfer for all the per-step losses, weighted on the host.
        values = np.asarray(self.jax.device_get(losses), dtype=np.float64)
        return float(values @ np.asarray(sizes, dtype=np.float64) / self.n)
