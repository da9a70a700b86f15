"""The product packages type-check (mypy, configured in pyproject.toml) and keep their layering:
lower layers never import ``graph``, product code never imports a test double."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOWER_LAYERS = ("agents", "memory", "prompts")
PRODUCT = ("graph", *LOWER_LAYERS)


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (``TYPE_CHECKING`` blocks included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", LOWER_LAYERS)
def test_lower_layers_never_import_graph(package):
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in imported_modules(path) if m.split(".")[0] == "graph"
        )
        for path in (ROOT / package).rglob("*.py")
    }
    assert not {k: v for k, v in offenders.items() if v}


@pytest.mark.parametrize("package", PRODUCT)
def test_product_code_never_imports_a_test_double(package):
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / package).rglob("*.py")
        if any(m.split(".")[0] == "tests" for m in imported_modules(path))
    ]
    assert not offenders


def test_mypy_passes_on_the_product_packages():
    done = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
