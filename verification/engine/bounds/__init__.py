"""The pass condition: how far a correct gradient may be from its numerical derivative.

- ``tolerances``: :class:`~verification.engine.bounds.tolerances.Tolerance`, derived from
  the dtype and the error estimates, and the constants ``K_ERROR`` and ``MODEL_SAFETY``;
- ``settings``: :class:`~verification.engine.bounds.settings.Settings` (the numerical
  settings of a check), the modes and their size limits;
- ``error_model``: a first-order running bound on the rounding error of an MLP gradient
  computed in float32 or float64;
- ``derived_loss``: that bound for a loss gradient the model has no formula for (a new
  ``funcnn.Loss``), derived from measurements of the loss's own gradient.

May import: verification.engine.common.
"""
