"""Structured output that never crashes the run: ask for JSON, parse tolerantly, retry, then give up."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel, ValidationError

from agents.errors import UserError
from agents.telemetry import CallTelemetry

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)


@dataclass
class Usage:
    """LLM calls and tokens spent, per role; added up across calls."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    """Summed latency of the calls (not wall time: concurrent calls overlap)."""
    failures: dict[str, int] = field(default_factory=dict)
    """Failed attempts by kind: transport, cut_off, empty_answer, malformed_json, schema_violation."""

    def fail(self, kind: str, seconds: float) -> None:
        """Count one call that produced no usable answer."""
        self.calls += 1
        self.seconds += seconds
        self.failures[kind] = self.failures.get(kind, 0) + 1

    def as_counts(self) -> dict[str, float]:
        """Flat counters for the run state (failures as ``failed_<kind>``)."""
        counts: dict[str, float] = {
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "call_seconds": round(self.seconds, 3),
        }
        counts.update({f"failed_{kind}": n for kind, n in self.failures.items()})
        return counts

    def add(self, message: AIMessage | None) -> None:
        """Count one call and the tokens the model reported for it."""
        self.calls += 1
        usage = getattr(message, "usage_metadata", None) or {}
        self.input_tokens += int(usage.get("input_tokens", 0) or 0)
        self.output_tokens += int(usage.get("output_tokens", 0) or 0)

    def merge(self, other: Usage) -> None:
        """Add another usage record into this one."""
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.seconds += other.seconds
        for kind, n in other.failures.items():
            self.failures[kind] = self.failures.get(kind, 0) + n


@dataclass
class StructuredResult(Generic[T]):
    """The parsed value, or the reason no attempt produced one, and what it cost."""

    value: T | None
    error: str | None = None
    usage: Usage = field(default_factory=Usage)


def parse_json_answer(text: str | None, schema: type[T]) -> T:
    """Parse a model's answer into ``schema``, tolerating code fences and text around the JSON.

    Raises:
        ValueError: with a short reason when the text holds no valid instance.
    """
    if not text or not text.strip():
        raise ValueError("empty answer")
    cleaned = _FENCE.sub("", text.strip())
    start, end = cleaned.find("{"), cleaned.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in answer")
    try:
        data = json.loads(cleaned[start : end + 1])
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON ({exc.msg})") from None
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "answer"
        raise ValueError(f"schema violation at {where}: {first['msg']}") from None


def response_format_for(schema: type[BaseModel]) -> dict:
    """The OpenAI ``response_format`` that constrains a server's output to ``schema``."""
    return {
        "type": "json_schema",
        "json_schema": {"name": schema.__name__, "schema": schema.model_json_schema()},
    }


def _failure_kind(reason: str) -> str:
    for prefix, kind in (
        ("empty", "empty_answer"),
        ("no JSON", "malformed_json"),
        ("malformed", "malformed_json"),
        ("schema", "schema_violation"),
    ):
        if reason.startswith(prefix):
            return kind
    return "other"


def invoke_structured(
    model: BaseChatModel,
    messages: Sequence[BaseMessage],
    schema: type[T],
    *,
    attempts: int = 2,
    seed: int | None = None,
    server_schema: type[BaseModel] | None = None,
    telemetry: CallTelemetry | None = None,
) -> StructuredResult[T]:
    """Ask ``model`` for an instance of ``schema``; retry malformed answers, never raise on them.

    ``server_schema`` (default ``schema``) is what the server is asked to follow; a stricter one
    there with a lenient ``schema`` here lets the client repair what a server did not enforce.

    The client retries 429/5xx/timeouts itself (with backoff, honouring ``Retry-After``). What
    still fails counts as a failed attempt; a refused key or unknown model raise ``UserError``, and
    so does ``telemetry`` (the run's) once too many calls in a row have failed.
    """
    telemetry = telemetry or CallTelemetry()
    usage = Usage()
    error = "no attempt made"
    for attempt in range(max(1, attempts)):
        kwargs: dict = {"response_format": response_format_for(server_schema or schema)}
        if seed is not None:
            kwargs["seed"] = seed + attempt * 7919
        started = time.monotonic()
        try:
            message = model.invoke(list(messages), **kwargs)
        except openai.AuthenticationError as exc:
            raise UserError(f"the model server refused the API key ({exc.status_code})") from None
        except openai.NotFoundError as exc:
            raise UserError(f"the model server does not know this model or path: {exc}") from None
        except (openai.APIConnectionError, openai.APITimeoutError, openai.APIStatusError) as exc:
            usage.fail("transport", time.monotonic() - started)
            error = f"{type(exc).__name__}: {str(exc)[:120]}"
            telemetry.record_call(False, error)
            continue
        telemetry.record_call(True)
        usage.add(message)
        usage.seconds += time.monotonic() - started
        if (getattr(message, "response_metadata", None) or {}).get("finish_reason") == "length":
            error = "answer cut off at the token limit"
            usage.failures["cut_off"] = usage.failures.get("cut_off", 0) + 1
            continue
        try:
            return StructuredResult(parse_json_answer(_text_of(message), schema), None, usage)
        except ValueError as exc:
            error = str(exc)
            usage.failures[_failure_kind(error)] = usage.failures.get(_failure_kind(error), 0) + 1
    return StructuredResult(None, error, usage)


def invoke_structured_many(
    model: BaseChatModel,
    conversations: Sequence[Sequence[BaseMessage]],
    schema: type[T],
    *,
    concurrency: int,
    attempts: int = 2,
    seeds: Sequence[int | None] | None = None,
    telemetry: CallTelemetry | None = None,
) -> list[StructuredResult[T]]:
    """Run ``invoke_structured`` over many conversations concurrently, results in input order."""
    seeds = list(seeds) if seeds is not None else [None] * len(conversations)
    if not conversations:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(conversations)))) as pool:
        futures = [
            pool.submit(
                invoke_structured,
                model,
                conv,
                schema,
                attempts=attempts,
                seed=seed,
                telemetry=telemetry,
            )
            for conv, seed in zip(conversations, seeds, strict=True)
        ]
        return [future.result() for future in futures]


def _text_of(message: AIMessage) -> str:
    content = message.content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") if isinstance(part, dict) else str(part) for part in content
        )
    return str(content or "")
