"""Soak tests (``-m soak``, not in the default run): long runs must not leak or lose data.

- ``funcnn train`` for hundreds of epochs with a checkpoint and a history file written
  every epoch, while this test reads the checkpoint concurrently and samples the trainer's
  resident memory (``VmRSS``): every read must find a complete checkpoint, and over the
  second half of the run memory must not grow. (Resident memory climbs for the first
  ~100 epochs as pages of numpy's and the allocator's get touched, then stays flat: a
  measured 300-epoch run went 92, 105 (epoch 80), 107 (epoch 100) and 108 MiB (epoch 300).)
- The random-SIGKILL loop of ``test_crash_safety`` with 300 kills instead of 24.

Run them with::

    python -m pytest -m soak tests/reliability            # several minutes
    FUNCNN_SOAK_EPOCHS=1000 python -m pytest -m soak tests/reliability -k memory

Linux only (``/proc``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from funcnn.checkpoint import load_checkpoint
from tests.reliability._tally import tally
from tests.reliability.test_crash_safety import Zygote, run_kill_loop

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = int(os.environ.get("FUNCNN_SOAK_EPOCHS", "300"))
SOAK_KILLS = int(os.environ.get("FUNCNN_SOAK_KILLS", "300"))
MIB = 1 << 20

pytestmark = [
    pytest.mark.soak,
    pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc"),
]


def _rss(pid: int) -> int | None:
    """Resident set size of ``pid`` in bytes, or None once it has exited."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def test_memory_stays_flat_over_many_epochs_with_a_checkpoint_every_epoch(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    env = dict(os.environ)
    env.update(
        FUNCNN_MNIST_MIRRORS="http://127.0.0.1:9/",
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
    )
    env.pop("FUNCNN_DATA", None)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "funcnn",
            "train",
            "--limit",
            "2000",
            "--batch-size",
            "64",
            "--epochs",
            str(EPOCHS),
            "--log-every",
            "5",
            "--optimizer",
            "adam",
            "--no-plots",
            "-q",
            "--out",
            str(out),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    checkpoint = out / "checkpoint.npz"
    samples: list[tuple[int, int]] = []  # (epochs done, RSS)
    reads = 0
    try:
        while proc.poll() is None:
            rss = _rss(proc.pid)
            if rss is not None and checkpoint.exists():
                history = load_checkpoint(checkpoint).history  # a complete file, always
                reads += 1
                assert history is not None
                samples.append((history.epochs, rss))
            time.sleep(0.05)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    final = load_checkpoint(checkpoint)
    assert final.history is not None and final.history.epochs == EPOCHS
    assert np.all(np.isfinite(final.history.epoch_train_loss))
    warm = [(e, r) for e, r in samples if e >= EPOCHS // 2]
    assert len(warm) >= 20, f"too few samples ({len(warm)}): is the machine too fast?"
    tenth = max(3, len(warm) // 10)
    middle = float(np.median([r for _, r in warm[:tenth]]))
    end = float(np.median([r for _, r in warm[-tenth:]]))
    growth = end - middle
    print(
        f"\nRSS at epoch {EPOCHS // 2}: {middle / MIB:.1f} MiB, at the end {end / MIB:.1f} MiB "
        f"({growth / MIB:+.2f} MiB over the last {EPOCHS - EPOCHS // 2} epochs; "
        f"{reads} concurrent reads, all complete)"
    )
    # A leak of one checkpoint's buffers per epoch would be over 100 MiB here.
    assert growth < 4 * MIB, f"memory grew by {growth / MIB:.1f} MiB in the second half"
    tally("soak_epochs", EPOCHS)
    tally("intact_loads", reads)


def test_hundreds_of_random_sigkills_never_lose_the_checkpoint(tmp_path: Path) -> None:
    zygote = Zygote()
    try:
        stats = run_kill_loop(zygote, tmp_path, SOAK_KILLS, seed=12345)
    finally:
        zygote.close()
    tally("kills", stats["kills"])
    tally("kills_mid_write", stats["mid_write"])
    tally("intact_loads", stats["kills"])
    assert stats["mid_write"] > 0 and stats["advanced"] > 0, stats
