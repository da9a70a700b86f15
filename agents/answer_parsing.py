"""Lenient parsing of a model's JSON answer: keep everything usable, count what had to be mended.

A capable model's ordinary answer must not fail for one long field or one broken item: a field
over its cap is trimmed at a sentence boundary, a broken item of a batch is left out while the
others are kept, and an answer cut off at the token limit keeps its complete items. The caller
(``agents.structured``) counts each of these, so a run's statistics show how often they happen.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any, Generic, TypeVar, get_args, get_origin

from pydantic import BaseModel, ValidationError

from agents.schemas import DEFAULT_CAPS, LengthCaps

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)
# A sentence ends at . ! ? or … (closing quotes or brackets may follow) before whitespace; the
# end of a line of text (a list item, a paragraph) counts as one too.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s)|(?<=\S)(?=\n)")
# A trim cuts at the last sentence end if that keeps at least this share of the cap; an earlier
# one would throw away most of the text, so it cuts at a word boundary instead.
MIN_SENTENCE_TRIM_SHARE = 0.5
ELLIPSIS = "…"


@dataclass
class ParsedAnswer(Generic[T]):
    """A parsed answer and what the client mended to accept it whole."""

    value: T
    trimmed_fields: int = 0
    dropped_items: int = 0
    repaired_cut_off: bool = False


def parse_json_answer(text: str | None, schema: type[T], *, caps: LengthCaps = DEFAULT_CAPS) -> T:
    """Parse a model's answer into ``schema``, tolerating code fences and text around the JSON.

    Lenient as ``parse_answer``: over-long fields are trimmed, broken items of a batch left out.

    Raises:
        ValueError: with a short reason when the text holds no valid instance.
    """
    return parse_answer(text, schema, caps=caps).value


def parse_answer(
    text: str | None, schema: type[T], *, caps: LengthCaps = DEFAULT_CAPS, cut_off: bool = False
) -> ParsedAnswer[T]:
    """Parse a model's answer into ``schema`` and keep all of it that is usable.

    A field over its cap in ``caps`` is trimmed at a sentence (else word) boundary; an item of a
    list that does not fit its schema is left out while the others are kept; a ``cut_off`` answer
    (the token limit ended it) keeps its complete items. Each of these is counted.

    Raises:
        ValueError: with a short reason when the text holds no valid instance.
    """
    data, repaired = _json_object(text, cut_off=cut_off)
    trimmed = trim_fields(data, caps.by_field())
    dropped = _drop_broken_items(data, schema)
    try:
        value = schema.model_validate(data)
    except ValidationError as exc:
        raise _violation(exc) from None
    return ParsedAnswer(value, trimmed, dropped, repaired)


def _json_object(text: str | None, *, cut_off: bool) -> tuple[dict[str, Any], bool]:
    """The JSON object in an answer, and whether it had to be closed after a cut-off."""
    if not text or not text.strip():
        raise ValueError("empty answer")
    cleaned = _FENCE.sub("", text.strip())
    start, end = cleaned.find("{"), cleaned.rfind("}")
    if start < 0 or (end <= start and not cut_off):
        raise ValueError("no JSON object in answer")
    candidate = cleaned[start : end + 1]
    if cut_off:
        candidate = close_truncated_json(cleaned[start:]) or ""
        if not candidate:
            raise ValueError("cut off before any complete item")
    try:
        data = json.loads(candidate)
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ValueError("no JSON object in answer")
    return data, cut_off and candidate != cleaned[start : end + 1]


def close_truncated_json(text: str) -> str | None:
    """Close a JSON object cut off mid-way, keeping only its complete parts.

    The text is cut back to the end of its last complete object or array (a whole item; a
    half-written string or item is dropped, never kept cut mid-sentence) and the containers still
    open there are closed. ``None`` if nothing complete is left; a complete object is returned as
    it is.
    """
    closers: list[str] = []
    in_string = escaped = False
    last_complete: tuple[int, str] | None = None
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            closers.append("}" if char == "{" else "]")
        elif char in "}]":
            if not closers or closers.pop() != char:
                return None
            if not closers:
                return text[: index + 1]
            last_complete = (index + 1, "".join(reversed(closers)))
    if last_complete is None:
        return None
    end, closing = last_complete
    return text[:end] + closing


def trim_text(text: str, max_chars: int) -> str:
    """Cut ``text`` to at most ``max_chars``: at its last sentence end, else at a word boundary."""
    if len(text) <= max_chars:
        return text
    ends = [m.end() for m in _SENTENCE_END.finditer(text, 0, max_chars + 1) if m.end() <= max_chars]
    if ends and ends[-1] >= max_chars * MIN_SENTENCE_TRIM_SHARE:
        return text[: ends[-1]]
    head = text[: max_chars - len(ELLIPSIS)]
    if not text[len(head)].isspace() and re.search(r"\s", head):
        head = re.sub(r"\S+$", "", head)  # do not end inside a word
    return head.rstrip(" \t\n,;:-") + ELLIPSIS


def trim_fields(data: Any, caps: dict[str, int]) -> int:
    """Trim, in place, every string under a capped key anywhere in ``data``; return how many."""
    trimmed = 0
    if isinstance(data, dict):
        for key, value in data.items():
            cap = caps.get(key)
            if cap is not None and isinstance(value, str) and len(value.strip()) > cap:
                data[key] = trim_text(value.strip(), cap)
                trimmed += 1
            else:
                trimmed += trim_fields(value, caps)
    elif isinstance(data, list):
        trimmed += sum(trim_fields(value, caps) for value in data)
    return trimmed


@cache
def _item_lists(schema: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """The schema's fields that hold a list of models (a batch's items), with the item model."""
    lists = {}
    for name, info in schema.model_fields.items():
        args = get_args(info.annotation)
        if get_origin(info.annotation) is list and args and _is_model(args[0]):
            lists[name] = args[0]
    return lists


def _is_model(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _drop_broken_items(data: dict[str, Any], schema: type[BaseModel]) -> int:
    """Leave out, in place, list items that do not fit their model; return how many.

    Raises:
        ValueError: when a list had items and none fits (the answer is unusable, not empty).
    """
    dropped = 0
    for name, item_model in _item_lists(schema).items():
        items = data.get(name)
        if not isinstance(items, list):
            continue
        kept, first_error = [], None
        for index, item in enumerate(items):
            try:
                item_model.model_validate(item)
                kept.append(item)
            except ValidationError as exc:
                first_error = first_error or _violation(exc, f"{name}.{index}")
        if first_error is not None and not kept:
            raise first_error
        dropped += len(items) - len(kept)
        data[name] = kept
    return dropped


def _violation(exc: ValidationError, prefix: str = "") -> ValueError:
    """A short ``schema violation at <field>: <message>`` for the first error of ``exc``."""
    first = exc.errors()[0]
    where = ".".join([prefix] * bool(prefix) + [str(part) for part in first["loc"]]) or "answer"
    return ValueError(f"schema violation at {where}: {first['msg']}")
