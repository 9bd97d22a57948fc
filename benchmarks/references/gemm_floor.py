"""The GEMM-only floor: just the matrix products one training step needs, nothing else.

For ``L`` dense layers a step needs ``3L - 1`` products: ``L`` forward
(``a_l @ W_l``), ``L`` weight gradients (``a_l.T @ dz_l``) and ``L - 1`` input gradients
(``dz_l @ W_l.T``); for the two-layer net these are the issue's five (``X@W1``, ``H@W2``,
``dZ2@W2.T``, ``H.T@dZ2``, ``X.T@dZ1``). They run on preallocated operands into
preallocated outputs (``np.matmul(..., out=)``): no gather, no activation, no loss, no
update, no allocation. No implementation in numpy can do a step in less time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["GemmFloor", "epoch_batches"]


def epoch_batches(n: int, batch_size: int) -> list[int]:
    """The batch sizes of one epoch over ``n`` samples, the last one possibly smaller."""
    return [min(batch_size, n - start) for start in range(0, n, batch_size)]


class GemmFloor:
    """Preallocated operands for ``sizes`` at up to ``batch_size`` rows, in ``dtype``."""

    def __init__(
        self, sizes: Sequence[int], batch_size: int, dtype: Any, rng: np.random.Generator
    ) -> None:
        def rand(*shape: int) -> NDArray[Any]:
            # Small values keep every product finite and far from subnormals.
            return (rng.standard_normal(shape) * 0.05).astype(dtype)

        n_layers = len(sizes) - 1
        self.W = [rand(sizes[i], sizes[i + 1]) for i in range(n_layers)]
        # a[0] is the input batch, a[l] the output of layer l (the last one: logits).
        self.a = [rand(batch_size, width) for width in sizes]
        self.dz = [rand(batch_size, width) for width in sizes[1:]]
        self.gW = [np.empty_like(W) for W in self.W]

    def step(self, rows: int) -> None:
        """The ``3L - 1`` products for a batch of ``rows`` rows."""
        matmul = np.matmul
        a = [v[:rows] for v in self.a]
        dz = [v[:rows] for v in self.dz]
        n_layers = len(self.W)
        for i in range(n_layers):
            matmul(a[i], self.W[i], out=a[i + 1])
        for i in range(n_layers - 1, -1, -1):
            matmul(a[i].T, dz[i], out=self.gW[i])
            if i > 0:
                matmul(dz[i], self.W[i].T, out=dz[i - 1])

    def epoch(self, batches: Sequence[int]) -> None:
        """One step per entry of ``batches`` (see :func:`epoch_batches`)."""
        for rows in batches:
            self.step(rows)

    def gathered_epoch(self, x: NDArray[Any], order: NDArray[np.intp]) -> None:
        """The products of one epoch over ``x`` in batches ``order[0:B]``, ``order[B:2B]``,
        ..., each batch first gathered into the input operand (``x.take(..., out=)``), as
        a training loop must. Everything else stays preallocated and hot in the caches,
        so this is the least any loop that feeds a new batch to every step can cost.
        """
        batch = self.a[0].shape[0]
        for start in range(0, x.shape[0], batch):
            idx = order[start : start + batch]
            x.take(idx, axis=0, out=self.a[0][: len(idx)], mode="clip")
            self.step(len(idx))
