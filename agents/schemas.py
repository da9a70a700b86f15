"""Pydantic schemas: what each agent asks a model for, and the records the loop passes around."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, create_model

# Length caps keep a small model from rambling and keep every prompt bounded.
ISSUE_MAX_CHARS = 60
PROMPT_MAX_CHARS = 300
RESPONSE_MAX_CHARS = 500
INSTRUCTION_MAX_CHARS = 200
RATIONALE_MAX_CHARS = 120
REASON_MAX_CHARS = 160
# Rough English tokens per character, to size max_tokens from the schema's caps.
TOKENS_PER_CHAR = 0.3


class AdviceItem(BaseModel):
    """One piece of advice: the safety issue to target next and what to write for it."""

    safety_issue: str = Field(
        description="Short name of the fine-grained safety issue to cover, 2-5 words.",
        min_length=3,
        max_length=ISSUE_MAX_CHARS,
    )
    instruction: str = Field(
        description="What kind of user request to write for this issue, one sentence.",
        min_length=5,
        max_length=INSTRUCTION_MAX_CHARS,
    )
    rationale: str = Field(
        default="",
        description="Why this issue is the weakest spot of the dataset now, one sentence.",
        max_length=RATIONALE_MAX_CHARS,
    )


class AdvisorAdvice(BaseModel):
    """The advisor's structured answer: a few advice items for this round."""

    advice: list[AdviceItem] = Field(
        description="Advice items, each naming a different safety issue.", min_length=1
    )


class CandidateDraft(BaseModel):
    """A generated (prompt, response) pair as the model writes it."""

    prompt: str = Field(
        description="A risky or harmful request, written as a user would type it to a chatbot.",
        min_length=1,
        max_length=PROMPT_MAX_CHARS,
    )
    response: str = Field(
        description="A safe, helpful assistant reply: declines the harmful part briefly and "
        "offers a safe alternative.",
        min_length=1,
        max_length=RESPONSE_MAX_CHARS,
    )


class GeneratedBatch(BaseModel):
    """The generator's structured answer."""

    items: list[CandidateDraft] = Field(description="New items, each different from the examples.")


class CriticJudgement(BaseModel):
    """The critic model's verdict on one candidate, against the principles."""

    reason: str = Field(
        description="One short sentence explaining the verdict.", max_length=REASON_MAX_CHARS
    )
    verdict: Literal["accept", "reject"] = Field(
        description="accept only if the prompt is a risky user request about the issue and the "
        "response is safe and helpful."
    )


class SummaryUpdate(BaseModel):
    """The summarizer's structured answer: the new running summary."""

    summary: str = Field(
        description="Which safety issues the dataset covers and how well, merged and concise."
    )


def summary_schema(max_chars: int) -> type[SummaryUpdate]:
    """``SummaryUpdate`` whose summary is capped at ``max_chars`` (the server enforces the cap)."""
    return create_model(
        "SummaryUpdate",
        __base__=SummaryUpdate,
        summary=(
            str,
            Field(
                description=SummaryUpdate.model_fields["summary"].description, max_length=max_chars
            ),
        ),
    )


class Candidate(BaseModel):
    """A candidate item inside the loop: the draft plus where it came from."""

    id: str
    prompt: str
    response: str
    safety_issue: str
    advice: str
    round: int
    advice_source: Literal["advisor", "fallback", "self-instruct"]


class AcceptedItem(BaseModel):
    """One line of ``dataset.jsonl``."""

    id: str
    prompt: str
    response: str
    safety_issue: str
    advice: str
    round: int
    strategy: str
    critic: str
    nearest_similarity: float
    model: str


class RejectedItem(BaseModel):
    """One line of ``rejected.jsonl``: the candidate and why it was rejected."""

    candidate: Candidate | None
    reason: str
    layer: Literal["format", "redundancy", "relevance", "llm", "parse", "surplus"]
    round: int = 0
    """The round whose step rejected it."""
    step: str = ""
    """The step that wrote this line: ``critic`` or ``generator-bNN`` (a re-run replaces it)."""
    detail: str = ""
    nearest_similarity: float | None = None


class LabeledDraft(CandidateDraft):
    """A draft that names its own safety issue (the Self-Instruct baseline has no advice)."""

    safety_issue: str = Field(
        description="Short name of the safety issue the prompt raises, 2-5 words.",
        min_length=3,
        max_length=ISSUE_MAX_CHARS,
    )


class LabeledBatch(BaseModel):
    """The Self-Instruct generator's structured answer."""

    items: list[LabeledDraft] = Field(description="New items, each different from the examples.")


class Example(BaseModel):
    """A stored item shown to the generator as an in-context example."""

    id: str
    prompt: str
    response: str
    safety_issue: str


class PlannedAdvice(BaseModel):
    """Advice chosen for a round, with where it came from and the examples its branch will see."""

    advice: AdviceItem
    source: Literal["advisor", "fallback", "self-instruct"]
    proposed_issue: str = ""
    examples: list[Example] = []
