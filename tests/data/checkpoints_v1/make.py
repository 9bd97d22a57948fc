"""Writes the checkpoints of ``tests/test_checkpoint_compat.py`` (run once, before issue 24).

They were written by funcnn before its optimizers became chains of transforms (commit
7f920b9): each file is a float64 toy run (sizes 6-5-3) trained for two epochs,
saved with its optimizer, state, rng and history, plus the parameters that one more
epoch of ``fit`` gave *then* (``expected.<name>.npz``), so the test can prove that the
same file still loads and resumes to the same numbers today. Rerunning this script
with a later funcnn overwrites the reference: don't, unless the format changes on purpose.

    python tests/data/checkpoints_v1/make.py
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

import funcnn as fn

HERE = Path(__file__).parent
SPEC = fn.MLP((6, 5, 3), "tanh")
OPTIMIZERS: dict[str, Callable[[], fn.Optimizer]] = {
    "sgd_nesterov_wd_step": lambda: fn.sgd(
        fn.StepDecay(0.1, step_size=3, gamma=0.5), momentum=0.9, nesterov=True, weight_decay=0.01
    ),
    "sgd_momentum": lambda: fn.sgd(0.05, momentum=0.8),
    "adamw_cosine": lambda: fn.adam(
        fn.Cosine(0.01, total_steps=20, final_lr=0.001), b1=0.8, b2=0.99, eps=1e-7,
        weight_decay=0.02,
    ),
}


def data(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The toy data set: 20 samples, 6 features, 3 classes."""
    rng = np.random.default_rng(seed)
    return rng.normal(size=(20, 6)), rng.integers(0, 3, size=20)


def main() -> None:
    x, y = data()
    for name, make in OPTIMIZERS.items():
        opt = make()
        params = fn.init(SPEC, np.random.default_rng(0))
        rng = np.random.default_rng(5)
        params, state, history = fn.fit(
            SPEC, params, opt, x, y, epochs=2, batch_size=6, rng=rng, log_every=2
        )
        fn.save_checkpoint(
            HERE / f"{name}.npz", spec=SPEC, params=params, optimizer=opt, opt_state=state,
            rng=rng, history=history, metadata={"written_by": "funcnn before issue 24"},
        )
        after, _, _ = fn.fit(
            SPEC, params, opt, x, y, epochs=1, batch_size=6, rng=rng, opt_state=state,
            history=history,
        )
        np.savez(HERE / f"expected.{name}.npz", *fn.tree_leaves(after))


if __name__ == "__main__":
    main()
