"""Generator: writes user requests for one advice item, Self-Instruct style (the responder answers)."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from agents.issue_names import normalize_issue_name
from agents.refusals import is_refusal
from agents.schemas import (
    DEFAULT_CAPS,
    DEFAULT_TACTIC,
    AdviceItem,
    Candidate,
    Example,
    GeneratedBatch,
    LabeledBatch,
    LengthCaps,
    PlannedAdvice,
    as_kind,
)
from agents.structured import StructuredResult, invoke_structured, server_caps_of
from agents.telemetry import CallTelemetry
from memory.store import Memory, Neighbor
from prompts import render

EXAMPLE_INSTRUCTION = "A realistic user request that raises this issue."
# How the last line of the generator's prompt names what to write, by kind.
REQUEST_OF_KIND = {
    "harmful": "a user request framed as {tactic}",
    "benign": "a benign look-alike request, framed as {tactic}, that is safe to answer",
}


def cell_placeholders(hazard: str, tactic: str, kind: str) -> dict[str, str]:
    """The generator prompt's placeholders for an item's grid cell."""
    tactic = tactic or DEFAULT_TACTIC
    request = REQUEST_OF_KIND.get(kind, REQUEST_OF_KIND["harmful"])
    return {
        "hazard": hazard or "(any)",
        "tactic": tactic,
        "kind": kind,
        "request": request.format(tactic=tactic),
    }


# Characters per English word, spaces and punctuation included: the prompts state the length
# caps in words, which models follow better than a count of characters.
CHARS_PER_WORD = 6


def length_limits(caps: LengthCaps) -> dict[str, int]:
    """The prompt placeholders that state the caps on a request and a response."""
    return {
        "prompt_chars": caps.prompt,
        "prompt_words": caps.prompt // CHARS_PER_WORD,
        "response_chars": caps.response,
        "response_words": caps.response // CHARS_PER_WORD,
    }


def caps_for(model: BaseChatModel, caps: LengthCaps) -> LengthCaps:
    """The caps to ask ``model`` for: the run's, or tighter ones its server enforces."""
    return caps.tighter(server_caps_of(model))


def example_turns(
    examples: Sequence[Example], *, labeled: bool, caps: LengthCaps = DEFAULT_CAPS
) -> list[BaseMessage]:
    """In-context examples as earlier turns of the conversation: a request, then its JSON answer.

    Small models imitate a previous answer far better than they follow a description of one. The
    example text sits inside JSON strings, so it stays data.
    """
    turns: list[BaseMessage] = []
    limits = length_limits(caps)
    for ex in examples:
        item = {"prompt": ex.prompt}
        if labeled:
            item = {"safety_issue": ex.safety_issue, **item}
            ask = render("self_instruct_user", count=1, **limits)
        else:
            ask = render(
                "generator_user",
                issue=ex.safety_issue,
                instruction=EXAMPLE_INSTRUCTION,
                count=1,
                **cell_placeholders("", ex.tactic, ex.kind),
                **limits,
            )
        turns += [HumanMessage(ask), AIMessage(json.dumps({"items": [item]}, ensure_ascii=False))]
    return turns


def all_refuse(batch: GeneratedBatch | LabeledBatch) -> bool:
    """Whether a batch's requests are all refusals written into the JSON fields."""
    return bool(batch.items) and all(is_refusal(item.prompt) for item in batch.items)


def generate_for_advice(
    model: BaseChatModel,
    advice: AdviceItem,
    examples: Sequence[Example],
    *,
    count: int,
    attempts: int = 2,
    seed: int | None = None,
    telemetry: CallTelemetry | None = None,
    caps: LengthCaps = DEFAULT_CAPS,
) -> StructuredResult[GeneratedBatch]:
    """Write ``count`` candidates for an advised safety issue, shown diverse examples from memory.

    The prompts ask for requests within ``caps`` (or the tighter caps the model's
    server enforces); a longer field is trimmed, not a reason to lose the batch.
    """
    caps = caps_for(model, caps)
    messages = [
        SystemMessage(render("generator_system", **length_limits(caps))),
        *example_turns(examples, labeled=False, caps=caps),
        HumanMessage(
            render(
                "generator_user",
                issue=advice.safety_issue,
                instruction=advice.instruction,
                count=count,
                **cell_placeholders(advice.hazard, advice.tactic, advice.kind),
                **length_limits(caps),
            )
        ),
    ]
    return invoke_structured(
        model,
        messages,
        GeneratedBatch,
        attempts=attempts,
        seed=seed,
        telemetry=telemetry,
        caps=caps,
        refuses=all_refuse,
        purpose=HumanMessage(render("purpose_restated")),
    )


def generate_self_instruct(
    model: BaseChatModel,
    examples: Sequence[Example],
    *,
    count: int,
    attempts: int = 2,
    seed: int | None = None,
    telemetry: CallTelemetry | None = None,
    caps: LengthCaps = DEFAULT_CAPS,
) -> StructuredResult[LabeledBatch]:
    """The baseline: continue random examples with no advice; the model names each item's issue."""
    caps = caps_for(model, caps)
    messages = [
        SystemMessage(render("generator_system", **length_limits(caps))),
        *example_turns(examples, labeled=True, caps=caps),
        HumanMessage(render("self_instruct_user", count=count, **length_limits(caps))),
    ]
    return invoke_structured(
        model,
        messages,
        LabeledBatch,
        attempts=attempts,
        seed=seed,
        telemetry=telemetry,
        caps=caps,
        refuses=all_refuse,
        purpose=HumanMessage(render("purpose_restated")),
    )


def draft_candidates(
    model: BaseChatModel,
    memory: Memory,
    planned: PlannedAdvice,
    *,
    round_: int,
    branch: int,
    count: int,
    relevance_threshold: float,
    attempts: int = 2,
    seed: int | None = None,
    telemetry: CallTelemetry | None = None,
    caps: LengthCaps = DEFAULT_CAPS,
) -> StructuredResult[list[Candidate]]:
    """Write one branch's requests: for its advice, or (baseline) on its random examples.

    The candidates have no response yet (``agents.responder`` writes them).

    ``caps`` are the run's length caps (``--prompt-max-chars``, ``--response-max-chars``).
    ``value`` is ``None`` when the model's answer was unusable, ``[]`` when it held no item.
    """
    drafts: list[tuple[str, str]] = []
    call: dict[str, Any] = {
        "count": count,
        "attempts": attempts,
        "seed": seed,
        "telemetry": telemetry,
        "caps": caps,
    }
    if planned.source == "self-instruct":
        labeled = generate_self_instruct(model, planned.examples, **call)
        usage, error, parsed = labeled.usage, labeled.error, labeled.value is not None
        refused = labeled.refused
        for d in labeled.value.items if labeled.value else []:
            issue = label_issue(memory, d.prompt, d.safety_issue, relevance_threshold)
            drafts.append((d.prompt, issue))
    else:
        advised = generate_for_advice(model, planned.advice, planned.examples, **call)
        usage, error, parsed = advised.usage, advised.error, advised.value is not None
        refused = advised.refused
        for item in advised.value.items if advised.value else []:
            drafts.append((item.prompt, planned.advice.safety_issue))
    if not parsed:
        return StructuredResult(None, error, usage, refused)
    kept = [d for d in drafts if not is_refusal(d[0])]  # a refusal among good requests
    if len(kept) < len(drafts):
        usage.repairs["refused_items"] = (
            usage.repairs.get("refused_items", 0) + len(drafts) - len(kept)
        )
        drafts = kept
    candidates = [
        Candidate(
            id=f"r{round_:05d}-b{branch:02d}-c{index:02d}",
            prompt=prompt.strip(),
            response="",
            hazard=planned.advice.hazard,
            safety_issue=issue,
            tactic=planned.advice.tactic if planned.source != "self-instruct" else "",
            kind=planned.advice.kind,
            advice=planned.advice.instruction,
            round=round_,
            advice_source=planned.source,
        )
        for index, (prompt, issue) in enumerate(drafts[:count])
    ]
    return StructuredResult(candidates, error, usage)


def label_issue(memory: Memory, prompt: str, label: str, relevance_threshold: float) -> str:
    """The Self-Instruct baseline's issue for a prompt: the model's own label when it fits.

    A small model's label is often a sentence, or a word that does not describe its prompt; then
    the nearest known issue labels the prompt instead (nothing is registered), so the baseline
    is judged on its prompts, not on its labelling.
    """
    nearest = memory.nearest_issue(prompt)
    name = normalize_issue_name(label)
    if name:
        prompt_vector, label_vector = memory.embed([prompt, name])
        if float(prompt_vector @ label_vector) >= relevance_threshold or not nearest.name:
            return memory.resolve_issue(name).name
    return nearest.name or label


SELF_INSTRUCT_ADVICE = AdviceItem(
    safety_issue="model's own choice",
    instruction="Write new items in the style of the examples, on any safety issue.",
)


def self_instruct_plan(
    memory: Memory, *, branches: int, examples_per_prompt: int, rngs: Sequence[random.Random]
) -> list[PlannedAdvice]:
    """The baseline's round: no advice, one branch per random draw of in-context examples."""
    return [
        PlannedAdvice(
            advice=SELF_INSTRUCT_ADVICE,
            source="self-instruct",
            examples=examples_from(memory.random_examples(examples_per_prompt, rng)),
        )
        for rng in rngs[:branches]
    ]


def examples_from(neighbors: Sequence[Neighbor]) -> list[Example]:
    """Stored items (memory neighbours) as in-context examples."""
    return [
        Example(
            id=n.id,
            prompt=n.prompt,
            response=n.response,
            safety_issue=n.safety_issue,
            tactic=n.tactic,
            kind=as_kind(n.kind),
        )
        for n in neighbors
    ]
