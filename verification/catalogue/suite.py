"""The catalogue: every gradient funcnn computes, checked against scipy finite differences.

1. each activation's derivative on [-20, 20] plus large magnitudes;
2. softmax: its Jacobian's exact invariants, the full Jacobian against
   ``scipy.differentiate.jacobian``, its VJP against ``J^T g``;
3. cross-entropy: the fused gradient ``softmax(z) - y``, funcnn's explicit path and one
   composed here from ``-y / p`` and the softmax Jacobian, against finite differences
   and each other, with integer labels and one-hot targets;
4. every other registered loss's gradient; 5. the dense layer's VJP (W, b and x);
6. the gradient the training step applies (``fit``, ``make_step``), observed from one
   step, for every activation x loss x dtype (:mod:`verification.catalogue.training_step`);
7. whole networks, every parameter tensor: every architecture the project reproduces,
   every activation and every loss (:func:`network_matrix`), float64 and float32, on
   MNIST samples when present (random inputs otherwise), full mode up to 30k parameters,
   directional above; a conformance check against an independent implementation.
   Backprop's exact invariants run first.

Each entry is a :class:`Check` (a name, a group, whether ``--quick`` runs it, and a
function of the seed returning a :class:`~verification.reporting.report.Report`);
:func:`build_catalogue` lists them and :func:`run_checks` runs them. The check functions take
the implementation under test as optional arguments (``derivative=``, ``jacobian=``,
``vjp=``, ``grad_fn=``...) so that a broken one can be shown to fail.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from funcnn.core.activations import ACTIVATIONS
from funcnn.core.initializers import init
from funcnn.core.losses import LOSSES, Loss, get_loss
from funcnn.core.spec import MLP
from funcnn.errors import ArgumentTypeError, InvalidArgumentError
from funcnn.typing import Array, FloatArray, Params
from verification.catalogue.activation_check import activation_points, check_activation
from verification.catalogue.data import dtype_name, problem_rng, sample_batch
from verification.catalogue.invariants import check_invariants
from verification.catalogue.layer_checks import check_dense, check_softmax, softmax_logits
from verification.catalogue.loss_checks import check_cross_entropy, check_losses, loss_logits
from verification.catalogue.training_step import OPTIMIZERS as STEP_OPTIMIZERS
from verification.catalogue.training_step import check_training_step
from verification.engine.common.arguments import check_callable, check_float_dtype, check_seed
from verification.engine.common.reference import dense_targets
from verification.engine.common.threads import single_threaded_blas
from verification.engine.network_check import check_network
from verification.external.conformance import check_conformance, textbook_value_and_grad
from verification.reporting.report import CheckRow, Report

__all__ = [
    "ARCHITECTURES",
    "DTYPES",
    "XOR_TWO_CLASS",
    "Architecture",
    "Check",
    "activation_points",
    "build_catalogue",
    "check_activation",
    "check_cross_entropy",
    "check_dense",
    "check_losses",
    "check_network_case",
    "check_softmax",
    "loss_logits",
    "loss_rows",
    "network_case",
    "network_matrix",
    "problem_rng",
    "run_checks",
    "select",
    "softmax_logits",
]

DTYPES = (np.float64, np.float32)
"""Every check runs in both."""

BATCH = 32
"""Samples per network check."""


@dataclass(frozen=True)
class Architecture:
    """A network the project reproduces: sizes, its usual activation and init scheme."""

    name: str
    sizes: tuple[int, ...]
    activation: str
    scheme: str


ARCHITECTURES: dict[str, Architecture] = {
    arch.name: arch for arch in (
        Architecture("2-3-1", (2, 3, 1), "sigmoid", "normal:1"),
        Architecture("784-128-10", (784, 128, 10), "relu", "normal:0.02"),
        Architecture("784-32-32-10", (784, 32, 32, 10), "sigmoid", "inverse_max_fan_normal"),
        Architecture("784-100-200-10", (784, 100, 200, 10), "relu", "glorot_normal"),
        Architecture("784-500-250-100-10", (784, 500, 250, 100, 10), "tanh", "glorot_uniform"),
    )
}
"""The architectures of the project's examples (see ``examples/``)."""

XOR_TWO_CLASS = Architecture("2-3-2", (2, 3, 2), "sigmoid", "normal:1")
"""XOR with two softmax outputs, for the softmax-based losses (one softmax output is 1:
loss and gradients exactly 0, a check that could not fail)."""

_XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
_XOR_Y = np.array([0, 1, 1, 0])


@dataclass(frozen=True)
class Check:
    """One catalogue entry: ``run(seed) -> Report``; the first of
    :func:`build_catalogue`, for example:

        >>> from verification import build_catalogue
        >>> build_catalogue(quick=True)[0].run(0).passed
        True
    """

    name: str
    group: str
    quick: bool
    run: Callable[[int], Report]


# -- 6. networks ----------------------------------------------------------------------


def network_case(
    arch: str, activation: str, loss: str | Loss, dtype: Any, seed: int
) -> tuple[MLP, Params, FloatArray, Array, str]:
    """The fixed-seed problem of one network check: ``(spec, params, x, y, source)``.

    ``y`` are integer labels for a loss of ``"distribution"`` targets, else one-hot
    float targets of ``dtype``; ``source`` is ``"mnist"``, ``"random"`` or ``"xor"``.
    """
    info = _architecture(arch)
    dtype = check_float_dtype("dtype", dtype)
    seed = check_seed(seed)
    resolved = get_loss(loss)
    rng = problem_rng(seed, f"network/{arch}/{activation}/{resolved.name}")
    spec = MLP(info.sizes, activation)
    params = init(spec, rng, info.scheme, dtype=dtype)
    if arch in ("2-3-1", XOR_TWO_CLASS.name):
        x, labels, source = _XOR_X.copy(), _XOR_Y.copy(), "xor"
    else:
        x, labels, source = sample_batch(spec.n_in, spec.n_out, BATCH, rng)
    if resolved.target_kind == "distribution":
        y: Array = labels if spec.n_out > 1 else np.zeros_like(labels)
    else:
        y = dense_targets(labels, len(labels), spec.n_out).astype(dtype)
    return spec, params, x.astype(dtype), y, source


def check_network_case(
    arch: str,
    activation: str,
    loss: str,
    dtype: Any = np.float64,
    *,
    seed: int = 0,
    mode: str = "auto",
    subset: Any = None,
    check: str | None = None,
) -> Report:
    """:func:`verification.engine.network_check.check_network` on
    :func:`network_case`, for example:

        >>> from verification import check_network_case
        >>> check_network_case("2-3-1", "tanh", "mse").passed
        True
    """
    spec, params, x, y, source = network_case(arch, activation, loss, dtype, seed)
    check = check or f"network/{arch}/{activation}/{loss}/{dtype_name(dtype)}"
    report = check_network(spec, params, x, y, loss, mode=mode, subset=subset, seed=seed,
                           name=check)
    rows = tuple(replace(row, note=(row.note + "; " if row.note else "") + f"data: {source}")
                 if row.tensor == "loss value" else row for row in report.rows)
    return Report(rows, {**report.meta, "data": source})


def _architecture(arch: Any) -> Architecture:
    """The architecture named ``arch`` (a key of :data:`ARCHITECTURES`)."""
    if not isinstance(arch, str):
        raise ArgumentTypeError(f"arch: expected a str, got {type(arch).__name__}")
    if arch == XOR_TWO_CLASS.name:
        return XOR_TWO_CLASS
    if arch not in ARCHITECTURES:
        raise InvalidArgumentError(
            f"arch: unknown architecture {arch!r}; expected one of "
            f"{[*ARCHITECTURES, XOR_TWO_CLASS.name]}"
        )
    return ARCHITECTURES[arch]


def _invariants(arch: str, dtype: Any, check: str, *, seed: int) -> Report:
    info = ARCHITECTURES[arch]
    loss = "mse" if arch == "2-3-1" else "softmax_cross_entropy"
    spec, params, x, y, _ = network_case(arch, info.activation, loss, dtype, seed)
    return check_invariants(spec, params, x, y, loss, name=check)


def _conformance(arch: str, dtype: Any, check: str, *, seed: int) -> Report:
    info = ARCHITECTURES[arch]
    loss = "softmax_cross_entropy"
    spec, params, x, y, _ = network_case(arch, info.activation, loss, dtype, seed)
    return check_conformance(textbook_value_and_grad(spec, loss), spec, params, x, y, loss,
                             name=check, seed=seed, other_name="textbook")


def network_matrix() -> list[tuple[str, str, str]]:
    """(arch, activation, loss): every activation with cross-entropy, and every loss with
    the architecture's own activation (:func:`loss_rows`), for every architecture; the
    one-output XOR network's activation sweep uses binary cross-entropy."""
    out = []
    rows = {loss: loss_rows(loss) for loss in sorted(LOSSES)}
    for arch, info in ARCHITECTURES.items():
        one_output = info.sizes[-1] == 1
        sweep = "binary_cross_entropy" if one_output else "softmax_cross_entropy"
        out += [(arch, act, sweep) for act in sorted(ACTIVATIONS)]
        out += [row for loss in rows if loss != sweep for row in rows[loss] if row[0] == arch]
        if one_output:
            out += [(XOR_TWO_CLASS.name, act, "softmax_cross_entropy")
                    for act in sorted(ACTIVATIONS)]
            out += [row for loss in rows if loss != "softmax_cross_entropy"
                    for row in rows[loss] if row[0] == XOR_TWO_CLASS.name]
    return out


def loss_rows(loss: str | Loss) -> list[tuple[str, str, str]]:
    """(arch, activation, loss name): ``loss`` with each architecture's own activation,
    the rows :func:`network_matrix` gives it; never on fewer outputs than its
    ``min_outputs`` (a softmax over one output: gradient 0): the XOR network's move to
    :data:`XOR_TWO_CLASS`. Any :class:`~funcnn.Loss`, in the registry or not."""
    resolved = get_loss(loss)
    return [(arch if fits else XOR_TWO_CLASS.name, info.activation, resolved.name)
            for arch, info in ARCHITECTURES.items()
            if (fits := info.sizes[-1] >= resolved.min_outputs) or arch == "2-3-1"]


_QUICK_NETWORKS = {("784-32-32-10", "sigmoid", "softmax_cross_entropy"),
                   ("784-128-10", "relu", "softmax_cross_entropy"),
                   ("784-100-200-10", "relu", "softmax_then_cross_entropy"),
                   ("784-500-250-100-10", "tanh", "softmax_cross_entropy")}


def _activation(name: str, dtype: Any, *, seed: int) -> Report:
    return check_activation(name, dtype)


def _seeded(fn: Callable[..., Report], *args: Any) -> Callable[[int], Report]:
    """``seed -> fn(*args, seed=seed)``."""
    return lambda seed: fn(*args, seed=seed)


def build_catalogue(quick: bool = False) -> list[Check]:
    """Every check, in run order; with ``quick`` only those marked quick, for
    example:

        >>> from verification import build_catalogue
        >>> all(check.quick for check in build_catalogue(quick=True))
        True
    """
    checks: list[Check] = []

    def add(name: str, group: str, is_quick: bool, run: Callable[[int], Report]) -> None:
        checks.append(Check(name, group, is_quick, run))

    # The exact invariants of backprop first: they need no finite difference, and a
    # network that breaks one is wrong whatever the numerical checks find.
    for dtype in DTYPES:
        dn = dtype_name(dtype)
        for arch in ARCHITECTURES:
            name = f"invariants/{arch}/{dn}"
            add(name, "invariants", arch in ("2-3-1", "784-32-32-10"),
                _seeded(_invariants, arch, dtype, name))
    for dtype in DTYPES:
        dn = dtype_name(dtype)
        for act in sorted(ACTIVATIONS):
            add(f"activation/{act}/{dn}", "activations", True,
                _seeded(_activation, act, dtype))
        add(f"softmax/{dn}", "softmax", True, _seeded(check_softmax, dtype))
        for kind in ("labels", "onehot"):
            add(f"cross_entropy/{kind}/{dn}", "cross_entropy", True,
                _seeded(check_cross_entropy, dtype, kind))
        add(f"losses/{dn}", "losses", True, _seeded(check_losses, dtype))
        add(f"dense/{dn}", "dense", True, _seeded(check_dense, dtype))
    for dtype in DTYPES:
        dn = dtype_name(dtype)
        for arch, act, loss in network_matrix():
            is_quick = arch in ("2-3-1", XOR_TWO_CLASS.name) or (
                (arch, act, loss) in _QUICK_NETWORKS
                and (dtype == np.float64 or arch == "784-32-32-10")
            )
            add(f"network/{arch}/{act}/{loss}/{dn}", "networks", is_quick,
                _seeded(check_network_case, arch, act, loss, dtype))
    _add_training_steps(add)
    for arch in ("784-32-32-10", "784-128-10"):
        name = f"conformance/textbook/{arch}/float64"
        add(name, "conformance", arch == "784-32-32-10",
            _seeded(_conformance, arch, np.float64, name))
    return [c for c in checks if c.quick] if quick else checks


def _add_training_steps(add: Callable[[str, str, bool, Callable[[int], Report]], None]) -> None:
    """The gradient the training step applies (:mod:`verification.catalogue.training_step`), for
    every activation x loss x dtype x way of applying it."""
    for dtype in DTYPES:
        dn = dtype_name(dtype)
        for act in sorted(ACTIVATIONS):
            for loss in sorted(LOSSES):
                for opt in STEP_OPTIMIZERS:
                    name = f"train-step/{act}/{loss}/{dn}/{opt}"
                    quick = act in ("relu", "sigmoid") and loss == "softmax_cross_entropy"
                    add(name, "training", quick,
                        _seeded(check_training_step, act, loss, dtype, opt))


def select(checks: Sequence[Check], patterns: Iterable[str]) -> list[Check]:
    """Checks whose name matches any pattern (shell wildcards, or a plain substring)."""
    pats = list(patterns)
    if not pats:
        return list(checks)
    return [
        c for c in checks
        if any(fnmatch.fnmatchcase(c.name, p) or (not any(ch in p for ch in "*?[") and p in c.name)
               for p in pats)
    ]


def run_checks(
    checks: Sequence[Check],
    seed: int = 0,
    progress: Callable[[int, int, Check, Report, float], None] | None = None,
) -> Report:
    """Run ``checks`` in order; an exception inside a check becomes a failing row,
    for example:

        >>> from verification import build_catalogue, run_checks
        >>> run_checks(build_catalogue(quick=True)[:2]).passed
        True
    """
    # Typed as a sequence, but called from untyped code too: check what arrived.
    if isinstance(checks, str | bytes) or not isinstance(checks, Sequence):  # type: ignore[unreachable]
        raise ArgumentTypeError(
            f"checks: expected a sequence of Check, got {type(checks).__name__}"
        )
    for index, item in enumerate(checks):
        if not isinstance(item, Check):
            raise ArgumentTypeError(
                f"checks: expected a sequence of Check, got {type(item).__name__} at "
                f"index {index}"
            )
    seed = check_seed(seed)
    check_callable("progress", progress, optional=True)
    reports = []
    started = time.perf_counter()
    sources: set[str] = set()
    for index, item in enumerate(checks):
        start = time.perf_counter()
        try:
            with single_threaded_blas():
                report = item.run(seed)
        except Exception as exc:  # a crash is a failed check, reported, never hidden
            report = Report((CheckRow(item.name, "error", (), "exact", "-", "fail",
                                      note=f"{type(exc).__name__}: {exc}"),), {})
        seconds = time.perf_counter() - start
        if "data" in report.meta:
            sources.add(str(report.meta["data"]))
        reports.append(Report(report.rows, {}))
        if progress is not None:
            progress(index, len(checks), item, report, seconds)
    return Report.combine(reports, {
        "seed": seed,
        "checks": len(checks),
        "seconds": round(time.perf_counter() - started, 3),
        "data": sorted(sources),
        "numpy": np.__version__,
        "scipy": _scipy_version(),
    })


def _scipy_version() -> str:
    import scipy

    return str(scipy.__version__)

