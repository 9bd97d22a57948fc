"""Checkpoints and ``funcnn train`` settings written before the optimizers became chains
(tests/data/checkpoints_v1, made by its ``make.py`` with funcnn at commit 7f920b9) still
load, keep their optimizer's config, and resume to the numbers that funcnn gave then."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import funcnn as fn
from funcnn.cli.config import build_optimizer, saved_config

DATA = Path(__file__).parent / "data" / "checkpoints_v1"
NAMES = sorted(p.stem for p in DATA.glob("*.npz") if not p.stem.startswith("expected."))


def _data() -> tuple[Any, Any]:
    rng = np.random.default_rng(1)  # as make.py's data()
    return rng.normal(size=(20, 6)), rng.integers(0, 3, size=20)


def test_the_reference_files_are_there() -> None:
    assert NAMES == ["adamw_cosine", "sgd_momentum", "sgd_nesterov_wd_step"]


@pytest.mark.parametrize("name", NAMES)
def test_old_checkpoint_loads_and_resumes(name: str) -> None:
    ckpt = fn.load_checkpoint(DATA / f"{name}.npz")
    assert ckpt.optimizer is not None and ckpt.opt_state is not None
    assert ckpt.history is not None and ckpt.history.epochs == 2
    raw = json.loads(np.load(DATA / f"{name}.npz")["meta"].tobytes())["optimizer"]
    assert ckpt.optimizer.to_config() == raw  # the same optimizer, saved the same way
    x, y = _data()
    after, state, history = fn.fit(
        ckpt.spec, ckpt.params, ckpt.optimizer, x, y, epochs=1, batch_size=6,
        rng=ckpt.rng(), opt_state=ckpt.opt_state, history=ckpt.history,
    )
    assert history.epochs == 3 and int(state["count"]) == 12
    with np.load(DATA / f"expected.{name}.npz") as expected:
        want = [expected[f"arr_{i}"] for i in range(len(expected.files))]
    got = fn.tree_leaves(after)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        # float64, 12 updates of a 6-5-3 net: the same arithmetic up to BLAS rounding.
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_old_cli_settings_resume(optimizer: str) -> None:
    saved = json.loads((DATA / "cli_train_settings.json").read_text())[optimizer]
    config = saved_config(saved, DATA / "checkpoint.npz")
    rebuilt = build_optimizer(config, 10)
    assert rebuilt.to_config() == saved["optimizer_config"]
