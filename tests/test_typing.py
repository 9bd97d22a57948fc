"""The public types are as precise as the runtime: mypy --strict on user code, checked here.

What the runtime accepts the types accept (``MLP([4, 8, 3])``); what it rejects they
reject; ``OptState`` says which keys an optimizer's state has.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

api = pytest.importorskip("mypy.api", reason="mypy is in the dev extra")

if tuple(int(p) for p in np.__version__.split(".")[:2]) < (2, 4):
    # numpy's stubs before 2.4 make mypy --strict fail on funcnn itself; the CI floor job
    # runs on numpy 2.0 and checks the runtime only (docs/install.md, .ci/run).
    pytest.skip("mypy --strict holds from numpy 2.4", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]

USER_CODE = """
import numpy as np
import funcnn as fn

spec = fn.MLP([4, 8, 3], ["tanh"])  # lists, as the runtime accepts
params = fn.init(spec, np.random.default_rng(0))
opt = fn.adam(1e-3)
state = opt.init(params)
params, state = opt.update(params, state, params)
reveal_type(state)
reveal_type(state["count"])
reveal_type(state["mu"])
state["velocity"] = params  # a slot name: fine for the type, checked at runtime
fn.MLP(784)  # E: not a sequence
state["momentum"]  # E: no such key
state["count"] = 1.5  # E: count is an int64 array
"""


def _check_user_code(tmp_path: Path, name: str, user_code: str) -> list[str]:
    """mypy --strict on ``user_code``: its errors must be the lines marked ``# E:``;
    returns the ``reveal_type`` notes, in order."""
    source = tmp_path / f"{name}.py"
    source.write_text(textwrap.dedent(user_code), encoding="utf-8")
    stdout, _, status = api.run(
        # The project's settings and cache: warm after the first run (and for CI's mypy).
        ["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(ROOT / ".mypy_cache"),
         str(source)]
    )  # fmt: skip
    # Matched by file name: mypy's cache may report an earlier run's temporary path.
    found = re.findall(rf"^\S*{name}\.py:(\d+): (.*)$", stdout, flags=re.MULTILINE)
    by_line = {int(number): text for number, text in found}
    code = textwrap.dedent(user_code).splitlines()
    expected_errors = {i + 1 for i, text in enumerate(code) if "# E:" in text}
    errors = {n for n, text in by_line.items() if text.startswith("error")}
    assert errors == expected_errors, stdout
    assert status == 1
    return [by_line[i + 1] for i, text in enumerate(code) if text.startswith("reveal_type")]


def test_user_code_type_checks_as_the_runtime_behaves(tmp_path: Path) -> None:
    notes = _check_user_code(tmp_path, "user", USER_CODE)
    assert "TypedDict(funcnn.training.chain.OptState, {'count': numpy.ndarray" in notes[0]
    assert "'mu'?: list[dict[str, numpy.ndarray" in notes[0]
    assert notes[1].startswith('note: Revealed type is "numpy.ndarray[') and "64Bit" in notes[1]
    assert notes[2].startswith('note: Revealed type is "list[dict[str, numpy.ndarray[')


PLOTS_USER_CODE = """
import funcnn.plots
from funcnn import plots
from funcnn.plots import PLOT_FILES, plot_loss_curves

reveal_type(funcnn.plots.plot_sample_grid)
reveal_type(plots.plot_confusion_matrix)
reveal_type(plot_loss_curves)
reveal_type(PLOT_FILES)
count: int = plots.plot_accuracy_curves  # E: a function, not an int
"""


def test_the_plots_module_is_typed_however_it_is_imported(tmp_path: Path) -> None:
    # funcnn.plots re-exports funcnn.reporting.plots by a star import: mypy must follow it
    # for ``import funcnn.plots``, ``from funcnn import plots`` and ``from funcnn.plots import``.
    notes = _check_user_code(tmp_path, "user_plots", PLOTS_USER_CODE)
    assert len(notes) == 4, notes
    for note in notes[:3]:  # the three plot functions, with their parameters' types
        assert note.startswith('note: Revealed type is "def (path: str | os.PathLike[str], ')
        assert note.endswith(') -> pathlib.Path"'), note
    assert notes[3] == 'note: Revealed type is "dict[str, str]"'
