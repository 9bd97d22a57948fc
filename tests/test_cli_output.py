"""The command line never surprises: what it writes, refuses, caps, prints and says in --help."""

from __future__ import annotations

import argparse
import io
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import funcnn as fn
from funcnn.cli import main
from funcnn.cli.args import build_parser
from funcnn.cli.progress import Progress, format_loss, plural
from funcnn.reporting.plots import PLOT_FILES
from funcnn.training.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(args), out=out), out.getvalue()


def _png_size(path: Path) -> tuple[int, int]:
    width, height = struct.unpack(">II", path.read_bytes()[16:24])
    return width, height


def test_an_existing_run_is_refused_unless_force_or_resume(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    run.mkdir()  # an empty directory is no run: training into it is fine
    quick = ["--limit", "200", "--batch-size", "100", "--epochs", "1", "--no-plots", "-q"]
    assert _cli("train", *quick, "--out", str(run))[0] == 0
    before = (run / "checkpoint.npz").read_bytes()
    capsys.readouterr()
    code, _ = _cli("train", *quick, "--seed", "1", "--out", str(run))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"funcnn train: error: --out: {run} already holds a run")
    assert "--force" in err[0] and f"--resume {run / 'checkpoint.npz'}" in err[0]
    assert (run / "checkpoint.npz").read_bytes() == before  # nothing overwritten
    # A bad setting is reported before the directory is.
    assert _cli("train", *quick, "--lr", "0", "--out", str(run))[0] == 2
    assert "--lr" in capsys.readouterr().err
    # --resume continues the run that is there; --force replaces it.
    resume = ["train", "--resume", str(run / "checkpoint.npz"), "--epochs", "2", "-q"]
    assert _cli(*resume, "--no-plots")[0] == 0
    assert load_checkpoint(run / "checkpoint.npz").history.epochs == 2  # type: ignore[union-attr]
    assert _cli("train", *quick, "--seed", "1", "--out", str(run), "--force")[0] == 0
    assert load_checkpoint(run / "checkpoint.npz").history.epochs == 1  # type: ignore[union-attr]
    # Resuming into another directory that holds a run is refused too.
    other = tmp_path / "other"
    assert _cli("train", *quick, "--out", str(other))[0] == 0
    assert _cli(*resume, "--out", str(other))[0] == 2
    assert "--out: " in capsys.readouterr().err


def test_a_limit_below_the_batch_size_caps_it_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = _cli(
        "train", "--limit", "100", "--epochs", "1", "--out", str(tmp_path), "--no-plots"
    )
    assert code == 0, capsys.readouterr().err
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "funcnn train: note: --batch-size 128 is more than the 100 training samples; "
        "using --batch-size 100"
    ]
    ckpt = load_checkpoint(tmp_path / "checkpoint.npz")
    assert ckpt.metadata["train"]["batch_size"] == 100
    assert ckpt.history is not None and ckpt.history.epoch_steps == (1,)
    assert "test accuracy: " in text


def test_a_short_run_lists_every_file_and_gets_every_plot(tmp_path: Path) -> None:
    """One epoch of 6 batches: fewer than the 50 between two recorded losses by default."""
    run = tmp_path / "run"
    code, text = _cli(
        "train", "--limit", "300", "--batch-size", "50", "--epochs", "1", "--out", str(run)
    )
    assert code == 0
    history = fn.History.from_json((run / "history.json").read_text())
    assert history.batch_interval == 1 and len(history.batch_losses) == 6
    # The batch panel is there: the loss figure is two panels wide.
    assert _png_size(run / PLOT_FILES["loss"]) == (1200, 500)
    wrote = next(line for line in text.splitlines() if line.startswith("wrote "))
    listed = set(wrote.split(" (", 1)[1].rstrip(")").split(", "))
    assert listed == {p.name for p in run.iterdir()}
    assert set(PLOT_FILES.values()) <= listed
    assert "1 epochs" not in text


def test_cli_and_examples_share_the_plot_file_names() -> None:
    # One table: the examples import it rather than spelling the names out.
    common = (ROOT / "examples" / "mnist_common.py").read_text()
    assert "PLOT_FILES" in common
    assert not re.search(r"\bconfusion\.png|(?<!_)weights\.png|\"loss\.png\"", common)


def test_losses_print_readably() -> None:
    assert format_loss(2.279123) == "2.2791"
    assert format_loss(1.4e35) == "1.4e+35"
    assert format_loss(-3e6) == "-3e+06"
    assert format_loss(float("inf")) == "inf"
    assert [plural(1, "epoch"), plural(2, "epoch")] == ["1 epoch", "2 epochs"]
    out = io.StringIO()
    history = fn.History(
        epoch_train_loss=(1.4e35,),
        epoch_train_accuracy=(0.1,),
        epoch_test_loss=(2.5e36,),
        epoch_test_accuracy=(0.1,),
        epoch_time=(0.5,),
        epoch_steps=(3,),
    )
    Progress(enabled=False, lines=True, out=out).epoch(history, 1)
    line = out.getvalue().strip()
    assert line == "epoch 1/1  train loss 1.4e+35  acc 10.00%  test loss 2.5e+36  acc 10.00%  0.50s"


def _value_flags(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [
        a
        for a in parser._actions
        if a.option_strings and a.help and not isinstance(a, argparse._HelpAction)
    ]


def test_help_shows_every_default() -> None:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name in ("train", "evaluate"):
        for action in _value_flags(subparsers.choices[name]):
            assert action.help is not None
            assert re.search(r"\([^)]+\)$", action.help), (name, action.option_strings)
    train_help = subparsers.choices["train"].format_help()
    assert "(normal:0.02)" in train_help


def test_usage_errors_name_the_flag_once(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, expected in (
        (["train", "--lr", "0"], "funcnn train: error: --lr: expected a finite number > 0"),
        (["train", "--init", "zeros"], "funcnn train: error: --init: unknown init scheme 'zeros'"),
        (["train", "--momentum", "1"], "funcnn train: error: --momentum: "),
        (["train", "--weight-decay", "-1"], "funcnn train: error: --weight-decay: "),
        (["train", "--final-lr", "1", "--schedule", "cosine"], "funcnn train: error: --final-lr: "),
    ):
        assert _cli(*argv, "--no-download")[0] == 2
        err = capsys.readouterr().err
        assert err.startswith(expected), err
        assert "scheme: " not in err and not re.search(r"(?<!-)\blr: ", err), err


def test_a_bad_data_dir_names_data_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], checkpoint: Path
) -> None:
    for argv in (["train", "--out", str(tmp_path / "run")], ["evaluate", str(checkpoint)]):
        code, _ = _cli(*argv, "--data-dir", str(tmp_path / "nowhere"))
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1
        expected = f"funcnn {argv[0]}: error: --data-dir: {tmp_path / 'nowhere'}"
        assert err[0].startswith(expected), err


def test_an_unwritable_out_names_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    code, _ = _cli("train", "--limit", "200", "-q", "--no-plots", "--out", str(blocker / "run"))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    expected = f"funcnn train: error: --out: cannot create the directory '{blocker}/run'"
    assert err[0].startswith(expected)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ckpt") / "run"
    quick = ["--limit", "200", "--batch-size", "100", "--epochs", "1", "--no-plots", "-q"]
    assert main(["train", *quick, "--out", str(out)], out=io.StringIO()) == 0
    return out / "checkpoint.npz"


@pytest.mark.parametrize(
    "argv",
    [
        ["-m", "funcnn", "evaluate", "{ckpt}", "--limit", "200"],
        ["-m", "funcnn", "train", "--limit", "200", "--epochs", "1", "--out", "{tmp}"],
        ["-m", "funcnn", "verify", "--list"],
        ["-m", "verification", "--list"],
    ],
    ids=["evaluate", "train", "verify", "verification"],
)
def test_a_closed_pipe_ends_quietly(argv: list[str], tmp_path: Path, checkpoint: Path) -> None:
    """As `... | head -1`, with the reader gone before anything is written: no message,
    exit status 141 (what a shell shows for coreutils killed by SIGPIPE)."""
    args = [a.format(ckpt=checkpoint, tmp=tmp_path / "run") for a in argv]
    proc = subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert err == ""


def test_the_batch_size_is_not_capped_silently_when_quiet(tmp_path: Path) -> None:
    # -q drops the note, not the cap: the run still trains.
    code, text = _cli(
        "train", "--limit", "60", "--epochs", "1", "-q", "--no-plots", "--out", str(tmp_path)
    )
    assert code == 0 and text.startswith("test accuracy: ")
    assert np.isfinite(load_checkpoint(tmp_path / "checkpoint.npz").params[0]["W"]).all()
