"""The pure core: a model spec, pytrees, activations, losses, the dense layer, the network
(forward and backward, one engine for every path) and initializers. No I/O, no state."""
