"""Tests for funcnn.reporting.plots: each PNG is written atomically, is a real image of the
pixel size, and bad input raises funcnn errors before anything is drawn."""

from __future__ import annotations

import itertools
import struct
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import funcnn as fn
from funcnn.reporting import plots
from funcnn.reporting.plots import _figure, curves
from funcnn.reporting.plots import images as image_plots

pytest.importorskip("matplotlib")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the PNG's IHDR chunk, after checking the signature."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def assert_png(path: Path, returned: Path, size: tuple[int, int]) -> None:
    from matplotlib.image import imread

    assert returned == path and path.is_file()
    assert png_size(path) == size
    pixels = imread(path)
    assert pixels.shape[:2] == (size[1], size[0])
    # Something was drawn: not a blank canvas.
    assert np.ptp(pixels[..., :3]) > 0
    # No temporary file left next to it.
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []


@pytest.fixture
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Twelve synthetic 28x28 uint8 'digits' (bars at the label's row) and labels."""
    rng = np.random.default_rng(0)
    y = np.arange(12) % 10
    images = np.zeros((12, 28, 28), dtype=np.uint8)
    images[np.arange(12), 2 + 2 * y, 4:24] = 255
    pred = np.where(rng.random(12) < 0.7, y, (y + 1) % 10)
    pred[0] = (y[0] + 3) % 10  # at least one misclassified
    return images, y, pred


def test_loss_curves_sizes(tmp_path: Path) -> None:
    out = tmp_path / "loss.png"
    returned = plots.plot_loss_curves(
        out, epoch_train_loss=[2.3, 1.1, 0.7], epoch_test_loss=(2.0, 1.0, 0.8), title="run"
    )
    assert_png(out, returned, (800, 500))
    both = tmp_path / "loss_batches.png"
    returned = plots.plot_loss_curves(
        str(both),
        epoch_train_loss=np.array([2.3, 1.1]),
        batch_losses=np.linspace(2.3, 0.5, 12),
        batch_interval=5,
    )
    assert_png(both, returned, (1200, 500))
    # Empty test losses and batch losses (what History holds without them) mean "none";
    # one epoch is enough.
    single = tmp_path / "sub" / "one.png"
    returned = plots.plot_loss_curves(
        single, epoch_train_loss=[0.5], epoch_test_loss=(), batch_losses=(), dpi=50
    )
    assert_png(single, returned, (400, 250))


def test_loss_curves_mark_epoch_ends_on_the_batch_axis(tmp_path: Path) -> None:
    from matplotlib.image import imread

    common: dict[str, Any] = {
        "epoch_train_loss": [1.2, 0.6],
        "epoch_test_loss": [1.0, 0.7],
        "batch_losses": np.linspace(2.0, 0.4, 8),
        "batch_interval": 3,
    }
    plain = plots.plot_loss_curves(tmp_path / "plain.png", **common)
    marked = plots.plot_loss_curves(tmp_path / "marked.png", epoch_steps=(12, 12), **common)
    assert_png(marked, marked, (1200, 500))
    a, b = imread(plain), imread(marked)
    # The epoch panel (left half) is the same; only the batch panel gains the markers.
    np.testing.assert_array_equal(a[:, :550], b[:, :550])
    assert not np.array_equal(a[:, 650:], b[:, 650:])
    # Without a batch panel the counts are checked but there is nothing to mark.
    alone = plots.plot_loss_curves(
        tmp_path / "alone.png", epoch_train_loss=[1.2, 0.6], epoch_steps=np.array([5, 4])
    )
    assert_png(alone, alone, (800, 500))


def test_accuracy_curves(tmp_path: Path) -> None:
    out = tmp_path / "acc.png"
    returned = plots.plot_accuracy_curves(
        out, epoch_train_accuracy=[0.8, 0.9, 0.95], epoch_test_accuracy=[0.82, 0.88, 0.9]
    )
    assert_png(out, returned, (800, 500))


@pytest.mark.parametrize("plot", ["loss", "accuracy"])
def test_the_second_curve_can_be_named(tmp_path: Path, plot: str) -> None:
    from matplotlib.image import imread

    def draw(name: str, **label: Any) -> Path:
        if plot == "loss":
            return plots.plot_loss_curves(
                tmp_path / name, epoch_train_loss=[1.0, 0.5], epoch_test_loss=[1.1, 0.6], **label
            )
        return plots.plot_accuracy_curves(
            tmp_path / name,
            epoch_train_accuracy=[0.5, 0.9],
            epoch_test_accuracy=[0.4, 0.8],
            **label,
        )

    default, named, same = (
        draw("a.png"),
        draw("b.png", test_label="validation"),
        draw("c.png", test_label="test"),
    )
    np.testing.assert_array_equal(imread(default), imread(same))
    assert not np.array_equal(imread(default), imread(named))
    with pytest.raises(fn.InvalidArgumentError, match="test_label: expected a non-empty"):
        draw("d.png", test_label=" ")
    with pytest.raises(fn.ArgumentTypeError, match="test_label: expected a string"):
        draw("e.png", test_label=3)


def _drawn(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[Any]:
    """The figures ``module``'s plot functions draw, kept for inspection as they are saved."""
    figures: list[Any] = []
    save = module._save

    def keep(fig: Any, target: Path) -> Path:
        figures.append(fig)
        return save(fig, target)  # type: ignore[no-any-return]

    monkeypatch.setattr(module, "_save", keep)
    return figures


def _texts(fig: Any) -> list[str]:
    """Every text in the figure: titles, annotations, the heading."""
    found = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        found += [ax.get_title()] + [t.get_text() for t in ax.texts]
    return [t for t in found if t]


def test_a_single_epoch_is_readable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # One point per curve: the axes must not be matplotlib's +-5% around it (0.945-1.050).
    figures = _drawn(monkeypatch, curves)
    plots.plot_loss_curves(
        tmp_path / "loss.png", epoch_train_loss=[2.279], epoch_test_loss=[2.254], title="run A"
    )
    plots.plot_accuracy_curves(
        tmp_path / "acc.png", epoch_train_accuracy=[0.225], epoch_test_accuracy=[0.32]
    )
    loss_ax, acc_ax = figures[0].axes[0], figures[1].axes[0]
    for ax in (loss_ax, acc_ax):
        assert ax.get_xlim() == (0.5, 1.5)
        assert list(ax.get_xticks()) == [1.0]
        assert ax.get_ylim()[0] == 0.0
    assert loss_ax.get_ylim()[1] > 2.279
    assert acc_ax.get_ylim()[1] >= 1.0
    # The values are written beside the points, and the title names the run.
    assert {"2.279", "2.254", "run A"} <= set(_texts(figures[0]))
    assert {"22.50%", "32.00%"} <= set(_texts(figures[1]))
    # With several epochs matplotlib chooses the ranges and no values are written.
    plots.plot_loss_curves(tmp_path / "two.png", epoch_train_loss=[2.0, 1.0])
    assert figures[2].axes[0].get_xlim() != (0.5, 1.5) and not figures[2].axes[0].texts


def test_few_batches_still_get_a_batch_panel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    figures = _drawn(monkeypatch, curves)
    out = tmp_path / "loss.png"
    plots.plot_loss_curves(
        out,
        epoch_train_loss=[2.2],
        batch_losses=[2.3, 2.2, 2.1],
        batch_interval=1,
        epoch_steps=[3],
    )
    assert png_size(out) == (1200, 500)
    batch_ax = figures[0].axes[1]
    assert batch_ax.get_title() == "loss every batch, and at each epoch's end"
    assert batch_ax.lines[0].get_marker() == "."  # three points, visible as points


def test_titles_and_captions_say_which_run_and_what(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, digits: Any
) -> None:
    figures = _drawn(monkeypatch, image_plots)
    images, y, pred = digits
    wrong = y != pred
    plots.plot_sample_grid(
        tmp_path / "m.png",
        images[wrong],
        y[wrong],
        pred[wrong],
        title="784-16-10 relu, sgd lr 0.1",
        caption="the 3 most confident mistakes",
    )
    plots.plot_sample_grid(tmp_path / "s.png", images, y, pred)
    W = np.random.default_rng(0).normal(size=(784, 4))
    plots.plot_first_layer_weights(tmp_path / "w.png", W, title="784-16-10 relu, sgd lr 0.1")
    mistakes = "\n".join(_texts(figures[0]))
    assert mistakes.startswith("784-16-10 relu, sgd lr 0.1\nthe 3 most confident mistakes")
    assert mistakes.count("misclassified") == 0  # chosen as mistakes: said once
    n_wrong = int(wrong.sum())
    assert f"12 samples, {n_wrong} misclassified (red)" in _texts(figures[1])
    assert any(t.startswith("784-16-10 relu, sgd lr 0.1\nfirst-layer") for t in _texts(figures[2]))


def test_weights_show_every_unit_without_blank_margins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    figures = _drawn(monkeypatch, image_plots)
    W = np.random.default_rng(0).normal(size=(784, 128))
    out = tmp_path / "w.png"
    plots.plot_first_layer_weights(out, W)
    # 128 units by default, 16 x 8 tiles of 0.75 inch.
    assert png_size(out) == (1340, 650)
    fig = figures[0]
    assert "units 0-127 of 128" in fig.texts[0].get_text()
    mosaic = fig.axes[0].images[0].get_array()
    assert mosaic.shape == (8 * 29 - 1, 16 * 29 - 1)
    assert int(np.count_nonzero(~np.isnan(mosaic))) == 128 * 784
    # The tiles fill the figure but for the colorbar and the heading: no blank margins.
    fig.canvas.draw()
    box = fig.axes[0].get_window_extent()
    width, height = fig.canvas.get_width_height()
    assert box.width / width > 0.85 and box.height / height > 0.85


def test_sample_grid_rows_are_close(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    figures = _drawn(monkeypatch, image_plots)
    images = np.random.default_rng(0).integers(0, 255, size=(25, 28, 28))
    labels = np.arange(25) % 10
    plots.plot_sample_grid(tmp_path / "g.png", images, labels, labels)
    fig = figures[0]
    fig.canvas.draw()
    dpi = fig.dpi
    boxes = [ax.get_window_extent() for ax in fig.axes]
    rows = sorted({round(b.y0, 3) for b in boxes}, reverse=True)
    assert len(rows) == 5
    gaps = [(upper - (lower + boxes[0].height)) / dpi for upper, lower in itertools.pairwise(rows)]
    # Room for the 8-point caption above each image (0.25 inch), not the old 0.55 inch.
    assert all(0.2 <= gap <= 0.3 for gap in gaps), gaps


def test_confusion_matrix(tmp_path: Path) -> None:
    y = np.arange(50) % 10
    pred = np.where(np.arange(50) % 7 == 0, (y + 1) % 10, y)
    cm = fn.confusion_matrix(y, pred, 10)
    out = tmp_path / "cm.png"
    returned = plots.plot_confusion_matrix(out, cm, title="test set")
    assert_png(out, returned, (800, 700))
    named = tmp_path / "named.png"
    returned = plots.plot_confusion_matrix(
        named, cm[:3, :3] / cm[:3, :3].sum(), class_names=["cat", "dog", "bird"], dpi=40
    )
    assert_png(named, returned, (320, 280))
    # Beyond 20 classes the cells are colour only; the size stays the same.
    big = tmp_path / "big.png"
    many = np.random.default_rng(0).integers(0, 50, size=(25, 25))
    assert_png(big, plots.plot_confusion_matrix(big, many, dpi=30), (240, 210))


def test_sample_grid(tmp_path: Path, digits: Any) -> None:
    images, y, pred = digits
    out = tmp_path / "grid.png"
    # 12 images: 4 columns, 3 rows -> max(4, 1.2 * 4) x (1.25 * 3 + 0.4) inches.
    returned = plots.plot_sample_grid(out, images, y, pred)
    assert_png(out, returned, (480, 415))
    # Flattened float images, and n smaller than the data: 5 images -> 3 x 2 grid.
    few = tmp_path / "few.png"
    flat = images.reshape(12, 784).astype(np.float32) / 255
    returned = plots.plot_sample_grid(few, flat, y, pred, n=5, title="run")
    assert_png(few, returned, (400, 315))


def test_first_layer_weights(tmp_path: Path) -> None:
    spec = fn.MLP((784, 20, 10))
    params = fn.init(spec, np.random.default_rng(1))
    W = params[0]["W"].copy()
    W[:, 3] = 0.0  # an all-zero unit must not produce NaN or a warning
    out = tmp_path / "w.png"
    # 16 units: 4 x 4 grid -> (max(4, 4 + 0.2) + 1.2) x (4 + 0.5) inches.
    returned = plots.plot_first_layer_weights(out, W, n=16)
    assert_png(out, returned, (540, 450))
    # n beyond the layer's width shows all 20 units: 5 columns, 4 rows.
    every = tmp_path / "every.png"
    returned = plots.plot_first_layer_weights(every, W, n=1000, title="run")
    assert_png(every, returned, (640, 475))
    np.testing.assert_array_equal(W[:, 3], 0.0)


HUGE = float(np.finfo(np.float64).max)


def test_huge_finite_values_are_drawn(tmp_path: Path, digits: Any) -> None:
    # matplotlib's ranges and margins (max - min) overflow for such values; pytest runs
    # with warnings as errors, so any RuntimeWarning or layout warning fails here.
    loss = tmp_path / "loss.png"
    returned = plots.plot_loss_curves(
        loss,
        epoch_train_loss=[HUGE, -HUGE, 1.0],
        epoch_test_loss=[0.0, HUGE, 2.0],
        batch_losses=[HUGE, -HUGE],
        batch_interval=2**62,  # steps 2**62, 2**63: past int64
    )
    assert_png(loss, returned, (1200, 500))
    cm = tmp_path / "cm.png"
    rates = np.array([[HUGE, 0.0, 0.5], [1e6, HUGE, 123.456], [0.0, 0.0, 1e300]])
    assert_png(cm, plots.plot_confusion_matrix(cm, rates), (800, 700))
    images, y, pred = digits
    grid = tmp_path / "grid.png"
    extreme = np.where(images > 0, HUGE, -HUGE)
    assert_png(grid, plots.plot_sample_grid(grid, extreme, y, pred, n=4), (400, 290))
    w = tmp_path / "w.png"
    weights = np.random.default_rng(0).uniform(-1.0, 1.0, size=(784, 4)) * HUGE
    assert_png(w, plots.plot_first_layer_weights(w, weights), (520, 250))


def test_display_scale_and_cell_text() -> None:
    # Only data beyond 1e300 is divided, by the power of ten that brings it within 10.
    assert _figure._display_scale(np.array([1e300, -5.0])) == 0
    assert _figure._display_scale(np.array([0.0]), np.array([-HUGE])) == 308
    assert _figure._display_scale(np.array([2e301]), np.empty(0)) == 301
    assert _figure._display_scale(np.empty(0)) == 0
    # Rates keep two decimals; large values get three significant digits, not 300 digits.
    assert [image_plots._format_value(v) for v in (0.125, 99.994, 123.456, 1e300)] == [
        "0.12",
        "99.99",
        "123",
        "1e+300",
    ]


def test_overwrites_existing_file_and_leaves_it_on_bad_input(tmp_path: Path) -> None:
    out = tmp_path / "acc.png"
    out.write_bytes(b"old")
    plots.plot_accuracy_curves(out, epoch_train_accuracy=[0.5], dpi=20)
    assert png_size(out) == (160, 100)
    before = out.read_bytes()
    with pytest.raises(fn.InvalidArgumentError):
        plots.plot_accuracy_curves(out, epoch_train_accuracy=[0.5, 1.5])
    assert out.read_bytes() == before


def test_leaves_matplotlib_global_state_alone(tmp_path: Path) -> None:
    import matplotlib
    import matplotlib.pyplot as plt

    rc_before = dict(matplotlib.rcParams)
    figures_before = plt.get_fignums()
    plots.plot_accuracy_curves(tmp_path / "a.png", epoch_train_accuracy=[0.5], dpi=20)
    assert dict(matplotlib.rcParams) == rc_before
    # Nothing registered with pyplot: no figure left open for the caller to close.
    assert plt.get_fignums() == figures_before


@pytest.mark.parametrize(
    "call",
    [
        lambda p: plots.plot_loss_curves(p, epoch_train_loss=[1.0]),
        lambda p: plots.plot_accuracy_curves(p, epoch_train_accuracy=[0.5]),
        lambda p: plots.plot_confusion_matrix(p, np.eye(2, dtype=np.int64)),
        lambda p: plots.plot_sample_grid(p, np.zeros((1, 28, 28)), [0], [0]),
        lambda p: plots.plot_first_layer_weights(p, np.ones((784, 2))),
    ],
)
def test_missing_matplotlib_gives_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: Any
) -> None:
    # None entries in sys.modules make every matplotlib import fail, as if not installed.
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"pip install 'funcnn\[plot\]'") as info:
        call(tmp_path / "x.png")
    assert isinstance(info.value, plots.PlotDependencyError)
    assert isinstance(info.value, fn.FuncnnError)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda p: plots.plot_loss_curves(p, epoch_train_loss=[]),
            fn.InvalidArgumentError,
            "epoch_train_loss: empty",
        ),
        (
            lambda p: plots.plot_loss_curves(p, epoch_train_loss=[[1.0]]),
            fn.InvalidArgumentError,
            "epoch_train_loss: expected a 1-D",
        ),
        (
            lambda p: plots.plot_loss_curves(p, epoch_train_loss=[1.0], epoch_test_loss=[1.0, 2.0]),
            fn.InvalidArgumentError,
            "epoch_test_loss: expected 1 values",
        ),
        (
            lambda p: plots.plot_loss_curves(p, epoch_train_loss=[np.nan]),
            fn.InvalidArgumentError,
            "epoch_train_loss: expected finite",
        ),
        (
            lambda p: plots.plot_loss_curves(p, epoch_train_loss=[1.0], batch_losses=[1.0]),
            fn.InvalidArgumentError,
            "batch_interval: required",
        ),
        (
            lambda p: plots.plot_loss_curves(
                p, epoch_train_loss=[1.0], batch_losses=[1.0], batch_interval=0
            ),
            fn.InvalidArgumentError,
            "batch_interval",
        ),
        (
            lambda p: plots.plot_loss_curves(p, epoch_train_loss=["a"]),
            fn.ArgumentTypeError,
            "epoch_train_loss",
        ),
        (
            lambda p: plots.plot_loss_curves(p, epoch_train_loss=[1.0], title=3),  # type: ignore[arg-type]
            fn.ArgumentTypeError,
            "title",
        ),
        (
            lambda p: plots.plot_loss_curves(p, epoch_train_loss=[1.0], dpi=0),
            fn.InvalidArgumentError,
            "dpi",
        ),
        (
            lambda p: plots.plot_loss_curves(p.with_suffix(".jpg"), epoch_train_loss=[1.0]),
            fn.InvalidArgumentError,
            "path: expected a file name ending in .png",
        ),
        (
            lambda p: plots.plot_loss_curves(p.parent, epoch_train_loss=[1.0]),
            fn.InvalidArgumentError,
            "path",
        ),
        (
            lambda p: plots.plot_loss_curves(3, epoch_train_loss=[1.0]),  # type: ignore[arg-type]
            fn.ArgumentTypeError,
            "path",
        ),
        (
            lambda p: plots.plot_accuracy_curves(p, epoch_train_accuracy=[0.5, 1.2]),
            fn.InvalidArgumentError,
            r"epoch_train_accuracy: expected fractions in \[0, 1\]",
        ),
        (
            lambda p: plots.plot_confusion_matrix(p, np.ones((2, 3), dtype=np.int64)),
            fn.InvalidArgumentError,
            "cm: expected a square",
        ),
        (
            lambda p: plots.plot_confusion_matrix(p, -np.eye(2, dtype=np.int64)),
            fn.InvalidArgumentError,
            "cm: expected non-negative",
        ),
        (
            lambda p: plots.plot_confusion_matrix(p, np.eye(2, dtype=bool)),
            fn.ArgumentTypeError,
            "cm",
        ),
        (
            lambda p: plots.plot_confusion_matrix(p, np.eye(2, dtype=np.int64), ["a"]),
            fn.InvalidArgumentError,
            "class_names: expected 2 names",
        ),
        (
            lambda p: plots.plot_sample_grid(p, np.zeros((3, 28, 28)), [0, 1], [0, 1, 2]),
            fn.InvalidArgumentError,
            "y_true: expected 3 labels",
        ),
        (
            lambda p: plots.plot_sample_grid(p, np.zeros((3, 28, 28)), [0, 1, 2], [0, 1]),
            fn.InvalidArgumentError,
            "y_pred: expected 3 labels",
        ),
        (
            lambda p: plots.plot_sample_grid(p, np.zeros((3, 780)), [0, 1, 2], [0, 1, 2]),
            fn.InvalidArgumentError,
            "images: 780 values per image is not a square",
        ),
        (
            lambda p: plots.plot_sample_grid(p, np.zeros((3, 2, 28, 28)), [0, 1, 2], [0, 1, 2]),
            fn.InvalidArgumentError,
            "images: expected shape",
        ),
        (
            lambda p: plots.plot_sample_grid(p, np.zeros((1, 28, 28)), [0.0], [0]),
            fn.ArgumentTypeError,
            "y_true",
        ),
        (
            lambda p: plots.plot_sample_grid(p, np.zeros((1, 28, 28)), [0], [0], n=0),
            fn.InvalidArgumentError,
            "n",
        ),
        (
            lambda p: plots.plot_loss_curves(p, epoch_train_loss=[1.0, 0.5], epoch_steps=[3]),
            fn.InvalidArgumentError,
            r"epoch_steps: expected 2 batch counts \(one per epoch",
        ),
        (
            lambda p: plots.plot_loss_curves(p, epoch_train_loss=[1.0], epoch_steps=[0]),
            fn.InvalidArgumentError,
            "epoch_steps: expected positive batch counts, found 0",
        ),
        (
            lambda p: plots.plot_loss_curves(p, epoch_train_loss=[1.0], epoch_steps=[2.0]),
            fn.ArgumentTypeError,
            "epoch_steps: expected integer batch counts",
        ),
        (
            lambda p: plots.plot_first_layer_weights(p, np.zeros((100, 0))),
            fn.InvalidArgumentError,
            r"W: expected a 2-D \(n_in, H\)",
        ),
        (
            lambda p: plots.plot_first_layer_weights(p, np.zeros((10, 4))),
            fn.InvalidArgumentError,
            "W: 10 values per image is not a square",
        ),
        (
            lambda p: plots.plot_first_layer_weights(p, np.zeros((784,))),
            fn.InvalidArgumentError,
            "W: expected a 2-D",
        ),
        (
            lambda p: plots.plot_first_layer_weights(p, np.zeros((784, 3), dtype=np.int64)),
            fn.ArgumentTypeError,
            "W",
        ),
        (
            lambda p: plots.plot_first_layer_weights(p, np.full((4, 2), np.inf)),
            fn.InvalidArgumentError,
            "W: expected finite",
        ),
    ],
)
def test_bad_input_raises_funcnn_errors(
    tmp_path: Path, call: Any, error: type[Exception], match: str
) -> None:
    target = tmp_path / "bad.png"
    with pytest.raises(error, match=match):
        call(target)
    assert list(tmp_path.iterdir()) == []
