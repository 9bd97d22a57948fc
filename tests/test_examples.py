"""Each example runs in a reduced form, so the examples never rot.

The MNIST examples train on the first few hundred training samples for one epoch and
test on the first few hundred test samples; the checks are that they run end to end
through the public API, print and return real accuracies, and write their PNGs. The
full-length runs and their numbers are in ``docs/examples.md``.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest

from examples import (
    mnist_best_recipe,
    mnist_deep_activations,
    mnist_glorot_normal_100_200,
    mnist_relu_128,
    mnist_sigmoid_per_sample,
    mnist_softmax_jacobian,
    xor,
)
from funcnn.reporting.plots import PLOT_FILES

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def reduced(
    tmp_path: Path, limit: int = 300, test_limit: int = 200, plots: str = "loss"
) -> list[str]:
    """Flags for a one-epoch run on a few hundred digits, PNGs into ``tmp_path``.

    Each matplotlib figure costs a good fraction of a second, so only the first example's
    test draws the whole set; the others draw their loss curves.
    """
    return [
        "--epochs",
        "1",
        "--seed",
        "0",
        "--limit",
        str(limit),
        "--test-limit",
        str(test_limit),
        "--out",
        str(tmp_path),
        "--plots",
        plots,
    ]


def assert_accuracy(value: float) -> None:
    assert isinstance(value, float)
    assert math.isfinite(value)
    assert 0.0 <= value <= 1.0


def assert_pngs(paths: tuple[Path, ...], names: set[str], out: Path) -> None:
    assert {p.name for p in paths} >= names
    for path in paths:
        assert path.parent == out
        assert path.read_bytes()[:8] == PNG_SIGNATURE


def printed_percent(out: str, prefix: str) -> float:
    """The percentage printed after ``prefix`` on the last line that has it, as a fraction."""
    line = [ln for ln in out.splitlines() if ln.startswith(prefix)][-1]
    return float(line[len(prefix) :].split("%")[0]) / 100


ALL_PNGS = set(PLOT_FILES.values()) - {"samples.png"}


EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE_FILES = sorted(p for p in EXAMPLES_DIR.glob("*.py") if p.name != "__init__.py")
# The public surface the examples may use: the package itself and its plotting module.
PUBLIC_MODULES = {"funcnn", "funcnn.plots"}


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_examples_use_only_the_public_api(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    used = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            used |= {a.name for a in node.names if a.name.split(".")[0] == "funcnn"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "funcnn":
            # "from funcnn import plots" imports the module funcnn.plots (funcnn.reporting.plots).
            used |= {
                f"{node.module}.{a.name}" if node.module == "funcnn" else str(node.module)
                for a in node.names
            }
    assert used <= PUBLIC_MODULES, f"{path.name} imports {sorted(used - PUBLIC_MODULES)}"


@pytest.mark.parametrize(
    "path", [p for p in EXAMPLE_FILES if p.name != "mnist_common.py"], ids=lambda p: p.stem
)
def test_example_scripts_are_notebook_cells(path: Path) -> None:
    assert path.read_text(encoding="utf-8").count("\n# %%") >= 2


def test_xor_predictions_on_the_right_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    predictions = xor.main(["--seed", "0", "--out", str(tmp_path)])
    np.testing.assert_array_equal(predictions > 0.5, [False, True, True, False])
    # Sigmoid outputs, and trained well past the threshold, not just across it.
    assert np.all((predictions > 0) & (predictions < 1))
    np.testing.assert_array_less(np.abs(predictions - xor.Y.ravel()), 0.1)
    assert "[1 1] ->" in capsys.readouterr().out
    assert (tmp_path / "loss.png").read_bytes()[:8] == PNG_SIGNATURE


def test_xor_sigmoid_mse_gradient_matches_central_differences() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(size=(4, 2)) * 3
    y = rng.uniform(size=(4, 2))
    value, grad = xor.sigmoid_mse(z, y)
    s = 1 / (1 + np.exp(-z))
    assert value == pytest.approx(np.mean((s - y) ** 2), rel=1e-12)
    h = 1e-6
    numeric = np.zeros_like(z)
    for i in np.ndindex(z.shape):
        step = np.zeros_like(z)
        step[i] = h
        numeric[i] = (xor.sigmoid_mse(z + step, y)[0] - xor.sigmoid_mse(z - step, y)[0]) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-10)


def test_relu_128(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = mnist_relu_128.main(reduced(tmp_path, plots="all"))
    out = capsys.readouterr().out
    assert len(result.train_accuracy) == len(result.test_accuracy) == 1
    for value in (*result.train_accuracy, result.final_test_accuracy):
        assert_accuracy(value)
    assert result.final_test_accuracy == result.test_accuracy[-1]
    assert printed_percent(out, "test accuracy ") == pytest.approx(
        result.final_test_accuracy, abs=5e-5
    )
    assert "train acc (first 300)" in out
    assert_pngs(result.plots, ALL_PNGS, tmp_path)
    # Even 3 batches of SGD on 300 digits beat chance on held-out digits.
    assert result.final_test_accuracy > 0.2


def test_relu_128_trains_in_float64_unless_asked_for_float32(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mnist_relu_128.main(reduced(tmp_path, plots="none"))
    assert "epochs in" in (last := capsys.readouterr().out.splitlines()[-1])
    assert last.endswith("(float64)")
    mnist_relu_128.main([*reduced(tmp_path, plots="none"), "--dtype", "float32"])
    assert capsys.readouterr().out.splitlines()[-1].endswith("(float32)")


def test_sigmoid_per_sample(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = mnist_sigmoid_per_sample.main(reduced(tmp_path, plots="none"))
    out = capsys.readouterr().out
    assert_accuracy(result.initial_test_accuracy)
    assert_accuracy(result.final_test_accuracy)
    assert out.splitlines()[0].startswith("before training  test acc ")
    assert result.history.epoch_steps == (300,)  # batch 1: one update per sample
    assert printed_percent(out, "test accuracy ") == pytest.approx(
        result.final_test_accuracy, abs=5e-5
    )
    assert result.plots == () and not any(tmp_path.iterdir())


def test_softmax_jacobian_paths_agree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = mnist_softmax_jacobian.main([*reduced(tmp_path), "--timing-repeats", "20"])
    out = capsys.readouterr().out
    assert set(result.paths) == {"fused", "jacobian", "fused_generic"}
    for path in result.paths.values():
        assert_accuracy(path.final_test_accuracy)
        assert path.seconds_per_epoch > 0 and path.cpu_seconds_per_epoch > 0
    # Same init, same batches, the same gradient up to rounding: the same network.
    assert result.max_grad_difference < 1e-12
    assert result.max_param_difference < 1e-5
    accuracies = {p.final_test_accuracy for p in result.paths.values()}
    assert max(accuracies) - min(accuracies) <= 0.01
    assert result.slowdown_vs_fused > 0 and result.slowdown_vs_generic > 0
    assert result.cpu_slowdown_vs_fused > 0 and result.cpu_slowdown_vs_generic > 0
    assert result.loss_step_us["jacobian"] > 0 and result.loss_step_us["fused"] > 0
    assert "explicit Jacobian:" in out
    assert_pngs(result.plots, {"fused_loss.png", "jacobian_loss.png"}, tmp_path)


def test_glorot_normal_100_200(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = mnist_glorot_normal_100_200.main(reduced(tmp_path))
    out = capsys.readouterr().out
    assert len(result.train_accuracy) == 1
    assert_accuracy(result.train_accuracy[0])
    assert_accuracy(result.final_test_accuracy)
    assert printed_percent(out, "test accuracy ") == pytest.approx(
        result.final_test_accuracy, abs=5e-5
    )
    assert_pngs(result.plots, {"loss.png"}, tmp_path)


def test_deep_activations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # 320 samples at batch 64 are 5 batches: log the mean loss of every 2.
    result = mnist_deep_activations.main([*reduced(tmp_path, limit=320), "--log-every", "2"])
    out = capsys.readouterr().out
    assert set(result) == {"sigmoid", "tanh", "relu"}
    for activation, run in result.items():
        assert_accuracy(run.final_test_accuracy)
        assert run.classification.accuracy == run.final_test_accuracy
        assert len(run.history.epoch_test_loss) == 1
        assert run.history.batch_interval == 2
        assert len(run.history.batch_losses) == 2
        assert all(math.isfinite(v) and v > 0 for v in run.history.batch_losses)
        assert f"[{activation} epoch 1, batch    4] loss " in out
        assert_pngs(run.plots, {f"{activation}_loss.png"}, tmp_path)
        assert f"{activation}: classification report on the test set" in out
    assert "weighted avg" in out


def test_best_recipe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = mnist_best_recipe.main(reduced(tmp_path, limit=400))
    out = capsys.readouterr().out
    assert_accuracy(result.test_accuracy)
    assert_accuracy(result.best_validation_accuracy)
    assert 1 <= result.best_epoch <= result.epochs_run
    assert printed_percent(out, "test accuracy ") == pytest.approx(result.test_accuracy, abs=5e-5)
    assert_pngs(result.plots, {"loss.png"}, tmp_path)


def test_shift_digits_moves_each_digit_by_its_drawn_offset() -> None:
    x = np.zeros((50, 784), dtype=np.float32)
    x.reshape(50, 28, 28)[:, 10, 12] = 1.0
    before = x.copy()
    out = mnist_best_recipe.shift_digits(x, np.random.default_rng(3), 2)
    dy, dx = np.random.default_rng(3).integers(-2, 3, size=(2, 50))
    np.testing.assert_array_equal(x, before)  # the input is not modified
    assert out.shape == x.shape and out.dtype == x.dtype
    for row, oy, ox in zip(out, dy, dx, strict=True):
        np.testing.assert_array_equal(np.argwhere(row.reshape(28, 28)), [[10 + oy, 12 + ox]])
    assert len({(int(a), int(b)) for a, b in zip(dy, dx, strict=True)}) > 1


def test_shift_digits_fills_with_background_and_zero_shift_copies() -> None:
    x = np.ones((4, 784), dtype=np.float32)
    out = mnist_best_recipe.shift_digits(x, np.random.default_rng(0), 3)
    # Every moved image loses as many rows and columns as it moved; unmoved ones keep all.
    dy, dx = np.random.default_rng(0).integers(-3, 4, size=(2, 4))
    for row, oy, ox in zip(out, dy, dx, strict=True):
        assert row.sum() == (28 - abs(oy)) * (28 - abs(ox))
    same = mnist_best_recipe.shift_digits(x, np.random.default_rng(0), 0)
    np.testing.assert_array_equal(same, x)
    assert not np.shares_memory(same, x)
