"""Structured output that never crashes the run: ask for JSON, parse tolerantly, retry, then give up."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from pydantic import BaseModel

from agents.answer_parsing import ParsedAnswer, parse_answer, parse_json_answer
from agents.cache import CACHE_HIT
from agents.errors import UserError
from agents.refusals import is_refusal
from agents.schemas import DEFAULT_CAPS, LengthCaps, server_caps_for
from agents.telemetry import CallTelemetry

T = TypeVar("T", bound=BaseModel)
V = TypeVar("V")

CUT_OFF_ERROR = "answer cut off at the token limit"

__all__ = [
    "CUT_OFF_ERROR",
    "StructuredResult",
    "Usage",
    "invoke_structured",
    "invoke_structured_many",
    "parse_json_answer",
    "response_format_for",
    "server_caps_of",
]


@dataclass
class Usage:
    """LLM calls and tokens spent, per role; added up across calls."""

    calls: int = 0
    cached: int = 0
    """Answers the run's cache gave without a call (not in ``calls`` or the tokens)."""
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    """Summed latency of the calls (not wall time: concurrent calls overlap)."""
    failures: dict[str, int] = field(default_factory=dict)
    """Failed attempts by kind: transport, cut_off, empty_answer, malformed_json, schema_violation."""
    repairs: dict[str, int] = field(default_factory=dict)
    """What the client mended in usable answers: trimmed_fields (a field over its cap, trimmed),
    dropped_items (a broken item left out of a batch), repaired_cut_offs (a cut-off answer whose
    complete items were kept)."""

    def fail(self, kind: str, seconds: float) -> None:
        """Count one call that produced no usable answer."""
        self.calls += 1
        self.seconds += seconds
        self.failures[kind] = self.failures.get(kind, 0) + 1

    def as_counts(self) -> dict[str, float]:
        """Flat counters for the run state (failures as ``failed_<kind>``, repairs by kind)."""
        counts: dict[str, float] = {
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "call_seconds": round(self.seconds, 3),
        }
        if self.cached:
            counts["cached_answers"] = self.cached
        counts.update({f"failed_{kind}": n for kind, n in self.failures.items()})
        counts.update(self.repairs)
        return counts

    def count_repairs(self, parsed: ParsedAnswer) -> None:
        """Count what the client mended in a parsed answer (nothing is counted at zero)."""
        for kind, n in (
            ("trimmed_fields", parsed.trimmed_fields),
            ("dropped_items", parsed.dropped_items),
            ("repaired_cut_offs", int(parsed.repaired_cut_off)),
        ):
            if n:
                self.repairs[kind] = self.repairs.get(kind, 0) + n

    def add(self, message: AIMessage | None) -> None:
        """Count one call and the tokens the model reported for it; an answer from the run's
        cache (``agents.cache``) is counted as ``cached``, not as a call."""
        if (getattr(message, "response_metadata", None) or {}).get(CACHE_HIT):
            self.cached += 1
            return
        self.calls += 1
        usage = getattr(message, "usage_metadata", None) or {}
        self.input_tokens += int(usage.get("input_tokens", 0) or 0)
        self.output_tokens += int(usage.get("output_tokens", 0) or 0)

    def merge(self, other: Usage) -> None:
        """Add another usage record into this one."""
        self.calls += other.calls
        self.cached += other.cached
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.seconds += other.seconds
        for kind, n in other.failures.items():
            self.failures[kind] = self.failures.get(kind, 0) + n
        for kind, n in other.repairs.items():
            self.repairs[kind] = self.repairs.get(kind, 0) + n


@dataclass
class StructuredResult(Generic[V]):
    """The parsed value, or the reason no attempt produced one, and what it cost."""

    value: V | None
    error: str | None = None
    usage: Usage = field(default_factory=Usage)
    refused: bool = False
    """The model's last answer declined the task instead of doing it (``refusal_of``)."""


def response_format_for(schema: type[BaseModel], caps: LengthCaps | None = None) -> dict:
    """The OpenAI ``response_format`` that constrains a server's output to ``schema``.

    ``caps``, for a server that must enforce them, become ``maxLength`` on the capped fields;
    without them the schema carries no length limit.
    """
    json_schema = schema.model_json_schema()
    if caps is not None:
        _add_max_lengths(json_schema, caps.by_field())
    return {"type": "json_schema", "json_schema": {"name": schema.__name__, "schema": json_schema}}


def _add_max_lengths(node: Any, caps: dict[str, int]) -> None:
    """Set ``maxLength`` on every string property named in ``caps``, anywhere in a JSON schema."""
    if isinstance(node, dict):
        for name, prop in (node.get("properties") or {}).items():
            if name in caps and isinstance(prop, dict) and prop.get("type") == "string":
                prop["maxLength"] = caps[name]
        for value in node.values():
            _add_max_lengths(value, caps)
    elif isinstance(node, list):
        for value in node:
            _add_max_lengths(value, caps)


def server_caps_of(model: BaseChatModel) -> LengthCaps | None:
    """The caps ``model``'s server must enforce (by its model name); ``None`` for capable models."""
    return server_caps_for(getattr(model, "model_name", None))


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


def refusal_of(message: AIMessage, text: str) -> str | None:
    """The refusal an answer holds instead of JSON, in the forms servers use, or ``None``.

    OpenAI sends a refusal in the message's own ``refusal`` field with no content (LangChain keeps
    it in ``additional_kwargs``); other servers send the model's plain-text refusal as content.
    """
    refusal = (getattr(message, "additional_kwargs", None) or {}).get("refusal")
    if refusal and not text.strip():
        return str(refusal)
    if "{" not in text and is_refusal(text):
        return text.strip()
    return None


def invoke_structured(
    model: BaseChatModel,
    messages: Sequence[BaseMessage],
    schema: type[T],
    *,
    attempts: int = 2,
    seed: int | None = None,
    server_schema: type[BaseModel] | None = None,
    telemetry: CallTelemetry | None = None,
    caps: LengthCaps = DEFAULT_CAPS,
    refuses: Callable[[T], bool] | None = None,
    purpose: BaseMessage | None = None,
) -> StructuredResult[T]:
    """Ask ``model`` for an instance of ``schema``; retry malformed answers, never raise on them.

    ``server_schema`` (default ``schema``) is what the server is asked to follow; a stricter one
    there with a lenient ``schema`` here lets the client repair what a server did not enforce.
    The answer is parsed leniently (``parse_answer``): fields over ``caps`` are trimmed, broken
    items left out, a cut-off answer keeps its complete items. The server gets the caps as
    ``maxLength`` only if its model needs them (``server_caps_of``: the embedded model).

    A refusal (``refusal_of``, or a parsed answer that ``refuses`` says declines) counts as a
    failed attempt of kind ``refused``; with a ``purpose`` message, the first one earns one extra
    attempt that restates it after the refusal, and ``refused`` tells whether the last answer was
    still one.

    The client retries 429/5xx/timeouts itself (with backoff, honouring ``Retry-After``). What
    still fails counts as a failed attempt; a refused key or unknown model raise ``UserError``, and
    so does ``telemetry`` (the run's) once too many calls in a row have failed.
    """
    telemetry = telemetry or CallTelemetry()
    usage = Usage()
    error = "no attempt made"
    response_format = response_format_for(server_schema or schema, server_caps_of(model))
    conversation, refused, limit, attempt = list(messages), False, max(1, attempts), -1
    while (attempt := attempt + 1) < limit:
        kwargs: dict = {"response_format": response_format}
        if seed is not None:
            kwargs["seed"] = seed + attempt * 7919
        started = time.monotonic()
        try:
            message = model.invoke(conversation, **kwargs)
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
        metadata = getattr(message, "response_metadata", None) or {}
        cut_off = metadata.get("finish_reason") == "length"
        text = _text_of(message)
        refusal = refusal_of(message, text)
        refused = refusal is not None
        if not refused:
            try:
                parsed = parse_answer(text, schema, caps=caps, cut_off=cut_off)
            except ValueError as exc:
                error = CUT_OFF_ERROR if cut_off else str(exc)
                kind = "cut_off" if cut_off else _failure_kind(error)
                usage.failures[kind] = usage.failures.get(kind, 0) + 1
                continue
            if refuses is None or not refuses(parsed.value):
                usage.count_repairs(parsed)
                return StructuredResult(parsed.value, None, usage)
            refused, refusal = True, text
        usage.failures["refused"] = usage.failures.get("refused", 0) + 1
        error = f"refused: {(refusal or '')[:160]}"
        if purpose is not None and limit == max(1, attempts):  # once: restate the purpose
            conversation += [AIMessage(text or refusal or ""), purpose]
            limit += 1
    return StructuredResult(None, error, usage, refused)


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
