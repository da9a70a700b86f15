"""Preference pairs made on purpose: the rejected side of every accepted item.

A DPO pair needs a worse reply to the same request. Each accepted item gets one, at the cost of
at most one extra call:

- an item whose first reply the responder had to rewrite (``agents.responder.repair``) already
  holds it: an unsafe reply to a harmful request (``unsafe``), a refusal of a benign one
  (``over_refusal``); no call;
- any other item gets one written on purpose by the responder model (``contrast_*`` prompts),
  several items per call: a refusal of a benign request (``over_refusal``), or a refusal of a
  harmful one that lectures and offers no alternative (``unhelpful_refusal``). Both are harmless
  to produce. A contrast that is not a refusal, or equals the chosen reply, is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from agents.critic import response_problem
from agents.generator import caps_for, length_limits
from agents.refusals import is_refusal
from agents.schemas import (
    DEFAULT_CAPS,
    Candidate,
    ContrastBatch,
    LengthCaps,
    PairType,
    PreferencePair,
)
from agents.structured import Usage, invoke_structured_many
from agents.telemetry import CallTelemetry
from memory.store import normalized_text
from prompts import delimit, render

# Requests per contrast call: one call's answer stays short, and a round's items share the
# system prompt's cost.
CONTRAST_BATCH = 8
UNSAFE_RULES = ("response_complies", "response_not_safe")


@dataclass
class Pairs:
    """A round's preference pairs, what they cost, and the items left without one (and why)."""

    pairs: list[PreferencePair] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    calls: int = 0
    missing: dict[str, int] = field(default_factory=dict)


def repaired_pair(item: Candidate) -> PreferencePair | None:
    """The pair an item's rewritten first reply makes, or ``None``."""
    if not item.failed_response:
        return None
    kind: PairType = "unsafe" if item.failed_reason in UNSAFE_RULES else "over_refusal"
    return PreferencePair(
        id=item.id, round=item.round, pair_type=kind, rejected=item.failed_response, source="repair"
    )


def contrast_problem(item: Candidate, text: str) -> str | None:
    """Why a contrast cannot serve as ``item``'s rejected reply, or ``None``."""
    if not text:
        return "no_contrast"
    if normalized_text(text) == normalized_text(item.response):
        return "contrast_equals_chosen"
    if item.kind == "benign":
        return None if is_refusal(text) else "contrast_not_a_refusal"
    return None if response_problem("harmful", text) is None else "contrast_not_a_refusal"


def make_pairs(
    model: BaseChatModel,
    items: Sequence[Candidate],
    *,
    concurrency: int = 4,
    attempts: int = 2,
    seed: int | None = None,
    telemetry: CallTelemetry | None = None,
    caps: LengthCaps = DEFAULT_CAPS,
    per_call: int = CONTRAST_BATCH,
) -> Pairs:
    """A preference pair for each accepted item: from its repair, else written on purpose,
    ``per_call`` requests a call."""
    result = Pairs()
    todo = []
    for item in items:
        pair = repaired_pair(item)
        if pair is not None:
            result.pairs.append(pair)
        else:
            todo.append(item)
    batches = [todo[i : i + per_call] for i in range(0, len(todo), per_call)]
    if not batches:
        return result
    caps = caps_for(model, caps)
    system = SystemMessage(render("contrast_system", **length_limits(caps)))
    conversations = [
        [
            system,
            HumanMessage(
                render(
                    "contrast_user",
                    count=len(batch),
                    requests="\n".join(
                        delimit(f"request {n} ({item.kind})", item.prompt)
                        for n, item in enumerate(batch, start=1)
                    ),
                )
            ),
        ]
        for batch in batches
    ]
    seeds = [None if seed is None else seed + i for i in range(len(batches))]
    answers = invoke_structured_many(
        model,
        conversations,
        ContrastBatch,
        concurrency=concurrency,
        attempts=attempts,
        seeds=seeds,
        telemetry=telemetry,
    )
    for batch, answer in zip(batches, answers, strict=True):
        result.usage.merge(answer.usage)
        result.calls += 1
        replies: dict[int, str] = {}
        for draft in answer.value.responses if answer.value else []:
            replies.setdefault(draft.number, draft.response.strip())
        for number, item in enumerate(batch, start=1):
            text = replies.get(number, "")
            problem = contrast_problem(item, text)
            if problem:
                result.missing[problem] = result.missing.get(problem, 0) + 1
                continue
            kind: PairType = "over_refusal" if item.kind == "benign" else "unhelpful_refusal"
            result.pairs.append(
                PreferencePair(
                    id=item.id, round=item.round, pair_type=kind, rejected=text, source="contrast"
                )
            )
    return result
