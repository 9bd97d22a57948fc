"""Benchmark: how long loading all of MNIST takes, and how much memory it needs.

Run from a checkout (uses the vendored ``data/mnist/`` unless ``--path`` is given)::

    python benchmarks/bench_load_mnist.py [--path DIR] [--repeat 7]

Prints the time of the first (cold) and of repeated ``load_mnist`` calls (wall clock and
the process's CPU time: loading is single-threaded, so on an idle machine the two agree,
and on a busy one the CPU time is what the load would take alone), a breakdown of
the steps for the largest file, the peak resident set size (RSS) of the process before and
after loading, and the peak memory numpy and Python allocated during one load (tracemalloc),
next to the size of the data itself (47 MB of uint8 for the training images, 55 MB in all).
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

from funcnn.data.idx import decode_idx, gunzip
from funcnn.data.mnist import find_mnist, load_mnist


def peak_rss_mb() -> float:
    """The process's peak resident set size so far, in MB (Linux reports kB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if sys.platform == "darwin" else peak * 1024 / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", type=Path, default=None, help="directory with the 4 files")
    parser.add_argument("--repeat", type=int, default=7, help="timed loads after the first")
    args = parser.parse_args(argv)
    if args.repeat < 0:
        parser.error("--repeat must be >= 0")
    directory = args.path if args.path is not None else find_mnist()
    if directory is None:
        parser.error("no MNIST copy found; pass --path DIR")

    rss_before = peak_rss_mb()
    start, cpu_start = time.perf_counter(), time.process_time()
    (x_train, y_train), (x_test, y_test) = load_mnist(directory)
    first = time.perf_counter() - start
    first_cpu = time.process_time() - cpu_start
    rss_after = peak_rss_mb()
    data_mb = sum(a.nbytes for a in (x_train, y_train, x_test, y_test)) / 1e6
    del x_train, y_train, x_test, y_test

    times = []
    cpu_times = []
    for _ in range(args.repeat):
        start, cpu_start = time.perf_counter(), time.process_time()
        data = load_mnist(directory)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
        del data

    tracemalloc.start()
    data = load_mnist(directory)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del data

    gz = Path(directory) / "train-images-idx3-ubyte.gz"
    steps: dict[str, float] = {}
    if gz.is_file():
        start = time.perf_counter()
        raw = gz.read_bytes()
        steps["read .gz"] = time.perf_counter() - start
        start = time.perf_counter()
        hashlib.sha256(raw).hexdigest()
        steps["sha256 of .gz"] = time.perf_counter() - start
        start = time.perf_counter()
        content = gunzip(raw)
        steps["gunzip"] = time.perf_counter() - start
        start = time.perf_counter()
        images = decode_idx(content)
        steps["decode (frombuffer)"] = time.perf_counter() - start
        assert images.shape == (60000, 28, 28) and images.dtype == np.uint8

    print(f"MNIST from {directory}")
    print(f"  data size (4 uint8 arrays)       {data_mb:8.1f} MB")
    print(
        f"  first load_mnist                 {first * 1e3:8.0f} ms wall, "
        f"{first_cpu * 1e3:.0f} ms CPU"
    )
    if times:
        print(
            f"  load_mnist x{args.repeat}: min / median     "
            f"{min(times) * 1e3:5.0f} / {statistics.median(times) * 1e3:.0f} ms wall, "
            f"{min(cpu_times) * 1e3:.0f} / {statistics.median(cpu_times) * 1e3:.0f} ms CPU"
        )
    for name, secs in steps.items():
        print(f"    train images: {name:<18} {secs * 1e3:6.0f} ms")
    print(f"  peak RSS before loading          {rss_before:8.1f} MB (interpreter + numpy)")
    print(f"  peak RSS after first load        {rss_after:8.1f} MB (+{rss_after - rss_before:.1f})")
    print(f"  peak allocated during one load   {traced_peak / 1e6:8.1f} MB (tracemalloc)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
