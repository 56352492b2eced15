"""Shipped rule packs (JSON files next to this module) and loading a pack by name or from a file.

- ``uk-ladder``: the default for new landlords, a UK escalation ladder with officer hand-offs.
- ``hackney-2020``: the London Borough of Hackney's fifteen-rule classifier (DESIGN.md appendix).
"""

from __future__ import annotations

import json
from pathlib import Path

from awm_frappe.engine.rules import RuleError, RulePack, parse_pack

PACK_DIR = Path(__file__).parent
DEFAULT_PACK = "uk-ladder"


def list_packs() -> list[str]:
    """Names of the shipped packs."""
    return sorted(path.stem for path in PACK_DIR.glob("*.json"))


def pack_path(name: str) -> Path:
    if name not in list_packs():
        raise RuleError(f"no shipped rule pack {name!r} (shipped: {', '.join(list_packs())})")
    return PACK_DIR / f"{name}.json"


def load_raw(name_or_path: str | Path = DEFAULT_PACK) -> dict:
    """A pack's JSON as a dict: a shipped pack by name, or a pack file by path."""
    text = str(name_or_path)
    if text in list_packs():
        path = pack_path(text)
    elif Path(text).is_file():
        path = Path(text)
    else:
        raise RuleError(f"no rule pack {text!r}: give one of {', '.join(list_packs())} or a JSON file")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RuleError(f"{path}: cannot read the rule pack ({error})") from None
    if isinstance(raw, dict) and not raw.get("pack"):
        raw = {**raw, "pack": path.stem}
    return raw


def load_pack(name_or_path: str | Path = DEFAULT_PACK) -> RulePack:
    """A shipped pack by name, or a pack JSON file by path. Bad rules are in ``pack.problems``."""
    return parse_pack(load_raw(name_or_path))
