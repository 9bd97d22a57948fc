"""The check modes, and the comparison of analytic with numerical values.

- ``compare``: numerical derivatives with kinks handled and a second opinion, compared
  with the analytic values, and the report row of one tensor;
- ``screen``: a three-evaluation first pass for losses that cost a whole call per point;
- ``coordinates``: full and subset mode, one derivative per selected coordinate;
- ``directional``: random unit probes per tensor, and the bisection to the worst entry;
- ``context``: :class:`~verification.engine.modes.context.CheckContext`, what every
  tensor of one check is checked with, passed down as one value;
- ``dispatch``: what the entry points share: the analytic gradient as flat arrays, the
  mode, and the run of that mode over every tensor.

May import: verification.engine.common, verification.engine.derivatives,
verification.engine.bounds, verification.engine.evaluators, verification.reporting.
"""
