"""What the benchmark numbers depend on: machine, versions, BLAS kernel, tuning variables.

:func:`environment` is stored with every run of the suite (and printed above its table);
:func:`blas_report` is threadpoolctl's view of the loaded BLAS libraries.
"""

from __future__ import annotations

import importlib
import os
import platform
import sys
from typing import Any

import numpy as np

__all__ = ["OPENBLAS_TUNING_VARS", "blas_report", "environment"]

OPENBLAS_TUNING_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
"""The variables issue 7 asks to benchmark both as set and unset."""


def _optional(name: str) -> Any:
    """The module ``name``, or ``None`` if it is not importable."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def blas_report() -> tuple[list[dict[str, Any]], str]:
    """threadpoolctl's view of the loaded BLAS / OpenMP libraries, and a one-line summary.

    The summary names numpy's BLAS, its version, the kernel set OpenBLAS selected
    (``architecture``) and its thread count.
    """
    threadpoolctl = _optional("threadpoolctl")
    if threadpoolctl is None:
        return [], "threadpoolctl absent (pip install -r benchmarks/requirements.txt)"
    info: list[dict[str, Any]] = [dict(entry) for entry in threadpoolctl.threadpool_info()]
    blas = [entry for entry in info if entry.get("user_api") == "blas"]
    numpy_blas = [e for e in blas if "numpy" in str(e.get("filepath", ""))] or blas
    if not numpy_blas:
        return info, "no BLAS library reported by threadpoolctl"
    entry = numpy_blas[0]
    summary = (
        f"{entry.get('internal_api')} {entry.get('version')} "
        f"kernel={entry.get('architecture', '?')} threads={entry.get('num_threads')} "
        f"({os.path.basename(str(entry.get('filepath', '')))})"
    )
    return info, summary


def environment() -> dict[str, Any]:
    """What the numbers depend on: machine, versions, BLAS kernel, tuning variables, load."""
    info, summary = blas_report()
    env_vars = {
        name: os.environ.get(name)
        for name in (
            *OPENBLAS_TUNING_VARS,
            "OPENBLAS_NUM_THREADS",
            "OMP_NUM_THREADS",
            "MKL_NUM_THREADS",
            "XLA_FLAGS",
        )
    }
    return {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average_1_5_15": _load_average(),
        "blas": summary,
        "threadpool_info": info,
        "env": env_vars,
        "openblas_tuning_set": any(env_vars[name] is not None for name in OPENBLAS_TUNING_VARS),
    }
