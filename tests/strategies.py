"""Hypothesis strategies shared by the tests: small specs, params and batches."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

import funcnn as fn

ACTIVATION_NAMES = sorted(fn.ACTIVATIONS)
DTYPES = [np.float32, np.float64]


@st.composite
def specs(draw: st.DrawFn, max_layers: int = 3, max_width: int = 6) -> fn.MLP:
    """A small MLP spec with random widths and per-layer activations."""
    n_layers = draw(st.integers(1, max_layers))
    sizes = tuple(
        draw(st.lists(st.integers(1, max_width), min_size=n_layers + 1, max_size=n_layers + 1))
    )
    acts = tuple(draw(st.sampled_from(ACTIVATION_NAMES)) for _ in range(n_layers - 1))
    return fn.MLP(sizes, acts)


@st.composite
def problems(
    draw: st.DrawFn, dtype: Any = None
) -> tuple[fn.MLP, fn.Params, np.ndarray, np.ndarray]:
    """A spec, params, a batch x and integer labels y, all consistent."""
    spec = draw(specs())
    dt = draw(st.sampled_from(DTYPES)) if dtype is None else dtype
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    params = fn.init(spec, rng, "glorot_uniform", dtype=dt)
    batch = draw(st.integers(1, 5))
    x = rng.normal(size=(batch, spec.n_in)).astype(dt)
    y = rng.integers(0, spec.n_out, size=batch)
    return spec, params, x, y


def unknown_name(registry: Any) -> str:
    """A name that is not in ``registry`` (a mapping or collection of names) and never can
    be while the registry stays as it is: built from all its names."""
    return "not-" + "-".join(sorted(registry))
