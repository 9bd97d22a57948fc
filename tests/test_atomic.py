"""Tests for funcnn.training._atomic: whole files or none, the umask's permissions, and the
tidying of temporary files left by killed writers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from funcnn.training._atomic import write_atomically


def _finished_pid() -> int:
    """The pid of a process that has exited (so no writer can own it any more)."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(child.stdout)


def test_writes_and_replaces_the_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    write_atomically(target, b"first version")
    write_atomically(target, b"second")
    assert target.read_bytes() == b"second"
    assert os.listdir(tmp_path) == ["out.bin"]


@pytest.mark.parametrize(("umask", "mode"), [(0o027, 0o640), (0o077, 0o600), (0o002, 0o664)])
def test_permissions_are_what_open_would_give(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        write_atomically(tmp_path / "f", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "f").stat().st_mode & 0o777 == mode


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failed_write_keeps_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: Any, failing: str
) -> None:
    target = tmp_path / "keep.txt"
    target.write_bytes(b"old")

    def fail(*args: Any) -> None:
        raise OSError(f"{failing} failed")

    monkeypatch.setattr(os, failing, fail)
    with pytest.raises(OSError, match=f"{failing} failed"):
        write_atomically(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["keep.txt"]


def test_only_temporaries_of_finished_writers_of_the_same_name_are_deleted(
    tmp_path: Path,
) -> None:
    gone = _finished_pid()
    dead = tmp_path / f".out.bin.{gone}.k3j2.tmp"
    kept = [
        tmp_path / f".out.bin.{os.getppid()}.a1b2.tmp",  # its writer still runs
        tmp_path / f".out.bin.{os.getpid()}.c3d4.tmp",  # this process's own
        tmp_path / f".other.bin.{gone}.e5f6.tmp",  # another file's
        tmp_path / f".out.bin.{gone}.g7h8.part",  # not a temporary of this module
        tmp_path / ".out.bin.notapid.i9j0.tmp",
    ]
    for path in [dead, *kept]:
        path.write_bytes(b"partial")
    write_atomically(tmp_path / "out.bin", b"done")
    assert not dead.exists()
    assert all(path.exists() for path in kept)
    assert (tmp_path / "out.bin").read_bytes() == b"done"
