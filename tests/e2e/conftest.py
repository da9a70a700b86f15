"""Every test under ``tests/e2e`` is an end-to-end test: marked ``e2e`` by location, so that
``python -m pytest -m "not e2e"`` runs none of them (a new file cannot forget the marker)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.e2e)
