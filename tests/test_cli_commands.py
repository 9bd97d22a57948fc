"""The command line names the command as typed, keeps train and test limits apart, and
never leaves a run directory that disagrees with its checkpoint (issue 25)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from funcnn.cli import command_prog, main
from funcnn.reporting.plots import PLOT_FILES
from funcnn.training.checkpoint import load_checkpoint, save_checkpoint

FAST = ["--batch-size", "50", "--log-every", "4", "-q"]


def _cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(args), out=out), out.getvalue()


def _err(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.strip().splitlines()


def test_command_prog_is_the_command_as_typed() -> None:
    assert command_prog(["train", "--lr", "0"]) == "funcnn train"
    assert command_prog(["evaluate", "x.npz"]) == "funcnn evaluate"
    assert command_prog(["verify", "--quick"]) == "funcnn verify"
    assert command_prog(["--bogus"]) == "funcnn"
    assert command_prog([]) == "funcnn"


def test_verify_header_and_errors_name_funcnn_verify(capsys: pytest.CaptureFixture[str]) -> None:
    from verification.__main__ import main as verification_main

    code, out = _cli("verify", "--only", "softmax/*", "--quick")
    assert code == 0 and out == ""  # the suite prints to sys.stdout
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "funcnn verify: 2 checks, seed 0 (quick)", printed
    assert _cli("verify", "--only", "no-such-check")[0] == 2
    assert _err(capsys) == ["funcnn verify: error: --only: no check matches 'no-such-check' "
                            "(see --list)"]
    assert _cli("verify", "--seed", "-1")[0] == 2
    assert _err(capsys) == ["funcnn verify: error: argument --seed: expected an integer >= 0, "
                            "got -1 (see 'funcnn verify --help')"]
    # Run as its own program, the suite keeps its own name.
    assert verification_main(["--only", "no-such-check"]) == 2
    assert _err(capsys)[0].startswith("funcnn-verify: error: --only: ")


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_an_unknown_flag_points_at_the_commands_help(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [command, "--bogus-flag"] if command == "train" else [command, "x.npz", "--bogus-flag"]
    assert _cli(*argv)[0] == 2
    assert _err(capsys) == [
        f"funcnn {command}: error: unrecognized arguments: --bogus-flag "
        f"(see 'funcnn {command} --help')"
    ]
    assert _cli("--bogus-flag")[0] == 2
    assert _err(capsys) == ["funcnn: error: unrecognized arguments: --bogus-flag "
                            "(see 'funcnn --help')"]


def test_every_error_of_a_command_starts_with_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [
        (["train", "--lr", "0"], "funcnn train: error: --lr: "),  # a value check
        (["train", "--epochs", "x"], "funcnn train: error: argument --epochs: "),  # argparse
        (["train", "--limit", "70000", "--out", str(tmp_path / "r")],
         "funcnn train: error: --limit: 70000 exceeds the 60000 training samples"),
        (["train", "--test-limit", "10001", "--out", str(tmp_path / "r")],
         "funcnn train: error: --test-limit: 10001 exceeds the 10000 test samples"),
        (["evaluate", str(tmp_path / "missing.npz")], "funcnn evaluate: error: "),
        (["evaluate", "x.npz", "--limit", "0"], "funcnn evaluate: error: argument --limit: "),
    ]
    for argv, prefix in cases:
        assert _cli(*argv)[0] == 2, argv
        err = _err(capsys)
        assert len(err) == 1 and err[0].startswith(prefix), (argv, err)


def test_limit_cuts_the_training_set_and_test_limit_the_test_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "all-tests"
    code, out = _cli("train", "--limit", "200", "--epochs", "1", "--no-plots", "--out", str(run),
                     *FAST)
    assert code == 0, _err(capsys)
    assert json.loads((run / "metrics.json").read_text())["n_test"] == 10000
    assert "/10000 test digits), loss " in out, out
    cut = tmp_path / "cut"
    code, out = _cli("train", "--limit", "200", "--test-limit", "150", "--epochs", "1",
                     "--no-plots", "--out", str(cut), *FAST)
    assert code == 0, _err(capsys)
    assert json.loads((cut / "metrics.json").read_text())["n_test"] == 150
    assert "/150 test digits), loss " in out, out
    assert load_checkpoint(cut / "checkpoint.npz").metadata["train"]["test_limit"] == 150

    # A run saved before --test-limit existed tested on its --limit: resumed, it still does.
    ckpt = load_checkpoint(cut / "checkpoint.npz")
    old = {k: v for k, v in ckpt.metadata["train"].items() if k != "test_limit"}
    assert ckpt.optimizer is not None
    save_checkpoint(cut / "checkpoint.npz", spec=ckpt.spec, params=ckpt.params,
                    optimizer=ckpt.optimizer, opt_state=ckpt.opt_state, rng=ckpt.rng(),
                    history=ckpt.history, metadata={"train": old})
    code, out = _cli("train", "--resume", str(cut / "checkpoint.npz"), "--epochs", "2", "-q")
    assert code == 0, _err(capsys)
    assert json.loads((cut / "metrics.json").read_text())["n_test"] == 200
    assert "/200 test digits), loss " in out, out


def test_resume_without_plots_removes_the_earlier_runs_plots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    run = tmp_path / "run"
    base = ["--limit", "200", "--test-limit", "100", "--out", str(run), *FAST]
    assert _cli("train", "--epochs", "1", *base)[0] == 0, _err(capsys)
    drawn = sorted(p.name for p in run.glob("*.png"))
    assert drawn and set(drawn) <= set(PLOT_FILES.values())
    capsys.readouterr()
    code, _ = _cli("train", "--resume", str(run / "checkpoint.npz"), "--epochs", "2",
                   "--no-plots")
    assert code == 0
    assert list(run.glob("*.png")) == []
    err = capsys.readouterr().err
    assert "funcnn train: note: removed the earlier run's plots" in err and drawn[0] in err


def test_resume_with_fewer_epochs_than_trained_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    argv = ["--limit", "200", "--test-limit", "100", "--no-plots", "--out", str(run), *FAST]
    assert _cli("train", "--epochs", "2", *argv)[0] == 0, _err(capsys)
    ckpt = run / "checkpoint.npz"
    before = ckpt.read_bytes()
    assert _cli("train", "--resume", str(ckpt), "--epochs", "1")[0] == 2
    assert _err(capsys) == [
        f"funcnn train: error: --epochs: 1 is fewer than the 2 epochs {ckpt} has already "
        "trained; --epochs is the total, so pass more than 2 to train on"
    ]
    assert ckpt.read_bytes() == before
    # The total it already has is no error: nothing to do, said so.
    code, out = _cli("train", "--resume", str(ckpt), "--epochs", "2")
    assert code == 0 and f"{ckpt}: already trained 2 epochs of 2" in out
