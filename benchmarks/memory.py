"""Scenario E: peak resident memory of a full MNIST training run, in a fresh process.

The child (``python -m benchmarks.memory``) does what a user's script does: load MNIST
with ``funcnn.data.mnist``, convert it to float32 rows, and train scenario A's network
(784-128-10 ReLU, batch 128, SGD) for three epochs (one with ``--quick``), the test set
evaluated after each.
It reports its own peak RSS (``VmHWM`` from ``/proc/self/status``, else
``ru_maxrss``) and the RSS of the bare interpreter with numpy and funcnn imported. The
target is ``2 x (float32 training set) + 150 MB`` (MB = 10^6 bytes).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.harness import Row, Target

__all__ = ["main", "run_memory"]

MB = 1e6


def _proc_status(field: str) -> float | None:
    """A ``/proc/self/status`` field (kB) in bytes, or None off Linux."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _peak_rss() -> tuple[float, str]:
    hwm = _proc_status("VmHWM")
    if hwm is not None:
        return hwm, "VmHWM"
    # ru_maxrss is in kilobytes on Linux, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale), "ru_maxrss"


def _child(limit: int | None, epochs: int) -> dict[str, Any]:
    import numpy as np

    import funcnn as fn
    from benchmarks.data import load
    from benchmarks.funcnn_side import SOURCE

    baseline = _proc_status("VmRSS") or _peak_rss()[0]
    data = load(limit)
    spec = fn.MLP((784, 128, 10), activation="relu")
    params = fn.init(spec, np.random.default_rng(0), "glorot_uniform", dtype=np.float32)
    rss_per_epoch: list[float] = []

    def after_epoch(event: object) -> None:
        # Current RSS after every epoch: flat if nothing accumulates across epochs.
        if type(event).__name__ == "EpochEnd":
            rss_per_epoch.append(_proc_status("VmRSS") or _peak_rss()[0])

    _, _, history = fn.fit(
        spec,
        params,
        fn.sgd(0.1),
        data.x_train,
        data.y_train,
        epochs=epochs,
        batch_size=128,
        rng=np.random.default_rng(0),
        x_test=data.x_test,
        y_test=data.y_test,
        callback=after_epoch,
    )
    final_loss = float(history.epoch_train_loss[-1])
    peak, how = _peak_rss()
    return {
        "peak_rss_bytes": peak,
        "peak_rss_source": how,
        "rss_after_each_epoch_bytes": rss_per_epoch,
        "baseline_rss_bytes": baseline,
        "train_set_bytes": int(data.x_train.nbytes),
        "n_train": int(data.x_train.shape[0]),
        "data_source": data.source,
        "training_loop": SOURCE,
        "epochs": epochs,
        "final_train_loss": final_loss,
    }


def run_memory(quick: bool) -> list[Row]:
    """Run the child (on 2,000 samples when ``quick``) and turn its report into rows."""
    command = [sys.executable, "-m", "benchmarks.memory", "--epochs", "1" if quick else "3"]
    if quick:
        command += ["--limit", "2000"]
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(command, capture_output=True, text=True, cwd=root, check=False)
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return [
            Row(
                "E",
                "E.peak_rss",
                "peak RSS, full MNIST training run",
                None,
                "MB",
                note=f"child failed ({done.returncode}): {why}",
            )
        ]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    rss = report.get("rss_after_each_epoch_bytes", [])
    growth = (
        []
        if len(rss) < 2
        else [
            Row(
                "E",
                "E.rss_growth",
                "  RSS growth from the first to the last epoch's end",
                (rss[-1] - rss[0]) / MB,
                "MB",
                None,
                f"{len(rss)} epochs; flat when nothing accumulates across epochs",
            )
        ]
    )
    bound = (2 * report["train_set_bytes"] + 150 * MB) / MB
    where = f"{report['n_train']} samples, {report['epochs']} epoch(s) + test evaluation"
    return [
        Row(
            "E",
            "E.peak_rss",
            "peak RSS, MNIST training run",
            report["peak_rss_bytes"] / MB,
            "MB",
            Target("<=", bound),
            f"{where}; {report['peak_rss_source']}; target 2 x {report['train_set_bytes'] / MB:.1f}"
            " MB + 150 MB",
            extra=report,
        ),
        *growth,
        Row(
            "E",
            "E.baseline_rss",
            "  of which interpreter + numpy + funcnn imports",
            report["baseline_rss_bytes"] / MB,
            "MB",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    """Child entry point: print one JSON line with the peak RSS report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="use the first N samples")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args(argv)
    print(json.dumps(_child(args.limit, args.epochs)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
