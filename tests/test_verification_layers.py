"""Tests for the layout of verification/: each subpackage imports only the subpackages its
docstring allows, no two subpackages import each other (directly or round a circle), no
folder is crowded and no module long, no two modules import each other, and each
subpackage's docstring names its modules.

The allowed imports have one source: the ``May import:`` paragraph of each subpackage's
``__init__.py`` docstring, read here with ``ast`` (nothing is imported). An entry allows
that subpackage and everything below it; a subpackage may always import its own modules.
The package root (``verification/__init__.py`` and ``__main__``) may import anything, and
nothing may import it. Imports inside functions and ``TYPE_CHECKING`` blocks count too.
"""

from __future__ import annotations

import ast
import graphlib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "verification"

MAX_MODULES = 15
"""Modules per folder, ``__init__`` not counted."""
MAX_LINES = 400

_ALLOWED_PARAGRAPH = re.compile(r"^May import:(.*?)(?:\n\s*\n|\Z)", re.M | re.S)
_NAME = re.compile(r"[A-Za-z_][\w.]*[\w]")


@dataclass(frozen=True)
class Tree:
    """The modules of one package tree, as dotted names, with their files."""

    name: str
    modules: dict[str, Path]
    packages: dict[str, Path]


def read_tree(root: Path) -> Tree:
    """Every module and package under ``root`` (a package directory)."""
    name = root.name
    modules: dict[str, Path] = {}
    packages: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if path.name == "__init__.py":
            packages[".".join(parts[:-1])] = path
        modules[".".join(parts[:-1] if path.name == "__init__.py" else parts)] = path
    assert name in packages, f"{root} is not a package"
    return Tree(name, modules, packages)


def unit_of(tree: Tree, module: str) -> str:
    """The subpackage a module belongs to: itself for a package, else its parent."""
    return module if module in tree.packages else module.rpartition(".")[0]


def allowed_imports(tree: Tree, package: str) -> frozenset[str]:
    """The subpackages ``package``'s docstring allows it to import."""
    doc = ast.get_docstring(ast.parse(tree.packages[package].read_text())) or ""
    found = _ALLOWED_PARAGRAPH.search(doc)
    if found is None:
        raise AssertionError(f"{package}: its docstring has no 'May import:' paragraph")
    text = found.group(1)
    if text.strip().startswith("nothing"):
        return frozenset()
    names = frozenset(_NAME.findall(text))
    unknown = sorted(n for n in names if n not in tree.packages or n == tree.name)
    if unknown:
        raise AssertionError(f"{package}: 'May import:' names no subpackage: {unknown}")
    return names


def imported_modules(tree: Tree, module: str) -> set[str]:
    """The modules of ``tree`` that ``module`` imports, wherever in the file."""
    path = tree.modules[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            # `from pkg import module` imports the module, not just the package
            found.update(f"{base}.{alias.name}" for alias in node.names
                         if f"{base}.{alias.name}" in tree.modules)
    return {name for name in found if name in tree.modules}


def covers(allowed: frozenset[str], unit: str) -> bool:
    return any(unit == entry or unit.startswith(entry + ".") for entry in allowed)


def forbidden_imports(tree: Tree) -> list[str]:
    """Every import a subpackage's docstring does not allow, as readable lines."""
    problems = []
    for module in tree.modules:
        unit = unit_of(tree, module)
        if unit == tree.name:
            continue  # the root may import anything
        allowed = allowed_imports(tree, unit)
        for target in sorted(imported_modules(tree, module)):
            other = unit_of(tree, target)
            if other == tree.name:
                problems.append(f"{module} imports the package root {target}")
            elif other != unit and not covers(allowed, other):
                problems.append(f"{module} imports {target}: {unit} may import only "
                                f"{sorted(allowed) or 'nothing'}")
    return problems


def unit_graph(tree: Tree) -> dict[str, set[str]]:
    """Subpackage -> the other subpackages its modules import (the root left out)."""
    graph: dict[str, set[str]] = {unit: set() for unit in tree.packages if unit != tree.name}
    for module in tree.modules:
        unit = unit_of(tree, module)
        if unit == tree.name:
            continue
        for target in imported_modules(tree, module):
            other = unit_of(tree, target)
            if other not in (unit, tree.name):
                graph[unit].add(other)
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A circle of subpackages importing each other, or None."""
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as exc:
        return list(exc.args[1])
    return None


def module_graph(tree: Tree) -> dict[str, set[str]]:
    """Module -> the other modules of the tree it imports."""
    return {module: imported_modules(tree, module) - {module} for module in tree.modules}


def allowed_graph(tree: Tree) -> dict[str, set[str]]:
    """Subpackage -> every subpackage its docstring allows (entries expanded downwards)."""
    units = [unit for unit in tree.packages if unit != tree.name]
    return {unit: {other for other in units
                   if other != unit and covers(allowed_imports(tree, unit), other)}
            for unit in units}


def crowding(tree: Tree, max_modules: int, max_lines: int) -> list[str]:
    problems = []
    for package, init in tree.packages.items():
        own = [m for m, p in tree.modules.items()
               if p.parent == init.parent and p.name != "__init__.py"]
        if len(own) > max_modules:
            problems.append(f"{package}: {len(own)} modules (at most {max_modules})")
    for module, path in tree.modules.items():
        lines = len(path.read_text().splitlines())
        if lines > max_lines:
            problems.append(f"{module}: {lines} lines (at most {max_lines})")
    return problems


def unnamed_modules(tree: Tree) -> list[str]:
    """Modules their package's docstring does not name (as ``name``)."""
    problems = []
    for package, init in tree.packages.items():
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        for path in tree.modules.values():
            if (path.parent == init.parent and path.name != "__init__.py"
                    and package != tree.name and f"``{path.stem}``" not in doc):
                problems.append(f"{package}: docstring does not name ``{path.stem}``")
        for sub, sub_init in tree.packages.items():
            if sub_init.parent.parent == init.parent and sub.rpartition(".")[2] not in doc:
                problems.append(f"{package}: docstring does not name subpackage {sub}")
    return problems


TREE = read_tree(ROOT)


def test_every_subpackage_says_what_it_may_import() -> None:
    for package in TREE.packages:
        if package != TREE.name:
            allowed_imports(TREE, package)  # raises if missing or naming no subpackage


def test_each_subpackage_imports_only_what_its_docstring_allows() -> None:
    assert forbidden_imports(TREE) == []


def test_no_circle_between_subpackages() -> None:
    assert cycle(unit_graph(TREE)) is None
    assert cycle(allowed_graph(TREE)) is None  # the docstrings themselves allow none


def test_no_two_modules_import_each_other() -> None:
    """Not even lazily or for types only: one of the two is always the lower one."""
    assert cycle(module_graph(TREE)) is None


def test_no_crowded_folder_and_no_long_module() -> None:
    assert crowding(TREE, MAX_MODULES, MAX_LINES) == []


def test_each_docstring_names_what_its_subpackage_holds() -> None:
    assert unnamed_modules(TREE) == []


def test_the_layers_read_from_the_real_tree() -> None:
    """The checks above look at the real packages and imports (not an empty tree)."""
    assert {"verification.engine", "verification.reporting"} <= set(TREE.packages)
    graph = unit_graph(TREE)
    assert "verification.engine.modes" in graph["verification.engine"]
    assert "verification.reporting" in graph["verification.engine.modes"]


# A throwaway package with the same rules, to see each check fail.

def _write(root: Path, files: dict[str, str]) -> Tree:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return read_tree(root / "pkg")


_LOW = '"""Low.\n\n``a``\n\nMay import: nothing else in pkg.\n"""\n'
_HIGH = '"""High.\n\n``b``\n\nMay import: pkg.low.\n"""\n'


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    return tmp_path


def test_a_forbidden_import_is_found(planted: Path) -> None:
    tree = _write(planted, {
        "pkg/__init__.py": '"""Root: ``low``, ``high``."""\n',
        "pkg/low/__init__.py": _LOW,
        "pkg/low/a.py": "def f() -> None:\n    from pkg.high.b import g\n",
        "pkg/high/__init__.py": _HIGH,
        "pkg/high/b.py": "from pkg.low import a\n",
    })
    assert forbidden_imports(tree) == [
        "pkg.low.a imports pkg.high.b: pkg.low may import only nothing"]
    assert cycle(unit_graph(tree)) is not None
    assert cycle(module_graph(tree)) is not None
    assert cycle(allowed_graph(tree)) is None


def test_importing_the_root_and_a_missing_paragraph_are_found(planted: Path) -> None:
    tree = _write(planted, {
        "pkg/__init__.py": '"""Root: low, high."""\n',
        "pkg/low/__init__.py": _LOW,
        "pkg/low/a.py": "from pkg import thing\n",
        "pkg/high/__init__.py": '"""High, with no rule.\n\n``b``\n"""\n',
        "pkg/high/b.py": "",
    })
    with pytest.raises(AssertionError, match="no 'May import:' paragraph"):
        allowed_imports(tree, "pkg.high")
    assert forbidden_imports(_write(planted, {"pkg/high/__init__.py": _HIGH})) == [
        "pkg.low.a imports the package root pkg"]
    assert unnamed_modules(tree) == []


def test_crowding_and_unnamed_modules_are_found(planted: Path) -> None:
    tree = _write(planted, {
        "pkg/__init__.py": '"""Root: ``low``."""\n',
        "pkg/low/__init__.py": _LOW,
        "pkg/low/a.py": "x = 1\n" * 8,
        "pkg/low/c.py": "",
    })
    assert crowding(tree, 1, 7) == ["pkg.low: 2 modules (at most 1)",
                                    "pkg.low.a: 8 lines (at most 7)"]
    assert unnamed_modules(tree) == ["pkg.low: docstring does not name ``c``"]
