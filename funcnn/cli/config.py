"""The settings of a ``funcnn train`` run: from flags, or from a checkpoint to resume.

A run's settings are a flat dict (the keys of :data:`funcnn.cli.args.TRAIN_DEFAULTS`
plus ``epochs``), stored in the checkpoint's metadata under ``"train"`` so that
``--resume`` rebuilds exactly the same run.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from funcnn.cli.args import TRAIN_DEFAULTS
from funcnn.cli.data import MNIST_CLASSES, MNIST_INPUTS
from funcnn.cli.errors import UsageError, flagged
from funcnn.cli.progress import plural
from funcnn.core.spec import MLP
from funcnn.training.optimizers import Optimizer, adam, sgd
from funcnn.training.schedules import Constant, Cosine, Schedule, StepDecay

__all__ = [
    "DEFAULT_LOG_EVERY",
    "build_optimizer",
    "build_spec",
    "default_out",
    "run_title",
    "saved_config",
    "train_config",
]

DEFAULT_LOG_EVERY = 50


def train_config(args: argparse.Namespace) -> dict[str, Any]:
    """The effective model, optimizer and data settings (flags over defaults)."""
    config = {key: getattr(args, key, default) for key, default in TRAIN_DEFAULTS.items()}
    if config["lr"] is None:
        config["lr"] = 0.1 if config["optimizer"] == "sgd" else 0.001
    config["epochs"] = 8 if args.epochs is None else args.epochs
    return config


def build_spec(config: dict[str, Any]) -> MLP:
    """The network the ``--sizes`` and ``--activation`` settings describe."""
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
    return flagged(lambda: MLP(sizes, activation))


def build_optimizer(config: dict[str, Any], steps_per_epoch: int) -> Optimizer:
    """The optimizer and schedule of the settings, for ``steps_per_epoch`` batches."""
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


def saved_config(saved: dict[str, Any], path: Path) -> dict[str, Any]:
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


def default_log_every(total_steps: int) -> int:
    """Every 50 batches, or often enough that a short run still records about 20 losses."""
    return min(DEFAULT_LOG_EVERY, max(1, total_steps // 20))


def default_out(config: dict[str, Any]) -> Path:
    """``runs/<sizes>-<activation>-<optimizer>-seed<seed>``."""
    sizes = str(config["sizes"]).replace(",", "-")
    act = str(config["activation"]).replace(",", "-")
    return Path("runs") / f"{sizes}-{act}-{config['optimizer']}-seed{config['seed']}"


def run_title(config: dict[str, Any], epochs: int) -> str:
    """The run in a few words, for plot titles: sizes, activation, optimizer, rate, batch."""
    parts = [f"{str(config['sizes']).replace(',', '-')} {config['activation']}"]
    opt = f"{config['optimizer']} lr {config['lr']:g}"
    if config["optimizer"] == "sgd" and config["momentum"]:
        opt += f" momentum {config['momentum']:g}" + (" nesterov" if config["nesterov"] else "")
    if config["schedule"] != "constant":
        opt += f" ({config['schedule']} schedule)"
    if config["weight_decay"]:
        opt += f" wd {config['weight_decay']:g}"
    parts += [opt, f"batch {config['batch_size']}", plural(epochs, "epoch")]
    return ", ".join(parts)
