"""The settings of a ``funcnn train`` run: from flags, or from a checkpoint to resume.

A run's settings are a flat dict (the keys of :func:`funcnn.cli.args.train_defaults`:
the CLI's own plus every registered optimizer's settings, and ``epochs``), stored in the
checkpoint's metadata under ``"train"`` so that ``--resume`` rebuilds exactly the same run.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from funcnn.cli.args import optimizer_settings, setting_key, train_defaults
from funcnn.cli.data import MNIST_CLASSES, MNIST_INPUTS
from funcnn.cli.errors import UsageError, flagged
from funcnn.cli.progress import plural
from funcnn.core.spec import MLP
from funcnn.training.optimizers import OPTIMIZERS, Optimizer
from funcnn.training.schedules import SCHEDULES, Cosine, Schedule, StepDecay

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
    """The effective model, optimizer and data settings (flags over defaults); a flag for a
    setting the chosen optimizer does not take is a usage error."""
    config = {key: getattr(args, key, default) for key, default in train_defaults().items()}
    entry = OPTIMIZERS[config["optimizer"]]
    if config["lr"] is None:
        config["lr"] = entry.default_lr
    own = {setting_key(s) for s in entry.settings()}
    for key, users in optimizer_settings().items():
        if hasattr(args, key) and key not in own:
            raise UsageError(
                f"--{key.replace('_', '-')}: not a setting of --optimizer {entry.name} "
                f"(it is one of {', '.join(users)})"
            )
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


def build_schedule(config: dict[str, Any], steps_per_epoch: int) -> Schedule:
    """The ``--schedule`` of the settings, its epochs turned into ``steps_per_epoch`` steps."""
    lr, name = config["lr"], config["schedule"]
    if name == "step":
        return StepDecay(
            lr, step_size=config["decay_every"] * steps_per_epoch, gamma=config["decay_factor"]
        )
    if name == "cosine":
        return Cosine(
            lr, total_steps=config["epochs"] * steps_per_epoch, final_lr=config["final_lr"]
        )
    try:
        kind: Any = SCHEDULES[name]  # a registered schedule that needs only the rate
        return kind(lr)  # type: ignore[no-any-return]
    except TypeError as exc:
        raise UsageError(f"--schedule: {name!r} needs settings this CLI has no flags for") from exc


def build_optimizer(config: dict[str, Any], steps_per_epoch: int) -> Optimizer:
    """The optimizer and schedule of the settings, for ``steps_per_epoch`` batches: the
    registered recipe with the settings given (``None``: the recipe's default)."""
    entry = OPTIMIZERS[config["optimizer"]]
    settings = {
        s: config[setting_key(s)]
        for s in entry.settings()
        if config.get(setting_key(s)) is not None
    }
    return entry.recipe(build_schedule(config, steps_per_epoch), **settings)


def saved_config(saved: dict[str, Any], path: Path) -> dict[str, Any]:
    """The training settings stored by 'funcnn train', checked key by key; optimizer
    settings missing from runs saved before they existed are ``None`` (the default)."""
    kinds: dict[str, tuple[type, ...]] = {
        "sizes": (str,),
        "activation": (str,),
        "init": (str,),
        "loss": (str,),
        "optimizer": (str,),
        "dtype": (str,),
        "schedule": (str,),
        "lr": (int, float),
        "decay_factor": (int, float),
        "final_lr": (int, float),
        "decay_every": (int,),
        "batch_size": (int,),
        "seed": (int,),
        "epochs": (int,),
        "log_every": (int,),
        "shuffle": (bool,),
        "drop_last": (bool,),
        "limit": (int, type(None)),
        "test_limit": (int, type(None)),
    }
    settings = optimizer_settings()
    saved = {key: saved.get(key) for key in settings} | dict(saved)  # older runs lack some
    if "test_limit" not in saved:  # runs saved when --limit cut the test set too
        saved["test_limit"] = saved.get("limit")
    for key, defaults in settings.items():
        numbers = bool if all(isinstance(v, bool) for v in defaults.values()) else (int, float)
        kinds[key] = (*((numbers,) if numbers is bool else numbers), type(None))
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
    for key in ("limit", "test_limit"):
        if saved[key] is not None and saved[key] <= 0:
            raise UsageError(f"--resume: {path}: the saved {key} {saved[key]} is not positive")
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
    """The run in a few words, for plot titles: sizes, activation, optimizer with the
    settings that differ from its defaults, rate, batch."""
    parts = [f"{str(config['sizes']).replace(',', '-')} {config['activation']}"]
    opt = f"{config['optimizer']} lr {config['lr']:g}"
    entry = OPTIMIZERS.get(config["optimizer"])
    for setting, default in (entry.settings() if entry is not None else {}).items():
        value = config.get(setting_key(setting))
        if value is None or value == default:
            continue
        opt += f" {setting}" if value is True else f" {setting} {value:g}"
    if config["schedule"] != "constant":
        opt += f" ({config['schedule']} schedule)"
    parts += [opt, f"batch {config['batch_size']}", plural(epochs, "epoch")]
    return ", ".join(parts)
