"""A reference benchmark of prompts with a category column, read from JSONL, CSV or a Hugging Face
``datasets`` folder (``Dataset.save_to_disk``), for ``python -m graph.report --reference FILE``.

Every problem with the file (missing, empty, malformed, unknown column, a row without text or
category) is a ``UserError``: one clear line naming the file, and the row or the columns there are.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.errors import UserError

DEFAULT_TEXT_COLUMN = "prompt"
DEFAULT_LABEL_COLUMN = "category"
JSONL_SUFFIXES = (".jsonl", ".ndjson")
CSV_SUFFIXES = (".csv",)
FORMATS = "JSONL (.jsonl), CSV (.csv) or a Hugging Face datasets folder (save_to_disk)"
# Column names shown in an error, at most.
SHOWN_COLUMNS = 20
# Label values a category may have (a list or an object is no category).
LABEL_TYPES = (str, int, float, bool)


@dataclass(frozen=True)
class ReferenceSet:
    """The reference prompts with their categories, in file order."""

    source: str
    text_column: str
    label_column: str
    texts: tuple[str, ...]
    labels: tuple[str, ...]


def load_reference(
    path: Path | str,
    text_column: str = DEFAULT_TEXT_COLUMN,
    label_column: str = DEFAULT_LABEL_COLUMN,
) -> ReferenceSet:
    """Read a reference benchmark's text and category columns; ``UserError`` if unusable."""
    path = Path(path)
    if path.is_dir():
        columns, rows = _dataset_folder(path)
    elif not path.exists():
        raise UserError(f"reference file not found: {path}")
    elif path.suffix.lower() in JSONL_SUFFIXES:
        columns, rows = _jsonl(path)
    elif path.suffix.lower() in CSV_SUFFIXES:
        columns, rows = _csv(path)
    else:
        raise UserError(
            f"reference {path}: unknown format (suffix {path.suffix!r}); give {FORMATS}"
        )
    if not rows:
        raise UserError(f"reference {path} is empty: no prompts to measure coverage of")
    for flag, column in (("--reference-text", text_column), ("--reference-label", label_column)):
        if column not in columns:
            shown = ", ".join(columns[:SHOWN_COLUMNS]) + (
                ", ..." if len(columns) > SHOWN_COLUMNS else ""
            )
            raise UserError(f"{flag} {column!r} is not a column of {path}; its columns: {shown}")
    texts, labels = [], []
    for where, row in rows:
        text, label = row.get(text_column), row.get(label_column)
        if not isinstance(text, str) or not text.strip():
            raise UserError(f"reference {where} has no text in column {text_column!r}")
        if not isinstance(label, LABEL_TYPES) or not str(label).strip():
            raise UserError(f"reference {where} has no category in column {label_column!r}")
        texts.append(text)
        labels.append(str(label).strip())
    return ReferenceSet(str(path), text_column, label_column, tuple(texts), tuple(labels))


# Each reader returns the column names (in first-seen order) and (where, row) pairs.
Rows = tuple[list[str], list[tuple[str, dict[str, Any]]]]


def _columns(rows: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """Every key of any row, in first-seen order."""
    return list(dict.fromkeys(key for _, row in rows for key in row))


def _read_text(path: Path) -> str:
    """A file's text as UTF-8; ``UserError`` if it is not."""
    try:
        return path.read_text(encoding="utf-8-sig")  # a byte-order mark is common in exports
    except UnicodeDecodeError as exc:
        raise UserError(
            f"reference {path} is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    except OSError as exc:
        raise UserError(f"reference {path} cannot be read: {exc.strerror}") from None


def _jsonl(path: Path) -> Rows:
    """One JSON object per non-blank line."""
    rows = []
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"reference {path}:{number} is not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise UserError(f"reference {path}:{number} is not a JSON object")
        rows.append((f"{path}:{number}", row))
    return _columns(rows), rows


def _csv(path: Path) -> Rows:
    """A header line and one row per line (quoted fields may span lines)."""
    text = _read_text(path)
    try:
        reader = csv.DictReader(text.splitlines(keepends=True), strict=True)
        columns = [name for name in reader.fieldnames or [] if name]
        rows = [(f"{path} row {reader.line_num}", row) for row in _csv_rows(reader, path)]
    except csv.Error as exc:
        raise UserError(f"reference {path} is not readable CSV: {exc}") from None
    return columns, rows


def _csv_rows(reader: csv.DictReader[str], path: Path) -> Iterator[dict[str, Any]]:
    """The reader's rows; one with more fields than the header is malformed."""
    for row in reader:
        if None in row:  # DictReader puts surplus fields under the key None
            raise UserError(
                f"reference {path} row {reader.line_num} has more fields than the header"
            )
        yield row


def _dataset_folder(path: Path) -> Rows:
    """A ``datasets`` folder: one ``Dataset``, or a ``DatasetDict`` whose splits are read in turn."""
    import datasets

    datasets.disable_progress_bars()
    try:
        loaded = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(f"reference {path} is a folder but not a datasets folder ({exc})") from None
    splits = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [("", loaded)]
    columns: list[str] = []
    rows = []
    for split, dataset in splits:
        columns += [name for name in dataset.column_names if name not in columns]
        where = f"{path}{' split ' + split if split else ''} row"
        rows += [(f"{where} {index + 1}", row) for index, row in enumerate(dataset)]
    return columns, rows
