"""What every part of the engine shares, with no dependency of its own.

- ``arguments``: argument checks of the entry points (one clear error per bad argument);
- ``layout``: where each tensor of a parameter pytree sits in the flat vector, and unit
  directions supported on one tensor;
- ``threads``: elementwise work split across a thread pool, BLAS kept to one thread;
- ``reference``: independent float64 losses and activations, the oracle the
  evaluators and the error model run.

May import: nothing else in verification.
"""
