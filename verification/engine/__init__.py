"""The finite-difference engine: analytic gradients against scipy finite differences.

The entry points, each a module here:

- ``gradients``: :func:`~verification.engine.gradients.check_gradients`, any
  ``loss_fn(params) -> float`` and ``grad_fn`` over any pytree of arrays;
- ``network_check``: :func:`~verification.engine.network_check.check_network`, a funcnn
  MLP through the structured evaluator and the rounding model of its gradient;
- ``problems``: independent scalar problems, precomputed Jacobians, loss gradients;
- ``calibration``: measures the pass condition's two constants on correct code.

What they are built from, one subpackage per concern (lowest first):
:mod:`~verification.engine.common` (argument checks, the flat parameter layout, threads,
the float64 reference formulas), :mod:`~verification.engine.derivatives` (scipy
derivatives, kinks), :mod:`~verification.engine.bounds` (tolerances, settings, the
rounding-error model), :mod:`~verification.engine.evaluators` (a loss at many perturbed
parameter vectors at once) and :mod:`~verification.engine.modes` (full, subset and
directional modes, the comparison and the report row).

May import: verification.engine.common, verification.engine.derivatives,
verification.engine.bounds, verification.engine.evaluators, verification.engine.modes,
verification.reporting.
"""
