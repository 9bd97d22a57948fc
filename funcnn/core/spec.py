"""The model specification: a frozen dataclass describing an MLP's shape."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from funcnn.core.activations import get_activation
from funcnn.core.validation import check_positive_int
from funcnn.errors import ArgumentTypeError, InvalidArgumentError

__all__ = ["MLP"]


@dataclass(frozen=True)
class MLP:
    """A multilayer perceptron: layer widths and hidden activations.

    ``sizes`` lists the widths from input to output, e.g. ``(784, 128, 10)``: that is two
    dense layers, ``784 -> 128`` and ``128 -> 10``. ``activation`` is one name applied
    after every hidden layer, or a sequence with one name per hidden layer. The last
    layer is linear: the network emits logits, and the loss decides what to make of them.

    Invalid specs raise ``InvalidArgumentError`` (a ``ValueError``) naming the problem.
    Lists are stored as tuples, so specs are hashable and compare by value.

        >>> spec = MLP([784, 128, 10], activation="relu")
        >>> spec.layer_shapes, spec.n_params
        (((784, 128), (128, 10)), 101770)
        >>> spec == MLP((784, 128, 10))
        True
    """

    sizes: tuple[int, ...]
    activation: str | tuple[str, ...] = "relu"

    def __post_init__(self) -> None:
        sizes_arg: object = self.sizes  # typed as a tuple, but callers may pass anything
        if isinstance(sizes_arg, str | bytes) or not isinstance(sizes_arg, Sequence):
            raise ArgumentTypeError(f"sizes: expected a sequence of ints, got {self.sizes!r}")
        if len(self.sizes) < 2:
            raise InvalidArgumentError(
                f"sizes: need at least 2 sizes (input and output width), got {tuple(self.sizes)}"
            )
        sizes = tuple(check_positive_int(f"sizes[{i}]", size) for i, size in enumerate(self.sizes))
        object.__setattr__(self, "sizes", sizes)
        n_hidden = len(sizes) - 2
        if isinstance(self.activation, str):
            get_activation(self.activation)
        else:
            if not isinstance(self.activation, Sequence):
                raise ArgumentTypeError(
                    f"activation: expected a name or a sequence of names, got {self.activation!r}"
                )
            names = tuple(self.activation)
            if len(names) != n_hidden:
                raise InvalidArgumentError(
                    f"activation: got {len(names)} per-layer activations for {n_hidden} "
                    f"hidden layers (sizes {sizes})"
                )
            for name in names:
                get_activation(name)
            object.__setattr__(self, "activation", names)

    @property
    def n_in(self) -> int:
        """Input width."""
        return self.sizes[0]

    @property
    def n_out(self) -> int:
        """Output width (number of logits)."""
        return self.sizes[-1]

    @property
    def n_layers(self) -> int:
        """Number of dense layers (``len(sizes) - 1``)."""
        return len(self.sizes) - 1

    @property
    def hidden_activations(self) -> tuple[str, ...]:
        """The activation name after each hidden layer (``n_layers - 1`` of them)."""
        if isinstance(self.activation, str):
            return (self.activation,) * (self.n_layers - 1)
        return self.activation

    @property
    def layer_shapes(self) -> tuple[tuple[int, int], ...]:
        """``(n_in, n_out)`` of each layer's weight matrix."""
        return tuple(zip(self.sizes[:-1], self.sizes[1:], strict=True))

    @property
    def n_params(self) -> int:
        """Total number of parameters (weights and biases)."""
        return sum(n_in * n_out + n_out for n_in, n_out in self.layer_shapes)
