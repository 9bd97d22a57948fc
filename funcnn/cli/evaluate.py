"""``funcnn evaluate``: accuracy, loss, confusion matrix and classification report."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

import numpy as np

from funcnn.cli.data import MNIST_CLASSES, MNIST_INPUTS, load_data, prepare
from funcnn.cli.errors import UsageError, flagged
from funcnn.cli.progress import format_loss, plural
from funcnn.core.network import apply
from funcnn.training.checkpoint import Checkpoint, load_checkpoint
from funcnn.training.loop import evaluate
from funcnn.typing import Array

__all__ = ["run_evaluate"]


def run_evaluate(args: argparse.Namespace, out: TextIO) -> int:
    """Evaluate the checkpoint as the flags say; return the exit status."""
    from funcnn.reporting import classification, metrics

    # The checkpoint is the one positional argument: its errors need no flag name.
    ckpt: Checkpoint = flagged(lambda: load_checkpoint(args.checkpoint), "", whole=("path",))
    spec = ckpt.spec
    if spec.n_in != MNIST_INPUTS or spec.n_out != MNIST_CLASSES:
        raise UsageError(
            f"{args.checkpoint}: the network has {spec.n_in} inputs and {spec.n_out} outputs; "
            f"MNIST needs {MNIST_INPUTS} and {MNIST_CLASSES}"
        )
    dtype = ckpt.params[0]["W"].dtype
    train_cfg = ckpt.metadata.get("train")
    loss = (
        train_cfg.get("loss", "softmax_cross_entropy")
        if isinstance(train_cfg, dict)
        else ("softmax_cross_entropy")
    )
    train, test = load_data(args, args.limit, True, args.limit, ("--limit", "--limit"))
    images, y = test if args.split == "test" else train
    x = prepare(images, dtype)
    predicted = np.argmax(apply(spec, ckpt.params, x), axis=1)
    value, _ = evaluate(spec, ckpt.params, x, y, loss=str(loss))
    acc = metrics.accuracy(y, predicted)
    cm = metrics.confusion_matrix(y, predicted, spec.n_out)
    report = classification.classification_report(y, predicted, spec.n_out)
    if args.json:
        print(
            json.dumps(
                {
                    "split": args.split,
                    "n": len(y),
                    "accuracy": acc,
                    "loss": value,
                    "confusion_matrix": cm.tolist(),
                    "report": report.to_dict(),
                },
                indent=2,
            ),
            file=out,
        )
        return 0
    epochs = f", {plural(ckpt.history.epochs, 'epoch')}" if ckpt.history is not None else ""
    print(
        f"checkpoint: {args.checkpoint} ({'-'.join(map(str, spec.sizes))} "
        f"{spec.activation if isinstance(spec.activation, str) else ','.join(spec.activation)}"
        f"{epochs})",
        file=out,
    )
    correct = int(np.count_nonzero(predicted == y))
    digits = "test digits" if args.split == "test" else "training digits"
    print(
        f"{args.split} accuracy: {acc:.2%} ({correct}/{len(y)} {digits}), "
        f"loss {format_loss(value)}",
        file=out,
    )
    print("\nconfusion matrix (rows: true digit, columns: predicted):", file=out)
    print(_render_matrix(cm), file=out)
    print("\nclassification report:", file=out)
    print(report.render(), file=out)
    return 0


def _render_matrix(cm: Array) -> str:
    width = max(5, len(str(int(cm.max()))) + 1)
    header = " " * 6 + "".join(f"{j:>{width}}" for j in range(cm.shape[1]))
    rows = [f"{i:>5} " + "".join(f"{int(v):>{width}}" for v in row) for i, row in enumerate(cm)]
    return "\n".join([header, *rows])
