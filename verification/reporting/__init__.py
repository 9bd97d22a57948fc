"""Reports: check results as data, the hints read from a failing tensor, heat maps.

- ``report``: :class:`~verification.reporting.report.CheckRow` (one checked tensor) and
  :class:`~verification.reporting.report.Report` (rows, a table, JSON);
- ``patterns``: what the shape of a failing tensor's error says about its cause;
- ``plot``: the failing tensors' signed relative error as heat maps (matplotlib).

The bottom layer: every other subpackage reports through it.

May import: nothing else in verification.
"""
