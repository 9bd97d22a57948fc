"""Golden values: fixed-seed problems with funcnn's losses and gradients, as one ``.npz``
that any implementation, in any language, can compare against.

Layout (every entry a plain array; strings are unicode arrays; no pickles). ``<case>``
ids are listed in ``cases``; all keys of a case start with ``<case>/``:

================================  ==========================================================
key                               content
================================  ==========================================================
``format``                        ``"funcnn-golden/1"``
``seed``                          int64 scalar: the seed everything was drawn from
``cases``                         (n,) str: every case id, in order
``<case>/kind``                   ``"network"``, ``"activation"``, ``"softmax"``, ``"loss"``
                                  or ``"dense"``
**network** cases                 ``network/<arch>/<activation>/<loss>/<dtype>``
``<case>/sizes``                  (L+1,) int64 layer widths, input first
``<case>/activations``            (L-1,) str hidden activations (the last layer is linear)
``<case>/loss``                   str: funcnn loss name (see ``funcnn.core.losses``)
``<case>/dtype``                  ``"float64"`` or ``"float32"``
``<case>/x``                      (B, n_in) inputs, in ``dtype``
``<case>/y``                      (B,) int64 labels, or (B, n_out) float targets in ``dtype``
``<case>/params/<l>/W``           (n_l, n_{l+1}) weights of layer ``l``, ``z = a W + b``
``<case>/params/<l>/b``           (n_{l+1},) biases
``<case>/value``                  float64 scalar: the mean loss over the batch
``<case>/grads/<l>/W``, ``/b``    gradients, shapes as the params, in ``dtype``
``<case>/tolerance/<l>/W``, ``/b`` float64 per-entry bound on rounding (the error model)
**activation** cases              ``activation/<name>/<dtype>``
``<case>/z``                      (n,) points; ``<case>/value`` f(z); ``<case>/derivative``
**softmax** case                  ``softmax/<dtype>``: ``z`` (B, C), ``s`` softmax(z),
                                  ``jacobian`` (B, C, C) with ``[b, i, j] = ds_i/dz_j``,
                                  ``g`` (B, C) and ``vjp`` = ``J^T g`` per sample
**loss** cases                    ``loss/<name>/<targets>/<dtype>``: ``z`` (B, C) logits,
                                  ``y``, ``value`` (mean), ``grad`` dL/dz (B, C)
**dense** case                    ``dense/<dtype>``: ``W``, ``b``, ``x``, ``g`` (upstream),
                                  ``out = x W + b``, ``dW``, ``db``, ``dx``
================================  ==========================================================

Network cases (:func:`golden_networks`): 2-3-1 and 784-32-32-10 with every activation
and every loss, the larger architectures with their own activation and the fused
cross-entropy; all in float64 and float32 (``quick``: 2-3-1 in full, one case for each
other architecture). Activation, softmax, loss and dense cases come in both dtypes.

Conventions: losses are means over the batch (and over outputs for ``mse`` and the
binary cross-entropies); integer labels are one-hot encoded (for one output, the label
is the 0/1 target); relu'(0) = 0 and leaky_relu'(0) = 0.01. Compare an implementation's
values within a few times ``tolerance`` (networks) or ``sqrt(eps)`` relative (others).
:func:`verify_golden` does exactly that for funcnn itself, or for another
``value_and_grad``.
"""

from __future__ import annotations

import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from funcnn.core import losses as funcnn_losses
from funcnn.core.activations import ACTIVATIONS
from funcnn.core.dense import dense, dense_vjp
from funcnn.core.network import value_and_grad
from funcnn.core.softmax import softmax, softmax_jacobian, softmax_vjp
from funcnn.core.spec import MLP
from funcnn.errors import ArgumentTypeError, DataFormatError
from funcnn.typing import Array, FloatArray, Params
from verification.arguments import check_callable, check_seed
from verification.catalogue import (
    ARCHITECTURES,
    DTYPES,
    activation_points,
    loss_logits,
    network_case,
    network_matrix,
    problem_rng,
    softmax_logits,
)
from verification.error_model import gradient_error_bound
from verification.report import CheckRow, Report
from verification.tolerances import MODEL_SAFETY, rtol_for

__all__ = [
    "FORMAT",
    "export_golden",
    "golden_arrays",
    "golden_networks",
    "load_golden",
    "verify_golden",
]

FORMAT = "funcnn-golden/1"
"""Value of the ``format`` entry."""

OtherNetwork = Callable[[MLP, Params, Array, Array, str], tuple[float, Params]]


def _network_entries(case: str, arch: str, act: str, loss: str, dtype: Any, seed: int
                     ) -> dict[str, Array]:
    spec, params, x, y, _ = network_case(arch, act, loss, dtype, seed)
    value, grads = value_and_grad(spec, params, x, y, loss)
    bounds = gradient_error_bound(spec, params, x, y, loss, dtype)
    out: dict[str, Array] = {
        f"{case}/kind": np.array("network"),
        f"{case}/sizes": np.array(spec.sizes, dtype=np.int64),
        f"{case}/activations": np.array(spec.hidden_activations, dtype=str).reshape(-1),
        f"{case}/loss": np.array(loss),
        f"{case}/dtype": np.array(str(np.dtype(dtype))),
        f"{case}/x": x,
        f"{case}/y": np.asarray(y),
        f"{case}/value": np.array(value, dtype=np.float64),
    }
    for index, (layer, grad, bound) in enumerate(zip(params, grads, bounds, strict=True)):
        for key in ("W", "b"):
            out[f"{case}/params/{index}/{key}"] = layer[key]
            out[f"{case}/grads/{index}/{key}"] = grad[key]
            out[f"{case}/tolerance/{index}/{key}"] = bound[key]
    return out


def golden_networks(quick: bool = False) -> list[tuple[str, str, str]]:
    """(arch, activation, loss) of the golden network cases.

    The small networks (2-3-1, 784-32-32-10) with every activation and loss, as in the
    catalogue; each larger one with its own activation and the fused cross-entropy
    (their parameters take megabytes). ``quick``: 2-3-1 in full, one case for the others.
    """
    small = ("2-3-1",) if quick else ("2-3-1", "784-32-32-10")
    out = [case for case in network_matrix() if case[0] in small]
    out += [
        (arch, info.activation, "softmax_cross_entropy")
        for arch, info in ARCHITECTURES.items()
        if arch not in small
    ]
    return out


def golden_arrays(
    seed: int = 0,
    quick: bool = False,
    networks: Sequence[tuple[str, str, str]] | None = None,
) -> dict[str, Array]:
    """Every golden entry as ``{key: array}`` (see the module docstring for keys).

    ``networks`` overrides :func:`golden_networks` with explicit (arch, activation,
    loss) triples.
    """
    network_cases = golden_networks(quick) if networks is None else list(networks)
    arrays: dict[str, Array] = {"format": np.array(FORMAT), "seed": np.array(seed, np.int64)}
    cases: list[str] = []

    def add(case: str, entries: dict[str, Array]) -> None:
        cases.append(case)
        arrays.update(entries)

    for dtype in DTYPES:
        dn = str(np.dtype(dtype))
        for act_name, act in sorted(ACTIVATIONS.items()):
            z = activation_points(dtype)
            a = act.fn(z)
            prefix = f"activation/{act_name}/{dn}"
            add(prefix, {
                f"{prefix}/kind": np.array("activation"),
                f"{prefix}/z": z,
                f"{prefix}/value": a,
                f"{prefix}/derivative": act.derivative(z, a),
            })
        case = f"softmax/{dn}"
        rng = problem_rng(seed, case)
        z = softmax_logits(rng, dtype)
        s = softmax(z)
        g: FloatArray = rng.standard_normal(z.shape).astype(dtype)
        add(case, {f"{case}/kind": np.array("softmax"), f"{case}/z": z, f"{case}/s": s,
                   f"{case}/jacobian": softmax_jacobian(s), f"{case}/g": g,
                   f"{case}/vjp": softmax_vjp(s, g)})
        rng = problem_rng(seed, f"loss/{dn}")
        z = loss_logits(rng, dtype)
        batch, width = z.shape
        labels = rng.integers(0, width, size=batch)
        targets = {
            "labels": labels,
            "onehot": np.eye(width, dtype=dtype)[labels],
            "real": rng.standard_normal(z.shape).astype(dtype),
            "probability": rng.random(z.shape).astype(dtype),
        }
        for name in sorted(funcnn_losses.LOSSES):
            kind = funcnn_losses.LOSSES[name].target_kind
            allowed = {
                "distribution": ("labels", "onehot"),
                "probability": ("labels", "probability"),
                "real": ("labels", "real"),
            }[kind]
            for tname in allowed:
                case = f"loss/{name}/{tname}/{dn}"
                y = targets[tname]
                add(case, {
                    f"{case}/kind": np.array("loss"), f"{case}/z": z, f"{case}/y": y,
                    f"{case}/value": np.array(getattr(funcnn_losses, name)(z, y), np.float64),
                    f"{case}/grad": getattr(funcnn_losses, f"{name}_grad")(z, y),
                })
        case = f"dense/{dn}"
        rng = problem_rng(seed, case)
        layer: dict[str, FloatArray] = {"W": rng.standard_normal((7, 5)).astype(dtype),
                                         "b": rng.standard_normal(5).astype(dtype)}
        x: FloatArray = rng.standard_normal((6, 7)).astype(dtype)
        g = rng.standard_normal((6, 5)).astype(dtype)
        grads, dx = dense_vjp(layer, x, g)
        add(case, {f"{case}/kind": np.array("dense"), f"{case}/W": layer["W"],
                   f"{case}/b": layer["b"], f"{case}/x": x, f"{case}/g": g,
                   f"{case}/out": dense(layer, x), f"{case}/dW": grads["W"],
                   f"{case}/db": grads["b"], f"{case}/dx": dx})
    for dtype in DTYPES:
        dn = str(np.dtype(dtype))
        for arch, act_name, loss in network_cases:
            case = f"network/{arch}/{act_name}/{loss}/{dn}"
            add(case, _network_entries(case, arch, act_name, loss, dtype, seed))
    arrays["cases"] = np.array(cases, dtype=str)
    return arrays


def export_golden(
    path: str | Path,
    seed: int = 0,
    quick: bool = False,
    networks: Sequence[tuple[str, str, str]] | None = None,
) -> list[str]:
    """Write :func:`golden_arrays` to ``path`` (an uncompressed ``.npz``: the values are
    random floats that compress by a few percent at best); return the case ids."""
    arrays = golden_arrays(check_seed(seed), quick, networks)
    with Path(path).open("wb") as handle:
        np.savez(handle, allow_pickle=False, **arrays)
    return [str(c) for c in arrays["cases"]]


def load_golden(path: str | Path) -> dict[str, Array]:
    """All entries of a golden file as ``{key: array}``, checking its format."""
    # The handle is ours, in a with block: np.load(path) leaves its own file open when
    # the zip turns out unreadable (a ResourceWarning, an error under -W error).
    if not isinstance(path, str | PathLike):
        raise ArgumentTypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    arrays: dict[str, Array] | None = None
    try:
        with Path(path).open("rb") as handle:
            loaded = np.load(handle, allow_pickle=False)
            if isinstance(loaded, np.lib.npyio.NpzFile):
                with loaded as data:
                    arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataFormatError(f"golden file {str(path)!r}: cannot read it ({exc})") from exc
    if arrays is None:
        raise DataFormatError(
            f"golden file {str(path)!r}: a single .npy array, expected an .npz archive"
        )
    if str(arrays.get("format", "")) != FORMAT:
        raise DataFormatError(
            f"golden file {str(path)!r}: format {arrays.get('format')!r}, expected {FORMAT!r}"
        )
    return arrays


def _network_from(arrays: dict[str, Array], case: str) -> tuple[MLP, Params, Array, Array, str]:
    sizes = tuple(int(s) for s in arrays[f"{case}/sizes"])
    acts = tuple(str(a) for a in arrays[f"{case}/activations"])
    spec = MLP(sizes, acts)
    params = [
        {key: arrays[f"{case}/params/{index}/{key}"] for key in ("W", "b")}
        for index in range(spec.n_layers)
    ]
    return spec, params, arrays[f"{case}/x"], arrays[f"{case}/y"], str(arrays[f"{case}/loss"])


def verify_golden(
    path: str | Path,
    *,
    value_and_grad_fn: OtherNetwork | None = None,
    cases: Iterable[str] | None = None,
) -> Report:
    """Recompute every network case of a golden file and compare, one row per case.

    ``value_and_grad_fn(spec, params, x, y, loss)`` defaults to funcnn's. Gradients must
    agree within ``2 * MODEL_SAFETY * tolerance + sqrt(eps) |g|`` per entry (both sides'
    rounding), the loss within ``sqrt(eps)`` relative.
    """
    fn = check_callable("value_and_grad_fn", value_and_grad_fn, optional=True) or value_and_grad
    arrays = load_golden(path)
    wanted = [str(c) for c in arrays["cases"]] if cases is None else list(cases)
    rows = []
    for case in wanted:
        if str(arrays.get(f"{case}/kind", "")) != "network":
            continue
        start = time.perf_counter()
        spec, params, x, y, loss = _network_from(arrays, case)
        dtype = np.dtype(str(arrays[f"{case}/dtype"]))
        value, grads = fn(spec, params, x, y, loss)
        rtol = rtol_for(dtype)
        ok = abs(value - float(arrays[f"{case}/value"])) <= rtol * max(1.0, abs(value))
        worst_ratio = 0.0
        worst: tuple[int, str, tuple[int, ...]] = (0, "W", ())
        for index in range(spec.n_layers):
            for key in ("W", "b"):
                got = np.asarray(grads[index][key], dtype=np.float64)
                want = arrays[f"{case}/grads/{index}/{key}"].astype(np.float64)
                tol = 2 * MODEL_SAFETY * arrays[f"{case}/tolerance/{index}/{key}"] + rtol * np.abs(
                    want
                )
                ratio = np.abs(got - want) / np.maximum(tol, np.finfo(np.float64).tiny)
                if ratio.size and float(ratio.max()) > worst_ratio:
                    at = np.unravel_index(int(np.argmax(ratio)), ratio.shape)
                    worst_ratio, worst = float(ratio.max()), (index, key, tuple(map(int, at)))
        ok = ok and worst_ratio <= 1.0
        rows.append(CheckRow(
            check=f"golden {Path(path).name}", tensor=case, shape=(), mode="cross",
            dtype=str(dtype), verdict="pass" if ok else "fail", n_checked=1, ratio=worst_ratio,
            worst_index=worst[2], seconds=time.perf_counter() - start,
            note=f"worst: params[{worst[0]}][{worst[1]!r}]",
        ))
    return Report(tuple(rows), {"golden": str(path)})
