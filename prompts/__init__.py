"""Prompt templates, default principles, seed issues and seed examples, loaded from package files."""

from __future__ import annotations

import csv
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


def read_records(path: Path) -> list[dict[str, Any]]:
    """Read seed rows from JSONL, CSV (with a header row) or a Hugging Face ``datasets`` folder.

    Raises ``ValueError`` naming the file (and line) that cannot be read.
    """
    path = Path(path)
    if path.is_dir():
        try:
            from datasets import load_from_disk

            dataset = load_from_disk(str(path))
        except Exception as exc:  # datasets raises many kinds; all mean "not a dataset folder"
            raise ValueError(
                f"{path} is not a Hugging Face dataset folder ({type(exc).__name__})"
            ) from None
        if hasattr(dataset, "keys"):  # a DatasetDict: take its first split
            dataset = dataset[next(iter(dataset.keys()))]
        return [dict(row) for row in dataset]
    if path.suffix.lower() == ".csv":
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        return [{k: v for k, v in row.items() if k is not None} for row in rows]
    return read_jsonl(path)


def delimit(label: str, text: str) -> str:
    """Wrap model-written text as data inside clear delimiters before it enters a prompt."""
    cleaned = text.replace("<<<", "«").replace(">>>", "»")
    return f"<<<{label}\n{cleaned}\n>>>"
