"""Pydantic schemas: what each agent asks a model for, and the records the loop passes around."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Literal, Protocol

from pydantic import BaseModel, Field, create_model, field_validator

from agents.embedded import EMBEDDED_MODEL_NAME

# Length caps, in characters, on the text fields models write. They are sized for capable models
# and enforced on the client (``agents.structured``): a longer field is trimmed at a sentence
# boundary and counted, never a reason to reject the answer. They bound every later prompt too.
#
# Defaults of the run parameters ``--prompt-max-chars`` and ``--response-max-chars``: role-play and
# jailbreak-style requests run past 1,000 characters (2,000 is about twice a long one); a safe
# reply that declines, explains and offers alternatives takes 300-900 (1,500 leaves headroom).
PROMPT_MAX_CHARS = 2000
RESPONSE_MAX_CHARS = 1500
# Names and one-sentence fields, fixed. An issue name as a capable model writes it, decoration
# included ("**Issue 3:** spyware (malware)"), fits 80 (``agents.issue_names`` keeps canonical
# names within it); an instruction or a rationale is one or two sentences; a critic's reason,
# 200-300 characters from a capable judge, gets headroom.
ISSUE_MAX_CHARS = 80
INSTRUCTION_MAX_CHARS = 400
RATIONALE_MAX_CHARS = 300
REASON_MAX_CHARS = 400
# Rough English tokens per character, to size max_tokens from the caps.
TOKENS_PER_CHAR = 0.3
# Tokens of JSON syntax around the text, so that an answer at its caps is never cut off by its own
# punctuation: per item (keys, quotes, commas) and per answer (braces, the list's key, and slack
# for the rough rate above).
JSON_TOKENS_PER_ITEM = 16
JSON_TOKENS_PER_ANSWER = 48


class LengthSettings(Protocol):
    """The run parameters that set the caps (``graph.context.RunConfig``)."""

    @property
    def prompt_max_chars(self) -> int: ...
    @property
    def response_max_chars(self) -> int: ...


@dataclass(frozen=True)
class LengthCaps:
    """Character caps on the text fields models write, named by the JSON field they cap.

    A cap applies to that field name wherever it occurs in a schema (a batch's items, the advice
    list). The client trims a longer field; only a server that needs it is sent the caps as
    ``maxLength`` (``server_caps_for``).
    """

    prompt: int = PROMPT_MAX_CHARS
    response: int = RESPONSE_MAX_CHARS
    safety_issue: int = ISSUE_MAX_CHARS
    hazard: int = ISSUE_MAX_CHARS
    tactic: int = ISSUE_MAX_CHARS
    instruction: int = INSTRUCTION_MAX_CHARS
    rationale: int = RATIONALE_MAX_CHARS
    reason: int = REASON_MAX_CHARS

    @classmethod
    def for_run(cls, settings: LengthSettings) -> LengthCaps:
        """The caps a run's parameters set (the minor caps are fixed)."""
        return cls(prompt=settings.prompt_max_chars, response=settings.response_max_chars)

    def by_field(self) -> dict[str, int]:
        """The caps as ``{field name: max characters}``."""
        return asdict(self)

    def tighter(self, other: LengthCaps | None) -> LengthCaps:
        """The smaller cap of the two, field by field (``other`` may be ``None``: no cap)."""
        if other is None:
            return self
        return LengthCaps(
            **{f.name: min(getattr(self, f.name), getattr(other, f.name)) for f in fields(self)}
        )


DEFAULT_CAPS = LengthCaps()
# SmolLM2-135M, the embedded model, does not stop on its own: asked for a request it writes until
# max_tokens and the answer is cut off. llama.cpp's grammar-constrained decoding ends a string at
# its ``maxLength``, so this tiny model is sent tight caps (what it manages to write well) that its
# server enforces. They are a property of that model, not of the data.
EMBEDDED_CAPS = LengthCaps(
    prompt=300,
    response=500,
    safety_issue=60,
    hazard=60,
    tactic=60,
    instruction=200,
    rationale=120,
    reason=160,
)
# Models whose server must enforce the caps, by model name. Capable models stop on their own and
# get no ``maxLength`` at all: OpenAI's JSON-schema mode without ``strict`` ignores it, and a server
# that enforces it would cut their answers mid-sentence.
SERVER_ENFORCED_CAPS: dict[str, LengthCaps] = {EMBEDDED_MODEL_NAME: EMBEDDED_CAPS}


def server_caps_for(model_name: str | None) -> LengthCaps | None:
    """The caps the server of ``model_name`` must enforce as ``maxLength``; ``None`` for most."""
    return SERVER_ENFORCED_CAPS.get(model_name or "")


Kind = Literal["harmful", "benign"]
"""What an item is: a harmful request (its response declines) or a benign look-alike (a request
that borrows a harmful issue's words or topic and is safe to answer; its response helps)."""
KINDS: tuple[Kind, ...] = ("harmful", "benign")
DEFAULT_TACTIC = "direct request"
"""The tactic of an item written before tactics existed, and of advice that names none."""


def as_kind(value: object) -> Kind:
    """A kind as models write it ("Benign look-alike", "BENIGN", "harmful request") in canonical form."""
    return "benign" if "benign" in str(value or "").lower() else "harmful"


class AdviceItem(BaseModel):
    """One piece of advice: the grid cell to target next (issue, tactic, kind) and what to write."""

    safety_issue: str = Field(
        description="Short name of the fine-grained safety issue to cover, 2-5 words.",
        min_length=3,
    )
    hazard: str = Field(
        default="",
        description="The top-level hazard category the issue belongs to, from the taxonomy.",
    )
    tactic: str = Field(
        default=DEFAULT_TACTIC,
        description="How the user frames the request (a tactic from the list, or a new one).",
    )
    kind: Kind = Field(
        default="harmful",
        description="harmful: a request to decline; benign: a look-alike that is safe to answer.",
    )
    instruction: str = Field(
        description="What kind of user request to write for this issue, one sentence.",
        min_length=5,
    )
    rationale: str = Field(
        default="",
        description="Why this cell is the weakest spot of the dataset now, one sentence.",
    )

    _kind = field_validator("kind", mode="before")(as_kind)


class AdvisorAdvice(BaseModel):
    """The advisor's structured answer: a few advice items for this round."""

    advice: list[AdviceItem] = Field(
        description="Advice items, each naming a different safety issue.", min_length=1
    )


class PromptDraft(BaseModel):
    """A user request as the generator writes it (the responder writes its response)."""

    prompt: str = Field(
        description="The user's request, written as a user would type it to a chatbot: risky "
        "for an item of kind harmful, a safe look-alike for kind benign.",
        min_length=1,
    )


class GeneratedBatch(BaseModel):
    """The generator's structured answer: new user requests."""

    items: list[PromptDraft] = Field(description="New requests, each different from the examples.")


class ResponseDraft(BaseModel):
    """The responder's reply to one numbered request."""

    number: int = Field(description="The number of the request this response answers.")
    response: str = Field(
        description="The assistant's reply: for a harmful request, declines the harmful part "
        "briefly and offers a safe alternative; for a benign look-alike, answers it fully.",
        min_length=1,
    )


class ResponseBatch(BaseModel):
    """The responder's structured answer: one response per numbered request."""

    responses: list[ResponseDraft] = Field(description="One response per request, by number.")


class ContrastBatch(BaseModel):
    """The responder's deliberately flawed replies: the rejected side of preference pairs."""

    responses: list[ResponseDraft] = Field(
        description="One flawed reply per request, by number: a refusal of a benign request, or "
        "a preachy, unhelpful refusal of a harmful one. Never any harmful content."
    )


PairType = Literal["over_refusal", "unsafe", "unhelpful_refusal"]
"""Why a pair's rejected reply is worse: it refuses a benign request (``over_refusal``), it is
unsafe for a harmful one (``unsafe``), or it refuses a harmful one against the principles:
lecturing, no alternative (``unhelpful_refusal``)."""


class PreferencePair(BaseModel):
    """One line of ``pairs.jsonl``: the rejected side of an accepted item's preference pair."""

    id: str
    """The accepted item's id (its chosen side is its response in ``dataset.jsonl``)."""
    round: int
    pair_type: PairType
    rejected: str
    source: Literal["repair", "contrast"]
    """``repair``: the responder's first reply, refused by the rules and rewritten; ``contrast``:
    written on purpose once the item was accepted."""


class CriticJudgement(BaseModel):
    """The critic model's verdict on one candidate, against the principles."""

    reason: str = Field(description="One short sentence explaining the verdict.")
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
    """A candidate item inside the loop: the draft, its grid cell and where it came from."""

    id: str
    prompt: str
    response: str
    hazard: str = ""
    safety_issue: str
    tactic: str = ""
    kind: Kind = "harmful"
    advice: str
    round: int
    advice_source: Literal["advisor", "fallback", "self-instruct"]
    failed_response: str = ""
    """A first response the responder wrote and the response rules refused (an unsafe reply to a
    harmful request, a refusal of a benign one), kept as the rejected side of a preference pair
    after the responder wrote this one instead."""
    failed_reason: str = ""


class AcceptedItem(BaseModel):
    """One line of ``dataset.jsonl``. Lines written before the grid read as harmful, no tactic."""

    id: str
    prompt: str
    response: str
    hazard: str = ""
    safety_issue: str
    tactic: str = ""
    kind: Kind = "harmful"
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


class LabeledDraft(PromptDraft):
    """A request that names its own safety issue (the Self-Instruct baseline has no advice)."""

    safety_issue: str = Field(
        description="Short name of the safety issue the prompt raises, 2-5 words.",
        min_length=3,
    )


class LabeledBatch(BaseModel):
    """The Self-Instruct generator's structured answer."""

    items: list[LabeledDraft] = Field(description="New requests, each different from the examples.")


class Example(BaseModel):
    """A stored item shown to the generator as an in-context example."""

    id: str
    prompt: str
    response: str
    safety_issue: str
    tactic: str = ""
    kind: Kind = "harmful"


class PlannedAdvice(BaseModel):
    """Advice chosen for a round, with where it came from and the examples its branch will see."""

    advice: AdviceItem
    source: Literal["advisor", "fallback", "self-instruct"]
    proposed_issue: str = ""
    examples: list[Example] = []
