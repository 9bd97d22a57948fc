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

Modules: :mod:`~verification.engine` (the entry points: check_gradients, re-exports),
:mod:`~verification.network_check`, :mod:`~verification.problems` (scalar problems,
Jacobians, loss gradients), :mod:`~verification.coordinates` and
:mod:`~verification.directional` (the modes), :mod:`~verification.screen` (three-call
first pass for black-box losses), :mod:`~verification.compare` (comparison and report
rows), :mod:`~verification.settings`, :mod:`~verification.dispatch`,
:mod:`~verification.numeric` (scipy derivatives with error estimates),
:mod:`~verification.perturbed` (the perturbed-loss protocol; implementations in
:mod:`~verification.generic_loss`, :mod:`~verification.network_loss`,
:mod:`~verification.logits_loss`; layout in :mod:`~verification.layout`; shared
weight moves in :mod:`~verification.sparse_moves`),
:mod:`~verification.kinks`, :mod:`~verification.tolerances` and
:mod:`~verification.error_model` (the pass condition), :mod:`~verification.report`
(results as data), :mod:`~verification.patterns` (hints), :mod:`~verification.plot`
(heat maps), :mod:`~verification.invariants`, :mod:`~verification.conformance`,
:mod:`~verification.catalogue` (with :mod:`~verification.activation_check`,
:mod:`~verification.layer_checks`, :mod:`~verification.loss_checks`),
:mod:`~verification.golden` (portable golden files), :mod:`~verification.foreign`
(checks a program in any language over stdin/stdout), :mod:`~verification.calibration`
(measures the pass condition's constants on random networks),
:mod:`~verification.diagnosis` (the root cause of a wrong MLP backprop, in words:
:func:`diagnose_mlp`) and
:mod:`~verification.adapters` (notebook layouts to funcnn's in a few lines).
"""

from verification.catalogue import (
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
from verification.conformance import check_conformance, textbook_value_and_grad
from verification.diagnosis import Diagnosis, diagnose_mlp
from verification.engine import check_gradients
from verification.error_model import gradient_error_bound
from verification.foreign import ForeignError, check_foreign
from verification.golden import export_golden, load_golden, verify_golden
from verification.invariants import check_invariants, check_softmax_jacobian_invariants
from verification.network_check import check_network
from verification.report import VERDICTS, CheckRow, Report
from verification.settings import Settings
from verification.tolerances import K_ERROR, MODEL_SAFETY, Tolerance

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
