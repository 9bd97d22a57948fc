"""The command line answers bad input with one line on stderr and a non-zero exit status.

Each row runs ``funcnn.cli.main(argv)`` in-process and asserts: the exit status (2 for
bad usage or input), exactly one line on stderr, no traceback, no "internal error", and
that the line names the flag or argument (``names``) and what was expected
(``expected``). Two rows run ``python -m funcnn`` for real, to see what a shell sees,
and ``test_crash_safety`` interrupts a training run with SIGINT.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import funcnn as fn
from funcnn.cli import main
from funcnn.data import mnist
from funcnn.data.mnist import MNIST_FILES
from funcnn.training.checkpoint import load_checkpoint, save_checkpoint
from funcnn.training.optimizers import OPTIMIZERS
from tests.reliability._bugs import known_bug
from tests.reliability._tally import tally
from tests.strategies import unknown_name

UNKNOWN_ACTIVATION = unknown_name(fn.ACTIVATIONS)

ROOT = Path(__file__).resolve().parents[2]
VENDORED = ROOT / "data" / "mnist"
QUICK = ["--limit", "200", "--batch-size", "100", "--no-plots", "-q"]


@dataclass(frozen=True)
class Row:
    """One command line and what it must print."""

    id: str
    argv: tuple[str, ...]
    names: str
    expected: str
    code: int = 2
    bug: str | None = None


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Paths the rows refer to as ``{name}``: checkpoints good and bad, data dirs, a file."""
    root = tmp_path_factory.mktemp("cli")
    out = root / "run"
    assert main(["train", *QUICK, "--epochs", "1", "--out", str(out)], out=io.StringIO()) == 0
    good = out / "checkpoint.npz"
    ckpt = load_checkpoint(good)
    data = good.read_bytes()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x10
    (root / "flipped.npz").write_bytes(bytes(flipped))
    (root / "garbage.npz").write_bytes(b"this is not a checkpoint")
    (root / "a-file").write_text("x")
    small = fn.MLP((784, 16, 3))
    save_checkpoint(
        root / "not-mnist.npz",
        spec=small,
        params=fn.init(small, np.random.default_rng(0), dtype=np.float32),
    )
    save_checkpoint(root / "not-cli.npz", spec=ckpt.spec, params=ckpt.params)
    saved = dict(ckpt.metadata["train"])
    for name, train in (
        ("no-config", {"loss": saved["loss"]}),
        ("bad-config", {**saved, "batch_size": "many"}),
        ("bad-loss", {**saved, "loss": "hinge"}),
    ):
        save_checkpoint(
            root / f"{name}.npz",
            spec=ckpt.spec,
            params=ckpt.params,
            optimizer=ckpt.optimizer,
            opt_state=ckpt.opt_state,
            rng=ckpt.rng(),
            history=ckpt.history,
            metadata={"train": train},
        )
    broken = root / "broken-mnist"
    broken.mkdir()
    for f in MNIST_FILES:
        (broken / f.name).symlink_to(VENDORED / f.name)
    images = broken / "t10k-images-idx3-ubyte.gz"
    images.unlink()
    raw = bytearray((VENDORED / "t10k-images-idx3-ubyte.gz").read_bytes())
    raw[len(raw) // 2] ^= 0x01
    images.write_bytes(bytes(raw))
    (root / "empty").mkdir()
    return {
        "good": str(good),
        "flipped": str(root / "flipped.npz"),
        "garbage": str(root / "garbage.npz"),
        "missing": str(root / "missing.npz"),
        "dir": str(root),
        "file": str(root / "a-file"),
        "not-mnist": str(root / "not-mnist.npz"),
        "not-cli": str(root / "not-cli.npz"),
        "no-config": str(root / "no-config.npz"),
        "bad-config": str(root / "bad-config.npz"),
        "bad-loss": str(root / "bad-loss.npz"),
        "broken": str(broken),
        "broken-file": str(images),
        "empty": str(root / "empty"),
        "out": str(root / "out"),
    }


T = ("train", *QUICK, "--out", "{out}", "--force")
ROWS = [
    Row("train/lr-zero", (*T, "--lr", "0"), r"\blr\b", r"expected a finite number > 0"),
    Row("train/lr-nan", (*T, "--lr", "nan"), r"--lr", r"expected a finite number"),
    Row("train/lr-inf", (*T, "--lr=-inf"), r"--lr", r"expected a finite number"),
    Row("train/lr-word", (*T, "--lr", "fast"), r"--lr", r"expected a number, got 'fast'"),
    Row("train/epochs-zero", (*T, "--epochs", "0"), r"--epochs", r"expected a positive integer"),
    Row("train/epochs-fraction", (*T, "--epochs", "1.5"), r"--epochs", r"positive integer"),
    Row("train/batch-negative", (*T, "--batch-size", "-1"), r"--batch-size", r"positive integer"),
    Row("train/limit-zero", (*T, "--limit", "0"), r"--limit", r"expected a positive integer"),
    Row(
        "train/limit-too-big",
        (*T, "--limit", "70000"),
        r"--limit",
        r"70000 exceeds the 60000 training samples",
    ),
    Row("train/log-every-zero", (*T, "--log-every", "0"), r"--log-every", r"positive integer"),
    Row("train/seed-word", (*T, "--seed", "x"), r"--seed", r"expected an integer >= 0, got 'x'"),
    Row("train/seed-negative", (*T, "--seed", "-1"), r"--seed", r"expected"),
    Row("train/sizes-zero", (*T, "--sizes", "784,0,10"), r"sizes", r"expected a positive integer"),
    Row(
        "train/sizes-word",
        (*T, "--sizes", "784,x,10"),
        r"--sizes",
        r"expected comma-separated integers",
    ),
    Row(
        "train/sizes-not-mnist",
        (*T, "--sizes", "10,10"),
        r"--sizes",
        r"MNIST needs 784 inputs and 10 outputs",
    ),
    Row("train/sizes-empty", (*T, "--sizes", ""), r"--sizes", r"expected comma-separated"),
    Row(
        "train/activation-unknown",
        (*T, "--activation", UNKNOWN_ACTIVATION),
        r"activation",
        rf"unknown activation '{UNKNOWN_ACTIVATION}'; expected one of",
    ),
    Row(
        "train/activation-count",
        (*T, "--activation", "relu,relu"),
        r"activation",
        r"got 2 per-layer activations for 1 hidden layers",
    ),
    Row(
        "train/init-unknown",
        (*T, "--init", "uniform"),
        r"\binit\b",
        r"unknown init scheme 'uniform'",
    ),
    Row(
        "train/init-std-negative",
        (*T, "--init", "normal:-1"),
        r"--init",
        r"expected a finite number >= 0",
    ),
    Row("train/loss-unknown", (*T, "--loss", "hinge"), r"--loss", r"invalid choice: 'hinge'"),
    Row("train/dtype-half", (*T, "--dtype", "float16"), r"--dtype", r"invalid choice"),
    Row(
        "train/optimizer-unknown",
        (*T, "--optimizer", unknown_name(OPTIMIZERS)),
        r"--optimizer",
        r"invalid choice",
    ),
    Row(
        "train/momentum-one", (*T, "--momentum", "1"), r"momentum", r"expected a number in \[0, 1\)"
    ),
    Row(
        "train/momentum-with-adam",
        (*T, "--optimizer", "adam", "--momentum", "0.9"),
        r"--momentum",
        r"not a setting of --optimizer adam",
    ),
    Row("train/nesterov-alone", (*T, "--nesterov"), r"nesterov", r"needs momentum > 0"),
    Row(
        "train/beta1-one",
        (*T, "--optimizer", "adam", "--beta1", "1"),
        r"--beta1",
        r"expected a number in \[0, 1\)",
    ),
    Row(
        "train/beta2-negative",
        (*T, "--optimizer", "adam", "--beta2", "-0.5"),
        r"--beta2",
        r"expected a number in \[0, 1\)",
    ),
    Row(
        "train/eps-zero",
        (*T, "--optimizer", "adam", "--eps", "0"),
        r"\beps\b",
        r"expected a finite number > 0",
    ),
    Row(
        "train/weight-decay-negative",
        (*T, "--weight-decay", "-0.1"),
        r"weight[_-]decay",
        r"expected a finite number >= 0",
    ),
    Row(
        "train/decay-factor-zero",
        (*T, "--schedule", "step", "--decay-factor", "0"),
        r"--decay-factor",
        r"expected",
    ),
    Row(
        "train/decay-every-zero",
        (*T, "--schedule", "step", "--decay-every", "0"),
        r"--decay-every",
        r"expected a positive integer",
    ),
    Row(
        "train/final-lr-above-lr",
        (*T, "--schedule", "cosine", "--final-lr", "1"),
        r"final[_-]lr",
        r"expected a number in \[0, lr=0.1\]",
    ),
    Row("train/schedule-unknown", (*T, "--schedule", "exp"), r"--schedule", r"invalid choice"),
    Row("train/unknown-flag", (*T, "--frobnicate"), r"--frobnicate", r"unrecognized arguments"),
    Row(
        "train/out-is-a-file",
        ("train", *QUICK, "--out", "{file}"),
        r"--out|a-file",
        r"expected|exists|directory",
    ),
    Row("train/data-dir-is-a-file", (*T, "--data-dir", "{file}"), r"a-file", r"no MNIST data here"),
    Row(
        "train/data-dir-empty",
        (*T, "--data-dir", "{empty}", "--no-download"),
        r"empty",
        r"no MNIST data here: missing",
    ),
    Row(
        "train/data-dir-corrupt",
        (*T, "--data-dir", "{broken}"),
        r"t10k-images-idx3-ubyte",
        r"corrupt gzip data|not the canonical MNIST|truncated",
    ),
    Row(
        "train/resume-missing",
        ("train", "--resume", "{missing}"),
        r"missing\.npz",
        r"cannot read checkpoint",
    ),
    Row("train/resume-directory", ("train", "--resume", "{dir}"), r"cli", r"cannot read"),
    Row(
        "train/resume-garbage",
        ("train", "--resume", "{garbage}"),
        r"garbage\.npz",
        r"not a funcnn checkpoint",
    ),
    Row(
        "train/resume-flipped",
        ("train", "--resume", "{flipped}"),
        r"flipped\.npz",
        r"checkpoint is corrupt \(SHA-256 mismatch\)",
    ),
    Row(
        "train/resume-not-cli",
        ("train", "--resume", "{not-cli}"),
        r"--resume.*not-cli\.npz",
        r"was not written by 'funcnn train'",
    ),
    Row(
        "train/resume-with-lr",
        ("train", "--resume", "{good}", "--lr", "0.5"),
        r"--resume",
        r"do not pass --lr",
    ),
    Row(
        "train/resume-incomplete-config",
        ("train", "--resume", "{no-config}", "--no-plots"),
        r"no-config\.npz",
        r"expected|missing|not written by",
    ),
    Row(
        "train/resume-bad-config",
        ("train", "--resume", "{bad-config}", "--no-plots"),
        r"bad-config\.npz",
        r"expected|batch",
    ),
    Row("evaluate/missing", ("evaluate", "{missing}"), r"missing\.npz", r"cannot read checkpoint"),
    Row("evaluate/directory", ("evaluate", "{dir}"), r"cli", r"cannot read checkpoint"),
    Row("evaluate/garbage", ("evaluate", "{garbage}"), r"garbage\.npz", r"not a funcnn checkpoint"),
    Row("evaluate/flipped", ("evaluate", "{flipped}"), r"flipped\.npz", r"SHA-256 mismatch"),
    Row(
        "evaluate/not-mnist",
        ("evaluate", "{not-mnist}"),
        r"not-mnist\.npz",
        r"has 784 inputs and 3 outputs; MNIST needs 784 and 10",
    ),
    Row(
        "evaluate/bad-loss",
        ("evaluate", "{bad-loss}", "--limit", "100"),
        r"\bloss\b",
        r"unknown loss 'hinge'",
    ),
    Row(
        "evaluate/split-unknown",
        ("evaluate", "{good}", "--split", "val"),
        r"--split",
        r"invalid choice: 'val'",
    ),
    Row(
        "evaluate/limit-zero",
        ("evaluate", "{good}", "--limit", "0"),
        r"--limit",
        r"expected a positive integer",
    ),
    Row(
        "evaluate/limit-too-big",
        ("evaluate", "{good}", "--limit", "99999"),
        r"--limit",
        r"99999 exceeds",
    ),
    Row(
        "evaluate/no-checkpoint",
        ("evaluate",),
        r"checkpoint",
        r"the following arguments are required",
    ),
    Row(
        "verify/no-match",
        ("verify", "--only", "no-such-check"),
        r"--only",
        r"no check matches 'no-such-check'",
    ),
    Row(
        "verify/unknown-flag",
        ("verify", "--frobnicate"),
        r"--frobnicate",
        r"unrecognized arguments",
    ),
    Row(
        "verify/seed-word",
        ("verify", "--seed", "x"),
        r"--seed",
        r"expected an integer >= 0, got 'x'",
    ),
    Row("verify/seed-negative", ("verify", "--seed", "-1"), r"--seed", r"integer >= 0, got -1"),
    Row("command-unknown", ("frobnicate",), r"frobnicate", r"invalid choice"),
]


_REAL_LOAD = mnist.load_mnist
_FAKE_TRAIN = np.zeros((60000, 28, 28), dtype=np.uint8)  # untouched pages cost no memory
_FAKE_TEST = np.zeros((10000, 28, 28), dtype=np.uint8)


def _fast_load(path: Any = None, **kwargs: Any) -> Any:
    """MNIST-shaped zeros unless a directory is named: the rows test argument handling, and
    most fail after loading the data; the --data-dir rows read real files."""
    if path is not None:
        return _REAL_LOAD(path, **kwargs)
    labels = np.arange(60000, dtype=np.uint8) % 10
    return (_FAKE_TRAIN, labels), (_FAKE_TEST, labels[:10000])


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No network, no user cache, no debug tracebacks; the working directory is empty."""
    monkeypatch.setattr(mnist, "load_mnist", _fast_load)
    monkeypatch.setenv("FUNCNN_MNIST_MIRRORS", "http://127.0.0.1:9/")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("FUNCNN_DATA", raising=False)
    monkeypatch.delenv("FUNCNN_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _assert_one_line(err: str, row: Row) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, f"{row.id}: traceback on stderr:\n{err}"
    assert "internal error" not in err, f"{row.id}: {err.strip()}"
    assert len(lines) == 1, f"{row.id}: expected one line on stderr, got {len(lines)}:\n{err}"
    return lines[0]


@pytest.mark.parametrize(
    "row", [pytest.param(r, id=r.id, marks=[known_bug(r.bug)] if r.bug else []) for r in ROWS]
)
def test_bad_command_line_gives_one_line_and_exit_status(
    row: Row, files: dict[str, str], isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [arg.format(**files) for arg in row.argv]
    capsys.readouterr()
    out = io.StringIO()
    code = main(argv, out=out)
    captured = capsys.readouterr()
    line = _assert_one_line(captured.err, row)
    assert code == row.code, f"{row.id}: exit status {code}, expected {row.code}: {line}"
    assert "Traceback" not in out.getvalue() + captured.out
    assert re.search(row.names, line), f"{row.id}: does not name {row.names!r}: {line}"
    assert re.search(row.expected, line), f"{row.id}: does not say {row.expected!r}: {line}"
    tally("cli_bad_inputs")


def _python(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "funcnn", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FUNCNN_DATA", "FUNCNN_DEBUG")}
    env.update(
        FUNCNN_MNIST_MIRRORS="http://127.0.0.1:9/",
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
    )
    return env


def test_a_real_process_prints_one_line(tmp_path: Path) -> None:
    done = _python("train", "--lr", "-1", *QUICK, cwd=tmp_path, env=_env(tmp_path))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "funcnn train: error: --lr: expected a finite number > 0, got -1.0"
    ], done.stderr
    tally("cli_bad_inputs")


def test_rows_cover_every_command() -> None:
    commands: set[Any] = {row.argv[0] for row in ROWS}
    assert {"train", "evaluate", "verify"} <= commands
