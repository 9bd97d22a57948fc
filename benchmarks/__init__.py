"""funcnn's benchmark suite (issue 7): ``python -m benchmarks``; not part of the wheel.

Times funcnn's training loop against hand-written numpy references, a GEMM-only floor,
PyTorch and JAX in one run on one machine, and checks the ratios against the issue's
targets. See ``benchmarks/run.py`` for the command line.
"""
