"""Packaging: the declared floors are the ones CI tests; the sdist and wheel hold what they should.

The sdist must be a source tree whose tests run (tests, their helpers, examples, benchmarks,
the MNIST copy); the wheel only the two packages, their ``py.typed`` markers, the golden
format's JSON Schemas and the license.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
FLOOR_FILE = ROOT / ".ci" / "floor.txt"
SCHEMAS = ROOT / "verification" / "interchange" / "schemas"
# What the sdist must carry beyond the packages: every file in these folders.
SDIST_TREES = ("tests", "examples", "benchmarks", "data", "docs")
JUNK = shutil.ignore_patterns(
    ".git", ".venv*", "__pycache__", "*.pyc", ".mypy_cache", ".pytest_cache", ".ruff_cache",
    ".hypothesis", "build", "dist", "*.egg-info", "runs", "site",
)  # fmt: skip


def _floors(requirements: list[str]) -> dict[str, str]:
    """``{"numpy": "2"}`` for each ``name>=version`` requirement."""
    out = {}
    for req in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^]]*\])?\s*>=\s*([0-9][^,;\s]*)", req)
        if match:
            out[match[1].lower()] = match[2]
    return out


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_every_declared_floor_is_pinned_in_the_ci_floor_job() -> None:
    declared = _floors(PYPROJECT["project"]["dependencies"])
    for name, extra in PYPROJECT["project"]["optional-dependencies"].items():
        if name != "docs":  # the site is built with the newest versions only (.ci/run)
            declared |= _floors(extra)
    declared |= _floors(PYPROJECT["build-system"]["requires"])
    pinned = dict(
        line.split("==")
        for line in FLOOR_FILE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    )
    assert sorted(pinned) == sorted(declared), "pin exactly the declared floors"
    for name, floor in declared.items():
        # The pin is the floor itself (2 -> 2.0.0), or the first patch release of it.
        assert _version(pinned[name])[: len(_version(floor))] == _version(floor), name


def test_license_metadata_is_spdx() -> None:
    assert PYPROJECT["project"]["license"] == "MIT"
    assert PYPROJECT["project"]["license-files"] == ["LICENSE"]
    assert "MIT License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    (setuptools,) = PYPROJECT["build-system"]["requires"]
    assert _version(_floors([setuptools])["setuptools"]) >= (77,)  # first with license-files


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """The sdist and wheel built from a clean copy of the tree (without isolation: fast)."""
    pytest.importorskip("build", reason="python -m build is in the dev extra")
    src = tmp_path_factory.mktemp("src") / "funcnn"
    shutil.copytree(ROOT, src, ignore=JUNK)
    out = src.parent / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    yield sdist, wheel


def test_the_wheel_is_small_and_holds_only_the_packages(dists: tuple[Path, Path]) -> None:
    _, wheel = dists
    assert wheel.stat().st_size < 400_000
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith("dist-info/METADATA")))
        entry_points = archive.read(next(n for n in names if n.endswith("entry_points.txt")))
    dist_info = next(n.split("/")[0] for n in names if n.endswith("dist-info/METADATA"))
    assert {n.split("/")[0] for n in names} == {"funcnn", "verification", dist_info}
    assert {"funcnn/py.typed", "verification/py.typed"} <= set(names)
    sources = {path.relative_to(ROOT).as_posix() for package in ("funcnn", "verification")
               for path in (ROOT / package).rglob("*.py")}
    assert sources <= set(names)  # every subpackage, however deep
    schemas = {path.relative_to(ROOT).as_posix() for path in SCHEMAS.glob("*.schema.json")}
    assert len(schemas) >= 2 and schemas <= set(names)  # the golden format's JSON Schemas
    assert f"{dist_info}/licenses/LICENSE" in names
    assert not [n for n in names if n.endswith((".gz", ".npz")) or "/tests/" in n]
    assert b"License-Expression: MIT" in metadata
    assert b"funcnn = funcnn.cli:main" in entry_points


def test_the_sdist_holds_everything_its_tests_need(dists: tuple[Path, Path]) -> None:
    sdist, _ = dists
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    expected = {"LICENSE", "pyproject.toml", "MANIFEST.in", ".ci/floor.txt", ".ci/run"}
    expected.add(".ci/user_script.py")  # tests/test_packaging.py reads both
    # The root's Python, Markdown and YAML files: conftest.py collects the docs' examples.
    expected |= {p.name for p in ROOT.iterdir() if p.suffix in (".py", ".md", ".yml")}
    for tree in SDIST_TREES:
        for path in (ROOT / tree).rglob("*"):
            parts = path.relative_to(ROOT).parts
            if path.is_file() and not any(p == "__pycache__" or p.startswith(".") for p in parts):
                expected.add("/".join(parts))
    for package in ("funcnn", "verification"):
        expected |= {
            "/".join(p.relative_to(ROOT).parts)
            for p in (ROOT / package).rglob("*")
            if p.suffix in (".py", ".typed") or p.name.endswith(".schema.json")
        }
    missing = sorted(expected - names)
    assert not missing, f"missing from the sdist: {missing[:10]}"
    for must in ("tests/conftest.py", "tests/reliability/conftest.py", "tests/strategies.py"):
        assert must in names
    assert sum(n.startswith("data/mnist/") and n.endswith(".gz") for n in names) == 4


def _job(script: str, name: str) -> list[str]:
    """The lines of the shell function ``name`` in ``.ci/run``, stripped."""
    start = script.index(f"\n{name}() {{\n")
    body = script[start + len(name) + 6 : script.index("\n}\n", start)]
    return [line.strip() for line in body.splitlines()]


def test_ci_runs_the_readmes_test_command_and_the_user_type_check() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (command,) = [line for line in readme.splitlines() if 'install -e ".[dev]"' in line]
    main = [line.replace(" --quiet", "") for line in _job(script, "main_job")]
    # Each step of the README's command on a line of its own (set -e stops at a failure).
    steps = [step.strip() for step in command.split("&&")]
    assert [line for line in main if line in steps] == steps
    assert main.index(steps[-1]) < main.index("user_type_check")
    check = _job(script, "user_type_check")
    assert "cp .ci/user_script.py \"$dir/\"" in check
    assert any("mypy --strict" in line and "user_script.py" in line for line in check)
    assert (ROOT / ".ci" / "user_script.py").is_file()
    # The floor job installs the sdist itself, not an editable checkout.
    floor = " ".join(_job(script, "floor_job"))
    assert "pip install" in floor and " -e " not in floor


def test_every_documented_editable_install_keeps_the_types_visible() -> None:
    # setuptools' default editable mode is an import hook that type checkers cannot
    # follow; every editable install the project documents or runs uses strict mode.
    texts = [ROOT / "README.md", ROOT / ".ci" / "run", ROOT / "mkdocs.yml"]
    texts += sorted((ROOT / "docs").glob("*.md"))
    found = 0
    for path in texts:
        for line in path.read_text(encoding="utf-8").splitlines():
            for match in re.finditer(r"pip install[^`&#\n]* -e [^`&#\n]*", line):
                found += 1
                assert "--config-settings editable_mode=strict" in match[0], (path.name, line)
    assert found >= 6
