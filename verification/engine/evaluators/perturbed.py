"""A loss evaluated at many perturbed parameter vectors at once.

The numerical derivatives need ``L(theta + t e_i)`` for every coordinate ``i`` and a few
steps ``t`` (full mode), or ``L(theta + t v)`` for a few directions ``v`` (directional
mode). Both evaluators here return the *change* ``L(theta + ...) - L(theta)``, which has
the same derivative as the loss and does not carry the rounding of ``L(theta)`` itself
into the finite differences, plus a flag per point saying whether the activation
pattern of a kinked activation (relu, leaky relu) differs from the one at ``theta``.

The protocol :class:`PerturbedLoss` lives here; its implementations each have a module
(and are re-exported here):

- :class:`~verification.engine.evaluators.network_loss.NetworkLoss` knows it is an MLP and
  exploits the structure: moving ``W[i, j]`` or ``b[j]`` of layer ``l`` changes only column
  ``j`` of that layer's pre-activations, by ``t * a[:, i]`` (or ``t``), and only for samples
  where that is non-zero. So each perturbation costs one column plus the layers above it,
  per affected sample, instead of a whole forward pass; 26,506 coordinates of a 784-32-32-10
  network are a few hundred thousand cheap row evaluations.
- :class:`~verification.engine.evaluators.generic_loss.GenericLoss` wraps any
  ``loss_fn(params) -> float``: one call per perturbed vector, or one call per chunk when a
  vectorised ``batched_loss(thetas)`` is given;
- :class:`~verification.engine.evaluators.logits_loss.LogitsLoss`: a loss as a function of
  its logits.

Everything is float64: a float32 network is checked against the float64 evaluation of
the same function at the same (exactly up-cast) parameters and inputs.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from funcnn.typing import FloatArray, IntArray
from verification.engine.common.layout import (
    Directions,
    TensorInfo,
    block_key,
    tensor_block,
    tensor_layout,
)
from verification.engine.evaluators.generic_loss import GenericLoss
from verification.engine.evaluators.logits_loss import LogitsLoss
from verification.engine.evaluators.network_loss import NetworkLoss

__all__ = [
    "Directions",
    "GenericLoss",
    "LogitsLoss",
    "NetworkLoss",
    "PerturbedLoss",
    "TensorInfo",
    "block_key",
    "tensor_block",
    "tensor_layout",
]

BoolArray = NDArray[np.bool_]


class PerturbedLoss(Protocol):
    """What the engine needs from a loss: changes at perturbed parameter vectors."""

    @property
    def n(self) -> int:
        """Number of scalar parameters (length of the flat vector)."""
        ...

    @property
    def value(self) -> float:
        """The loss at the unperturbed parameters."""
        ...

    @property
    def noise_scale(self) -> float:
        """Magnitude whose float64 rounding bounds the noise of one evaluation."""
        ...

    @property
    def detects_kinks(self) -> bool:
        """Whether the kink flags returned are meaningful."""
        ...

    def coordinate_scale(self) -> FloatArray:
        """Per coordinate, how strongly a unit step moves the function's inputs (> 0)."""
        ...

    def coordinates(self, index: IntArray, t: FloatArray) -> tuple[FloatArray, BoolArray]:
        """``L(theta + t e_index) - L(theta)`` and kink flags, elementwise.

        ``index`` and ``t`` broadcast together; both results have the broadcast shape.
        """
        ...

    def direction_scale(self, dirs: Directions) -> FloatArray:
        """Per direction, how strongly a unit step moves the function's inputs (> 0)."""
        ...

    def directions(
        self, dirs: Directions, k: IntArray, t: FloatArray
    ) -> tuple[FloatArray, BoolArray]:
        """``L(theta + t_p v_{k_p}) - L(theta)`` and kink flags for points ``p``.

        ``k`` and ``t`` are 1-D of equal length: direction number and step per point.
        """
        ...


