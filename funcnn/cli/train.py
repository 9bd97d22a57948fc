"""``funcnn train``: train an MLP on MNIST, checkpointing every epoch, then report and plot.

The run directory (``--out``) gets ``checkpoint.npz`` and ``history.json`` after every
epoch (atomically: an interrupted run continues exactly with ``--resume``), then
``report.txt``, ``metrics.json`` and the PNG plots. A directory that already holds a run
is refused unless ``--force`` (or it is the run being resumed).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from funcnn.cli.args import train_defaults
from funcnn.cli.config import (
    build_optimizer,
    build_spec,
    default_log_every,
    default_out,
    run_title,
    saved_config,
    train_config,
)
from funcnn.cli.data import load_data, prepare
from funcnn.cli.errors import RunDivergedError, RunInterruptedError, UsageError, flagged
from funcnn.cli.progress import Progress, plural
from funcnn.cli.report import write_report, write_text
from funcnn.core.initializers import get_scheme, init
from funcnn.core.spec import MLP
from funcnn.reporting.plots import PLOT_FILES
from funcnn.training.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from funcnn.training.loop import BatchEnd, EpochEnd, History, TrainingDivergedError, fit
from funcnn.training.optimizers import Optimizer
from funcnn.typing import Array, FloatArray, Params

__all__ = ["RUN_FILES", "run_train"]

# Every file a run writes into --out; any of them there means the directory holds a run.
RUN_FILES = (
    "checkpoint.npz",
    "history.json",
    "report.txt",
    "metrics.json",
    *PLOT_FILES.values(),
)


@dataclass
class _Run:
    """One training run being set up: its settings, where it goes, what it resumes."""

    config: dict[str, Any]
    out_dir: Path
    ckpt: Checkpoint | None


def run_train(args: argparse.Namespace, out: TextIO) -> int:
    """Train as the flags say; return the exit status (errors are raised)."""
    started = time.perf_counter()
    run = _resumed(args) if args.resume is not None else _fresh(args)
    config, quiet = run.config, bool(args.quiet)
    spec = build_spec(config) if run.ckpt is None else run.ckpt.spec
    if run.ckpt is None:
        # Check the settings before the data are loaded (the real schedule needs its size).
        flagged(lambda: get_scheme(config["init"]), flag="--init", whole=("scheme", "name"))
        flagged(lambda: build_optimizer(config, 1))
    _check_out(run.out_dir, args)
    dtype = np.dtype(config["dtype"])
    (train_images, y_train), (test_images, y_test) = load_data(
        args, config["limit"], quiet, config["test_limit"]
    )
    x_train = prepare(train_images, dtype)
    del train_images
    x_test = prepare(test_images, dtype)
    steps = _fit_batch_size(config, len(x_train), quiet)
    _make_dir(run.out_dir)
    history, params = _train(spec, run, (x_train, y_train), (x_test, y_test), steps, quiet, out)
    title = None if args.no_plots else run_title(config, history.epochs)
    written = write_report(
        spec,
        params,
        config["loss"],
        (x_test, y_test, test_images),
        history,
        run.out_dir,
        title=title,
        quiet=quiet,
        out=out,
    )
    if not quiet:
        files = ", ".join(["checkpoint.npz", "history.json", *written])
        print(f"wrote {run.out_dir}/ ({files})", file=out)
        print(f"total time {time.perf_counter() - started:.1f}s", file=out)
    return 0


def _fresh(args: argparse.Namespace) -> _Run:
    config = train_config(args)
    out_dir = args.out if args.out is not None else default_out(config)
    return _Run(config, out_dir, None)


def _resumed(args: argparse.Namespace) -> _Run:
    explicit = sorted(k for k in train_defaults() if hasattr(args, k))
    if explicit:
        flags = ", ".join("--" + k.replace("_", "-") for k in explicit)
        raise UsageError(
            f"--resume: the model, optimizer and data settings come from the checkpoint; "
            f"do not pass {flags}"
        )
    ckpt = flagged(lambda: load_checkpoint(args.resume), flag="--resume", whole=("path",))
    saved = ckpt.metadata.get("train")
    if not isinstance(saved, dict) or ckpt.optimizer is None or ckpt.history is None:
        raise UsageError(f"--resume: {args.resume} was not written by 'funcnn train'")
    config = saved_config(saved, args.resume)
    if args.epochs is not None:
        done = ckpt.history.epochs
        if args.epochs < done:
            raise UsageError(
                f"--epochs: {args.epochs} is fewer than the {plural(done, 'epoch')} "
                f"{args.resume} has already trained; --epochs is the total, so pass more "
                f"than {done} to train on"
            )
        config["epochs"] = args.epochs
    out_dir = args.out if args.out is not None else args.resume.parent
    return _Run(config, out_dir, ckpt)


def _check_out(out_dir: Path, args: argparse.Namespace) -> None:
    """Refuse a file, or a directory holding another run unless --force."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out: {str(out_dir)!r} exists and is not a directory")
    if args.force or not out_dir.is_dir():
        return
    if args.resume is not None and out_dir.resolve() == args.resume.resolve().parent:
        return  # continuing the run that is there
    found = [name for name in RUN_FILES if (out_dir / name).exists()]
    if found:
        raise UsageError(
            f"--out: {out_dir} already holds a run ({', '.join(found[:2])}"
            f"{', ...' if len(found) > 2 else ''}); pass --force to overwrite it, or "
            f"--resume {out_dir / 'checkpoint.npz'} to continue it"
        )


def _make_dir(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"--out: cannot create the directory {str(out_dir)!r}: {exc.strerror or exc}"
        ) from exc


def _fit_batch_size(config: dict[str, Any], n: int, quiet: bool) -> int:
    """Cap the batch size at the ``n`` training samples; set the logging interval.

    Returns the number of batches per epoch.
    """
    batch = config["batch_size"]
    if batch > n:
        if not quiet:
            print(
                f"funcnn train: note: --batch-size {batch} is more than the {n} training samples; "
                f"using --batch-size {n}",
                file=sys.stderr,
            )
        batch = config["batch_size"] = n
    steps: int = n // batch if config["drop_last"] else -(-n // batch)
    if config["log_every"] is None:
        config["log_every"] = default_log_every(steps * config["epochs"])
    return steps


def _start(spec: MLP, run: _Run, steps: int) -> tuple[Optimizer, Any, Params, Any, History | None]:
    """Optimizer, rng, params, optimizer state and history to start from."""
    config = run.config
    if run.ckpt is None:
        optimizer = flagged(lambda: build_optimizer(config, steps))
        config["optimizer_config"] = optimizer.to_config()
        rng = np.random.default_rng(config["seed"])
        params = flagged(
            lambda: init(spec, rng, config["init"], dtype=np.dtype(config["dtype"])),
            flag="--init",
            whole=("scheme", "name"),
        )
        return optimizer, rng, params, None, None
    ckpt = run.ckpt
    assert ckpt.optimizer is not None  # checked by _resumed
    return ckpt.optimizer, ckpt.rng(), ckpt.params, ckpt.opt_state, ckpt.history


def _train(
    spec: MLP,
    run: _Run,
    train: tuple[FloatArray, Array],
    test: tuple[FloatArray, Array],
    steps: int,
    quiet: bool,
    out: TextIO,
) -> tuple[History, Params]:
    """Fit for the remaining epochs, saving a checkpoint after each; return the result."""
    config, out_dir = run.config, run.out_dir
    optimizer, rng, params, opt_state, history = _start(spec, run, steps)
    checkpoint_path = out_dir / "checkpoint.npz"
    last_epoch = config["epochs"]
    done = 0 if history is None else history.epochs
    if done >= last_epoch:
        if not quiet:
            print(
                f"{checkpoint_path}: already trained {plural(done, 'epoch')} of {last_epoch}",
                file=out,
            )
        assert history is not None
        return history, params
    progress = Progress(enabled=not quiet and sys.stderr.isatty(), lines=not quiet, out=out)

    def callback(event: BatchEnd | EpochEnd) -> None:
        if isinstance(event, BatchEnd):
            progress.batch(event)
            return
        progress.epoch(event.history, last_epoch)
        # history.json first: whenever a checkpoint exists, its history file does too.
        try:
            write_text(out_dir / "history.json", event.history.to_json() + "\n")
            save_checkpoint(
                checkpoint_path,
                spec=spec,
                params=event.params,
                optimizer=optimizer,
                opt_state=event.opt_state,
                rng=rng,
                history=event.history,
                metadata={"train": config},
            )
        except OSError as exc:
            raise UsageError(
                f"--out: cannot write {checkpoint_path}: {exc.strerror or exc}"
            ) from exc

    try:
        params, _, history = fit(
            spec,
            params,
            optimizer,
            *train,
            epochs=last_epoch - done,
            batch_size=config["batch_size"],
            rng=rng,
            loss=config["loss"],
            x_test=test[0],
            y_test=test[1],
            opt_state=opt_state,
            history=history,
            shuffle=config["shuffle"],
            drop_last=config["drop_last"],
            log_every=config["log_every"],
            callback=callback,
            callback_every=max(1, steps // 200),
        )
    except TrainingDivergedError as exc:
        raise _diverged(exc, config, checkpoint_path) from exc
    except KeyboardInterrupt:
        raise _interrupted(checkpoint_path) from None
    finally:
        progress.close()
    return history, params


def _diverged(exc: TrainingDivergedError, config: dict[str, Any], ckpt: Path) -> RunDivergedError:
    """The divergence in command-line terms: what happened, what to do next."""
    what = str(exc).split(";", 1)[0]
    kept = (
        f"{ckpt} keeps epoch {exc.history.epochs}"
        if exc.history.epochs and ckpt.is_file()
        else "no epoch completed, so there is no checkpoint"
    )
    return RunDivergedError(
        f"{what}; train again with a smaller --lr than {config['lr']:g} (and --force to "
        f"reuse the directory); {kept}"
    )


def _interrupted(ckpt: Path) -> RunInterruptedError:
    if ckpt.is_file():
        return RunInterruptedError(
            f"interrupted; the last completed epoch is saved, continue with: "
            f"funcnn train --resume {ckpt}"
        )
    return RunInterruptedError("interrupted before the first epoch ended; nothing was saved")
