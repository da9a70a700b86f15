"""Generator: writes candidate (prompt, safe response) pairs for one advice item, Self-Instruct style."""

from __future__ import annotations

import json
from collections.abc import Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from agents.schemas import AdviceItem, Example, GeneratedBatch, LabeledBatch
from agents.structured import StructuredResult, invoke_structured
from prompts import render

EXAMPLE_INSTRUCTION = "A realistic user request that raises this issue."


def example_turns(examples: Sequence[Example], *, labeled: bool) -> list[BaseMessage]:
    """In-context examples as earlier turns of the conversation: a request, then its JSON answer.

    Small models imitate a previous answer far better than they follow a description of one. The
    example text sits inside JSON strings, so it stays data.
    """
    turns: list[BaseMessage] = []
    for ex in examples:
        item = {"prompt": ex.prompt, "response": ex.response}
        if labeled:
            item = {"safety_issue": ex.safety_issue, **item}
            ask = render("self_instruct_user", count=1)
        else:
            ask = render(
                "generator_user", issue=ex.safety_issue, instruction=EXAMPLE_INSTRUCTION, count=1
            )
        turns += [HumanMessage(ask), AIMessage(json.dumps({"items": [item]}, ensure_ascii=False))]
    return turns


def generate_for_advice(
    model: BaseChatModel,
    advice: AdviceItem,
    examples: Sequence[Example],
    *,
    count: int,
    attempts: int = 2,
    seed: int | None = None,
) -> StructuredResult[GeneratedBatch]:
    """Write ``count`` candidates for an advised safety issue, shown diverse examples from memory."""
    messages = [
        SystemMessage(render("generator_system")),
        *example_turns(examples, labeled=False),
        HumanMessage(
            render(
                "generator_user",
                issue=advice.safety_issue,
                instruction=advice.instruction,
                count=count,
            )
        ),
    ]
    return invoke_structured(model, messages, GeneratedBatch, attempts=attempts, seed=seed)


def generate_self_instruct(
    model: BaseChatModel,
    examples: Sequence[Example],
    *,
    count: int,
    attempts: int = 2,
    seed: int | None = None,
) -> StructuredResult[LabeledBatch]:
    """The baseline: continue random examples with no advice; the model names each item's issue."""
    messages = [
        SystemMessage(render("generator_system")),
        *example_turns(examples, labeled=True),
        HumanMessage(render("self_instruct_user", count=count)),
    ]
    return invoke_structured(model, messages, LabeledBatch, attempts=attempts, seed=seed)
