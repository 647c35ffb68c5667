"""The package's import graph: no cycles (lazy imports inside functions included), and the runtime
never reaches for test-only code.

Every module of the installed package is read with :mod:`ast` (nothing is imported but the
packages themselves, to find their folders); every ``import`` and ``from … import`` that names a
module of the package counts, wherever it stands: at the top, under ``if TYPE_CHECKING:``, or
inside a function.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "emotts_plugin"
#: Imports no runtime module may make: the test extra's recogniser, and the tests' own helpers.
TEST_ONLY = ("pocketsphinx", "tests", "conftest", "evaluation")


def packages() -> list[str]:
    """The packages the distribution installs (``[tool.setuptools] packages``)."""
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return list(tomllib.load(handle)["tool"]["setuptools"]["packages"])


def modules() -> dict[str, Path]:
    """Every module of the installed package → its source file."""
    found: dict[str, Path] = {}
    for name in packages():
        package = importlib.import_module(name)
        found[name] = Path(package.__file__)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            spec = importlib.util.find_spec(info.name)
            if spec is not None and spec.origin is not None and spec.origin.endswith(".py"):
                found[info.name] = Path(spec.origin)
    return found


def imports(module: str, path: Path) -> list[tuple[str, list[str]]]:
    """Every import statement in ``module``'s source, anywhere in it, as ``(source, names)``: the
    module imported from (relative imports resolved) and, for ``from … import``, each name it
    takes there, as ``source.name``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            found.append((source, [f"{source}.{alias.name}" for alias in node.names]))
    return found


def imported(module: str, path: Path, known: set[str]) -> set[str]:
    """Every module of the package that ``module`` imports: ``from .x import y`` counts as
    ``x.y`` when ``y`` is a module, else as ``x``."""
    targets: set[str] = set()
    for source, names in imports(module, path):
        for name in [name for name in names if name in known] or [source]:
            while name not in known and name.startswith(f"{PACKAGE}."):
                name = name.rpartition(".")[0]  # ``import a.b.c``: what exists of it
            if name in known and name != module:
                targets.add(name)
    return targets


def external_imports(path: Path) -> set[str]:
    """Top-level names of every absolute import in ``path``'s source."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, …, a]``, or ``None``."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


@pytest.fixture(scope="module")
def sources() -> dict[str, Path]:
    return modules()


@pytest.fixture(scope="module")
def graph(sources) -> dict[str, set[str]]:
    known = set(sources)
    return {name: imported(name, path, known) for name, path in sources.items()}


def test_every_subpackage_is_walked(sources):
    for folder in ("ssml", "models", "adapters", "presets"):
        assert f"{PACKAGE}.{folder}" in sources
    assert f"{PACKAGE}.synthesizer" in sources and f"{PACKAGE}.ssml.parser" in sources
    assert f"{PACKAGE}.adapters.http" in sources and f"{PACKAGE}.models.dsp" in sources


def test_imports_of_the_package_name_modules_that_exist(sources):
    missing = [
        f"{name}: {source}"
        for name, path in sources.items()
        for source, _ in imports(name, path)
        if (source == PACKAGE or source.startswith(f"{PACKAGE}.")) and source not in sources
    ]
    assert not missing, "imports of modules that are not in the package:\n" + "\n".join(missing)


def test_the_graph_sees_lazy_imports(graph):
    # a check on the walker itself: these imports exist (some inside functions)
    assert f"{PACKAGE}.models.dsp" in graph[f"{PACKAGE}.synthesizer"]  # inside Synthesizer._render
    assert graph[f"{PACKAGE}.adapters.plugin"] >= {f"{PACKAGE}.adapters.http"}


def test_no_import_cycles(graph):
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or ())


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_runtime_never_imports_test_code(sources):
    offenders = {
        name: sorted(external_imports(path) & set(TEST_ONLY))
        for name, path in sources.items()
        if external_imports(path) & set(TEST_ONLY)
    }
    assert not offenders, offenders


if __name__ == "__main__":  # print the graph
    found = modules()
    edges = {name: imported(name, path, set(found)) for name, path in found.items()}
    for module_name in sorted(edges):
        print(module_name, "->", ", ".join(sorted(edges[module_name])))
    print("cycle:", find_cycle(edges))
    sys.exit(0)
