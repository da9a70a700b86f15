"""Prompt templates, default principles, seed issues and seed examples, loaded from package files."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any


@cache
def load_template(name: str) -> Template:
    """Return the prompt template ``prompts/<name>.md`` with ``$placeholders``."""
    text = resources.files(__package__).joinpath(f"{name}.md").read_text(encoding="utf-8")
    return Template(text)


def render(name: str, **values: Any) -> str:
    """Fill the template ``name``; a missing placeholder is a bug in our code, so it raises."""
    return load_template(name).substitute(**{k: str(v) for k, v in values.items()})


def default_path(filename: str) -> Path:
    """Path of a data file shipped in this package (principles, seeds)."""
    return Path(str(resources.files(__package__).joinpath(filename)))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL file into dicts; raises ``ValueError`` naming the bad line."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number} is not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{path}:{number} is not a JSON object")
            rows.append(row)
    return rows


def delimit(label: str, text: str) -> str:
    """Wrap model-written text as data inside clear delimiters before it enters a prompt."""
    cleaned = text.replace("<<<", "«").replace(">>>", "»")
    return f"<<<{label}\n{cleaned}\n>>>"
