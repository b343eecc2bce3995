"""Development tools stay outside the product: no product module imports them."""

from __future__ import annotations

import ast
from pathlib import Path

import studyapp

ROOT = Path(studyapp.__file__).parent
DEVTOOLS = "studyapp.devtools"


def imports_devtools(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from studyapp import devtools` names the package as an imported name.
            modules = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        if any(m == DEVTOOLS or m.startswith(f"{DEVTOOLS}.") for m in modules):
            return True
    return False


def test_no_product_module_imports_the_development_tools():
    product = [p for p in ROOT.rglob("*.py") if ROOT / "devtools" not in p.parents]
    offenders = [str(p.relative_to(ROOT.parent)) for p in product if imports_devtools(p)]
    assert offenders == []


def test_the_check_sees_an_import_of_the_development_tools():
    command = ROOT / "devtools" / "management" / "commands" / "scripted_model_server.py"
    assert imports_devtools(command)
