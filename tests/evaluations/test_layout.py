"""The evaluations package keeps its layers: the science knows no runtime, the runtime's
primitives know no kind, and kinds never reach for the services or the runner."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import studyapp.evaluations

ROOT = Path(studyapp.evaluations.__file__).parent
PACKAGE = "studyapp.evaluations"


def evaluations_imports(path: Path) -> set[str]:
    """The studyapp.evaluations modules a file imports (at any depth, lazily too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            found |= {node.module, *names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {name for name in found if name.startswith(f"{PACKAGE}.")}


def reaches(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        name
        for name in evaluations_imports(path)
        if any(name == f"{PACKAGE}.{f}" or name.startswith(f"{PACKAGE}.{f}.") for f in forbidden)
    )


RUNTIME_PRIMITIVES = ["engine.py", "context.py", "slots.py", "chunks.py"]
LAYERS = [
    # (files, what they may not import)
    (
        sorted((ROOT / "science").glob("*.py")),
        ("kinds", "runtime", "services", "selectors", "views", "tasks", "models"),
    ),
    (
        [ROOT / "runtime" / name for name in RUNTIME_PRIMITIVES],
        ("kinds", "science", "services", "selectors", "views", "runtime.runner", "runtime.sweep"),
    ),
    (
        sorted((ROOT / "kinds").glob("*.py")),
        ("services", "views", "forms", "tasks", "runtime.runner", "runtime.sweep"),
    ),
]


@pytest.mark.parametrize(
    ("path", "forbidden"),
    [(path, forbidden) for paths, forbidden in LAYERS for path in paths],
    ids=lambda value: value.name if isinstance(value, Path) else "",
)
def test_each_layer_imports_only_what_lies_below_it(path, forbidden):
    assert reaches(path, forbidden) == []


def test_the_check_sees_a_forbidden_import():
    runner = ROOT / "runtime" / "runner.py"
    assert reaches(runner, ("kinds",)) == [
        "studyapp.evaluations.kinds",
        "studyapp.evaluations.kinds.base",
        "studyapp.evaluations.kinds.base.Kind",
        "studyapp.evaluations.kinds.get_kind",
    ]
