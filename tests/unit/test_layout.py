"""The package stays a house a newcomer can enter: small modules, each one job."""

from __future__ import annotations

from pathlib import Path

import wxhook

PACKAGE = Path(wxhook.__file__).parent
# The declarative catalogue of event classes: one short class per WeChat event, read as a table.
CATALOGUE = PACKAGE / "core" / "events.py"


def test_no_module_passes_about_400_lines_but_the_event_catalogue():
    sizes = {
        str(path.relative_to(PACKAGE)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
        if path != CATALOGUE
    }
    assert len(sizes) > 40  # the whole package was read
    assert {name: n for name, n in sizes.items() if n > 400} == {}


def test_one_class_per_name_across_the_package():
    import ast

    seen: dict[str, str] = {}
    clashes = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                where = str(path.relative_to(PACKAGE))
                if node.name in seen and seen[node.name] != where:
                    clashes.append((node.name, seen[node.name], where))
                seen.setdefault(node.name, where)
    assert clashes == []
