"""core/ is the bottom of the house: every app may import it, and it imports none of them.

A helper in core/ that needed a domain app would bring that app under everything that uses core,
and the import arrows would run back up (STYLE.md 11, ARCHITECTURE.md "Where code lives"). This
reads the source of every module of core/ (ast, not imports: an import inside a function, or in a
branch no test reaches, counts as much as any other) and fails on an import of one of the
project's own packages. The bridge package (sharehub_bridge) is the one exception: it is below
the platform, its own package with no Django, and the platform's readers and rules come from it.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core"
ALLOWED = {"core", "sharehub_bridge"}
# Calls that import a module named by a string: a way round the rule as good as an import.
IMPORTING_CALLS = {"import_module", "__import__", "import_string"}


def project_packages() -> set[str]:
    """The top-level packages of this repository: every app, the top (sharehub), and the rest."""
    return {
        directory.name
        for directory in ROOT.iterdir()
        if directory.is_dir() and (directory / "__init__.py").exists()
    }


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            if name in IMPORTING_CALLS and node.args and isinstance(node.args[0], ast.Constant):
                found.append((node.lineno, str(node.args[0].value)))
    return found


def test_core_imports_no_app_of_the_project():
    forbidden = project_packages() - ALLOWED
    assert {"sharehub", "agencies", "matching", "protocols"} <= forbidden
    modules = sorted(CORE.rglob("*.py"))
    assert modules, "core/ has no modules to read"
    wrong = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in modules
        for line, module in imported_modules(ast.parse(path.read_text(), filename=str(path)))
        if module.split(".")[0] in forbidden
    ]
    assert not wrong, "core/ must import no app of the project:\n" + "\n".join(wrong)


def test_the_check_sees_an_import_inside_a_function():
    # The rule is only as good as its reader: imports made late, to dodge a cycle, count too.
    tree = ast.parse(
        "def f():\n"
        "    from agencies.models import Agency\n"
        "    import matching.linkage\n"
        "    importlib.import_module('protocols.engine')\n"
    )
    assert [module for _, module in imported_modules(tree)] == [
        "agencies.models",
        "matching.linkage",
        "protocols.engine",
    ]
