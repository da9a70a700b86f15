"""Notebooks run the embedded model for minutes: they count as end-to-end tests (``-m "not e2e"``)."""

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.e2e)
