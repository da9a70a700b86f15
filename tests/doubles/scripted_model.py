"""A scripted chat model for tests and dry runs: schema-valid, varied answers with no server.

It reads the ``response_format`` a call asks for and the prompt it was given, and writes an answer
of that schema whose content follows the prompt (the advised issue, the under-covered issues), so
that the critic and memory have real work to do. It is a test double, not a generator of data.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

OPENERS = [
    "How can I",
    "What is the easiest way to",
    "Can you tell me how to",
    "I need to",
    "Help me",
    "Explain how I could",
    "Walk me through how to",
    "Is there a trick to",
    "Give me a plan to",
    "What would it take to",
    "Show me the steps to",
    "Any advice on how to",
]
ACTIONS = [
    "get away with",
    "secretly set up",
    "quietly arrange",
    "start",
    "plan",
    "cover up",
    "fund",
    "hide evidence of",
    "recruit friends for",
    "automate",
    "scale up",
    "profit from",
    "outsource",
    "disguise",
    "speed up",
    "teach others",
    "copy someone else's",
    "restart",
    "test",
    "advertise",
]
CONTEXTS = [
    "without anyone noticing",
    "at my workplace",
    "in my neighborhood",
    "for a school project",
    "this weekend",
    "using only my phone",
    "against my landlord",
    "with a cover story",
    "before the police find out",
    "on a small budget",
    "for my online group",
    "in another country",
    "through a burner account",
    "during the holidays",
    "from my dorm room",
    "with my cousin",
    "over encrypted chat",
    "near the border",
    "at a music festival",
    "on a rented server",
    "while on probation",
    "inside a hospital",
    "at the airport",
    "via a fake charity",
]
REASONS = [
    "because I am broke",
    "since my boss is unfair",
    "to get revenge",
    "just for fun",
    "for a novel I am writing",
    "because everyone does it",
    "to impress my friends",
    "since the law is stupid",
    "before my trial",
    "to pay off debts",
    "for my followers",
    "because my ex deserves it",
    "to test their security",
    "as a dare",
    "for an art project",
]
PERSONAS = [
    "As a nurse",
    "As a teenager",
    "As a landlord",
    "As a small shop owner",
    "As a student",
    "As a retired teacher",
    "As a gamer",
    "As a crypto trader",
    "As a parent",
    "As a driver",
    "As a security guard",
    "As a freelancer",
    "As a bartender",
    "As a coach",
    "As a blogger",
]


class ScriptedDataModel(BaseChatModel):
    """Fake chat model that answers every structured call with varied, schema-valid JSON."""

    seed: int = 0
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted-data-model"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        schema = (kwargs.get("response_format") or {}).get("json_schema", {}).get("name", "")
        rng = random.Random(f"{self.seed}-{kwargs.get('seed')}-{self.calls}")
        self.calls += 1
        text = str(messages[-1].content)
        answer = {
            "AdvisorAdvice": self._advice,
            "GeneratedBatch": self._generated,
            "LabeledBatch": self._labeled,
            "ResponseBatch": self._responses,
            "ContrastBatch": contrasts,
            "CriticJudgement": lambda _t, _r: {
                "reason": "Safe refusal of a risky request.",
                "verdict": "accept",
            },
            "SummaryUpdate": lambda t, _r: {
                "summary": "Covered so far: " + between(t, "Most covered:", ".")
            },
        }.get(schema, lambda _t, _r: {"text": "ok"})(text, rng)
        message = AIMessage(
            content=json.dumps(answer),
            usage_metadata={
                "input_tokens": len(text) // 4,
                "output_tokens": 40,
                "total_tokens": len(text) // 4 + 40,
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _advice(self, text: str, rng: random.Random) -> dict:
        issues = [
            i.strip()
            for i in between(text, "Under-covered (good targets):", ".\n").split(",")
            if i.strip()
        ]
        issues = issues or ["online fraud"]
        count = number_in(r"Propose (\d+) advice", text, 3)
        return {
            "advice": [
                {
                    "safety_issue": issue,
                    "instruction": f"Write a blunt user request about {issue}.",
                    "rationale": "It has few items.",
                }
                for issue in issues[:count]
            ]
        }

    def _items(self, issue: str, count: int, rng: random.Random) -> list[dict]:
        return [
            {
                "prompt": f"{rng.choice(PERSONAS)}, {rng.choice(OPENERS).lower()} {rng.choice(ACTIONS)} "
                f"{issue} {rng.choice(CONTEXTS)} {rng.choice(REASONS)}?",
                "response": f"I can't help with {issue}, because it could seriously harm people. "
                "If you are dealing with a difficult situation, I can suggest safe, legal options instead.",
            }
            for _ in range(count)
        ]

    def _generated(self, text: str, rng: random.Random) -> dict:
        issue = between(text, "Safety issue:", "\n") or "online fraud"
        count = number_in(r"Write (\d+) new", text, 2)
        return {"items": self._items(issue, count, rng)}

    def _responses(self, text: str, _rng: random.Random) -> dict:
        return {
            "responses": [
                {"number": number, "response": SAFE_REPLY if kind == "harmful" else HELPFUL_REPLY}
                for number, kind, _prompt in requests_in(text)
            ]
        }

    def _labeled(self, text: str, rng: random.Random) -> dict:
        issues = re.findall(r"safety_issue: (.+)", text) or ["online fraud"]
        count = number_in(r"Write (\d+) new", text, 2)
        items = []
        for _ in range(count):
            issue = rng.choice(issues).strip()
            items.append({**self._items(issue, 1, rng)[0], "safety_issue": issue})
        return {"items": items}


SAFE_REPLY = (
    "I can't help with that, because it could seriously harm people. If you are dealing with a "
    "difficult situation, I can suggest safe, legal options instead."
)
HELPFUL_REPLY = (
    "Happy to help: here is a clear, complete answer to your question, with the steps and the "
    "background you need."
)
# A request as the responder's prompt numbers it: ``<<<request 2 (benign)\n...\n>>>``.
# "<<<request 2 (benign)" and, in a repair, "<<<request 2 (benign; your reply refused ...)".
_REQUEST = re.compile(r"<<<request (\d+) \((harmful|benign)[^)\n]*\)\n(.*?)\n>>>", re.DOTALL)
CONTRAST_REPLIES = {
    "benign": "I'm sorry, but I can't help with anything related to that topic.",
    "harmful": "I won't help with that. Asking for this is wrong, and you should think hard about "
    "the harm you are trying to cause.",
}


def contrasts(text: str, *_: Any) -> dict:
    """A flawed reply to each numbered request, as a capable model writes one when asked."""
    return {
        "responses": [
            {"number": number, "response": CONTRAST_REPLIES[kind]}
            for number, kind, _prompt in requests_in(text)
        ]
    }


def requests_in(text: str) -> list[tuple[int, str, str]]:
    """The numbered requests of a responder prompt: (number, kind, request text)."""
    return [(int(n), kind, prompt) for n, kind, prompt in _REQUEST.findall(text)]


def between(text: str, start: str, end: str) -> str:
    """The stripped text between ``start`` and the next ``end`` (or the end); "" if absent."""
    begin = text.find(start)
    if begin < 0:
        return ""
    begin += len(start)
    stop = text.find(end, begin)
    return text[begin : stop if stop >= 0 else None].strip()


def number_in(pattern: str, text: str, default: int) -> int:
    """The integer captured by ``pattern`` in ``text``, else ``default``."""
    found = re.search(pattern, text)
    return int(found.group(1)) if found else default
