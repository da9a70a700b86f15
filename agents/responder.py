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
) -> StructuredResult[list[Candidate]]:
    """The candidates with their responses filled in, in one call for all of them.

    ``examples`` (the branch's in-context examples) are shown as earlier turns. A request the
    answer gives no response for is left out (``error`` says how many); ``value``
    is ``None`` when the answer was unusable.
    """
    if not candidates:
        return StructuredResult([], None)
    caps = caps_for(model, caps)
    requests = "\n".join(
        delimit(f"request {number} ({c.kind})", c.prompt)
        for number, c in enumerate(candidates, start=1)
    )
    messages = [
        SystemMessage(render("responder_system", principles=principles, **length_limits(caps))),
        *example_turns(examples),
        HumanMessage(render("responder_user", count=len(candidates), requests=requests)),
    ]
    result = invoke_structured(
        model,
        messages,
        ResponseBatch,
        attempts=attempts,
        seed=seed,
        telemetry=telemetry,
        caps=caps,
    )
    if result.value is None:
        return StructuredResult(None, result.error, result.usage)
    by_number: dict[int, str] = {}
    for draft in result.value.responses:
        by_number.setdefault(draft.number, draft.response.strip())
    if len(candidates) == 1 and not by_number.get(1) and result.value.responses:
        by_number[1] = result.value.responses[0].response.strip()  # a lone reply, misnumbered
    answered = [
        c.model_copy(update={"response": by_number[number]})
        for number, c in enumerate(candidates, start=1)
        if by_number.get(number)
    ]
    missing = len(candidates) - len(answered)
    error = f"no response to {missing} of {len(candidates)} requests" if missing else None
    return StructuredResult(answered, error, result.usage)
