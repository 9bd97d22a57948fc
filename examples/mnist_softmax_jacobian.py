"""MNIST 784-128-10 ReLU, softmax as its own layer: full-Jacobian backward vs the fused loss.

Many from-scratch networks make softmax a layer of its own and cross-entropy a loss on
its probabilities, so the backward pass goes ``dL/dp = -y / p`` and then through each
sample's full ``C x C`` softmax Jacobian ``diag(p) - p p^T``. funcnn has that path as
the ``softmax_then_cross_entropy`` loss; the fused ``softmax_cross_entropy`` gets the
same gradient, ``(p - y) / B``, directly from the logits. Setup: 784-128-10 ReLU,
weights 0.01 N(0, 1) and biases 0.01, inputs scaled to [0, 1], SGD with batch 100
(lr 0.1 and 5 epochs: the original gave no learning rate or epoch count).

Both paths train from the same initial parameters on the same shuffled batches. Their
epochs alternate (fused, explicit, fused, ...), each resuming its own state, so that a
busy machine slows both alike. It prints both paths' test accuracy and wall-clock
seconds after every epoch, then each path's fastest epoch (wall clock: on a shared
machine, the least disturbed one) and its median CPU seconds per epoch (this process's,
all threads), and how much slower the explicit Jacobian is by both measures, end to end
and for the loss-gradient step alone; a third run, the fused loss given as a plain pure
function (as a user-defined loss is, without an in-place kernel), separates the cost of
the Jacobian from the cost of a loss the engine must copy out of fresh arrays.

Run ``python -m examples.mnist_softmax_jacobian`` (``--help`` for the flags). Writes
each path's loss/accuracy curves, confusion matrix, misclassified digits and weights as
PNGs into ``--out``. Readable as notebook cells (``# %%``).
"""

# %%
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

import funcnn as fn
from examples.mnist_common import MnistData, base_parser, load_data, report

# %% The setup.
SIZES = (784, 128, 10)
INIT = "normal:0.01:0.01"  # W ~ 0.01 N(0, 1), b = 0.01
LR = 0.1
BATCH = 100
EPOCHS = 5

# The fused loss as a user would define it, from its pure function alone: the engine then
# runs it on a copy of the logits and copies its fresh gradient into the step's buffer.
FUSED_GENERIC = fn.Loss(
    "softmax_cross_entropy_generic",
    fn.LOSSES["softmax_cross_entropy"].value_and_grad,
    fn.LOSSES["softmax_cross_entropy"].target_kind,
)
PATHS: dict[str, str | fn.Loss] = {
    "fused": "softmax_cross_entropy",
    "jacobian": "softmax_then_cross_entropy",
    "fused_generic": FUSED_GENERIC,
}


# %%
@dataclass(frozen=True)
class PathResult:
    """One path's run: per-epoch test accuracy, epoch timings, final params."""

    test_accuracy: tuple[float, ...]
    final_test_accuracy: float
    seconds_per_epoch: float  # the fastest epoch, wall clock
    cpu_seconds_per_epoch: float  # median CPU time of this process per epoch
    history: fn.History
    params: fn.Params


@dataclass(frozen=True)
class Result:
    """All three paths, the slowdowns of the explicit Jacobian, the loss-step timings."""

    paths: dict[str, PathResult]
    slowdown_vs_fused: float  # fastest epoch, explicit Jacobian / fused loss
    slowdown_vs_generic: float  # fastest epoch, explicit Jacobian / fused loss, pure function
    cpu_slowdown_vs_fused: float  # the same ratios of the median CPU seconds per epoch
    cpu_slowdown_vs_generic: float
    loss_step_us: dict[str, float]  # microseconds per (100, 10) batch, loss + gradient
    max_grad_difference: float  # |fused - explicit| dL/dz on a batch, float64
    max_param_difference: float  # between fused and explicit after training
    plots: tuple[Path, ...]


# %%
def time_loss_step(
    loss: fn.Loss, z: NDArray[np.floating], y: NDArray[np.integer], repeats: int = 2000
) -> float:
    """Best-of-5 microseconds per call of ``loss.value_and_grad(z, y)``."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeats):
            loss.value_and_grad(z, y)
        best = min(best, (time.perf_counter() - started) / repeats)
    return best * 1e6


def max_param_difference(a: fn.Params, b: fn.Params) -> float:
    """Largest absolute difference between two parameter pytrees of the same structure."""
    return max(
        float(np.max(np.abs(x.astype(np.float64) - y)))
        for x, y in zip(fn.tree_leaves(a), fn.tree_leaves(b), strict=True)
    )


# %%
State = dict[str, tuple[fn.Params, fn.OptState, fn.History, np.random.Generator]]


def main(argv: Sequence[str] | None = None) -> Result:
    """Train both paths side by side, print accuracies and timings; return them."""
    parser = base_parser(__doc__.splitlines()[0], name="mnist_softmax_jacobian", epochs=EPOCHS)
    parser.add_argument("--lr", type=float, default=LR)
    parser.add_argument("--batch-size", type=int, default=BATCH)
    parser.add_argument(
        "--timing-repeats", type=int, default=2000, help="calls per timing of the loss step"
    )
    args = parser.parse_args(argv)

    data = load_data(args.limit, args.test_limit, preprocess="scale")
    spec = fn.MLP(SIZES, activation="relu")
    state, cpu_seconds = _train_side_by_side(spec, data, args)
    paths, plots = _path_results(spec, data, state, cpu_seconds, args)
    return _compare(spec, data, paths, plots, args.timing_repeats)


def _train_side_by_side(
    spec: fn.MLP, data: MnistData, args: argparse.Namespace
) -> tuple[State, dict[str, list[float]]]:
    """Every path trained one epoch at a time in turn; the CPU seconds of each epoch."""
    initial = fn.init(spec, np.random.default_rng(args.seed), scheme=INIT, dtype=np.float32)
    optimizer = fn.sgd(args.lr)
    batch = min(args.batch_size, len(data.y_train))
    # Each path has its own shuffling generator with the same seed: the same batches.
    state: State = {
        name: (
            initial,
            optimizer.init(initial),
            fn.History(),
            np.random.default_rng([args.seed, 1]),
        )
        for name in PATHS
    }
    cpu_seconds: dict[str, list[float]] = {name: [] for name in PATHS}
    for epoch in range(1, args.epochs + 1):
        for name, loss in PATHS.items():
            params, opt_state, history, rng = state[name]
            cpu_started = time.process_time()
            params, opt_state, history = fn.fit(
                spec,
                params,
                optimizer,
                data.x_train,
                data.y_train,
                loss=loss,
                epochs=1,
                batch_size=batch,
                rng=rng,
                x_test=data.x_test,
                y_test=data.y_test,
                opt_state=opt_state,
                history=history,
            )
            cpu_seconds[name].append(time.process_time() - cpu_started)
            state[name] = (params, opt_state, history, rng)
        line = "  ".join(
            f"{name} {h.epoch_test_accuracy[-1]:.4f} ({h.epoch_time[-1]:.2f} s)"
            for name, (_, _, h, _) in state.items()
        )
        print(f"epoch {epoch}/{args.epochs}  test acc: {line}")
    return state, cpu_seconds


def _path_results(
    spec: fn.MLP, data: MnistData, state: State, cpu_seconds: dict[str, list[float]],
    args: argparse.Namespace,
) -> tuple[dict[str, PathResult], list[Path]]:
    """Each path's result, and the plots of the paths with arithmetic of their own."""
    plots: list[Path] = []
    paths: dict[str, PathResult] = {}
    for name in PATHS:
        params, _, history, _ = state[name]
        if name != "fused_generic":  # the same arithmetic as "fused": no new plots
            rep = report(
                spec,
                params,
                data,
                history,
                args.out,
                prefix=f"{name}_",
                title=f"{name} path",
                plot_set=args.plots,
            )
            plots += rep.plots
        paths[name] = PathResult(
            test_accuracy=history.epoch_test_accuracy,
            final_test_accuracy=history.epoch_test_accuracy[-1],
            seconds_per_epoch=min(history.epoch_time),
            cpu_seconds_per_epoch=statistics.median(cpu_seconds[name]),
            history=history,
            params=params,
        )
    return paths, plots


def _compare(
    spec: fn.MLP, data: MnistData, paths: dict[str, PathResult], plots: list[Path],
    repeats: int,
) -> Result:
    """Time the loss step alone, compare the paths, print the comparison."""
    # The loss step alone, on a batch of logits from the trained network.
    z = fn.apply(spec, paths["fused"].params, data.x_test[:BATCH])
    y = data.y_test[:BATCH]
    loss_step_us = {
        name: time_loss_step(fn.get_loss(loss), z, y, repeats)
        for name, loss in PATHS.items()
        if name != "fused_generic"
    }
    z64 = z.astype(np.float64)
    fused_grad = fn.softmax_cross_entropy_grad(z64, y)
    grad_gap = float(np.max(np.abs(fused_grad - fn.softmax_then_cross_entropy_grad(z64, y))))
    jac, fused, generic = paths["jacobian"], paths["fused"], paths["fused_generic"]
    slow_fused = jac.seconds_per_epoch / fused.seconds_per_epoch
    slow_generic = jac.seconds_per_epoch / generic.seconds_per_epoch
    cpu_slow_fused = jac.cpu_seconds_per_epoch / fused.cpu_seconds_per_epoch
    cpu_slow_generic = jac.cpu_seconds_per_epoch / generic.cpu_seconds_per_epoch
    param_gap = max_param_difference(paths["fused"].params, paths["jacobian"].params)

    for name, result in paths.items():
        print(
            f"{name:>13}: test accuracy {result.final_test_accuracy:.2%}, "
            f"fastest epoch {result.seconds_per_epoch:.2f} s wall, "
            f"median {result.cpu_seconds_per_epoch:.2f} s CPU"
        )
    print(
        f"explicit Jacobian: {slow_fused:.2f}x the fused loss's epoch time "
        f"({cpu_slow_fused:.2f}x by CPU time), {slow_generic:.2f}x the fused loss given as "
        f"a pure function ({cpu_slow_generic:.2f}x by CPU time)"
    )
    fused_us, jac_us = loss_step_us["fused"], loss_step_us["jacobian"]
    print(
        f"loss + gradient of one ({len(y)}, 10) batch: fused {fused_us:.1f} us, "
        f"explicit Jacobian {jac_us:.1f} us ({jac_us / fused_us:.1f}x)"
    )
    # The gradients agree to rounding; float32 rounding differences then compound over
    # thousands of SGD steps, so the trained parameters agree only to about 1e-3.
    print(
        f"max |dL/dz fused - explicit| (float64) {grad_gap:.2e}; "
        f"max |params fused - explicit| after training {param_gap:.2e}"
    )
    return Result(
        paths=paths,
        slowdown_vs_fused=slow_fused,
        slowdown_vs_generic=slow_generic,
        cpu_slowdown_vs_fused=cpu_slow_fused,
        cpu_slowdown_vs_generic=cpu_slow_generic,
        loss_step_us=loss_step_us,
        max_grad_difference=grad_gap,
        max_param_difference=param_gap,
        plots=tuple(plots),
    )


if __name__ == "__main__":
    main()
