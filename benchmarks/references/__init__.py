"""What funcnn is measured against: hand-written numpy, the GEMM floor, PyTorch and JAX.

Each reference trains the same model from the same initial parameters (copied from
:func:`funcnn.init`), so every implementation does the same arithmetic per step.
"""
