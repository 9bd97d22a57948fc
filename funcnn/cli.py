"""The ``funcnn`` command line: ``train`` an MLP on MNIST, ``evaluate`` a checkpoint, ``verify``.

``funcnn train`` with no arguments trains the 784-128-10 ReLU network (``normal:0.02``
init, SGD with learning rate 0.1, batch 128, 8 epochs, pixels scaled to [0, 1], float32)
and prints its test accuracy. It writes, into ``--out`` (default
``runs/<sizes>-<activation>-<optimizer>-seed<seed>``), ``checkpoint.npz`` (after every
epoch, atomically: an interrupted run continues exactly with ``--resume``),
``history.json``, ``metrics.json``, ``report.txt`` and, when matplotlib is installed, PNG
plots. Errors are one line on stderr and a non-zero exit status: 2 for bad usage or
input, 1 when training diverges or fails otherwise, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO, TypeVar

import numpy as np

from funcnn.core.initializers import get_scheme, init
from funcnn.core.losses import LOSSES
from funcnn.core.network import apply
from funcnn.core.spec import MLP
from funcnn.errors import FuncnnError, NonFiniteError
from funcnn.training.checkpoint import (
    Checkpoint,
    _write_atomically,
    load_checkpoint,
    save_checkpoint,
)
from funcnn.training.loop import BatchEnd, EpochEnd, History, evaluate, fit
from funcnn.training.optimizers import Optimizer, adam, sgd
from funcnn.training.schedules import Constant, Cosine, Schedule, StepDecay
from funcnn.typing import Array, FloatArray, Params

__all__ = ["main"]

MNIST_INPUTS = 784
MNIST_CLASSES = 10

# Model, optimizer and data flags: their defaults, applied after parsing so that an
# explicit flag can be told apart from a default (``--resume`` refuses explicit ones).
_TRAIN_DEFAULTS: dict[str, Any] = {
    "sizes": "784,128,10",
    "activation": "relu",
    "init": "normal:0.02",
    "loss": "softmax_cross_entropy",
    "optimizer": "sgd",
    "lr": None,  # 0.1 for sgd, 0.001 for adam
    "momentum": 0.0,
    "nesterov": False,
    "beta1": 0.9,
    "beta2": 0.999,
    "eps": 1e-8,
    "weight_decay": 0.0,
    "schedule": "constant",
    "decay_every": 1,
    "decay_factor": 0.1,
    "final_lr": 0.0,
    "batch_size": 128,
    "seed": 0,
    "dtype": "float32",
    "limit": None,
    "shuffle": True,
    "drop_last": False,
    "log_every": 50,
}


class UsageError(Exception):
    """A command-line usage error (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message} (see '{self.prog} --help')")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _parser() -> _Parser:
    parser = _Parser(
        prog="funcnn",
        description="Train and evaluate pure-functional numpy MLPs on MNIST.",
    )
    sub = parser.add_subparsers(
        dest="command", metavar="{train,evaluate,verify}", parser_class=_Parser
    )

    train = sub.add_parser(
        "train",
        help="train an MLP on MNIST (no arguments: 784-128-10 ReLU, SGD 0.1, 8 epochs)",
        description="Train an MLP on MNIST with minibatch SGD or Adam.",
    )
    S = argparse.SUPPRESS
    model = train.add_argument_group("model")
    model.add_argument("--sizes", default=S, help="layer widths, input to output (784,128,10)")
    model.add_argument(
        "--activation",
        default=S,
        help="hidden activation, or one per hidden layer separated by commas (relu)",
    )
    model.add_argument("--init", default=S, help="init scheme, e.g. he_normal or normal:0.02")
    model.add_argument(
        "--loss", default=S, choices=sorted(LOSSES), help="loss (softmax_cross_entropy)"
    )
    model.add_argument("--dtype", default=S, choices=["float32", "float64"], help="(float32)")
    opt = train.add_argument_group("optimizer")
    opt.add_argument("--optimizer", default=S, choices=["sgd", "adam"], help="(sgd)")
    opt.add_argument("--lr", default=S, type=_number, help="learning rate (0.1 sgd, 0.001 adam)")
    opt.add_argument("--momentum", default=S, type=_number, help="SGD momentum in [0, 1) (0)")
    opt.add_argument("--nesterov", default=S, action="store_true", help="Nesterov momentum")
    opt.add_argument("--beta1", default=S, type=_number, help="Adam b1 (0.9)")
    opt.add_argument("--beta2", default=S, type=_number, help="Adam b2 (0.999)")
    opt.add_argument("--eps", default=S, type=_number, help="Adam eps (1e-8)")
    opt.add_argument(
        "--weight-decay",
        default=S,
        type=_number,
        help="decoupled weight decay on weight matrices (0)",
    )
    opt.add_argument(
        "--schedule",
        default=S,
        choices=["constant", "step", "cosine"],
        help="learning-rate schedule (constant)",
    )
    opt.add_argument(
        "--decay-every",
        default=S,
        type=_positive_int,
        metavar="EPOCHS",
        help="step schedule: decay every EPOCHS epochs (1)",
    )
    opt.add_argument("--decay-factor", default=S, type=_number, help="step schedule: factor (0.1)")
    opt.add_argument("--final-lr", default=S, type=_number, help="cosine schedule: final rate (0)")
    loop = train.add_argument_group("training")
    loop.add_argument("--batch-size", default=S, type=_positive_int, help="(128)")
    loop.add_argument("--epochs", type=_positive_int, default=None, help="total epochs (8)")
    loop.add_argument(
        "--seed", default=S, type=int, help="seed of init and shuffling, an integer >= 0 (0)"
    )
    loop.add_argument(
        "--no-shuffle",
        dest="shuffle",
        action="store_false",
        default=S,
        help="use the training data in order",
    )
    loop.add_argument(
        "--drop-last", action="store_true", default=S, help="skip each epoch's final partial batch"
    )
    loop.add_argument(
        "--log-every",
        default=S,
        type=_positive_int,
        metavar="N",
        help="record the loss every N batches (50)",
    )
    data = train.add_argument_group("data and output")
    data.add_argument(
        "--limit",
        default=S,
        type=_positive_int,
        metavar="N",
        help="use only the first N training and test samples",
    )
    _data_flags(data)
    data.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="output directory (runs/<sizes>-<activation>-<optimizer>-seed<seed>)",
    )
    data.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="CHECKPOINT",
        help="continue a run from its checkpoint, up to --epochs in total",
    )
    data.add_argument("--no-plots", action="store_true", help="do not draw PNG plots")
    data.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="no progress bar or per-epoch lines; only the result",
    )

    ev = sub.add_parser(
        "evaluate",
        help="accuracy, confusion matrix and classification report of a checkpoint",
        description="Evaluate a checkpoint on MNIST.",
    )
    ev.add_argument("checkpoint", type=Path)
    ev.add_argument("--split", choices=["test", "train"], default="test", help="(test)")
    ev.add_argument(
        "--limit",
        type=_positive_int,
        default=None,
        metavar="N",
        help="use only the first N samples",
    )
    ev.add_argument("--json", action="store_true", help="print the metrics as JSON")
    _data_flags(ev)

    sub.add_parser(
        "verify",
        help="run the gradient verification suite (arguments go to it; try 'verify --help')",
        add_help=False,
    )
    return parser


def _data_flags(group: Any) -> None:
    group.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="directory with the four MNIST files (default: search, then download)",
    )
    group.add_argument(
        "--no-download",
        action="store_true",
        help="fail instead of downloading MNIST when it is not found",
    )


# --------------------------------------------------------------------------- data


def _load_data(
    args: argparse.Namespace, limit: int | None, quiet: bool
) -> tuple[tuple[Array, Array], tuple[Array, Array]]:
    """MNIST as uint8 ``((x_train, y_train), (x_test, y_test))``, cut to ``limit`` samples."""
    from funcnn.data.mnist import load_mnist

    (x_train, y_train), (x_test, y_test) = load_mnist(
        args.data_dir, download=not args.no_download, progress=not quiet
    )
    if limit is not None:
        if limit > len(x_train):
            raise UsageError(f"--limit: {limit} exceeds the {len(x_train)} training samples")
        x_train, y_train = x_train[:limit], y_train[:limit]
        x_test, y_test = x_test[:limit], y_test[:limit]
    return (x_train, y_train.astype(np.int64)), (x_test, y_test.astype(np.int64))


def _prepare(images: Array, dtype: np.dtype[Any]) -> FloatArray:
    """uint8 images ``(N, 28, 28)`` as rows in [0, 1] of ``dtype``, without a float64 detour."""
    out: FloatArray = images.reshape(len(images), -1).astype(dtype)
    out /= dtype.type(255)
    return out


# --------------------------------------------------------------------------- train


def _config(args: argparse.Namespace) -> dict[str, Any]:
    """The effective model, optimizer and data settings (flags over defaults)."""
    config = {key: getattr(args, key, default) for key, default in _TRAIN_DEFAULTS.items()}
    if config["lr"] is None:
        config["lr"] = 0.1 if config["optimizer"] == "sgd" else 0.001
    config["epochs"] = 8 if args.epochs is None else args.epochs
    return config


def _spec(config: dict[str, Any]) -> MLP:
    try:
        sizes = tuple(int(s) for s in str(config["sizes"]).split(","))
    except ValueError:
        raise UsageError(
            f"--sizes: expected comma-separated integers like 784,128,10, got {config['sizes']!r}"
        ) from None
    if len(sizes) < 2 or sizes[0] != MNIST_INPUTS or sizes[-1] != MNIST_CLASSES:
        raise UsageError(
            f"--sizes: MNIST needs {MNIST_INPUTS} inputs and {MNIST_CLASSES} outputs, "
            f"e.g. 784,128,10; got {config['sizes']}"
        )
    names = str(config["activation"]).split(",")
    activation: str | tuple[str, ...] = names[0] if len(names) == 1 else tuple(names)
    return MLP(sizes, activation)


def _optimizer(config: dict[str, Any], steps_per_epoch: int) -> Optimizer:
    lr = config["lr"]
    schedule: Schedule
    if config["schedule"] == "step":
        schedule = StepDecay(
            lr, step_size=config["decay_every"] * steps_per_epoch, gamma=config["decay_factor"]
        )
    elif config["schedule"] == "cosine":
        schedule = Cosine(
            lr, total_steps=config["epochs"] * steps_per_epoch, final_lr=config["final_lr"]
        )
    else:
        schedule = Constant(lr)
    if config["optimizer"] == "adam":
        if config["momentum"] or config["nesterov"]:
            raise UsageError("--momentum/--nesterov: only for --optimizer sgd")
        return adam(
            schedule,
            b1=config["beta1"],
            b2=config["beta2"],
            eps=config["eps"],
            weight_decay=config["weight_decay"],
        )
    return sgd(
        schedule,
        momentum=config["momentum"],
        nesterov=config["nesterov"],
        weight_decay=config["weight_decay"],
    )


# Library parameter names that differ from the train flags setting them, for messages.
_FLAG_OF = {
    "gamma": "--decay-factor",
    "step_size": "--decay-every",
    "total_steps": "--epochs",
    "b1": "--beta1",
    "b2": "--beta2",
}

T = TypeVar("T")


def _flagged(build: Callable[[], T], flag: str | None = None) -> T:
    """Run ``build``; a funcnn error about a parameter is re-raised naming its flag."""
    try:
        return build()
    except FuncnnError as exc:
        message = str(exc)
        if flag is not None:
            raise UsageError(f"funcnn: error: {flag}: {message}") from exc
        name, sep, rest = message.partition(": ")
        base = name.split("[", 1)[0]
        if not sep or base not in _FLAG_OF:
            raise
        raise UsageError(f"funcnn: error: {_FLAG_OF[base]}{name[len(base) :]}: {rest}") from exc


def _saved_config(saved: dict[str, Any], path: Path) -> dict[str, Any]:
    """The training settings stored by 'funcnn train', checked key by key."""
    kinds: dict[str, tuple[type, ...]] = {
        "sizes": (str,),
        "activation": (str,),
        "init": (str,),
        "loss": (str,),
        "optimizer": (str,),
        "dtype": (str,),
        "schedule": (str,),
        "lr": (int, float),
        "momentum": (int, float),
        "beta1": (int, float),
        "beta2": (int, float),
        "eps": (int, float),
        "weight_decay": (int, float),
        "decay_factor": (int, float),
        "final_lr": (int, float),
        "decay_every": (int,),
        "batch_size": (int,),
        "seed": (int,),
        "epochs": (int,),
        "log_every": (int,),
        "nesterov": (bool,),
        "shuffle": (bool,),
        "drop_last": (bool,),
        "limit": (int, type(None)),
    }
    for key, types in kinds.items():
        if key not in saved:
            raise UsageError(f"--resume: {path}: the saved training settings are missing {key!r}")
        value = saved[key]
        bad_bool = isinstance(value, bool) and bool not in types
        if bad_bool or not isinstance(value, types):
            raise UsageError(
                f"--resume: {path}: the saved setting {key!r} is "
                f"{value!r}; expected " + " or ".join(t.__name__ for t in types)
            )
    for key in ("batch_size", "epochs", "log_every", "decay_every"):
        if saved[key] <= 0:
            raise UsageError(
                f"--resume: {path}: the saved setting {key!r} is "
                f"{saved[key]}; expected "
                "a positive integer"
            )
    if saved["limit"] is not None and saved["limit"] <= 0:
        raise UsageError(f"--resume: {path}: the saved limit {saved['limit']} is not positive")
    if saved["dtype"] not in ("float32", "float64"):
        raise UsageError(f"--resume: {path}: the saved dtype {saved['dtype']!r} is unknown")
    return dict(saved)


def _default_out(config: dict[str, Any]) -> Path:
    sizes = str(config["sizes"]).replace(",", "-")
    act = str(config["activation"]).replace(",", "-")
    return Path("runs") / f"{sizes}-{act}-{config['optimizer']}-seed{config['seed']}"


class _Progress:
    """Per-epoch tqdm bar on stderr (when wanted and available) and epoch lines on stdout."""

    def __init__(self, enabled: bool, lines: bool, out: TextIO) -> None:
        self.lines = lines
        self.out = out
        self.bar: Any = None
        self.tqdm: Any = None
        if enabled:
            try:
                from tqdm import tqdm

                self.tqdm = tqdm
            except ImportError:  # the bar is optional (funcnn[progress])
                self.tqdm = None

    def batch(self, event: BatchEnd, last_epoch: int) -> None:
        if self.tqdm is None:
            return
        if self.bar is None:
            self.bar = self.tqdm(
                total=event.n_batches,
                desc=f"epoch {event.epoch}/{last_epoch}",
                unit="batch",
                leave=False,
                file=sys.stderr,
                dynamic_ncols=True,
            )
        self.bar.update(event.batch - self.bar.n)
        self.bar.set_postfix_str(f"loss {event.loss:.4f}", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def epoch(self, history: History, last_epoch: int) -> None:
        self.close()
        if not self.lines:
            return
        e = history.epochs - 1
        parts = [f"epoch {e + 1}/{last_epoch}", f"train loss {history.epoch_train_loss[e]:.4f}"]
        if history.epoch_train_accuracy:
            parts.append(f"acc {history.epoch_train_accuracy[e]:.2%}")
        if history.epoch_test_loss:
            parts.append(f"test loss {history.epoch_test_loss[e]:.4f}")
        if history.epoch_test_accuracy:
            parts.append(f"acc {history.epoch_test_accuracy[e]:.2%}")
        parts.append(f"{history.epoch_time[e]:.2f}s")
        print("  ".join(parts), file=self.out, flush=True)


def _write_text(path: Path, text: str) -> None:
    _write_atomically(path, text.encode("utf-8"))


def _train(args: argparse.Namespace, out: TextIO) -> int:
    started = time.perf_counter()
    if args.resume is not None:
        explicit = sorted(k for k in _TRAIN_DEFAULTS if hasattr(args, k))
        if explicit:
            flags = ", ".join("--" + k.replace("_", "-") for k in explicit)
            raise UsageError(
                f"--resume: the model, optimizer and data settings come from the checkpoint; "
                f"do not pass {flags}"
            )
        ckpt = load_checkpoint(args.resume)
        saved = ckpt.metadata.get("train")
        if not isinstance(saved, dict) or ckpt.optimizer is None or ckpt.history is None:
            raise UsageError(f"--resume: {args.resume} was not written by 'funcnn train'")
        config = _saved_config(saved, args.resume)
        if args.epochs is not None:
            config["epochs"] = args.epochs
        out_dir = args.out if args.out is not None else args.resume.parent
    else:
        ckpt = None
        config = _config(args)
        if config["seed"] < 0:
            raise UsageError(
                f"funcnn train: error: argument --seed: expected an integer >= 0, got "
                f"{config['seed']}"
            )
        out_dir = args.out if args.out is not None else _default_out(config)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out: {str(out_dir)!r} exists and is not a directory")

    spec = _spec(config) if ckpt is None else ckpt.spec
    if ckpt is None:
        # Check the settings before the data are loaded (the real schedule needs its size).
        _flagged(lambda: get_scheme(config["init"]), flag="--init")
        _flagged(lambda: _optimizer(config, 1))
    dtype = np.dtype(config["dtype"])
    quiet = bool(args.quiet)
    (train_images, y_train), (test_images, y_test) = _load_data(args, config["limit"], quiet)
    x_train = _prepare(train_images, dtype)
    del train_images
    x_test = _prepare(test_images, dtype)
    n = len(x_train)
    batch = config["batch_size"]
    if batch > n:
        raise UsageError(f"--batch-size: {batch} is larger than the {n} training samples")
    steps = n // batch if config["drop_last"] else -(-n // batch)

    if ckpt is None:
        optimizer = _flagged(lambda: _optimizer(config, steps))
        config["optimizer_config"] = optimizer.to_config()
        rng = np.random.default_rng(config["seed"])
        params = _flagged(lambda: init(spec, rng, config["init"], dtype=dtype), flag="--init")
        opt_state = None
        history = None
    else:
        assert ckpt.optimizer is not None
        optimizer = ckpt.optimizer
        rng = ckpt.rng()
        params, opt_state, history = ckpt.params, ckpt.opt_state, ckpt.history
    done = 0 if history is None else history.epochs
    remaining = config["epochs"] - done
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_path = out_dir / "checkpoint.npz"

    progress = _Progress(enabled=not quiet and sys.stderr.isatty(), lines=not quiet, out=out)
    last_epoch = config["epochs"]

    def save(params: Params, opt_state: Any, history: History) -> None:
        # history.json first: whenever a checkpoint exists, its history file does too.
        _write_text(out_dir / "history.json", history.to_json() + "\n")
        save_checkpoint(
            checkpoint_path,
            spec=spec,
            params=params,
            optimizer=optimizer,
            opt_state=opt_state,
            rng=rng,
            history=history,
            metadata={"train": config},
        )

    def callback(event: BatchEnd | EpochEnd) -> None:
        if isinstance(event, BatchEnd):
            progress.batch(event, last_epoch)
        else:
            progress.epoch(event.history, last_epoch)
            save(event.params, event.opt_state, event.history)

    if remaining > 0:
        try:
            params, opt_state, history = fit(
                spec,
                params,
                optimizer,
                x_train,
                y_train,
                epochs=remaining,
                batch_size=batch,
                rng=rng,
                loss=config["loss"],
                x_test=x_test,
                y_test=y_test,
                opt_state=opt_state,
                history=history,
                shuffle=config["shuffle"],
                drop_last=config["drop_last"],
                log_every=config["log_every"],
                callback=callback,
                callback_every=max(1, steps // 200),
            )
        finally:
            progress.close()
    elif not quiet:
        print(f"{checkpoint_path}: already trained {done} of {last_epoch} epochs", file=out)
    assert history is not None

    _report(
        spec,
        params,
        config["loss"],
        x_test,
        y_test,
        test_images,
        history,
        out_dir,
        plots=not args.no_plots,
        quiet=quiet,
        out=out,
    )
    elapsed = time.perf_counter() - started
    if not quiet:
        print(
            f"wrote {out_dir}/ (checkpoint.npz, history.json, metrics.json, report.txt)", file=out
        )
        print(f"total time {elapsed:.1f}s", file=out)
    return 0


def _report(
    spec: MLP,
    params: Params,
    loss: str,
    x_test: FloatArray,
    y_test: Array,
    images: Array,
    history: History,
    out_dir: Path,
    *,
    plots: bool,
    quiet: bool,
    out: TextIO,
) -> None:
    from funcnn.reporting import classification, metrics

    test_loss, _ = evaluate(spec, params, x_test, y_test, loss=loss)
    logits = apply(spec, params, x_test)
    predicted = np.argmax(logits, axis=1)
    acc = metrics.accuracy(y_test, predicted)
    report = classification.classification_report(y_test, predicted, spec.n_out)
    _write_text(out_dir / "report.txt", report.render() + "\n")
    _write_text(
        out_dir / "metrics.json",
        json.dumps(
            {
                "test_accuracy": acc,
                "test_loss": test_loss,
                "n_test": len(y_test),
                "epochs": history.epochs,
                "report": report.to_dict(),
            },
            indent=2,
        )
        + "\n",
    )
    if plots:
        _plots(spec, params, logits, predicted, y_test, images, history, out_dir, quiet)
    correct = int(np.count_nonzero(predicted == y_test))
    print(f"test accuracy: {acc:.2%} ({correct}/{len(y_test)})", file=out)


def _plots(
    spec: MLP,
    params: Params,
    logits: FloatArray,
    predicted: Array,
    y_test: Array,
    images: Array,
    history: History,
    out_dir: Path,
    quiet: bool,
) -> None:
    try:
        from funcnn.reporting import metrics, plots
    except ImportError as exc:  # pragma: no cover - plots ship with funcnn
        _warn(f"plots skipped: {exc}", quiet)
        return
    jobs: list[tuple[str, Callable[[], object]]] = [
        (
            "loss.png",
            lambda: plots.plot_loss_curves(
                out_dir / "loss.png",
                epoch_train_loss=history.epoch_train_loss,
                epoch_test_loss=history.epoch_test_loss,
                batch_losses=history.batch_losses,
                batch_interval=history.batch_interval,
                epoch_steps=history.epoch_steps,
            ),
        ),
        (
            "confusion_matrix.png",
            lambda: plots.plot_confusion_matrix(
                out_dir / "confusion_matrix.png",
                metrics.confusion_matrix(y_test, predicted, spec.n_out),
            ),
        ),
        (
            "samples.png",
            lambda: plots.plot_sample_grid(out_dir / "samples.png", images, y_test, predicted),
        ),
        (
            "first_layer_weights.png",
            lambda: plots.plot_first_layer_weights(
                out_dir / "first_layer_weights.png", params[0]["W"]
            ),
        ),
    ]
    if history.epoch_train_accuracy:
        jobs.insert(
            1,
            (
                "accuracy.png",
                lambda: plots.plot_accuracy_curves(
                    out_dir / "accuracy.png",
                    epoch_train_accuracy=history.epoch_train_accuracy,
                    epoch_test_accuracy=history.epoch_test_accuracy,
                ),
            ),
        )
    wrong = metrics.top_misclassified(logits, y_test, 25, from_logits=True)
    if len(wrong):
        jobs.append(
            (
                "misclassified.png",
                lambda: plots.plot_sample_grid(
                    out_dir / "misclassified.png",
                    images[wrong.indices],
                    wrong.y_true,
                    wrong.y_pred,
                    n=len(wrong),
                ),
            )
        )
    for name, job in jobs:
        try:
            job()
        except ImportError as exc:  # matplotlib missing: PlotDependencyError
            _warn(f"plots skipped: {exc}", quiet)
            return
        except (FuncnnError, ValueError, OSError) as exc:
            _warn(f"plot {name} skipped: {exc}", quiet)


def _warn(message: str, quiet: bool) -> None:
    if not quiet:
        print(f"funcnn: warning: {message}", file=sys.stderr)


# --------------------------------------------------------------------------- evaluate


def _evaluate(args: argparse.Namespace, out: TextIO) -> int:
    from funcnn.reporting import classification, metrics

    ckpt: Checkpoint = load_checkpoint(args.checkpoint)
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
    train, test = _load_data(args, args.limit, quiet=True)
    images, y = test if args.split == "test" else train
    x = _prepare(images, dtype)
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
    epochs = f", {ckpt.history.epochs} epochs" if ckpt.history is not None else ""
    print(
        f"checkpoint: {args.checkpoint} ({'-'.join(map(str, spec.sizes))} "
        f"{spec.activation if isinstance(spec.activation, str) else ','.join(spec.activation)}"
        f"{epochs})",
        file=out,
    )
    correct = int(np.count_nonzero(predicted == y))
    print(f"{args.split} accuracy: {acc:.2%} ({correct}/{len(y)}), loss {value:.4f}", file=out)
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


# --------------------------------------------------------------------------- main


def _verify(args: Sequence[str]) -> int:
    # Imported on demand: the suite is a separate package and most commands never need it.
    try:
        module = importlib.import_module("verification.__main__")
    except ImportError as exc:
        raise UsageError(f"verify: the verification suite is not available ({exc})") from exc
    build = getattr(module, "build_parser", None)
    if callable(build):
        # Parse once with the suite's own parser, but make usage errors one line.
        parser = build()
        prog = getattr(parser, "prog", "funcnn verify")

        def error(message: str) -> NoReturn:
            raise UsageError(f"{prog}: error: {message} (see 'funcnn verify --help')")

        setattr(parser, "error", error)  # noqa: B010 - replaces a bound method on purpose
        try:
            parser.parse_args(list(args))
        except SystemExit as exc:  # --help
            return exc.code if isinstance(exc.code, int) else 0
    try:
        result = module.main(list(args))
    except SystemExit as exc:  # its argparse exits on --help and usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return int(result or 0)


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    stream = sys.stdout if out is None else out
    try:
        if args_list[:1] == ["verify"]:
            return _verify(args_list[1:])
        parser = _parser()
        try:
            args = parser.parse_args(_join_negative_values(args_list))
        except SystemExit as exc:  # --help and friends
            return int(exc.code or 0) if not isinstance(exc.code, str) else 2
        if args.command == "train":
            return _train(args, stream)
        if args.command == "evaluate":
            return _evaluate(args, stream)
        parser.print_help(sys.stderr)
        return 2
    except UsageError as exc:
        message = str(exc)
        return _fail(message if message.startswith("funcnn") else f"funcnn: error: {message}", 2)
    except NonFiniteError as exc:
        return _fail(f"funcnn: error: {exc}", 1)
    except FuncnnError as exc:
        return _fail(f"funcnn: error: {exc}", 2)
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:
        return _fail(f"funcnn: error: {exc}", 2)
    except KeyboardInterrupt:
        return _fail("funcnn: interrupted", 130)
    except Exception as exc:  # the CLI promises one line, never a traceback
        if os.environ.get("FUNCNN_DEBUG"):
            raise
        return _fail(
            f"funcnn: internal error: {type(exc).__name__}: {exc} "
            "(set FUNCNN_DEBUG=1 for the traceback)",
            1,
        )


_NEGATIVE = re.compile(r"^-(\d|\.\d|inf|nan)", re.IGNORECASE)


def _join_negative_values(argv: list[str]) -> list[str]:
    """``--lr -inf`` as ``--lr=-inf``: argparse takes ``-inf`` or ``-1e-3`` for an option."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if (
            token.startswith("--")
            and "=" not in token
            and i + 1 < len(argv)
            and _NEGATIVE.match(argv[i + 1])
        ):
            out.append(f"{token}={argv[i + 1]}")
            i += 2
        else:
            out.append(token)
            i += 1
    return out


def _fail(message: str, code: int) -> int:
    print(" ".join(message.split()), file=sys.stderr)
    return code
