"""``import funcnn`` and ``funcnn --help``: what they load, and the lazily exported names.

Issue 23: importing funcnn must not pay for what the caller does not use. Each check runs
in a fresh interpreter (this one has long imported everything) and lists the heavy
modules it finds in ``sys.modules``. How long the imports take is measured by the
benchmark suite (``python -m benchmarks --only import``), not asserted here.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import funcnn as fn

ROOT = Path(__file__).resolve().parents[1]

HEAVY = (
    "scipy",  # scipy.special alone was two thirds of a 0.5 s import
    "matplotlib",  # the plot extra
    "tqdm",  # the progress extra
    "threadpoolctl",
    "verification",
    "funcnn.data",  # data, reporting and training: loaded on first use
    "funcnn.reporting",
    "funcnn.training",
    "funcnn.cli.train",
    "numpy.random",  # numpy loads it on first use; so does funcnn
)
"""Modules neither ``import funcnn`` nor ``funcnn --help`` may load."""

HELP_NEEDS = ("funcnn.training",)
"""What ``funcnn --help`` may load beyond ``import funcnn``: the train command's
``--optimizer`` and ``--schedule`` choices come from the optimizer and schedule registries
(issue 24), which live with the optimizers; they import no scipy, data or reporting."""
HEAVY_FOR_HELP = tuple(m for m in HEAVY if m not in HELP_NEEDS)

NETWORK = ("http.client", "ssl", "urllib.request", "email")
"""The download stack: loaded only when a download starts, not with the data loaders."""


def _loaded_after(code: str, watched: tuple[str, ...]) -> list[str]:
    """The ``watched`` modules (or their submodules) in ``sys.modules`` after ``code``,
    run in a fresh interpreter."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"watched = {watched!r}\n"
        "print(json.dumps(sorted({w for w in watched for m in sys.modules "
        "if m == w or m.startswith(w + '.')})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_import_funcnn_loads_nothing_heavy() -> None:
    assert _loaded_after("import funcnn", HEAVY + NETWORK) == []


def test_help_loads_nothing_heavy() -> None:
    code = (
        "import contextlib, io\n"
        "from funcnn.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    assert main(['--help']) == 0\n"
        "assert 'usage: funcnn' in out.getvalue()\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    assert main(['train', '--help']) == 0\n"
        "assert '--epochs' in out.getvalue()"
    )
    assert _loaded_after(code, HEAVY_FOR_HELP + NETWORK) == []


def test_python_m_funcnn_help_loads_nothing_heavy() -> None:
    code = (
        "import runpy, sys\n"
        "sys.argv = ['funcnn', '--help']\n"
        "try:\n"
        "    runpy.run_module('funcnn', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code"
    )
    assert _loaded_after(code, HEAVY_FOR_HELP + NETWORK) == []


def test_using_a_name_loads_what_it_needs_and_no_more() -> None:
    # The data loaders need no network stack until they download.
    assert _loaded_after("from funcnn import load_mnist", (*NETWORK, "scipy")) == []
    # Training loads training, not the extras; a sigmoid network needs scipy's expit.
    loaded = _loaded_after("import funcnn as fn\nfn.fit", HEAVY + NETWORK)
    assert "funcnn.training" in loaded
    extras = {"scipy", "matplotlib", "tqdm", "threadpoolctl", "verification", *NETWORK}
    assert not extras & set(loaded), loaded
    code = "import numpy as np, funcnn as fn\nfn.sigmoid(np.zeros(2))"
    assert _loaded_after(code, ("scipy",)) == ["scipy"]


def _type_checking_imports() -> dict[str, tuple[str, ...]]:
    """``{module: names}`` of the imports under ``if TYPE_CHECKING:`` in funcnn/__init__.py,
    the plots module aside."""
    tree = ast.parse((ROOT / "funcnn" / "__init__.py").read_text(encoding="utf-8"))
    (block,) = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
    ]
    found: dict[str, tuple[str, ...]] = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.module is not None
        if node.module != "funcnn":  # ``from funcnn import plots``
            found[node.module] = tuple(alias.name for alias in node.names)
    return found


def test_lazy_table_matches_what_type_checkers_read() -> None:
    # The table serves the names at run time; the TYPE_CHECKING imports type them: they
    # must list the same names from the same modules.
    assert _type_checking_imports() == fn._LAZY


def test_every_public_name_resolves_to_its_definition() -> None:
    lazy = {name: module for module, names in fn._LAZY.items() for name in names}
    assert set(lazy) <= set(fn.__all__)
    for name in fn.__all__:
        value = getattr(fn, name)
        if name in lazy:
            assert value is getattr(importlib.import_module(lazy[name]), name), name
            assert vars(fn)[name] is value  # kept: the next lookup is a plain read
    assert set(fn.__all__) | {"plots"} <= set(dir(fn))
    package: Any = fn  # the subpackages are attributes at run time only
    assert package.training.loop.fit is fn.fit
    assert package.data.mnist.load_mnist is fn.load_mnist
    assert fn.plots is importlib.import_module("funcnn.plots")
    with pytest.raises(AttributeError, match="no attribute 'fitt'"):
        package.fitt  # noqa: B018


def test_star_import_gives_every_public_name() -> None:
    namespace: dict[str, object] = {}
    exec("from funcnn import *", namespace)
    assert set(fn.__all__) <= set(namespace)
