"""Tests for the funcnn command line, end to end on a slice of MNIST with real files."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import funcnn as fn
from funcnn.cli import main
from funcnn.training.checkpoint import load_checkpoint, save_checkpoint
from tests.strategies import unknown_name

UNKNOWN_ACTIVATION = unknown_name(fn.ACTIVATIONS)

SMALL = ["--limit", "600", "--test-limit", "600", "--batch-size", "50", "--log-every", "4"]


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # The funcnn under test, with its data/mnist/, also when the installed copy is another
    # (the CI floor job installs the sdist and tests from its unpacked tree).
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "funcnn", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", path
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(args), out=out), out.getvalue()


def test_train_resume_and_evaluate_end_to_end(tmp_path: Path) -> None:
    run = tmp_path / "run"
    done = _run("train", *SMALL, "--epochs", "2", "--out", str(run), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("epoch 1/2  train loss ")
    assert lines[1].startswith("epoch 2/2  train loss ")
    assert any(line.startswith("test accuracy: ") for line in lines)
    assert "Traceback" not in done.stderr
    for name in ("checkpoint.npz", "history.json", "metrics.json", "report.txt"):
        assert (run / name).is_file(), name
    assert _png_size(run / "loss.png") == (1200, 500)
    assert _png_size(run / "accuracy.png") == (800, 500)
    assert _png_size(run / "confusion_matrix.png") == (800, 700)
    for name in ("samples.png", "first_layer_weights.png"):
        assert min(_png_size(run / name)) > 100
    history = fn.History.from_json((run / "history.json").read_text())
    assert history.epochs == 2 and history.epoch_steps == (12, 12)
    assert len(history.batch_losses) == 6
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_test"] == 600 and 0.2 < metrics["test_accuracy"] <= 1  # chance is 0.1
    assert f"{metrics['test_accuracy']:.2%}" in done.stdout

    # Interrupted after one epoch, then resumed: the same bits as the straight run.
    part = tmp_path / "part"
    first = _run(
        "train", *SMALL, "--epochs", "1", "--out", str(part), "--no-plots", "-q", cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("test accuracy: ")  # --quiet: only the result
    resumed = _run(
        "train",
        "--resume",
        str(part / "checkpoint.npz"),
        "--epochs",
        "2",
        "--no-plots",
        cwd=tmp_path,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.startswith("epoch 2/2  ")
    a, b = load_checkpoint(run / "checkpoint.npz"), load_checkpoint(part / "checkpoint.npz")
    for p, q in zip(
        fn.tree_leaves((a.params, a.opt_state)),
        fn.tree_leaves((b.params, b.opt_state)),
        strict=True,
    ):
        np.testing.assert_array_equal(p, q)
    assert a.rng_state == b.rng_state
    assert a.history is not None and b.history is not None
    assert a.history.epoch_train_loss == b.history.epoch_train_loss
    assert a.history.batch_losses == b.history.batch_losses

    code, text = _cli("evaluate", str(run / "checkpoint.npz"), "--limit", "600")
    assert code == 0
    assert f"test accuracy: {metrics['test_accuracy']:.2%} " in text
    assert "confusion matrix (rows: true digit, columns: predicted):" in text
    assert "precision" in text and "recall" in text and "macro avg" in text


def test_evaluate_json_and_train_split(tmp_path: Path) -> None:
    code, _ = _cli("train", *SMALL, "--epochs", "1", "--out", str(tmp_path), "--no-plots", "-q")
    assert code == 0
    code, text = _cli(
        "evaluate", str(tmp_path / "checkpoint.npz"), "--split", "train", "--limit", "300", "--json"
    )
    assert code == 0
    data = json.loads(text)
    assert data["split"] == "train" and data["n"] == 300
    cm = np.array(data["confusion_matrix"])
    assert cm.shape == (10, 10) and cm.sum() == 300
    assert data["accuracy"] == pytest.approx(np.trace(cm) / 300)


def test_options_reach_the_optimizer_and_model(tmp_path: Path) -> None:
    code, _ = _cli(
        "train",
        *SMALL,
        "--epochs",
        "2",
        "--out",
        str(tmp_path),
        "--no-plots",
        "-q",
        "--sizes",
        "784,32,16,10",
        "--activation",
        "tanh,relu",
        "--init",
        "he_normal",
        "--optimizer",
        "adam",
        "--lr",
        "0.002",
        "--weight-decay",
        "0.01",
        "--schedule",
        "cosine",
        "--final-lr",
        "0.0001",
        "--dtype",
        "float64",
        "--drop-last",
        "--no-shuffle",
    )
    assert code == 0
    ckpt = load_checkpoint(tmp_path / "checkpoint.npz")
    assert ckpt.spec == fn.MLP((784, 32, 16, 10), ("tanh", "relu"))
    assert ckpt.params[0]["W"].dtype == np.float64
    assert ckpt.optimizer is not None
    assert ckpt.optimizer.to_config() == {
        "name": "adam",
        "b1": 0.9,
        "b2": 0.999,
        "eps": 1e-8,
        "weight_decay": 0.01,
        "lr": {"name": "cosine", "lr": 0.002, "total_steps": 24, "final_lr": 0.0001},
    }
    assert ckpt.metadata["train"]["shuffle"] is False
    code, _ = _cli(
        "train",
        *SMALL,
        "--epochs",
        "1",
        "--out",
        str(tmp_path / "m"),
        "--no-plots",
        "-q",
        "--momentum",
        "0.9",
        "--nesterov",
        "--schedule",
        "step",
        "--decay-every",
        "1",
        "--decay-factor",
        "0.5",
    )
    assert code == 0
    opt = load_checkpoint(tmp_path / "m" / "checkpoint.npz").optimizer
    assert opt is not None and opt.to_config()["lr"] == {
        "name": "step",
        "lr": 0.1,
        "step_size": 12,
        "gamma": 0.5,
    }


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["train", "--lr", "-1"], 2, "error: --lr: expected a finite number > 0"),
        (["train", "--lr", "abc"], 2, "argument --lr: expected a number, got 'abc'"),
        (["train", "--sizes", "784,10,9"], 2, "--sizes: MNIST needs 784 inputs and 10 outputs"),
        (["train", "--sizes", "a,b"], 2, "--sizes: expected comma-separated integers"),
        (
            ["train", "--activation", UNKNOWN_ACTIVATION],
            2,
            f"--activation: unknown activation '{UNKNOWN_ACTIVATION}'",
        ),
        (["train", "--init", "zeros"], 2, "error: --init: unknown init scheme 'zeros'"),
        (["train", "--batch-size", "0"], 2, "argument --batch-size: expected a positive integer"),
        (
            ["train", "--optimizer", "adam", "--momentum", "0.9"],
            2,
            "--momentum: not a setting of --optimizer adam",
        ),
        (["train", "--nesterov"], 2, "error: --nesterov: Nesterov momentum needs momentum > 0"),
        (["train", "--bogus"], 2, "unrecognized arguments: --bogus"),
        (["evaluate", "nowhere.npz"], 2, "cannot read checkpoint 'nowhere.npz'"),
        (["train", "--data-dir", "/nonexistent-dir"], 2, "nonexistent-dir"),
        (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
        (["train", "--lr", "-inf"], 2, "argument --lr: expected a finite number, got '-inf'"),
        (["train", "--seed", "-1"], 2, "argument --seed: expected an integer >= 0, got -1"),
        (["train", "--optimizer", "adam", "--beta1", "1"], 2, "--beta1: expected a number in"),
        (["train", "--schedule", "step", "--decay-factor", "0"], 2, "--decay-factor: expected"),
        (["train", "--init", "normal:-1"], 2, "--init: std: expected a finite number >= 0"),
        ([], 2, ""),
    ],
)
def test_errors_are_one_line_with_exit_status(
    args: list[str], code: int, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    extra = (
        ["--limit", "600", "--out", str(tmp_path), "--no-plots", "-q"]
        if args[:1] == ["train"]
        else []
    )
    status, _ = _cli(*args, *extra)
    err = capsys.readouterr().err
    assert status == code
    if message:
        assert message in err
        assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_divergence_exits_1_with_a_clear_message(tmp_path: Path) -> None:
    done = _run(
        "train",
        "--limit",
        "200",
        "--batch-size",
        "20",
        "--epochs",
        "3",
        "--activation",
        "identity",
        "--loss",
        "mse",
        "--lr",
        "1000",
        "--out",
        str(tmp_path),
        "--no-plots",
        cwd=tmp_path,
    )
    assert done.returncode == 1
    err = done.stderr.strip().splitlines()
    assert len(err) == 1 and "training diverged" in err[0] and "at epoch 1, batch" in err[0]
    # What a command-line user can do, not the Python-only TrainingDivergedError.params.
    assert "smaller --lr than 1000" in err[0] and ".params" not in err[0]
    assert "no epoch completed, so there is no checkpoint" in err[0]
    assert "Traceback" not in done.stderr


def test_resume_refuses_conflicting_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        _cli("train", *SMALL, "--epochs", "1", "--out", str(tmp_path), "--no-plots", "-q")[0] == 0
    )
    capsys.readouterr()
    code, _ = _cli("train", "--resume", str(tmp_path / "checkpoint.npz"), "--lr", "0.5")
    assert code == 2
    assert "do not pass --lr" in capsys.readouterr().err
    code, text = _cli(
        "train", "--resume", str(tmp_path / "checkpoint.npz"), "--epochs", "1", "--no-plots"
    )
    assert code == 0 and "already trained 1 epoch of 1\n" in text
    code, _ = _cli("train", "--out", str(tmp_path / "checkpoint.npz"), "-q")
    assert code == 2
    assert "--out: " in capsys.readouterr().err
    ckpt = load_checkpoint(tmp_path / "checkpoint.npz")
    incomplete = {k: v for k, v in ckpt.metadata["train"].items() if k != "batch_size"}
    save_checkpoint(
        tmp_path / "odd.npz",
        spec=ckpt.spec,
        params=ckpt.params,
        optimizer=ckpt.optimizer,
        opt_state=ckpt.opt_state,
        rng=ckpt.rng(),
        history=ckpt.history,
        metadata={"train": incomplete},
    )
    code, _ = _cli("train", "--resume", str(tmp_path / "odd.npz"))
    assert code == 2
    assert (
        "odd.npz: the saved training settings are missing 'batch_size'" in capsys.readouterr().err
    )
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 nonsense")
    code, _ = _cli("train", "--resume", str(tmp_path / "broken.npz"))
    assert code == 2
    assert "broken.npz" in capsys.readouterr().err


def test_help_and_verify_dispatch(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli("--help")[0] == 0
    assert "train" in capsys.readouterr().out
    assert _cli("train", "--help")[0] == 0
    assert "--weight-decay" in capsys.readouterr().out
    calls: list[Any] = []
    fake = types.ModuleType("verification.__main__")

    def fake_main(args: list[str], prog: str = "") -> int:
        calls.append(args)
        assert prog == "funcnn verify"
        return 3

    fake.main = fake_main  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "verification.__main__", fake)
    assert _cli("verify", "--quick", "-x")[0] == 3
    assert calls == [["--quick", "-x"]]

    def exits(args: list[str], prog: str = "") -> int:
        raise SystemExit(0 if args == ["--help"] else 2)

    fake.main = exits  # type: ignore[attr-defined]
    assert _cli("verify", "--help")[0] == 0
    assert _cli("verify", "--bogus")[0] == 2
