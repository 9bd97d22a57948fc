"""Golden values: fixed-seed problems with funcnn's outputs and the rule to compare
against them, exported as a JSON manifest plus raw little-endian arrays that any
language can read (the layout is in :mod:`verification.interchange.golden_format` and
``docs/golden-format.md``).

Case kinds (each case lists its ``inputs`` and the ``outputs`` an implementation must
reproduce):

- ``network/<arch>/<activation>/<loss>/<dtype>``: ``x``, ``y``, ``params/<l>/W|b`` in;
  ``value`` (the mean loss, a JSON number) and ``grads/<l>/W|b`` out, with a per-entry
  ``tolerance/<l>/W|b`` (the rounding bound of :mod:`verification.engine.bounds.error_model`);
- ``activation/<name>/<dtype>``: ``z`` in; ``value`` = f(z) and ``derivative`` out;
- ``softmax/<dtype>``: ``z``, ``g`` in; ``s``, ``jacobian`` ([b, i, j] = ds_i/dz_j)
  and ``vjp`` (J^T g per sample) out;
- ``loss/<name>/<targets>/<dtype>``: logits ``z`` and ``y`` in; ``value``, ``grad`` out;
- ``dense/<dtype>``: ``W``, ``b``, ``x``, upstream ``g`` in; ``out = x W + b``, ``dW``,
  ``db``, ``dx`` out.

Default networks (:func:`golden_networks`): every XOR network of the catalogue
(2-3-1 with the non-softmax losses, 2-3-2 with the softmax-based ones) and
784-32-32-10 with sigmoid and cross-entropy, in float64 and float32 (about 1.8 MB);
``large=True`` adds every activation and loss on 784-32-32-10 and each larger
architecture with its own activation (about 43 MB). :func:`compare_case` is the
comparison rule, written into the manifest with its constants; :func:`verify_golden`
applies it to funcnn or any other implementation.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from funcnn.core.activations import get_activation
from funcnn.core.losses import Loss, get_loss
from funcnn.core.network import value_and_grad
from funcnn.core.spec import MLP
from funcnn.typing import Array, FloatArray, Params
from verification.catalogue.suite import (
    ARCHITECTURES,
    DTYPES,
    loss_rows,
    network_case,
    network_matrix,
)
from verification.engine.bounds.error_model import gradient_error_bound
from verification.engine.bounds.tolerances import MODEL_SAFETY, eps_of, rtol_for
from verification.engine.common.arguments import check_callable, check_extra_losses, check_seed
from verification.interchange.golden_cases import elementwise_cases, loss_fields, output_scale
from verification.interchange.golden_format import FORMAT, GoldenFiles, read_golden, write_golden
from verification.reporting.report import CheckRow, Report

__all__ = [
    "ATOL_ULPS",
    "FORMAT",
    "GRAD_FACTOR",
    "compare_case",
    "export_golden",
    "golden_networks",
    "load_golden",
    "output_bound",
    "value_bound",
    "verify_golden",
]

GRAD_FACTOR = 2 * MODEL_SAFETY
"""Network gradients: ``|got - want| <= GRAD_FACTOR * tolerance + rtol * |want|`` (both
sides' rounding, each within ``MODEL_SAFETY`` times the bound)."""

ATOL_ULPS = 4.0
"""Elementwise cases: ``|got - want| <= rtol |want| + ATOL_ULPS * eps * scale``. The
stored values carry their own rounding (float64 rounds tanh(-19.05) to -1, so the
stored tanh' there is 0 where the exact value is 1e-16); an absolute floor of a few
ulps of the function's scale lets any correct formula pass there."""

OtherNetwork = Callable[[MLP, Params, Array, Array, str], tuple[float, Params]]
OtherActivation = Callable[[str, Array], tuple[Array, Array]]


def _rules() -> dict[str, Any]:
    rtol = {str(np.dtype(d)): rtol_for(d) for d in DTYPES}
    eps = {str(np.dtype(d)): eps_of(d) for d in DTYPES}
    return {
        "network": {
            "gradient": "abs(got - want) <= grad_factor * tolerance + rtol[dtype] * abs(want), "
                        "for every entry of every grads/* tensor",
            "loss": "abs(got - value) <= rtol[dtype] * max(1, abs(value))",
            "grad_factor": GRAD_FACTOR, "rtol": rtol,
        },
        "elementwise": {
            "rule": "abs(got - want) <= rtol[dtype] * abs(want) + atol_ulps * eps[dtype] * "
                    "scale[output] + grad_factor * tolerance, for every entry of every "
                    "output; scale is the case's scale[output] (for an activation's "
                    "derivative sup|f'|, for its value 1; otherwise the largest |want| of "
                    "that output); tolerance is the case's tensor tolerance/<output> where "
                    "it has one (a loss case's grad: the rounding bound of the reference "
                    "gradient in the case's dtype), else 0",
            "scalar": "a scalar output (value) is compared like the network loss",
            "atol_ulps": ATOL_ULPS, "grad_factor": GRAD_FACTOR, "rtol": rtol, "eps": eps,
        },
        "dtypes": "check a float32 implementation against the float32 cases: the float64 "
                  "cases' tolerances are float64 rounding and no float32 code meets them; "
                  "float64 code may be checked against either (the float32 cases' "
                  "tolerances cover the float32 reference's own rounding)",
    }


_HEADER = {
    "layout": "row-major (C order); a dense layer is z = a @ W + b with W of shape "
              "(n_in, n_out) and b of shape (n_out,); the last layer is linear",
    "conventions": {
        "reduction": "every loss is the mean over the batch (and over the outputs for mse, "
                     "binary_cross_entropy and softmax_binary_cross_entropy)",
        "labels": "int32 class indices for softmax_cross_entropy, "
                  "softmax_then_cross_entropy and any loss of distribution targets; "
                  "otherwise float targets of shape "
                  "(batch, n_out) in the case's dtype (one-hot for classification data; "
                  "for one output the 0/1 target)",
        "activations": "relu'(0) = 0 and leaky_relu'(0) = 0.01 (slope 0.01); softplus' = "
                       "sigmoid; sigmoid' = s (1 - s); tanh' = 1 - tanh^2",
        "no_single_softmax": "no network applies a softmax-based loss to one output (its "
                             "gradient would be identically zero)",
        "loss_targets": "a loss case's targets say what y is: labels (int32 class indices, "
                        "shape (batch,), one-hot implied), onehot (float one-hot rows), "
                        "probability (floats in [0, 1], each entry its own binary target) "
                        "or real (any floats, for mse); float targets have shape "
                        "(batch, n_out) and the case's dtype",
        "clipping": "p = softmax(z) is clipped where a logarithm needs it, with tiny and "
                    "epsneg of the case's dtype (numpy finfo: float64 2.2e-308 and 2^-53, "
                    "float32 1.2e-38 and 2^-24): softmax_then_cross_entropy to [tiny, 1]; "
                    "softmax_binary_cross_entropy to [tiny, 1 - epsneg], in its value and in "
                    "dL/dp = (-y / p + (1 - y) / (1 - p)) / (batch n_out), which then goes "
                    "through the softmax VJP of the unclipped p",
    },
}


def golden_networks(large: bool = False, losses: Sequence[Loss] = ()
                    ) -> list[tuple[str, str, str]]:
    """(arch, activation, loss) of the golden network cases (see the module docstring);
    ``losses`` beyond the registry get the rows of a registry loss."""
    matrix = network_matrix() + [row for loss in losses for row in loss_rows(loss)]
    xor = [case for case in matrix if case[0].startswith("2-3-")]
    if not large:
        return [*xor, ("784-32-32-10", "sigmoid", "softmax_cross_entropy")]
    mid = [case for case in matrix if case[0] == "784-32-32-10"]
    big = [(arch, info.activation, "softmax_cross_entropy") for arch, info in
           ARCHITECTURES.items() if arch not in ("2-3-1", "784-32-32-10")]
    return [*xor, *mid, *big]


def _network_case(arch: str, act: str, loss: str | Loss, dtype: Any, seed: int
                  ) -> tuple[dict[str, Any], dict[str, Array]]:
    spec, params, x, y, source = network_case(arch, act, loss, dtype, seed)
    value, grads = value_and_grad(spec, params, x, y, loss)
    bounds = gradient_error_bound(spec, params, x, y, loss, dtype)
    dn = str(np.dtype(dtype))
    labels = np.asarray(y).dtype.kind in "iu"
    fields = {
        "id": f"network/{arch}/{act}/{get_loss(loss).name}/{dn}", "kind": "network",
        "dtype": dn, "sizes": list(spec.sizes), "activations": list(spec.hidden_activations),
        **loss_fields(get_loss(loss)), "reduction": "mean",
        "labels": "int32" if labels else "dense",
        "data": source, "value": float(value), "n_layers": spec.n_layers,
        "inputs": ["x", "y", "params/*"], "outputs": ["value", "grads/*"],
    }
    tensors: dict[str, Array] = {"x": x, "y": np.asarray(y)}
    for index, (layer, grad, bound) in enumerate(zip(params, grads, bounds, strict=True)):
        for key in ("W", "b"):
            tensors[f"params/{index}/{key}"] = layer[key]
            tensors[f"grads/{index}/{key}"] = grad[key]
            tensors[f"tolerance/{index}/{key}"] = bound[key]
    return fields, tensors


def export_golden(
    directory: str | Path,
    seed: int = 0,
    large: bool = False,
    networks: Sequence[tuple[str, str, str]] | None = None,
    losses: Sequence[Loss] = (),
) -> list[str]:
    """Write the golden cases to ``directory``; return their ids. Runs no check.

    ``losses``: losses beyond funcnn's registry (any :class:`funcnn.Loss`, e.g. a head
    of :func:`verification.external.heads.head`), each exported like a registry loss:
    its loss cases, and its network rows among the default ``networks`` (``networks``
    may name it too). A head's cases carry its declaration (``head``).

    For example:

        >>> import tempfile
        >>> from pathlib import Path
        >>> from verification import export_golden
        >>> folder = tempfile.mkdtemp()
        >>> ids = export_golden(folder, networks=[("2-3-1", "tanh", "mse")])
        >>> "activation/tanh/float64" in ids, sorted(p.name for p in Path(folder).iterdir())
        (True, ['data.bin', 'index.txt', 'manifest.json'])
    """
    seed = check_seed(seed)
    extra = check_extra_losses(losses)
    chosen = golden_networks(large, list(extra.values())) if networks is None else list(networks)
    cases = elementwise_cases(seed, list(extra.values()))
    for dtype in DTYPES:
        cases += [_network_case(arch, act, extra.get(loss, loss), dtype, seed)
                  for arch, act, loss in chosen]
    write_golden(directory, {"seed": seed, **_HEADER, "comparison": _rules()}, cases)
    return [fields["id"] for fields, _ in cases]


def load_golden(path: str | Path) -> GoldenFiles:
    """A golden directory (or its ``manifest.json``), checked for its format.

    For example:

        >>> import tempfile
        >>> from verification import export_golden, load_golden
        >>> folder = tempfile.mkdtemp()
        >>> ids = export_golden(folder, networks=[("2-3-1", "tanh", "mse")])
        >>> golden = load_golden(folder)
        >>> len(golden.cases) == len(ids), golden.manifest["seed"]
        (True, 0)
    """
    return read_golden(path)


def value_bound(case: dict[str, Any]) -> float:
    """How far a case's scalar ``value`` may be off: ``rtol * max(1, |value|)``."""
    return rtol_for(case["dtype"]) * max(1.0, abs(float(case["value"])))


def output_bound(case: dict[str, Any], arrays: dict[str, Array], name: str) -> FloatArray:
    """How far each entry of array output ``name`` of ``case`` may be off (the manifest's
    rule for the case's kind), in the output's shape."""
    dtype = case["dtype"]
    rtol, eps = rtol_for(dtype), eps_of(dtype)
    want = np.abs(arrays[name].astype(np.float64))
    if case["kind"] == "network":
        tolerance = arrays["tolerance/" + name.split("/", 1)[1]].astype(np.float64)
        out: FloatArray = GRAD_FACTOR * tolerance + rtol * want
        return out
    scale = case["scale"][name] if name in case.get("scale", {}) else output_scale(
        case, name, want)
    out = rtol * want + ATOL_ULPS * eps * scale
    if "tolerance/" + name in arrays:
        out = out + GRAD_FACTOR * arrays["tolerance/" + name].astype(np.float64)
    return out


def compare_case(
    case: dict[str, Any], arrays: dict[str, Array], got: dict[str, Any]
) -> tuple[float, str, tuple[int, ...]]:
    """Apply the manifest's comparison rule to one case.

    ``got`` maps output names (``value``, or tensor names such as ``grads/0/W``) to an
    implementation's results. Returns ``(worst ratio, output, index)``: the largest
    ``|got - want| / allowed`` over every entry (:func:`value_bound`,
    :func:`output_bound`); the case passes when it is <= 1.
    """
    worst: tuple[float, str, tuple[int, ...]] = (0.0, "", ())
    for name, result in got.items():
        if name == "value" and "value" in case:
            ratio = abs(float(result) - float(case["value"])) / value_bound(case)
            ratio = ratio if np.isfinite(ratio) else np.inf
            worst = max(worst, (ratio, name, ()))
            continue
        want = arrays[name].astype(np.float64)
        have = np.asarray(result, dtype=np.float64).reshape(want.shape)
        bound = output_bound(case, arrays, name)
        ratios = np.abs(have - want) / np.maximum(bound, np.finfo(np.float64).tiny)
        ratios = np.where(np.isnan(ratios), np.inf, ratios)
        if ratios.size and float(ratios.max()) > worst[0]:
            at = np.unravel_index(int(np.argmax(ratios)), ratios.shape)
            worst = (float(ratios.max()), name, tuple(map(int, at)))
    return worst


def _network_outputs(case: dict[str, Any], arrays: dict[str, Array], fn: OtherNetwork
                     ) -> dict[str, Any]:
    spec = MLP(tuple(case["sizes"]), tuple(case["activations"]))
    params = [{key: arrays[f"params/{i}/{key}"] for key in ("W", "b")}
              for i in range(spec.n_layers)]
    y = arrays["y"].astype(np.int64) if case["labels"] == "int32" else arrays["y"]
    value, grads = fn(spec, params, arrays["x"], y, case["loss"])
    got: dict[str, Any] = {"value": value}
    for i, layer in enumerate(grads):
        got.update({f"grads/{i}/{key}": layer[key] for key in ("W", "b")})
    return got


def _funcnn_activation(name: str, z: Array) -> tuple[Array, Array]:
    act = get_activation(name)
    a = act.fn(z)
    return a, act.derivative(z, a)


def verify_golden(
    path: str | Path,
    *,
    value_and_grad_fn: OtherNetwork | None = None,
    activation_fn: OtherActivation | None = None,
    cases: Iterable[str] | None = None,
    losses: Sequence[Loss] = (),
) -> Report:
    """Recompute the network and activation cases of a golden directory and compare
    them by :func:`compare_case`, one row per case.

    ``value_and_grad_fn(spec, params, x, y, loss)`` defaults to funcnn's (``y`` int64
    labels or float targets; ``losses``: the losses beyond the registry it was exported
    with, found by name), ``activation_fn(name, z) -> (f(z), f'(z))`` to funcnn's
    activations.

        >>> import tempfile
        >>> from verification import export_golden, verify_golden
        >>> folder = tempfile.mkdtemp()
        >>> ids = export_golden(folder, networks=[("2-3-1", "tanh", "mse")])
        >>> report = verify_golden(folder)                   # funcnn against its own files
        >>> report.passed, {row.verdict for row in report.rows}
        (True, {'pass'})
    """
    extra = check_extra_losses(losses)

    def funcnn_network(spec: MLP, params: Params, x: Array, y: Array, loss: str
                       ) -> tuple[float, Params]:
        return value_and_grad(spec, params, x, y, extra.get(loss, loss))

    fn = check_callable("value_and_grad_fn", value_and_grad_fn, optional=True) or funcnn_network
    act_fn = check_callable("activation_fn", activation_fn, optional=True) or _funcnn_activation
    golden = load_golden(path)
    wanted = list(golden.cases) if cases is None else list(cases)
    rows = []
    for case_id in wanted:
        case = golden.cases[case_id]
        if case["kind"] not in ("network", "activation"):
            continue
        start = time.perf_counter()
        arrays = golden.arrays(case_id)
        if case["kind"] == "network":
            got = _network_outputs(case, arrays, fn)
        else:
            value, derivative = act_fn(case["activation"], arrays["z"])
            got = {"value": value, "derivative": derivative}
        ratio, name, index = compare_case(case, arrays, got)
        rows.append(CheckRow(
            check=f"golden {Path(path).name}", tensor=case_id, shape=(), mode="cross",
            dtype=case["dtype"], verdict="pass" if ratio <= 1.0 else "fail", n_checked=1,
            ratio=ratio, worst_index=index, seconds=time.perf_counter() - start,
            note=f"worst: {name}",
        ))
    return Report(tuple(rows), {"golden": str(path)})

