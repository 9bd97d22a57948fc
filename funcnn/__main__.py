"""``python -m funcnn``: the same command line as the ``funcnn`` console script."""

from __future__ import annotations

from funcnn.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
