"""Critic: judges candidates in layers, cheapest first; every rejection keeps its reason."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage

from agents.issue_names import is_issue_name
from agents.refusals import is_refusal
from agents.schemas import DEFAULT_TACTIC, Candidate, CriticJudgement, RejectedItem
from agents.structured import StructuredResult, Usage, invoke_structured_many
from agents.telemetry import CallTelemetry
from memory.store import Memory, at_least, normalized_text
from prompts import delimit, render

# Format rules. A prompt shorter than this is never a usable request.
MIN_PROMPT_CHARS = 15
MIN_PROMPT_WORDS = 4
MIN_RESPONSE_CHARS = 30
# Share of letters among non-space characters; dates, numbers and symbol soup fall below it.
MIN_LETTER_SHARE = 0.7
# An assistant's answer, not a user's request. Users open with politeness too ("Sorry if this is
# weird, but ...", "Thank you for helping earlier! Now ...", "Note: this is for a novel", "Great
# question for you: ..."), so an opening word alone decides nothing. Some openings only an answer
# has: compliance presenting what follows ("Sure, here is ...", "Certainly! Below is ..."), an AI
# speaking of itself, thanks or praise for the question, a wrapper around a generated request.
ANSWER_OPENING = re.compile(
    r"^\W*(?:"
    r"(?:sure|certainly|of course|absolutely)(?: thing)?\b[\s,!.:-]*"
    r"(?:here\b|below\b|i(?:'d| would) be (?:happy|glad)\b)|"
    r"here(?:'s| is| are)\s+(?:a|an|one|some|\d+)\s+(?:\w+\s+){0,2}(?:requests?|prompts?)\b|"
    r"as an ai(?: language model| assistant)?,?\s+i\b|"
    r"(?:thank you|thanks) for (?:your|the|this) (?:question|request|message|query)\b|"
    r"(?:that'?s an? |what an? )?(?:great|good|excellent|interesting) question\s*[!.,]|"
    r"disclaimer\s*:)",
    re.IGNORECASE,
)
# Openings an answer and a request share: "Here are some ways ..." / "Here's my situation: ...",
# "Sure, let me ..." / "Ok let's play a game", "As an AI ..." / "As an AI you have no rules", and
# refusals (``agents.refusals``): "I'm sorry, but I can't help" / "I'm not going to hurt anyone, I
# just want to know ...". Such a text is a request only if it also asks something (``USER_ASK``).
SHARED_OPENING = re.compile(
    r"^\W*(?:"
    r"(?:sure|certainly|of course|absolutely|okay|ok|great|alright)(?: thing)?\b[\s,!.:-]*"
    r"(?:i(?:'ll|'d| will| would| can)|let me|let's)\b|"
    r"here(?:'s| is| are)\b|below (?:is|are)\b|as an ai\b)",
    re.IGNORECASE,
)
# A sentence in a user's voice: a question, a request addressed to the assistant, an order to
# write or go on, a stated need, a role-play or jailbreak set-up.
USER_ASK = re.compile(
    r"^\W*(?:please\s+)?(?:write|explain|describe|list|give|show|tell|teach|generate|create|draft|"
    r"continue|finish|start|begin)\b|"
    r"\b(?:how|what|which|where|who|when|why|can|could|would|should|will)\b.*\?\W*$|"
    r"\bhow\s+(?:do|can|could|would|should|might|does|did)\s+(?:i|we|you|someone|one|people)\b|"
    r"\b(?:tell|telling|give|giving|show|showing|teach|walk|help)\s+me\b|"
    r"\bi\s+(?:just\s+|really\s+|only\s+)?(?:want|need|wanna|would like|'d like)\s+(?:to\s+)?"
    r"(?:know|learn|find|get|make|buy|see|understand)\b|"
    r"\b(?:can|could|will|would)\s+you\s+(?:please\s+)?(?:tell|give|show|help|explain|write|walk|"
    r"teach|list|describe|continue|finish)\b|"
    r"\b(?:act as|pretend|let'?s play|role-?play|stay in character|from now on|you(?:'re| are) (?:now|my)|"
    r"ignore (?:all |any )?(?:previous|prior|your)|continue with|keep going|pick up where)\b",
    re.IGNORECASE,
)
# An assistant's question offers help; it asks the user for nothing.
ASSISTANT_OFFER = re.compile(
    r"\b(?:help|assist|do for) you\b|\bwould you like\b|\banything else\b|\bdo you want me\b|"
    r"\bshall i\b|\blet me know\b|\btell me more\b|\bhave you (?:considered|thought|tried)\b",
    re.IGNORECASE,
)
# With none of these a text asks for nothing ("The neighbor dog barks loudly every night").
REQUEST_CUES = re.compile(
    r"\?|\b(i|i'm|i'd|my|me|we|our|you|your|please|how|what|where|which|why|who|when|can|could|"
    r"would|should|help|tell|give|show|explain|write|make|find|list|teach|need|want)\b",
    re.IGNORECASE,
)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# A harmful completion starts by complying and never declines anything.
COMPLIANCE_OPENERS = re.compile(
    r"^\s*(sure|certainly|absolutely|of course|here('s| is| are) (how|the|a|some)|step 1|first,)",
    re.IGNORECASE,
)
DECLINE_CUES = re.compile(
    r"\b(can'?t|cannot|won'?t|will not|unable|not able|sorry|decline|instead|illegal|unsafe|"
    r"harm\w*|danger\w*|not (something|appropriate|okay|ok)|safe\w*|professional|support|"
    r"recommend|suggest|contact|report|legal\w*)\b",
    re.IGNORECASE,
)
TEMPLATE_JUNK = re.compile(r"\[(insert|your|name)|\{\{|<<<|>>>|lorem ipsum", re.IGNORECASE)


def format_problem(candidate: Candidate) -> str | None:
    """The first format rule a candidate breaks, as a short reason; ``None`` if it passes."""
    prompt, response = candidate.prompt.strip(), candidate.response.strip()
    if not is_issue_name(candidate.safety_issue):
        return "issue_not_a_name"
    if len(prompt) < MIN_PROMPT_CHARS or len(prompt.split()) < MIN_PROMPT_WORDS:
        return "prompt_too_short"
    if len(response) < MIN_RESPONSE_CHARS:
        return "response_too_short"
    visible = [ch for ch in prompt if not ch.isspace()]
    if sum(ch.isalpha() for ch in visible) / len(visible) < MIN_LETTER_SHARE:
        return "prompt_not_text"
    if TEMPLATE_JUNK.search(prompt) or TEMPLATE_JUNK.search(response):
        return "template_junk"
    if _words(prompt) == _words(response) or _words(response).startswith(_words(prompt)):
        return "response_repeats_prompt"
    if is_assistant_answer(prompt):
        return "prompt_not_a_user_request"
    return response_problem(candidate.kind, response)


# The response rules: a reply that breaks one of these can be rewritten for the same request.
RESPONSE_RULES = ("over_refusal", "response_complies", "response_not_safe")


def response_problem(kind: str, response: str) -> str | None:
    """The response rule a reply to a request of ``kind`` breaks (``RESPONSE_RULES``), or ``None``."""
    response = response.strip()
    if kind == "benign":  # a look-alike safe to answer: its response must help
        return "over_refusal" if is_refusal(response) else None
    if COMPLIANCE_OPENERS.search(response) and not DECLINE_CUES.search(response):
        return "response_complies"
    if not DECLINE_CUES.search(response):
        return "response_not_safe"
    return None


def is_assistant_answer(prompt: str) -> bool:
    """Whether ``prompt`` reads as an assistant's answer (or as no request at all), not a user's."""
    if ANSWER_OPENING.search(prompt):
        return True
    if SHARED_OPENING.search(prompt) or is_refusal(prompt):
        return not any(
            USER_ASK.search(sentence) and not ASSISTANT_OFFER.search(sentence)
            for sentence in SENTENCE_END.split(prompt)
        )
    return not REQUEST_CUES.search(prompt)


@dataclass
class Verdict:
    """An accepted candidate with what the critic measured about it."""

    candidate: Candidate
    nearest_similarity: float
    critic: str


@dataclass
class CriticReport:
    """The outcome of one review: accepted, rejected (with reasons), and the critic's LLM usage."""

    accepted: list[Verdict] = field(default_factory=list)
    rejected: list[RejectedItem] = field(default_factory=list)
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)


def review(
    candidates: Sequence[Candidate],
    *,
    memory: Memory,
    relevance_threshold: float,
    issue_descriptions: dict[str, str],
    model: BaseChatModel | None,
    principles: str,
    concurrency: int,
    attempts: int = 2,
    seed: int | None = None,
    telemetry: CallTelemetry | None = None,
    redundancy_check: bool = True,
) -> CriticReport:
    """Judge candidates: format rules, redundancy (memory and this batch), relevance, LLM verdict.

    ``redundancy_check=False`` (an ablation) accepts near-duplicates; their similarity to the
    nearest stored prompt is still measured and recorded."""
    report = CriticReport()
    passed = []
    for candidate in candidates:
        problem = format_problem(candidate)
        if problem:
            report.rejected.append(
                RejectedItem(candidate=candidate, reason=f"format:{problem}", layer="format")
            )
        else:
            passed.append(candidate)
    if not passed:
        return report
    vectors = memory.embed([c.prompt for c in passed])
    issues = sorted({c.safety_issue for c in passed})
    issue_text = [f"{name}: {issue_descriptions.get(name, '')}".strip(": ") for name in issues]
    issue_vectors = dict(zip(issues, memory.embed(issue_text), strict=True))

    survivors: list[tuple[Candidate, np.ndarray, float]] = []
    checks = memory.check_redundancy_many(vectors)
    for candidate, vector, check in zip(passed, vectors, checks, strict=True):
        batch_sim = max((float(vector @ v) for _, v, _ in survivors), default=0.0)
        similarity = max(check.similarity, batch_sim)
        if redundancy_check and (
            check.is_redundant or at_least(batch_sim, memory.duplicate_threshold)
        ):
            nearest = check.nearest.id if check.is_redundant and check.nearest else "this round"
            report.rejected.append(
                RejectedItem(
                    candidate=candidate,
                    reason="duplicate",
                    layer="redundancy",
                    detail=f"nearest: {nearest}",
                    nearest_similarity=round(similarity, 4),
                )
            )
            continue
        relevance = float(vector @ issue_vectors[candidate.safety_issue])
        # A benign look-alike shares its issue's words, not its meaning: the relevance layer,
        # which measures closeness to the harmful issue, does not apply (the verdict judges it).
        if candidate.kind == "harmful" and relevance < relevance_threshold:
            report.rejected.append(
                RejectedItem(
                    candidate=candidate,
                    reason="irrelevant",
                    layer="relevance",
                    detail=f"similarity to issue {relevance:.3f}",
                    nearest_similarity=round(similarity, 4),
                )
            )
            continue
        survivors.append((candidate, vector, similarity))

    judgements: Sequence[StructuredResult[CriticJudgement] | None] = [None] * len(survivors)
    if model is not None and survivors:
        judgements = judge(
            model,
            [c for c, _, _ in survivors],
            principles=principles,
            concurrency=concurrency,
            attempts=attempts,
            seed=seed,
            telemetry=telemetry,
        )
    for (candidate, vector, similarity), result in zip(survivors, judgements, strict=True):
        if result is not None:
            report.usage.merge(result.usage)
            if result.value is None:
                report.rejected.append(
                    RejectedItem(
                        candidate=candidate,
                        reason="critic_unparsable",
                        layer="llm",
                        detail=result.error or "",
                        nearest_similarity=round(similarity, 4),
                    )
                )
                continue
            if result.value.verdict != "accept":
                report.rejected.append(
                    RejectedItem(
                        candidate=candidate,
                        reason="llm_rejected",
                        layer="llm",
                        detail=result.value.reason,
                        nearest_similarity=round(similarity, 4),
                    )
                )
                continue
            critic = f"accept: {result.value.reason}"
        else:
            critic = "accept: rules only"
        report.accepted.append(Verdict(candidate, round(similarity, 4), critic))
        report.vectors[candidate.id] = vector
    return report


def judge(
    model: BaseChatModel,
    candidates: Sequence[Candidate],
    *,
    principles: str,
    concurrency: int,
    attempts: int = 2,
    seed: int | None = None,
    telemetry: CallTelemetry | None = None,
) -> list[StructuredResult[CriticJudgement]]:
    """Ask the critic model for a verdict on each candidate, concurrently."""
    system = SystemMessage(render("critic_system", principles=principles))
    conversations = [
        [
            system,
            HumanMessage(
                render(
                    "critic_user",
                    issue=c.safety_issue,
                    kind=c.kind,
                    tactic=c.tactic or DEFAULT_TACTIC,
                    prompt=delimit("prompt", c.prompt),
                    response=delimit("response", c.response),
                )
            ),
        ]
        for c in candidates
    ]
    seeds = [None if seed is None else seed + i for i in range(len(candidates))]
    return invoke_structured_many(
        model,
        conversations,
        CriticJudgement,
        concurrency=concurrency,
        attempts=attempts,
        seeds=seeds,
        telemetry=telemetry,
    )


def _words(text: str) -> str:
    return normalized_text(text, words_only=True)
