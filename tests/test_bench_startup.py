"""The ``import`` section of the benchmark suite (:mod:`benchmarks.startup`).

No timing is asserted (timings are the suite's output): the section must run each case
in a fresh process with byte code cached outside the tree, fail loudly when a case
fails, and write its rows with the issue's targets.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import startup

ROOT = Path(__file__).resolve().parents[1]


def test_children_cache_byte_code_outside_the_tree() -> None:
    environ = {"PATH": "/bin", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": "/x"}
    env = startup.child_environment(environ, "/tmp/cache")
    assert env == {"PATH": "/bin", "PYTHONPATH": "/x", "PYTHONPYCACHEPREFIX": "/tmp/cache"}
    assert environ["PYTHONDONTWRITEBYTECODE"] == "1"  # not modified


def test_a_failing_case_is_an_error_not_a_time(tmp_path: Path) -> None:
    env = startup.child_environment({"PATH": "/usr/bin:/bin"}, str(tmp_path))
    startup._run("import sys; sys.exit(0)", env)
    with pytest.raises(RuntimeError, match="No module named 'funcnn_missing'"):
        startup._run("import funcnn_missing", env)


def test_the_cases_do_what_their_labels_say(tmp_path: Path) -> None:
    probe = "\nimport sys; print('funcnn' in sys.modules, 'numpy' in sys.modules)"
    for name, want in (("numpy", "False True"), ("funcnn", "True True")):
        done = subprocess.run(
            [sys.executable, "-c", startup.CASES[name] + probe],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout.strip() == want, name
    done = subprocess.run(
        [sys.executable, "-c", startup.CASES["help"]], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.startswith("usage: funcnn"), done.stderr


def test_quick_run_writes_the_import_rows(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    command = [
        sys.executable,
        "-m",
        "benchmarks",
        "--quick",
        "--only",
        "import",
        "--no-quiet",
        "--openblas",
        "current",
        "--json",
        str(out),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (run,) = json.loads(out.read_text())["runs"]
    rows = {row["key"]: row for row in run["rows"]}
    assert set(rows) == {
        "import.numpy",
        "import.funcnn",
        "import.help",
        "import.funcnn/numpy",
        "import.help/numpy",
    }
    for key in ("import.numpy", "import.funcnn", "import.help"):
        assert rows[key]["unit"] == "s" and len(rows[key]["samples"]) >= 5
        assert all(0 < s < 60 for s in rows[key]["samples"]), rows[key]
    for key in ("import.funcnn", "import.help"):
        assert rows[key]["target"] == {"op": "<=", "bound": 0.2, "aim": False}
        assert rows[key]["status"] in ("pass", "miss")
    for key in ("import.funcnn/numpy", "import.help/numpy"):
        assert rows[key]["target"]["bound"] == pytest.approx(0.2 / 0.12)
        assert rows[key]["status"] in ("pass", "miss")
    assert "funcnn --help / import numpy" in done.stdout
