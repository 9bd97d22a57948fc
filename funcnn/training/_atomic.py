"""Atomic file writes: a whole new file or the old one, never a mixture, and no debris.

:func:`write_atomically` is how funcnn writes its checkpoints, the command line's
reports and the plots: a temporary file in the target's directory, flushed and ``fsync``-ed,
then ``os.replace``-d over the target (atomic on POSIX), then the directory ``fsync``-ed.
Temporary files of writers that were killed mid-write (their pid no longer runs) are
deleted by the next write to the same name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["write_atomically"]


def _umask() -> int:
    """The process umask, read without changing it where the platform allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no way to read it without setting it: restore at once
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: it exists, under another user
        return True
    return True


def _remove_orphans(directory: Path, name: str) -> None:
    """Delete temporary files of ``name`` left by writers that were killed mid-save.

    Temporary names carry the writer's pid; a file whose writer no longer runs can only
    be the remains of a crash (the rename never happened), so it is safe to delete.
    """
    if os.name != "posix":  # pragma: no cover - os.kill(pid, 0) probes only on POSIX
        return
    prefix = f".{name}."
    try:
        entries = list(os.scandir(directory))
    except OSError:  # pragma: no cover - unreadable directory: nothing to tidy
        return
    for entry in entries:
        if not (entry.name.startswith(prefix) and entry.name.endswith(".tmp")):
            continue
        pid_text = entry.name[len(prefix) :].split(".", 1)[0]
        if not pid_text.isdigit() or int(pid_text) == os.getpid() or _pid_alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` by a file holding ``data``, so that a crash leaves the old or the new.

    Written to a temporary file in the same directory (``.NAME.PID.XXXX.tmp``), flushed
    and ``fsync``-ed, moved over ``path`` with ``os.replace``, then the directory is
    ``fsync``-ed. The file gets what ``open()`` would give it (``0o666`` less the umask).
    If anything fails the temporary file is removed and the exception propagates.
    """
    directory = path.parent
    _remove_orphans(directory, path.name)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=directory
    )
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        # mkstemp creates the file 0600; give it what open() would.
        os.chmod(tmp_name, 0o666 & ~_umask())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(dir_fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on directories
        pass
    finally:
        os.close(dir_fd)
