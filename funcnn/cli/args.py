"""The argument parser of ``funcnn``: its subcommands, flags and their defaults.

Model, optimizer and data flags default to ``argparse.SUPPRESS`` so that a flag the
user typed can be told apart from a default (``--resume`` refuses explicit ones); the
defaults live in :data:`TRAIN_DEFAULTS` and each flag's help says its default.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path
from typing import Any, NoReturn

from funcnn.cli.errors import UsageError
from funcnn.core.activations import ACTIVATIONS
from funcnn.core.initializers import SCHEMES
from funcnn.core.losses import LOSSES
from funcnn.training.optimizers import OPTIMIZERS
from funcnn.training.schedules import SCHEDULES

__all__ = [
    "COMMANDS",
    "TRAIN_DEFAULTS",
    "Parser",
    "build_parser",
    "join_negative_values",
    "number",
    "optimizer_settings",
    "parse",
    "positive_int",
    "seed",
    "setting_key",
    "settings_table",
    "train_defaults",
]

# Model, optimizer and data flags: their defaults, applied after parsing so that an
# explicit flag can be told apart from a default (``--resume`` refuses explicit ones).
# The optimizers' own settings are added by train_defaults() from the registry.
TRAIN_DEFAULTS: dict[str, Any] = {
    "sizes": "784,128,10",
    "activation": "relu",
    "init": "normal:0.02",
    "loss": "softmax_cross_entropy",
    "optimizer": "sgd",
    "lr": None,  # the optimizer's default_lr in the registry (0.1 for sgd, 0.001 for adam)
    "schedule": "constant",
    "decay_every": 1,
    "decay_factor": 0.1,
    "final_lr": 0.0,
    "batch_size": 128,
    "seed": 0,
    "dtype": "float32",
    "limit": None,
    "test_limit": None,
    "shuffle": True,
    "drop_last": False,
    "log_every": None,  # 50, or fewer so that a short run still records 20 losses
}

# CLI spellings of recipe settings whose flags are older than the registry (--beta1 for b1).
SETTING_KEYS = {"b1": "beta1", "b2": "beta2"}


def setting_key(setting: str) -> str:
    """The config key (and, with dashes, the flag) of a recipe setting."""
    return SETTING_KEYS.get(setting, setting)


def optimizer_settings() -> dict[str, dict[str, Any]]:
    """Every setting key of the registered optimizers: ``{key: {optimizer: default}}``."""
    found: dict[str, dict[str, Any]] = {}
    for name, entry in OPTIMIZERS.items():
        for setting, default in entry.settings().items():
            found.setdefault(setting_key(setting), {})[name] = default
    return found


def train_defaults() -> dict[str, Any]:
    """:data:`TRAIN_DEFAULTS` plus every optimizer setting, ``None`` meaning "the chosen
    optimizer's own default"."""
    return {**TRAIN_DEFAULTS, **dict.fromkeys(optimizer_settings())}


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (a :class:`UsageError`);
    ``commands`` holds its subcommands' parsers by name."""

    commands: dict[str, argparse.ArgumentParser]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = {}

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message} (see '{self.prog} --help')")


def _integer(text: str, minimum: int, expected: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1, for counts and sizes."""
    return _integer(text, 1, "a positive integer")


def seed(text: str) -> int:
    """An integer >= 0, for ``--seed``."""
    return _integer(text, 0, "an integer >= 0")


def number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


# The subcommands, in the order --help lists them.
COMMANDS = ("train", "evaluate", "verify")


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """``parser.parse_args(argv)``, but an unknown flag after a command is that command's
    error (``funcnn train: error: ... (see 'funcnn train --help')``), not the top level's."""
    args, extras = parser.parse_known_args(argv)
    if extras:
        commands = parser.commands if isinstance(parser, Parser) else {}
        target = commands.get(getattr(args, "command", None) or "", parser)
        target.error(f"unrecognized arguments: {' '.join(extras)}")
    return args


def build_parser() -> Parser:
    parser = Parser(
        prog="funcnn",
        description="Train and evaluate pure-functional numpy MLPs on MNIST.",
    )
    sub = parser.add_subparsers(
        dest="command", metavar="{" + ",".join(COMMANDS) + "}", parser_class=Parser
    )

    train = sub.add_parser(
        "train",
        help="train an MLP on MNIST (no arguments: 784-128-10 ReLU, SGD 0.1, 8 epochs)",
        description="Train an MLP on MNIST with a registered optimizer (SGD, Adam, ...).",
    )
    _model_flags(train.add_argument_group("model"))
    _optimizer_flags(train.add_argument_group("optimizer"))
    _loop_flags(train.add_argument_group("training"))
    _output_flags(train.add_argument_group("data and output"))
    ev = sub.add_parser(
        "evaluate",
        help="accuracy, confusion matrix and classification report of a checkpoint",
        description="Evaluate a checkpoint on MNIST.",
    )
    ev.add_argument("checkpoint", type=Path, help="a checkpoint.npz written by funcnn train")
    ev.add_argument("--split", choices=["test", "train"], default="test", help="(test)")
    ev.add_argument(
        "--limit",
        type=positive_int,
        default=None,
        metavar="N",
        help="use only the first N samples (all)",
    )
    ev.add_argument("--json", action="store_true", help="print the metrics as JSON (text)")
    _data_flags(ev)

    sub.add_parser(
        "verify",
        help="run the gradient verification suite (arguments go to it; try 'verify --help')",
        add_help=False,
    )
    parser.commands = dict(sub.choices)
    return parser


def _data_flags(group: Any) -> None:
    group.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="directory with the four MNIST files (search, then download)",
    )
    group.add_argument(
        "--no-download",
        action="store_true",
        help="fail instead of downloading MNIST when it is not found (download)",
    )


_NEGATIVE = re.compile(r"^-(\d|\.\d|inf|nan)", re.IGNORECASE)


def join_negative_values(argv: list[str]) -> list[str]:
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


def _model_flags(group: Any) -> None:
    """The network: sizes, activation, init, loss, dtype."""
    model = group
    S = argparse.SUPPRESS
    model.add_argument("--sizes", default=S, help="layer widths, input to output (784,128,10)")
    model.add_argument(
        "--activation",
        default=S,
        help=f"hidden activation ({', '.join(ACTIVATIONS)}), or one per hidden layer "
        "separated by commas (relu)",
    )
    model.add_argument(
        "--init",
        default=S,
        help=f"init scheme ({', '.join(SCHEMES)}) or normal:STD[:BIAS] (normal:0.02)",
    )
    model.add_argument(
        "--loss", default=S, choices=sorted(LOSSES), help="loss (softmax_cross_entropy)"
    )
    model.add_argument("--dtype", default=S, choices=["float32", "float64"], help="(float32)")


def _optimizer_flags(group: Any) -> None:
    """The optimizer, its settings (from the registry) and its learning-rate schedule."""
    opt = group
    S = argparse.SUPPRESS
    opt.add_argument("--optimizer", default=S, choices=sorted(OPTIMIZERS), help="(sgd)")
    rates = ", ".join(f"{e.default_lr:g} {name}" for name, e in OPTIMIZERS.items())
    opt.add_argument("--lr", default=S, type=number, help=f"learning rate ({rates})")
    for key, defaults in optimizer_settings().items():
        users = ", ".join(defaults)
        shown = _defaults_text(defaults)
        flag = "--" + key.replace("_", "-")
        if all(isinstance(v, bool) for v in defaults.values()):
            action = "store_true" if not any(defaults.values()) else argparse.BooleanOptionalAction
            opt.add_argument(flag, default=S, action=action, help=f"setting of {users} ({shown})")
        else:
            opt.add_argument(flag, default=S, type=number, help=f"setting of {users} ({shown})")
    opt.add_argument(
        "--schedule",
        default=S,
        choices=sorted(SCHEDULES),
        help="learning-rate schedule (constant)",
    )
    opt.add_argument(
        "--decay-every",
        default=S,
        type=positive_int,
        metavar="EPOCHS",
        help="step schedule: decay every EPOCHS epochs (1)",
    )
    opt.add_argument("--decay-factor", default=S, type=number, help="step schedule: factor (0.1)")
    opt.add_argument("--final-lr", default=S, type=number, help="cosine schedule: final rate (0)")


def _defaults_text(defaults: dict[str, Any]) -> str:
    """``0.9``, or ``0.01 adamw, else 0.0`` when the optimizers' defaults differ."""
    text = {name: "off" if v is False else "on" if v is True else f"{v:g}"
            for name, v in defaults.items()}
    values = list(text.values())
    common = max(values, key=values.count)
    odd = [f"{v} {name}" for name, v in text.items() if v != common]
    return ", ".join([*odd, f"else {common}"]) if odd else common


def settings_table() -> str:
    """The Markdown table of the optimizer setting flags that ``docs/cli.md`` shows."""
    rows = ["| flag | default | setting of |", "|---|---|---|"]
    for key, defaults in optimizer_settings().items():
        flag = "--" + key.replace("_", "-")
        rows.append(f"| `{flag}` | {_defaults_text(defaults)} | {', '.join(defaults)} |")
    return "\n".join(rows)


def _loop_flags(group: Any) -> None:
    """Batches, epochs, seed and shuffling."""
    loop = group
    S = argparse.SUPPRESS
    loop.add_argument("--batch-size", default=S, type=positive_int, help="(128)")
    loop.add_argument("--epochs", type=positive_int, default=None, help="total epochs (8)")
    loop.add_argument(
        "--seed", default=S, type=seed, help="seed of init and shuffling, an integer >= 0 (0)"
    )
    loop.add_argument(
        "--no-shuffle",
        dest="shuffle",
        action="store_false",
        default=S,
        help="use the training data in order (shuffled every epoch)",
    )
    loop.add_argument(
        "--drop-last",
        action="store_true",
        default=S,
        help="skip each epoch's final partial batch (kept)",
    )
    loop.add_argument(
        "--log-every",
        default=S,
        type=positive_int,
        metavar="N",
        help="record the loss every N batches (50, fewer for short runs)",
    )


def _output_flags(group: Any) -> None:
    """Data, the run directory, resuming and output."""
    data = group
    S = argparse.SUPPRESS
    data.add_argument(
        "--limit",
        default=S,
        type=positive_int,
        metavar="N",
        help="train on only the first N training samples (all 60,000)",
    )
    data.add_argument(
        "--test-limit",
        default=S,
        type=positive_int,
        metavar="N",
        help="test on only the first N test samples (all 10,000)",
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
        help="continue a run from its checkpoint, up to --epochs in total (none)",
    )
    data.add_argument(
        "--force",
        action="store_true",
        help="overwrite the run already in --out (refused)",
    )
    data.add_argument("--no-plots", action="store_true", help="do not draw PNG plots (drawn)")
    data.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="no progress bar or per-epoch lines; only the result (off)",
    )
