"""Entry point: ``python -m benchmarks [--quick] [--json PATH] [--only A,B,...]``."""

from __future__ import annotations

from benchmarks.run import main

raise SystemExit(main())
