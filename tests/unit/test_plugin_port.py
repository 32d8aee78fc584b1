"""The plugin port is the only seam: plugins import nothing of the core but ``connector.plugins``,
and the core imports no plugin. Type-only imports count too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PORT = "connector.plugins"
PLUGIN_SOURCES = sorted((ROOT / "plugins").rglob("*.py")) + [ROOT / "tests" / "plugins" / "fakedesk.py"]
CORE_SOURCES = sorted((ROOT / "connector").rglob("*.py"))
PLUGIN_PACKAGES = sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "__init__.py").exists())


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports, anywhere in it (functions and TYPE_CHECKING blocks included)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names
                      if node.module == "connector"]
    return found


def is_core(module: str) -> bool:
    return module == "connector" or module.startswith("connector.")


def in_port(module: str) -> bool:
    return module == PORT or module.startswith(PORT + ".")


def test_plugins_import_only_the_port():
    assert len(PLUGIN_SOURCES) > 10, "the plugins' sources were found"
    reaching = [f"{path.relative_to(ROOT)}:{line}: {module}"
                for path in PLUGIN_SOURCES for line, module in imported_modules(path)
                if is_core(module) and not in_port(module) and module != "connector"]
    assert reaching == []


def test_plugins_take_no_request_scope_from_flask_g():
    uses = [f"{path.relative_to(ROOT)}:{line}" for path in PLUGIN_SOURCES for line, module in imported_modules(path)
            if module == "flask" and "import g" in path.read_text().splitlines()[line - 1].replace(",", " ")]
    assert uses == []


def test_the_core_imports_no_plugin():
    assert PLUGIN_PACKAGES, "plugin packages were found"
    reaching = [f"{path.relative_to(ROOT)}:{line}: {module}"
                for path in CORE_SOURCES for line, module in imported_modules(path)
                if module.split(".")[0] in PLUGIN_PACKAGES]
    assert reaching == []


def test_the_port_imports_nothing_else_of_the_core():
    """So a plugin importing the port never pulls in storage, Flask views or the worker."""
    port = sorted((ROOT / "connector" / "plugins").rglob("*.py"))
    reaching = [f"{path.relative_to(ROOT)}:{line}: {module}" for path in port
                for line, module in imported_modules(path) if is_core(module) and not in_port(module)]
    assert reaching == []


def test_the_checker_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import typing as t\nif t.TYPE_CHECKING:\n    from connector.app import Connector\n"
                   "def f():\n    from connector.storage import models\n")
    assert [m for _, m in imported_modules(bad) if is_core(m) and not in_port(m)] == [
        "connector.app", "connector.storage"]
