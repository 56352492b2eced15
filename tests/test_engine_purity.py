"""The engine must stay importable and usable without Frappe."""

import ast
import importlib
import pkgutil
import sys
from pathlib import Path

import awm_frappe.engine as engine

ENGINE_DIR = Path(engine.__file__).parent
FORBIDDEN = ("frappe", "erpnext")


def _imports(path: Path) -> set[str]:
    """Fully qualified modules a file imports; relative imports resolved against its package."""
    package = ["awm_frappe", *path.relative_to(ENGINE_DIR.parent).parent.parts]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            names.add(".".join([*base, *([node.module] if node.module else [])]))
    return names


def _leaves_the_engine(name: str) -> bool:
    root = name.split(".")[0]
    return root in FORBIDDEN or (root == "awm_frappe" and not name.startswith("awm_frappe.engine"))


def test_no_engine_module_imports_frappe_or_the_host_layer():
    offenders = {
        str(path.relative_to(ENGINE_DIR)): sorted(filter(_leaves_the_engine, _imports(path)))
        for path in ENGINE_DIR.rglob("*.py")
    }
    assert {file: names for file, names in offenders.items() if names} == {}


def test_relative_imports_are_resolved_so_the_check_above_can_fail(tmp_path):
    sneaky = ENGINE_DIR / "_purity_probe.py"
    sneaky.write_text("from ..host import nightly\nfrom . import rules\n")
    try:
        names = _imports(sneaky)
    finally:
        sneaky.unlink()
    assert "awm_frappe.host" in names and _leaves_the_engine("awm_frappe.host")
    assert "awm_frappe.engine" in names and not _leaves_the_engine("awm_frappe.engine.rules")


def test_every_engine_module_imports_fresh_without_frappe(monkeypatch):
    # Forget what earlier tests imported, then make any `import frappe` raise ImportError.
    for name in [n for n in sys.modules if n == "awm_frappe" or n.startswith("awm_frappe.")]:
        monkeypatch.delitem(sys.modules, name)
    for name in FORBIDDEN:
        monkeypatch.setitem(sys.modules, name, None)
    fresh = importlib.import_module("awm_frappe.engine")
    modules = [m.name for m in pkgutil.walk_packages(fresh.__path__, prefix="awm_frappe.engine.")]
    assert "awm_frappe.engine.pipeline" in modules
    for name in modules:
        importlib.import_module(name)
