"""The house's rules, read off the source with `ast` (no project code is imported): no import cycle, Ray only
in its layer, no file over 500 lines, no function over 60, and each package importing only what its
`__init__` docstring allows."""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = (
    "actors", "agents", "cli", "control", "fileio", "hlx", "policies", "report", "serving", "settings",
    "training",
)  # fmt: skip
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 60
RAY_ALLOWED = ("actors", "cli", "bench", "tests")
"""Where `import ray` may appear: the Ray layer, the CLIs that connect, benchmarks and tests."""

EVERYTHING = set(PACKAGES)
ALLOWED_IMPORTS: dict[str, set[str]] = {
    "fileio": set(),
    "hlx": set(),
    "settings": {"hlx", "fileio"},
    "training": {"settings", "hlx", "fileio"},
    "agents": {"settings", "fileio"},
    "policies": {"agents", "settings", "fileio"},
    "control": {"policies", "agents", "training", "settings", "hlx", "fileio"},
    "report": {"control", "policies", "agents", "settings", "fileio"},
    "serving": {"control", "report", "training", "hlx", "settings", "fileio"},
    "actors": EVERYTHING - {"cli"},
    "cli": EVERYTHING,
}
"""Package -> the packages of ours it may import, as each `__init__.py` docstring says (a leaf: nothing)."""

LONG_FUNCTIONS_ALLOWED: dict[str, str] = {}
"""`path::function` -> why it may pass 60 lines: only declarative tables (none today)."""


# ------------------------------------------------------------------------------------------- the checkers


@functools.cache
def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def python_files(root: Path, dirs: Iterable[str]) -> Iterator[Path]:
    """Every .py file under `root/dir` for each dir (a dir may also name a single file)."""
    for name in dirs:
        top = root / name
        yield from [top] if top.is_file() else sorted(top.rglob("*.py"))


def module_name(root: Path, path: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    """The dotted names an import loads: `from X import y` loads X, and X.y when y is a module."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:
        # A relative import: up from this module's package, `level - 1` steps more.
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, *([base] if base else [])])
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def module_graph(root: Path, packages: Iterable[str]) -> dict[str, set[str]]:
    """Module -> the modules of ours it imports, wherever the import is (function bodies and TYPE_CHECKING
    blocks included: they make loops all the same). Importing a.b.c also runs the packages a and a.b."""
    paths = {module_name(root, path): path for path in python_files(root, packages)}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        own = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 2)}
        edges: set[str] = set()
        for node in ast.walk(_parse(path)):
            for name in _imported(node, module, path.name == "__init__.py"):
                parts = name.split(".")
                edges |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & paths.keys()
        graph[module] = edges - own
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def layer_violations(graph: dict[str, set[str]], allowed: dict[str, set[str]], package: str) -> list[str]:
    """`module -> module` for each import of `package` that reaches a package it may not import."""
    return sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if module.split(".")[0] == package
        for target in targets
        if target.split(".")[0] not in allowed[package] | {package}
    )


def docstring_rule_problems(
    root: Path, package: str, allowed: set[str], packages: Iterable[str]
) -> list[str]:
    """Where `package`'s `__init__` docstring disagrees with `allowed`: no rule stated ("May import ..." or
    "A leaf"), a package named in its "May import" sentence that the table forbids, or one it says "never"
    to that the table allows."""
    doc = ast.get_docstring(_parse(root / package / "__init__.py")) or ""
    if "May import" not in doc and "A leaf" not in doc:
        return [f"{package}: the docstring states no import rule"]
    problems = []
    for sentence in re.findall(r"May import[^.]*", doc):
        # "May import A and B; never C": after "never" (or "but": "every package but cli") come the forbidden.
        allowed_part, *rest = re.split(r"\bnever\b|\bbut\b", sentence, maxsplit=1)
        never_part = rest[0] if rest else ""
        for name in packages:
            named = re.search(rf"\b{name}\b", allowed_part) is not None
            if named and name not in allowed and name != package:
                problems.append(f"{package}: the docstring allows {name}, the table does not")
            if re.search(rf"\b{name}\b", never_part) and name in allowed:
                problems.append(f"{package}: the docstring says never {name}, the table allows it")
    return problems


def ray_imports(root: Path, dirs: Iterable[str]) -> list[str]:
    """`path:line` of each `import ray...` / `from ray... import` in the files under `dirs`."""
    found = []
    for path in python_files(root, dirs):
        for node in ast.walk(_parse(path)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            if any(name == "ray" or name.startswith("ray.") for name in names):
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def long_files(root: Path, dirs: Iterable[str], limit: int = MAX_FILE_LINES) -> list[str]:
    """`path (N lines)` for each file over `limit` lines."""
    counts = ((path, len(path.read_text(encoding="utf-8").splitlines())) for path in python_files(root, dirs))
    return [f"{path.relative_to(root)} ({n} lines)" for path, n in counts if n > limit]


def long_functions(
    root: Path, dirs: Iterable[str], limit: int = MAX_FUNCTION_LINES, allowed: Iterable[str] = ()
) -> list[str]:
    """`path::name (N lines)` for each function or method over `limit` lines, decorators left out."""
    found = []
    for path in python_files(root, dirs):
        for node in ast.walk(_parse(path)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                key = f"{path.relative_to(root).as_posix()}::{node.name}"
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > limit and key not in allowed:
                    found.append(f"{key} ({length} lines)")
    return found


# ------------------------------------------------------------------------------------ the rules, today


def _areas() -> list[str]:
    """Where the size rules apply, one test each: every package, bench, and each folder of tests."""
    tests = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").iterdir() if p.is_dir())
    tests += sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").glob("*.py"))
    return [*PACKAGES, "bench", "overnight.py", *[t for t in tests if not t.endswith("__pycache__")]]


def _known(area: str, reasons: dict[str, str]) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=reasons[area])] if area in reasons else []
    return pytest.param(area, marks=marks, id=area)


def _real_graph() -> dict[str, set[str]]:
    return module_graph(ROOT, PACKAGES)


CYCLES_KNOWN: dict[str, str] = {}  # package -> why a cycle through it is known today (none)


@pytest.mark.parametrize("package", [_known(p, CYCLES_KNOWN) for p in PACKAGES])
def test_no_import_cycle_through_a_package(package: str) -> None:
    cycles = [cycle for cycle in find_cycles(_real_graph()) if any(m.split(".")[0] == package for m in cycle)]
    assert cycles == []


LAYERS_KNOWN: dict[str, str] = {}  # package -> why it imports past its layer today (none)


@pytest.mark.parametrize("package", [_known(p, LAYERS_KNOWN) for p in PACKAGES])
def test_package_imports_only_what_its_docstring_allows(package: str) -> None:
    assert layer_violations(_real_graph(), ALLOWED_IMPORTS, package) == []


def test_ray_is_imported_only_in_its_layer() -> None:
    outside = [name for name in [*PACKAGES, "overnight.py"] if name not in RAY_ALLOWED]
    assert ray_imports(ROOT, outside) == []


LONG_FILES_KNOWN: dict[str, str] = {}  # area -> why a file over 500 lines is known today (none)


@pytest.mark.parametrize("area", [_known(a, LONG_FILES_KNOWN) for a in _areas()])
def test_no_file_over_500_lines(area: str) -> None:
    assert long_files(ROOT, [area]) == []


LONG_FUNCTIONS_KNOWN: dict[str, str] = {}  # area -> why a function over 60 lines is known today (none)


@pytest.mark.parametrize("area", [_known(a, LONG_FUNCTIONS_KNOWN) for a in _areas()])
def test_no_function_over_60_lines(area: str) -> None:
    assert long_functions(ROOT, [area], allowed=LONG_FUNCTIONS_ALLOWED) == []


def test_the_allowlist_names_only_functions_that_exist_and_are_long() -> None:
    # A stale entry would let a new long function of the same name through unseen.
    everything = long_functions(ROOT, _areas())
    for key in LONG_FUNCTIONS_ALLOWED:
        assert any(line.startswith(f"{key} (") for line in everything), key


DOCSTRINGS_KNOWN: dict[str, str] = {}  # package -> why its docstring states no rule today (none)


@pytest.mark.parametrize("package", [_known(p, DOCSTRINGS_KNOWN) for p in PACKAGES])
def test_the_table_is_what_the_package_docstring_says(package: str) -> None:
    assert docstring_rule_problems(ROOT, package, ALLOWED_IMPORTS[package], PACKAGES) == []


def test_every_package_has_an_import_rule() -> None:
    on_disk = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests", "bench"}
    assert on_disk == set(PACKAGES) == set(ALLOWED_IMPORTS)


# ------------------------------------------------------------------ the checkers fail on planted faults


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_a_cycle_hidden_in_a_function_and_type_checking_is_found(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "a/__init__.py": "",
            "a/one.py": "def f():\n    from b.two import g\n",
            "b/__init__.py": "",
            "b/two.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from c import three\n",
            "c/__init__.py": "",
            "c/three.py": "import a.one\n",
            "c/four.py": "from c import three\n",
        },
    )
    graph = module_graph(root, ["a", "b", "c"])
    assert find_cycles(graph) == [["a.one", "b.two", "c.three"]]


def test_a_relative_import_and_a_package_init_close_a_cycle(tmp_path: Path) -> None:
    files = {"p/__init__.py": "from q import x\n", "q/__init__.py": "", "q/x.py": "from ..p import y\n"}
    root = _tree(tmp_path, files)
    graph = module_graph(root, ["p", "q"])
    assert graph["q.x"] == {"p"}
    assert find_cycles(graph) == [["p", "q.x"]]


def test_a_module_importing_its_own_package_is_no_cycle(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"p/__init__.py": "from p.a import f\n", "p/a.py": "import p.b\n", "p/b.py": ""})
    assert find_cycles(module_graph(root, ["p"])) == []


def test_an_import_outside_the_layer_is_named(tmp_path: Path) -> None:
    files = {"low/__init__.py": "", "low/a.py": "import high.b\n", "high/__init__.py": "", "high/b.py": ""}
    root = _tree(tmp_path, files)
    graph = module_graph(root, ["low", "high"])
    allowed = {"low": set(), "high": {"low"}}
    assert layer_violations(graph, allowed, "low") == ["low.a -> high", "low.a -> high.b"]
    assert layer_violations(graph, allowed, "high") == []


def test_ray_imports_are_found_in_every_form(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "p/a.py": "def f():\n    import ray\n",
            "p/b.py": "from ray.exceptions import RayActorError\n",
            "p/c.py": "import ray.train as t\n",
            "p/d.py": "import rayleigh\nfrom raylet import x\n",
        },
    )
    assert ray_imports(root, ["p"]) == ["p/a.py:2", "p/b.py:1", "p/c.py:1"]


def test_a_file_of_501_lines_is_too_long_and_500_is_not(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"p/ok.py": "x = 1\n" * 500, "p/long.py": "x = 1\n" * 501})
    assert long_files(root, ["p"]) == ["p/long.py (501 lines)"]


def test_a_function_of_61_lines_is_too_long_unless_allowed(tmp_path: Path) -> None:
    def function(name: str, lines: int) -> str:
        return f"@decorator\ndef {name}():\n" + "    x = 1\n" * (lines - 1)

    root = _tree(tmp_path, {"p/a.py": function("ok", 60) + function("table", 61) + function("long", 61)})
    assert long_functions(root, ["p"]) == ["p/a.py::table (61 lines)", "p/a.py::long (61 lines)"]
    assert long_functions(root, ["p"], allowed={"p/a.py::table"}) == ["p/a.py::long (61 lines)"]


def test_a_docstring_that_disagrees_with_the_table_is_named(tmp_path: Path) -> None:
    files = {
        "quiet/__init__.py": '"""Nothing about imports."""\n',
        "low/__init__.py": '"""Low.\n\nMay import high; never mid or top."""\n',
        "most/__init__.py": '"""Most.\n\nMay import every package but top."""\n',
        "leaf/__init__.py": '"""A leaf: imports nothing of ours."""\n',
    }
    root = _tree(tmp_path, files)
    names = ["quiet", "low", "leaf", "most", "high", "mid", "top"]
    assert docstring_rule_problems(root, "quiet", set(), names) == [
        "quiet: the docstring states no import rule"
    ]
    assert docstring_rule_problems(root, "low", {"mid"}, names) == [
        "low: the docstring allows high, the table does not",
        "low: the docstring says never mid, the table allows it",
    ]
    assert docstring_rule_problems(root, "low", {"high"}, names) == []
    assert docstring_rule_problems(root, "leaf", set(), names) == []
    assert docstring_rule_problems(root, "most", {"top"}, names) == [
        "most: the docstring says never top, the table allows it"
    ]
