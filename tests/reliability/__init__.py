"""Reliability suite: bad input, crashes and corruption, proven by tests (issue 8).

Modules:

- ``test_bad_inputs_*``: a table-driven catalogue of bad inputs for every public
  function, each row asserting the exact error type and that the message names the
  argument and what was expected (``_catalogue`` runs the rows).
- ``test_cli_errors``: the command line turns bad input into one line on stderr and a
  non-zero exit status, never a traceback.
- ``test_fuzz``: hypothesis over the public API with random shapes, dtypes and values.
- ``test_crash_safety``: SIGKILL during checkpoint writes, flipped and truncated bytes,
  resuming after a kill reproduces the uninterrupted run bit for bit.
- ``test_security``: no pickle on load paths, SHA-256 before parsing downloads, no path
  escapes, files written with the user's umask.
- ``test_soak``: many epochs with a checkpoint every epoch; memory must not grow.

Commands::

    python -m pytest tests/reliability                 # default run (soak tests skipped)
    python -m pytest -m soak tests/reliability         # the soak tests (a few minutes)
    python -m tests.reliability.counts                 # counts for docs/reliability.md
    python -m tests.reliability.counts --soak          # ... including the soak tests

Known bugs in the library are rows or tests marked ``xfail(strict=True)`` with the bug
id of ``_bugs.BUGS`` as their reason: fixing a bug turns its tests into XPASS, which
fails the run until the mark is removed.
"""
