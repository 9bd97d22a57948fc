"""verification: every analytic gradient proven against scipy finite differences.

A gradient-check engine on top of ``scipy.differentiate`` and the catalogue of checks
that covers every gradient funcnn computes. Run it as ``python -m verification`` (or
``funcnn-verify``); use it on any implementation::

    from verification import check_gradients
    report = check_gradients(loss_fn, grad_fn, params)     # any pytree of arrays
    print(report); assert report.passed                    # the table, with hints

    from verification import check_network                  # a funcnn MLP, fast path
    report = check_network(spec, params, x, y, "softmax_cross_entropy", mode="full")
    report.plot("errors.png")                                 # heat maps of failures

For example, the gradient of ``w . w`` is ``2 w``, and a gradient that forgets the 2 fails:

    >>> import numpy as np
    >>> def loss_fn(p):
    ...     return float(p["w"] @ p["w"])
    >>> params = {"w": np.array([1.0, -2.0])}
    >>> check_gradients(loss_fn, lambda p: {"w": 2 * p["w"]}, params).summary()
    '1 rows: 1 pass -> PASSED'
    >>> check_gradients(loss_fn, lambda p: {"w": p["w"]}, params).summary()
    '1 rows: 1 fail -> FAILED'

The package, one subpackage per concern, each importing only those listed below it
(its docstring says which; ``tests/test_verification_layers.py`` holds it to that):

- :mod:`~verification.interchange`: golden files any language can read, and the
  protocol that checks a program in another language over stdin/stdout;
- :mod:`~verification.catalogue`: every gradient funcnn computes, checked (what
  ``funcnn-verify`` runs), and the exact invariants of backprop;
- :mod:`~verification.external`: other people's MLPs: adapters from notebook layouts,
  conformance with funcnn, the root cause of a wrong backprop in words
  (:func:`diagnose_mlp`);
- :mod:`~verification.engine`: the finite-difference engine (:func:`check_gradients`,
  :func:`check_network`) with its own layers: ``common``, ``derivatives`` (scipy,
  kinks), ``bounds`` (tolerances, settings, the rounding-error model), ``evaluators``
  (a loss at many perturbed points at once) and ``modes`` (full, subset, directional);
- :mod:`~verification.reporting`: results as data (:class:`Report`), hints, heat maps.

This module and ``__main__`` (the command line) sit on top and may import any of them;
no subpackage imports this module.
"""

from verification.catalogue.invariants import check_invariants, check_softmax_jacobian_invariants
from verification.catalogue.suite import (
    ARCHITECTURES,
    Check,
    build_catalogue,
    check_activation,
    check_cross_entropy,
    check_dense,
    check_losses,
    check_network_case,
    check_softmax,
    run_checks,
)
from verification.engine.bounds.error_model import gradient_error_bound
from verification.engine.bounds.settings import Settings
from verification.engine.bounds.tolerances import K_ERROR, MODEL_SAFETY, Tolerance
from verification.engine.gradients import check_gradients
from verification.engine.network_check import check_network
from verification.external.conformance import check_conformance, textbook_value_and_grad
from verification.external.diagnosis import Diagnosis, diagnose_mlp
from verification.interchange.foreign import ForeignError, check_foreign
from verification.interchange.golden import export_golden, load_golden, verify_golden
from verification.reporting.report import VERDICTS, CheckRow, Report

__all__ = [
    "ARCHITECTURES",
    "K_ERROR",
    "MODEL_SAFETY",
    "VERDICTS",
    "Check",
    "CheckRow",
    "Diagnosis",
    "ForeignError",
    "Report",
    "Settings",
    "Tolerance",
    "build_catalogue",
    "check_activation",
    "check_conformance",
    "check_cross_entropy",
    "check_dense",
    "check_foreign",
    "check_gradients",
    "check_invariants",
    "check_losses",
    "check_network",
    "check_network_case",
    "check_softmax",
    "check_softmax_jacobian_invariants",
    "diagnose_mlp",
    "export_golden",
    "gradient_error_bound",
    "load_golden",
    "run_checks",
    "textbook_value_and_grad",
    "verify_golden",
]
