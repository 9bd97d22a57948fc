"""Numerical derivatives: scipy's adaptive stencils with their error estimates, and kinks.

- ``numeric``: derivatives of a perturbed loss from ``scipy.differentiate.derivative``;
- ``kinks``: stencils that cross a relu or leaky-relu kink, found and never silently used.

May import: nothing else in verification.
"""
