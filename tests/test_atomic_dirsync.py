"""The atomic writer makes its rename durable: the directory is fsync-ed after ``os.replace``.

Without that fsync the rename may sit in the page cache when the power fails, and the
old file (or none) comes back although the write "succeeded". Nothing about that is
visible in the file system while the machine keeps running, so these tests watch the
calls themselves: every ``os.fsync`` and ``os.replace`` is recorded (the real calls still
run), together with what the fsync-ed descriptor is and what the target holds then.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import funcnn as fn
from funcnn.training._atomic import write_atomically


class _Calls:
    """``os.replace`` and ``os.fsync`` as they happen, in order."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, target: Path) -> None:
        self.events: list[tuple[Any, ...]] = []
        real_replace, real_fsync = os.replace, os.fsync

        def replace(src: Any, dst: Any, **kwargs: Any) -> None:
            real_replace(src, dst, **kwargs)
            self.events.append(("replace", Path(dst)))

        def fsync(fd: int) -> None:
            info = os.fstat(fd)
            content = target.read_bytes() if target.exists() else None
            self.events.append(("fsync", stat.S_ISDIR(info.st_mode),
                                (info.st_dev, info.st_ino), content))
            real_fsync(fd)

        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(os, "fsync", fsync)

    def directory_syncs_after_replace(self, target: Path) -> list[bytes | None]:
        """What ``target`` held at each fsync of its directory after it was replaced."""
        directory = os.stat(target.parent)
        key = (directory.st_dev, directory.st_ino)
        replaced = [i for i, e in enumerate(self.events) if e == ("replace", target)]
        assert replaced, f"os.replace onto {target} never ran: {self.events}"
        return [e[3] for e in self.events[replaced[-1] + 1:]
                if e[0] == "fsync" and e[1] and e[2] == key]


def test_write_atomically_fsyncs_the_directory_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "file.bin"
    target.write_bytes(b"old")
    calls = _Calls(monkeypatch, target)
    write_atomically(target, b"new contents")
    # Exactly one directory fsync, after the rename, when the new file is in place.
    assert calls.directory_syncs_after_replace(target) == [b"new contents"], calls.events
    # And the file's own data was synced before the rename (the directory entry must
    # never point at unwritten blocks).
    first_replace = calls.events.index(("replace", target))
    assert any(e[0] == "fsync" and not e[1] for e in calls.events[:first_replace]), calls.events


def test_a_checkpoint_save_fsyncs_its_directory_after_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = fn.MLP((3, 4, 2), "tanh")
    params = fn.init(spec, np.random.default_rng(0))
    target = tmp_path / "ckpt.npz"
    calls = _Calls(monkeypatch, target)
    fn.save_checkpoint(target, spec=spec, params=params)
    synced = calls.directory_syncs_after_replace(target)
    assert len(synced) == 1 and synced[0] == target.read_bytes(), calls.events
