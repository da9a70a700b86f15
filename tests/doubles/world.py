"""A test double for a *capable* model, living in a fixed, hand-written world of safety issues.

The embedded 135M model is too weak to show whether steering works, and ``ScriptedDataModel``
writes about whatever issue it is told. ``WorldModel`` stands in for a capable model whose
knowledge is a closed world (``world_issues.jsonl``, our own writing): ~40 fine-grained safety
issues, each with a Zipf-like prevalence (how often an unsteered generator thinks of it), ten
distinct user requests and one safe response. It answers every structured call of the loop:

- ``AdvisorAdvice``: reads the coverage statistics and the running summary in the prompt and
  advises world issues no item covers yet (drawn by prevalence, as a real model recalls common
  issues first), then the least covered ones; never a saturated one.
- ``GeneratedBatch`` (data-advisor): writes about the advised issue; an issue outside the world
  makes it drift to its favourites (sampled by prevalence).
- ``LabeledBatch`` (self-instruct): picks issues by prevalence, so common issues are over-sampled,
  and names each item's issue.
- ``CriticJudgement``: accept. ``SummaryUpdate``: the covered issues with their item counts.

Each item takes the next unused request of its issue (a seeded order per issue); an issue repeats
only once its ten requests are used up, and the critic's redundancy check then rejects the repeat.
Answers are deterministic for a given seed and per-call seed; the counters are lock-protected.
"""

from __future__ import annotations

import json
import random
import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from tests.doubles.scripted_model import between, number_in, requests_in

WORLD_FILE = Path(__file__).with_name("world_issues.jsonl")
# The world has no benign look-alikes yet (every response declines): runs in it ask for none.
WORLD_BENIGN_SHARE = 0.0
# Defaults when a prompt does not say how many items or advice items it wants.
DEFAULT_ADVICE_COUNT = 3
DEFAULT_ITEM_COUNT = 1
DEFAULT_SUMMARY_CHARS = 1200
INSTRUCTION_MAX_CHARS = 200  # agents.schemas caps an advice instruction at this
CHARS_PER_TOKEN = 4  # rough token count for the usage the server reports
# "name (count)" as the coverage statistics and this model's summaries write it.
_COUNTED = re.compile(r"([a-z][a-z0-9' /&-]*?) \((\d+)\)")
_ITEM_ISSUE = re.compile(r"<<<item\n([^:\n]+):")
ACCEPT = {
    "reason": "A risky request about the issue with a safe, helpful refusal.",
    "verdict": "accept",
}


@dataclass(frozen=True)
class WorldIssue:
    """One fine-grained safety issue of the world and everything a model can write about it."""

    name: str
    prevalence: float
    description: str
    response: str
    prompts: tuple[str, ...]


@cache
def load_world(path: Path = WORLD_FILE) -> tuple[WorldIssue, ...]:
    """The world's issues, most prevalent first."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    issues = [WorldIssue(**{**row, "prompts": tuple(row["prompts"])}) for row in rows]
    return tuple(sorted(issues, key=lambda issue: -issue.prevalence))


class WorldModel(BaseChatModel):
    """Chat model answering the loop's structured calls like a capable model in the world."""

    seed: int = 0
    world_file: Path = WORLD_FILE
    _world: tuple[WorldIssue, ...] = PrivateAttr()
    _by_name: dict[str, WorldIssue] = PrivateAttr()
    _by_prompt: dict[str, str] = PrivateAttr()
    _used: Counter[str] = PrivateAttr(default_factory=Counter)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _calls: int = PrivateAttr(default=0)

    def model_post_init(self, context: Any, /) -> None:
        """Load the world once the fields are set."""
        super().model_post_init(context)
        self._world = load_world(self.world_file)
        self._by_name = {issue.name: issue for issue in self._world}
        self._by_prompt = {p: issue.name for issue in self._world for p in issue.prompts}

    @property
    def _llm_type(self) -> str:
        return "world-model"

    @property
    def issues(self) -> tuple[WorldIssue, ...]:
        """The world's issues, most prevalent first."""
        return self._world

    def issue_of(self, prompt: str) -> str | None:
        """The world issue a prompt was written for (``None`` if it is not from this world)."""
        return self._by_prompt.get(prompt.strip())

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        schema = (kwargs.get("response_format") or {}).get("json_schema", {}).get("name", "")
        call_seed = kwargs.get("seed")
        if call_seed is None:  # no per-call seed: fall back to the call order
            with self._lock:
                self._calls += 1
                call_seed = f"call-{self._calls}"
        rng = random.Random(f"{self.seed}-{schema}-{call_seed}")
        text = str(messages[-1].content)
        answers = {
            "AdvisorAdvice": self._advice,
            "GeneratedBatch": self._generated,
            "LabeledBatch": self._labeled,
            "ResponseBatch": self._responses,
            "CriticJudgement": lambda _text, _rng: ACCEPT,
            "SummaryUpdate": self._summary,
        }
        answer = json.dumps(answers.get(schema, lambda _t, _r: {"text": "ok"})(text, rng))
        tokens_in = sum(len(str(m.content)) for m in messages) // CHARS_PER_TOKEN
        tokens_out = len(answer) // CHARS_PER_TOKEN
        message = AIMessage(
            content=answer,
            usage_metadata={
                "input_tokens": tokens_in,
                "output_tokens": tokens_out,
                "total_tokens": tokens_in + tokens_out,
            },
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    # -- the roles ---------------------------------------------------------------------------
    def _advice(self, text: str, rng: random.Random) -> dict:
        count = number_in(r"Propose (\d+) advice", text, DEFAULT_ADVICE_COUNT)
        coverage = _block(text, "coverage")
        saturated = {
            n.strip() for n in between(coverage, "Saturated (do not advise):", ".\n").split(",")
        }
        counts = covered_counts(_block(text, "summary"), coverage)
        allowed = [issue for issue in self._world if issue.name not in saturated]
        fresh = [issue for issue in allowed if not counts.get(issue.name)]
        picks = _weighted_sample(fresh, count, rng)
        rest = sorted(
            (issue for issue in allowed if issue not in picks),
            key=lambda issue: (counts.get(issue.name, 0), -issue.prevalence),
        )
        picks += rest[: count - len(picks)]
        return {
            "advice": [
                {
                    "safety_issue": issue.name,
                    "instruction": advice_instruction(issue),
                    "rationale": f"The dataset has {counts.get(issue.name, 0)} items on it.",
                }
                for issue in picks
            ]
        }

    def _generated(self, text: str, rng: random.Random) -> dict:
        issue = self._by_name.get(between(text, "Safety issue:", "\n").lower())
        count = number_in(r"Write (\d+) new", text, DEFAULT_ITEM_COUNT)
        return {"items": [self._item(issue or self._sample(rng)) for _ in range(count)]}

    def _labeled(self, text: str, rng: random.Random) -> dict:
        count = number_in(r"Write (\d+) new", text, DEFAULT_ITEM_COUNT)
        items = []
        for _ in range(count):
            issue = self._sample(rng)
            items.append({"safety_issue": issue.name, **self._item(issue)})
        return {"items": items}

    def _responses(self, text: str, _rng: random.Random) -> dict:
        """The world's safe response to each numbered request of its own."""
        responses = []
        for number, _kind, prompt in requests_in(text):
            issue = self._by_name.get(self.issue_of(prompt) or "")
            response = (
                issue.response
                if issue
                else "I can't help with that, but I can suggest safe options."
            )
            responses.append({"number": number, "response": response})
        return {"responses": responses}

    def _summary(self, text: str, _rng: random.Random) -> dict:
        # The previous summary plus this round's items; the coverage already counts them.
        counts = covered_counts(
            _block(text, "summary"), _block(text, "coverage"), _ITEM_ISSUE.findall(text)
        )
        limit = number_in(r"at most (\d+) characters", text, DEFAULT_SUMMARY_CHARS)
        listed = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        summary = "Covered issues (items so far): " + ", ".join(f"{n} ({c})" for n, c in listed)
        summary += ". Gaps: every other safety issue."
        while len(summary) > limit and listed:  # drop the least covered names to fit
            listed.pop()
            summary = (
                "Covered issues (items so far): " + ", ".join(f"{n} ({c})" for n, c in listed) + "."
            )
        return {"summary": summary}

    # -- the world ---------------------------------------------------------------------------
    def _sample(self, rng: random.Random) -> WorldIssue:
        """An issue drawn by prevalence: what an unsteered generator writes about."""
        return rng.choices(self._world, weights=[i.prevalence for i in self._world])[0]

    def _item(self, issue: WorldIssue) -> dict[str, str]:
        """The issue's next unused request (its ten requests in a seeded order), and the response."""
        order = list(range(len(issue.prompts)))
        random.Random(f"{self.seed}-{issue.name}").shuffle(order)
        with self._lock:
            turn = self._used[issue.name]
            self._used[issue.name] += 1
        return {"prompt": issue.prompts[order[turn % len(order)]], "response": issue.response}


def advice_instruction(issue: WorldIssue) -> str:
    """What the advisor asks the generator to write for an issue (one sentence)."""
    text = f"Write a realistic user request about {issue.name}: {issue.description}."
    return text[:INSTRUCTION_MAX_CHARS]


def covered_counts(summary: str, coverage: str, new_items: Sequence[str] = ()) -> Counter[str]:
    """Items per issue: a summary's counts plus ``new_items``, raised to the coverage's counts."""
    counts: Counter[str] = Counter()
    for name, count in _COUNTED.findall(summary):
        counts[name.strip()] = max(counts[name.strip()], int(count))
    counts.update(name.strip() for name in new_items)
    for name, count in _COUNTED.findall(between(coverage, "Most covered:", ".\n")):
        counts[name.strip()] = max(counts[name.strip()], int(count))
    return counts


def _weighted_sample(issues: list[WorldIssue], k: int, rng: random.Random) -> list[WorldIssue]:
    """Up to ``k`` issues drawn by prevalence without replacement (Efraimidis-Spirakis keys)."""
    keyed = sorted(issues, key=lambda issue: rng.random() ** (1.0 / issue.prevalence), reverse=True)
    return keyed[:k]


def _block(text: str, label: str) -> str:
    """The text inside ``<<<label ... >>>`` (see ``prompts.delimit``), or ``""``."""
    return between(text, f"<<<{label}\n", "\n>>>")
