"""Responder: writes the assistant's reply to each generated request, for either kind.

The paper generated responses with a separate aligned model, not with the prompt writer; here the
responder is its own role (``--responder-model``). One call answers a generator branch's requests
together: the principles in its system prompt are paid for once per branch, not once per item.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from agents.critic import response_problem
from agents.generator import caps_for, length_limits
from agents.schemas import DEFAULT_CAPS, Candidate, Example, LengthCaps, ResponseBatch
from agents.structured import StructuredResult, invoke_structured
from agents.telemetry import CallTelemetry
from prompts import delimit, render


def example_turns(examples: Sequence[Example]) -> list[BaseMessage]:
    """Stored items as earlier turns: a numbered request, then its reply as JSON.

    Small models imitate a previous answer far better than they follow a description of one
    (the embedded 135M model, shown none, mostly repeated the request back).
    """
    turns: list[BaseMessage] = []
    for ex in examples:
        ask = render(
            "responder_user", count=1, requests=delimit(f"request 1 ({ex.kind})", ex.prompt)
        )
        reply = {"responses": [{"number": 1, "response": ex.response}]}
        turns += [HumanMessage(ask), AIMessage(json.dumps(reply, ensure_ascii=False))]
    return turns


# How a repair request tells the responder what its first reply did wrong, by response rule.
REPAIR_NOTES = {
    "over_refusal": "your reply refused a request that is safe to answer",
    "response_complies": "your reply helped with the harmful part",
    "response_not_safe": "your reply did not decline the harmful part",
}


def repair(
    model: BaseChatModel,
    candidates: Sequence[Candidate],
    *,
    principles: str,
    attempts: int = 2,
    seed: int | None = None,
    telemetry: CallTelemetry | None = None,
    caps: LengthCaps = DEFAULT_CAPS,
) -> StructuredResult[list[Candidate]]:
    """The candidates, where a response breaks a response rule rewritten in one call for all
    of them; the first reply is kept as ``failed_response`` (the rejected side of a preference
    pair). A rewrite that still breaks a rule leaves the candidate as it was (the critic rejects
    it). ``usage`` is empty when every response passed."""
    failing = {
        c.id: problem
        for c in candidates
        if (problem := response_problem(c.kind, c.response)) in REPAIR_NOTES
    }
    if not failing:
        return StructuredResult(list(candidates), None)
    todo = [c for c in candidates if c.id in failing]
    result, rewritten = _ask(
        model,
        todo,
        [f"{c.kind}; {REPAIR_NOTES[failing[c.id]]}" for c in todo],
        template="responder_repair",
        principles=principles,
        attempts=attempts,
        seed=seed,
        telemetry=telemetry,
        caps=caps,
    )
    fixed = {}
    for number, c in enumerate(todo, start=1):
        text = rewritten.get(number, "")
        if text and response_problem(c.kind, text) is None:
            fixed[c.id] = c.model_copy(
                update={
                    "response": text,
                    "failed_response": c.response,
                    "failed_reason": failing[c.id],
                }
            )
    return StructuredResult([fixed.get(c.id, c) for c in candidates], result.error, result.usage)


def _ask(
    model: BaseChatModel,
    candidates: Sequence[Candidate],
    labels: Sequence[str],
    *,
    template: str,
    principles: str,
    turns: Sequence[BaseMessage] = (),
    attempts: int,
    seed: int | None,
    telemetry: CallTelemetry | None,
    caps: LengthCaps,
) -> tuple[StructuredResult[ResponseBatch], dict[int, str]]:
    """One responder call about numbered requests (each labelled, e.g. with its kind); the
    answer and its replies by request number."""
    caps = caps_for(model, caps)
    requests = "\n".join(
        delimit(f"request {number} ({label})", c.prompt)
        for number, (c, label) in enumerate(zip(candidates, labels, strict=True), start=1)
    )
    messages = [
        SystemMessage(render("responder_system", principles=principles, **length_limits(caps))),
        *turns,
        HumanMessage(render(template, count=len(candidates), requests=requests)),
    ]
    result = invoke_structured(
        model, messages, ResponseBatch, attempts=attempts, seed=seed, telemetry=telemetry, caps=caps
    )
    return result, _by_number(result.value, len(candidates)) if result.value else {}


def _by_number(batch: ResponseBatch, count: int) -> dict[int, str]:
    """Replies by request number (the first for a number); a lone misnumbered reply is reply 1."""
    by_number: dict[int, str] = {}
    for draft in batch.responses:
        by_number.setdefault(draft.number, draft.response.strip())
    if count == 1 and not by_number.get(1) and batch.responses:
        by_number[1] = batch.responses[0].response.strip()
    return by_number


def respond(
    model: BaseChatModel,
    candidates: Sequence[Candidate],
    *,
    principles: str,
    examples: Sequence[Example] = (),
    attempts: int = 2,
    seed: int | None = None,
    telemetry: CallTelemetry | None = None,
    caps: LengthCaps = DEFAULT_CAPS,
    repair_refused: bool = False,
) -> StructuredResult[list[Candidate]]:
    """The candidates with their responses filled in, in one call for all of them.

    ``examples`` (the branch's in-context examples) are shown as earlier turns. A request the
    answer gives no response for is left out (``error`` says how many); ``value``
    is ``None`` when the answer was unusable. With ``repair_refused``, responses that break a
    response rule are rewritten in one more call (``repair``).
    """
    if not candidates:
        return StructuredResult([], None)
    result, by_number = _ask(
        model,
        candidates,
        [c.kind for c in candidates],
        template="responder_user",
        principles=principles,
        turns=example_turns(examples),
        attempts=attempts,
        seed=seed,
        telemetry=telemetry,
        caps=caps,
    )
    if result.value is None:
        return StructuredResult(None, result.error, result.usage)
    answered = [
        c.model_copy(update={"response": by_number[number]})
        for number, c in enumerate(candidates, start=1)
        if by_number.get(number)
    ]
    missing = len(candidates) - len(answered)
    error = f"no response to {missing} of {len(candidates)} requests" if missing else None
    if repair_refused and answered:
        repaired = repair(
            model,
            answered,
            principles=principles,
            attempts=attempts,
            seed=None if seed is None else seed + 1,
            telemetry=telemetry,
            caps=caps,
        )
        result.usage.merge(repaired.usage)
        if repaired.usage.calls:  # shown as usage_by_role.responder.rewrite_calls
            result.usage.repairs["rewrite_calls"] = repaired.usage.calls
        answered = repaired.value or answered
    return StructuredResult(answered, error, result.usage)
