"""The engine must stay importable and usable without Frappe."""

import ast
import importlib
import pkgutil
import sys
from pathlib import Path

import awm_frappe.engine as engine

ENGINE_DIR = Path(engine.__file__).parent


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_no_engine_module_imports_frappe_or_erpnext():
    offenders = {
        str(path.relative_to(ENGINE_DIR)): roots & {"frappe", "erpnext"}
        for path in ENGINE_DIR.rglob("*.py")
        if roots_hit(roots := _imported_roots(path))
    }
    assert offenders == {}


def roots_hit(roots: set[str]) -> bool:
    return bool(roots & {"frappe", "erpnext"})


def test_every_engine_module_imports_without_frappe(monkeypatch):
    # A None entry in sys.modules makes any `import frappe` raise ImportError.
    monkeypatch.setitem(sys.modules, "frappe", None)
    for module in pkgutil.walk_packages(engine.__path__, prefix="awm_frappe.engine."):
        importlib.import_module(module.name)
