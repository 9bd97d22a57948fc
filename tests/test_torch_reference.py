"""funcnn's optimizers against torch.optim: 50 float64 steps on a small MLP, to 1e-12.

The stored reference (tests/data/torch_reference.npz, written by ``tests.torch_reference``)
is checked on every run; where torch is importable, torch's side is recomputed live too.
"""

from __future__ import annotations

import copy
import importlib.util
import json
from typing import Any

import numpy as np
import pytest

from tests.torch_reference import CASES, FILE, funcnn_trajectory, torch_trajectory

TOLERANCE = 1e-12


def _stored(name: str) -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    with np.load(FILE) as data:
        config = json.loads(data[f"{name}.config"].tobytes())
        return config, data[f"{name}.losses"], data[f"{name}.params"]


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float(np.max(np.abs(a - b)))


def test_the_reference_covers_the_new_optimizers_and_clipping() -> None:
    with np.load(FILE) as data:
        stored = {key.split(".")[0] for key in data.files if key != "torch_version"}
    assert stored == set(CASES)
    names = {config["name"] for *_, config in CASES.values()}
    assert {"rmsprop", "adagrad", "adamw", "sgd", "chain"} <= names
    transforms = {t["name"] for *_, c in CASES.values() for t in c.get("transforms", [])}
    assert "clip_by_global_norm" in transforms
    # The case's config in the file is the one this module describes.
    for name, (*_, config) in CASES.items():
        assert _stored(name)[0] == config


@pytest.mark.parametrize("name", sorted(CASES))
def test_funcnn_follows_torchs_stored_trajectory(name: str) -> None:
    config, losses, params = _stored(name)
    got_losses, got_params = funcnn_trajectory(config)
    assert _max_diff(got_losses, losses) <= TOLERANCE
    assert _max_diff(got_params, params) <= TOLERANCE
    assert losses[-1] < 0.8 * losses[0]  # it trains: a run that went nowhere proves little


@pytest.mark.parametrize("name", ["clip_sgd_momentum", "clip_adam"])
def test_the_clipping_cases_do_clip(name: str) -> None:
    config, _, params = _stored(name)
    unclipped = copy.deepcopy(config)
    unclipped["transforms"][0]["max_norm"] = 1e6
    assert _max_diff(funcnn_trajectory(unclipped)[1], params) > 1e-4


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
@pytest.mark.parametrize("name", sorted(CASES))
def test_funcnn_follows_live_torch(name: str) -> None:
    losses, params = torch_trajectory(name)
    got_losses, got_params = funcnn_trajectory(CASES[name][3])
    assert _max_diff(got_losses, losses) <= TOLERANCE
    assert _max_diff(got_params, params) <= TOLERANCE
