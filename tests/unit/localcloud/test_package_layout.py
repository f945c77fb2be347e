"""The local cloud's layout holds: child-process programs import only the standard library, no module but the
package's __init__ imports cloud.py, the package has no import cycle, and no module grows past about 600 lines."""

import ast
import re
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "cd4ml" / "localcloud"
MAX_LINES = 600


def modules() -> dict[str, Path]:
    """Dotted name below cd4ml.localcloud (`` for the package itself) -> file."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def module_level_imports(name: str, path: Path) -> set[str]:
    """Modules of the package imported when `name` is imported: top-level statements only, TYPE_CHECKING blocks
    and imports inside functions left out (they run later, not at import)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name.split(".") if path.name != "__init__.py" else [*name.split("."), "_"]
    package = [p for p in package[:-1] if p]
    imported: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for statement in [node] if not isinstance(node, ast.If) else node.body:
            if isinstance(statement, ast.ImportFrom):
                if statement.level:
                    base = package[: len(package) - statement.level + 1]
                    target = ".".join([*base, *(statement.module or "").split(".")]).strip(".")
                elif (statement.module or "").startswith("cd4ml.localcloud"):
                    target = statement.module.removeprefix("cd4ml.localcloud").strip(".")  # type: ignore[union-attr]
                else:
                    continue
                imported.add(target)
                imported.update(f"{target}.{alias.name}".strip(".") for alias in statement.names)
    return imported


def test_child_process_programs_import_only_the_standard_library() -> None:
    """At import, that is: a function may import what the user's model needs (joblib for model.joblib), as the
    framework image provides it."""
    programs = sorted((PACKAGE / "child_process").glob("*.py"))
    assert {p.name for p in programs} >= {"lambda_bootstrap.py", "sagemaker_container.py", "sagemaker_serving.py"}
    for program in programs:
        tree = ast.parse(program.read_text(encoding="utf-8"))
        top_level = [n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.ClassDef))]
        for node in (inner for statement in top_level for inner in ast.walk(statement)):
            if isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{program.name}: relative import (it runs by path, not in the package)"
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for full in names:
                top = full.split(".")[0]
                assert top in sys.stdlib_module_names or top == "__future__", f"{program.name} imports {full}"


def test_only_the_package_init_imports_cloud() -> None:
    for name, path in modules().items():
        if name in ("", "cloud"):
            continue
        assert "cloud" not in module_level_imports(name, path), f"{name} imports cloud.py"
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"cd4ml\.localcloud\.cloud\b", text), f"{name} imports cloud.py"
        # `from .cloud import` or `from ..cloud import`, not a sibling whose name starts so (cloudwatch_alarms)
        assert not re.search(r"from \.+cloud\s+import\b", text), f"{name} imports cloud.py"


def test_the_package_has_no_import_cycle() -> None:
    known = modules()
    graph = {
        name: {t for t in module_level_imports(name, path) if t in known and t != name} for name, path in known.items()
    }
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == 2:
            return
        assert state.get(node) != 1, "import cycle: " + " -> ".join([*trail, node])
        state[node] = 1
        for target in sorted(graph[node]):
            # importing a submodule imports its package first; a package's own __init__ is not a cycle with it
            if not node.startswith(f"{target}.") and target != "":
                visit(target, [*trail, node])
        state[node] = 2

    for name in sorted(graph):
        visit(name, [])


def test_no_module_is_over_about_600_lines() -> None:
    sizes = {name or "__init__": len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules().items()}
    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}
