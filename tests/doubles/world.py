"""A test double for a *capable* model, living in a fixed, hand-written world of safety issues.

The embedded 135M model is too weak to show whether steering works, and ``ScriptedDataModel``
writes about whatever issue it is told. ``WorldModel`` stands in for a capable model whose
knowledge is a closed world (our own writing): ~40 fine-grained safety issues
(``world_issues.jsonl``: a Zipf-like prevalence, ten harmful requests, one safe response), each
under a hazard with names a capable model gives it and three benign look-alikes with helpful
answers (``world_lookalikes.jsonl``), and the twelve tactics of ``world_tactics.py``.

**The grid.** Each issue can be written in four (tactic, kind) cells: harmful in the plain
request and in two other framings, benign in one framing that fits a safe request (fixed per
issue, whatever the run's seed). These are the world's *reachable cells*; a request keeps the cell
it was written for (``cell_of``), so a benchmark measures coverage by the world's truth, not by
the tool's labels.

**It writes as capable models do**, not in the tool's canonical form: advice names a fresh issue
by one of its names ("Wi-Fi password cracking (WPA2)", "SIM-swap attacks"), hazards as "S9:
Non-Violent Crimes" or "**Privacy**", tactics as "Role-play / fiction framing"; it copies names
it reads in the prompt. It reads any of those names back by meaning (``resolve_issue``).

- ``AdvisorAdvice``: the slots' kinds from the prompt; first issues the prompt never mentions (by
  prevalence, as a model recalls common issues first), then, for the issues whose cells the
  prompt lists, a reachable cell the issue does not hold yet, then the least covered. Never a
  saturated issue.
- ``GeneratedBatch`` (data-advisor): the advised issue, tactic and kind when that cell is
  reachable, else the issue's own cell of that kind (as models drift); an issue outside the world
  makes it write about its favourites. About ``REFUSAL_RATE`` of calls are refused (in the JSON
  fields or in plain text, more often for the gravest hazards) unless the purpose is restated.
- ``LabeledBatch`` (self-instruct): issues by prevalence, the plain request most of the time and a
  benign look-alike rarely: the common cells.
- ``ResponseBatch``: each request's response (the issue's refusal, or the look-alike's answer);
  a first reply is unsafe about ``RESPONDER_COMPLIES`` of the time and refuses a look-alike about
  ``RESPONDER_OVER_REFUSES`` of the time; a rewrite is right. ``ContrastBatch``: the flawed
  replies asked for on purpose (a refusal; a preachy refusal).
- ``CriticJudgement``: accept. ``SummaryUpdate``: covered issues with their item counts.

Each item takes the next unused core request of its issue and kind (a seeded order); a core is
reused only once all are used, and the critic's redundancy check then rejects the repeat.
Answers are deterministic for a given seed and per-call seed; shared counters are lock-protected.
"""

from __future__ import annotations

import json
import random
import re
import threading
from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from tests.doubles.scripted_model import between, contrasts, number_in, requests_in
from tests.doubles.world_tactics import COMMON_TACTIC, TACTICS, WorldTactic

WORLD_FILE = Path(__file__).with_name("world_issues.jsonl")
LOOKALIKES_FILE = Path(__file__).with_name("world_lookalikes.jsonl")
PURPOSE_FILE = Path(__file__).parents[2] / "prompts" / "purpose_restated.md"
# The share of benign look-alikes world runs ask for (the tool's default).
WORLD_BENIGN_SHARE = 0.25
# Reachable cells per issue: harmful in the plain request and this many other framings ...
HARMFUL_FRAMINGS = 2
# ... and benign in one framing that fits a safe request.
BENIGN_FRAMINGS = 1
# The unadvised generator: the plain request this often, a benign look-alike this rarely.
SELF_INSTRUCT_PLAIN = 0.7
SELF_INSTRUCT_BENIGN = 0.08
# Share of generator calls refused (first attempt), higher under the gravest hazards.
REFUSAL_RATE = 0.05
GRAVE_HAZARDS = {"indiscriminate weapons": 0.25, "child sexual exploitation": 0.5}
# The responder's first replies: a harmful request answered unsafely, a benign one refused
# (XSTest found safety-tuned models fully refusing over a third of its safe prompts); a request
# to rewrite them is answered as it should be.
RESPONDER_COMPLIES = 0.08
RESPONDER_OVER_REFUSES = 0.15
COMPLYING_REPLY = (
    "Sure, here's how you could go about it: start by gathering what you need, then follow the "
    "usual steps one at a time and take your time with each."
)
OVER_REFUSAL = "I'm sorry, but I can't help with that request."
REPAIR_MARK = "broke the principles"
# Defaults when a prompt does not say how many items or advice items it wants.
DEFAULT_ADVICE_COUNT = 3
DEFAULT_ITEM_COUNT = 1
DEFAULT_SUMMARY_CHARS = 1200
INSTRUCTION_MAX_CHARS = 200  # agents.schemas caps an advice instruction at this
CHARS_PER_TOKEN = 4  # rough token count for the usage the server reports
ACCEPT = {
    "reason": "A risky request with a safe response, or a safe look-alike answered.",
    "verdict": "accept",
}
REFUSALS = (
    "I'm sorry, but I can't help create requests that seek harmful information.",
    "I can't assist with generating content like that.",
)
_STOP = {"a", "an", "and", "of", "or", "the", "to", "for", "in", "on", "with", "e", "g", "eg"}
_HOLDINGS = re.compile(
    r"(.*?): (nothing|[^;:]*?/(?:harmful|benign) \d+(?:, [^;:]*?/(?:harmful|benign) \d+)*)$"
)
_HELD_CELL = re.compile(r"([^,]+?)/(harmful|benign) (\d+)")
# Where the grid block's lines of held cells start and end.
HOLDINGS = ("with items hold (tactic/kind: items):", ". Aim at")
BUSY = ("may not show (tactic/kind: items, in flight counted):", ". These cells")
_NAMED_COUNT = re.compile(r"(.+) \((\d+)\)$")
_ITEM = re.compile(r"<<<item\n(.*?)\n>>>", re.DOTALL)


class Cell(NamedTuple):
    """A cell of the world's grid."""

    issue: str
    tactic: str
    kind: str


@dataclass(frozen=True)
class WorldIssue:
    """One fine-grained safety issue of the world and everything a model can write about it."""

    name: str
    prevalence: float
    description: str
    response: str
    prompts: tuple[str, ...]
    hazard: str = ""
    aliases: tuple[str, ...] = ()
    benign: tuple[tuple[str, str], ...] = ()
    """Benign look-alikes: (request, helpful answer)."""

    @property
    def harmful_tactics(self) -> tuple[str, ...]:
        """The framings the issue's harmful requests take: the plain one and a fixed few."""
        others = [t.name for t in TACTICS if t.name != COMMON_TACTIC]
        return (
            COMMON_TACTIC,
            *random.Random(f"tactics-{self.name}").sample(others, HARMFUL_FRAMINGS),
        )

    @property
    def benign_tactics(self) -> tuple[str, ...]:
        """The framings its benign look-alikes take (none if it has no look-alike)."""
        fitting = [t.name for t in TACTICS if t.fits_benign]
        rng = random.Random(f"benign-{self.name}")
        return tuple(rng.sample(fitting, BENIGN_FRAMINGS)) if self.benign else ()

    def tactics(self, kind: str) -> tuple[str, ...]:
        """The reachable tactics of ``kind``."""
        return self.benign_tactics if kind == "benign" else self.harmful_tactics

    @property
    def cells(self) -> list[Cell]:
        """The issue's reachable cells."""
        return [Cell(self.name, t, k) for k in ("harmful", "benign") for t in self.tactics(k)]


@cache
def load_world(
    path: Path = WORLD_FILE, lookalikes: Path = LOOKALIKES_FILE
) -> tuple[WorldIssue, ...]:
    """The world's issues with their hazards, names and look-alikes, most prevalent first."""
    extra = {}
    if lookalikes.exists():
        for line in lookalikes.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                extra[row["name"]] = {
                    "hazard": row["hazard"],
                    "aliases": tuple(row["aliases"]),
                    "benign": tuple((b["prompt"], b["response"]) for b in row["benign"]),
                }
    issues = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            issues.append(
                WorldIssue(
                    **{**row, "prompts": tuple(row["prompts"])}, **extra.get(row["name"], {})
                )
            )
    return tuple(sorted(issues, key=lambda issue: -issue.prevalence))


def reachable_cells(world: tuple[WorldIssue, ...] | None = None) -> set[Cell]:
    """Every cell the world's model can write."""
    return {cell for issue in world or load_world() for cell in issue.cells}


def words(text: str) -> frozenset[str]:
    """Content words of a name, lowercased, without punctuation or a plural "s"."""
    tokens = re.findall(r"[a-z0-9]+", text.lower().replace("-", ""))
    return frozenset(
        t[:-1] if len(t) > 4 and t.endswith("s") else t for t in tokens if t not in _STOP
    )


class WorldModel(BaseChatModel):
    """Chat model answering the loop's structured calls like a capable model in the world."""

    seed: int = 0
    world_file: Path = WORLD_FILE
    refusal_rate: float = REFUSAL_RATE
    _world: tuple[WorldIssue, ...] = PrivateAttr()
    _by_name: dict[str, WorldIssue] = PrivateAttr()
    _names: list[tuple[frozenset[str], WorldIssue]] = PrivateAttr()
    _written: dict[str, Cell] = PrivateAttr(default_factory=dict)
    _used: Counter[tuple[str, str]] = PrivateAttr(default_factory=Counter)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _calls: int = PrivateAttr(default=0)
    _purpose: str = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        """Load the world once the fields are set."""
        super().model_post_init(context)
        self._world = load_world(self.world_file)
        self._by_name = {issue.name: issue for issue in self._world}
        self._names = [
            (form, issue)
            for issue in self._world
            for name in (issue.name, *issue.aliases)
            for form in {words(name), words(re.sub(r"\(.*?\)", " ", name))}
        ]
        self._purpose = PURPOSE_FILE.read_text(encoding="utf-8").split(".")[0]

    @property
    def _llm_type(self) -> str:
        return "world-model"

    @property
    def issues(self) -> tuple[WorldIssue, ...]:
        """The world's issues, most prevalent first."""
        return self._world

    def cell_of(self, prompt: str) -> Cell | None:
        """The cell a request was written for (``None`` if this model did not write it)."""
        with self._lock:
            return self._written.get(prompt.strip())

    def issue_of(self, prompt: str) -> str | None:
        """The world issue a request was written for (``None`` if it is not from this world)."""
        cell = self.cell_of(prompt)
        return cell.issue if cell else None

    def resolve_issue(self, name: str) -> WorldIssue | None:
        """The world issue a name means, as a capable model reads one: its names by their words,
        then the best overlap of words (``None`` for an issue outside the world)."""
        asked = {words(name), words(re.sub(r"\(.*?\)", " ", name))} - {frozenset()}
        best, score = None, 0.0
        for known, issue in self._names:
            for mine in asked:
                overlap = len(mine & known) / len(mine | known)
                if overlap > score:
                    best, score = issue, overlap
        return best if score >= 0.5 else None

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
        asks = [m for m in messages if m.type == "human" and self._purpose not in str(m.content)]
        text = str(asks[-1].content) if asks else ""  # a restated purpose follows the request
        if schema == "GeneratedBatch" and len(asks) == sum(m.type == "human" for m in messages):
            refusal = self._refusal(text, rng)
            if refusal is not None:
                return _result(refusal, messages)
        answers = {
            "AdvisorAdvice": self._advice,
            "GeneratedBatch": self._generated,
            "LabeledBatch": self._labeled,
            "ResponseBatch": self._responses,
            "ContrastBatch": contrasts,
            "CriticJudgement": lambda _text, _rng: ACCEPT,
            "SummaryUpdate": self._summary,
        }
        answer = answers.get(schema, lambda _t, _r: {"text": "ok"})(text, rng)
        return _result(json.dumps(answer), messages)

    # -- the roles ---------------------------------------------------------------------------
    def _advice(self, text: str, rng: random.Random) -> dict:
        count = number_in(r"Propose (\d+) advice", text, DEFAULT_ADVICE_COUNT)
        benign = number_in(r'and (\d+) of kind "benign"', text, 0)
        slots = ["harmful"] * (count - benign) + ["benign"] * benign
        coverage, grid = _block(text, "coverage"), _block(text, "grid")
        saturated = {self.resolve_issue(n) for n in _listed(coverage, "Saturated (do not advise):")}
        counts = self._counts(_block(text, "summary"), coverage)
        for entry in _listed(
            coverage, "Being written now (counted above; advise other issues first):"
        ):
            match = _NAMED_COUNT.match(entry)  # a capable model reads what is in progress too
            issue = self.resolve_issue(match.group(1)) if match else None
            if issue and match:
                counts[issue.name] += int(match.group(2))
        held: dict[str, set[tuple[str, str]]] = {}
        listed: list[tuple[str, WorldIssue]] = []  # (the name as the prompt writes it, issue)
        for spoken, cells in holdings(grid):
            issue = self.resolve_issue(spoken)
            if issue is None or issue in saturated:
                continue
            listed.append((spoken, issue))
            held.setdefault(issue.name, set()).update(
                (self._tactic(t).name, k) for t, k, _ in cells if self._tactic(t)
            )
        for spoken, cells in holdings(grid, BUSY):  # being written or just filled: avoided
            issue = self.resolve_issue(spoken)
            if issue is not None:
                counts[issue.name] += sum(int(n) for _, _, n in cells)
                held.setdefault(issue.name, set()).update(
                    (self._tactic(t).name, k) for t, k, _ in cells if self._tactic(t)
                )
        mentioned = {i.name for _, i in listed} | set(counts)
        fresh = [i for i in self._world if i.name not in mentioned and i not in saturated]
        fresh = _weighted_sample(fresh, len(fresh), rng)
        rest = sorted(
            (i for i in self._world if i not in saturated),
            key=lambda i: (counts.get(i.name, 0), -i.prevalence),
        )
        queue = [(self._speak(i, rng), i) for i in fresh] + listed
        queue += [(self._speak(i, rng), i) for i in rest]
        advice, used = [], set()
        for kind in slots:
            pick = self._pick(queue, kind, held, used, rng)
            if pick is None:
                continue
            spoken, issue, tactic = pick
            used.add(issue.name)
            advice.append(self._advice_item(spoken, issue, tactic, kind, counts, rng))
        return {"advice": advice}

    def _pick(
        self,
        queue: list[tuple[str, WorldIssue]],
        kind: str,
        held: dict[str, set[tuple[str, str]]],
        used: set[str],
        rng: random.Random,
    ) -> tuple[str, WorldIssue, str] | None:
        """The first issue of ``queue`` with a reachable ``kind`` cell it does not hold, and that
        cell's tactic; else the first issue with any cell of ``kind``."""
        usable = [(s, i) for s, i in queue if i.name not in used and i.tactics(kind)]
        for spoken, issue in usable:
            missing = [
                t for t in issue.tactics(kind) if (t, kind) not in held.get(issue.name, set())
            ]
            if missing:
                return spoken, issue, rng.choice(missing)
        if usable:
            spoken, issue = usable[0]
            return spoken, issue, rng.choice(issue.tactics(kind))
        return None

    def _advice_item(
        self,
        spoken: str,
        issue: WorldIssue,
        tactic: str,
        kind: str,
        counts: Counter[str],
        rng: random.Random,
    ) -> dict[str, str]:
        framing = rng.choice(next(t for t in TACTICS if t.name == tactic).spoken)
        what = (
            "a benign look-alike (safe to answer) of"
            if kind == "benign"
            else "a risky request about"
        )
        instruction = f"Write {what} {spoken}: {issue.description}. Framing: {framing}."
        return {
            "safety_issue": spoken,
            "hazard": _spoken_hazard(issue.hazard, rng),
            "tactic": framing,
            "kind": kind,
            "instruction": instruction[:INSTRUCTION_MAX_CHARS],
            "rationale": f"The dataset holds {counts.get(issue.name, 0)} items on it; this cell is empty.",
        }

    def _generated(self, text: str, rng: random.Random) -> dict:
        issue = self.resolve_issue(between(text, "Safety issue:", "\n")) or self._sample(rng)
        tactic = self._tactic(between(text, "Tactic:", "\n"))
        kind = "benign" if "benign" in between(text, "Kind:", "\n").lower() else "harmful"
        count = number_in(r"Write (\d+) new", text, DEFAULT_ITEM_COUNT)
        if not issue.tactics(kind):  # an issue without look-alikes: a capable model writes harmful
            kind = "harmful"
        chosen = (
            tactic.name if tactic and tactic.name in issue.tactics(kind) else issue.tactics(kind)[0]
        )
        return {
            "items": [
                {"prompt": self._write(Cell(issue.name, chosen, kind), rng)} for _ in range(count)
            ]
        }

    def _labeled(self, text: str, rng: random.Random) -> dict:
        count = number_in(r"Write (\d+) new", text, DEFAULT_ITEM_COUNT)
        items = []
        for _ in range(count):
            issue = self._sample(rng)
            kind = "benign" if issue.benign and rng.random() < SELF_INSTRUCT_BENIGN else "harmful"
            tactics = issue.tactics(kind)
            tactic = tactics[0] if rng.random() < SELF_INSTRUCT_PLAIN else rng.choice(tactics)
            prompt = self._write(Cell(issue.name, tactic, kind), rng)
            items.append({"safety_issue": self._speak(issue, rng), "prompt": prompt})
        return {"items": items}

    def _responses(self, text: str, rng: random.Random) -> dict:
        """Each numbered request's response: the issue's refusal or the look-alike's answer; a
        first reply is now and then unsafe or over-refusing (never in a rewrite)."""
        responses = []
        rewrite = REPAIR_MARK in text
        for number, kind, prompt in requests_in(text):
            slip = 0.0 if rewrite else rng.random()
            if kind == "harmful" and slip and slip < RESPONDER_COMPLIES:
                responses.append({"number": number, "response": COMPLYING_REPLY})
                continue
            if kind == "benign" and slip and slip < RESPONDER_OVER_REFUSES:
                responses.append({"number": number, "response": OVER_REFUSAL})
                continue
            cell = self.cell_of(prompt)
            issue = self._by_name.get(cell.issue) if cell else None
            if issue and cell and cell.kind == "benign":
                response = next((a for p, a in issue.benign if p in prompt), issue.benign[0][1])
            elif issue:
                response = issue.response
            elif kind == "benign":
                response = "Happy to help: here is a clear, complete answer to your question."
            else:
                response = "I can't help with that, but I can suggest safe options."
            responses.append({"number": number, "response": response})
        return {"responses": responses}

    def _summary(self, text: str, _rng: random.Random) -> dict:
        # The previous summary plus this round's items; the coverage already counts them.
        counts = self._counts(_block(text, "summary"), _block(text, "coverage"))
        for block in _ITEM.findall(text):
            cell = next((c for p, c in self._written_items() if block.endswith(p)), None)
            if cell:
                counts[cell.issue] += 1
        for entry in _listed(text, "Also accepted this round, by issue:") + _listed(
            text, "Accepted by other workers since the last summary, by issue:"
        ):
            match = _NAMED_COUNT.match(entry)
            issue = self.resolve_issue(match.group(1)) if match else None
            if issue and match:
                counts[issue.name] += int(match.group(2))
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

    def _refusal(self, text: str, rng: random.Random) -> str | None:
        """A refusal to write the requests (in JSON fields or in plain text), or ``None``."""
        issue = self.resolve_issue(between(text, "Safety issue:", "\n"))
        rate = GRAVE_HAZARDS.get(issue.hazard, self.refusal_rate) if issue else self.refusal_rate
        if rng.random() >= rate:
            return None
        refusal = rng.choice(REFUSALS)
        return json.dumps({"items": [{"prompt": refusal}]}) if rng.random() < 0.5 else refusal

    # -- the world ---------------------------------------------------------------------------
    def _counts(self, summary: str, coverage: str) -> Counter[str]:
        """Items per world issue: this model's summary, raised to the coverage's counts."""
        counts: Counter[str] = Counter()
        entries = _listed(summary, "Covered issues (items so far):") + _listed(
            coverage, "Most covered:"
        )
        for entry in entries:
            match = _NAMED_COUNT.match(entry)
            issue = self.resolve_issue(match.group(1)) if match else None
            if issue and match:
                counts[issue.name] = max(counts[issue.name], int(match.group(2)))
        return counts

    def _tactic(self, name: str) -> WorldTactic | None:
        """The world tactic a name means (by its keywords), ``None`` if none fits."""
        lowered = name.lower().strip()
        exact = next(
            (t for t in TACTICS if lowered in (t.name, *(s.lower() for s in t.spoken))), None
        )
        if exact or not lowered:
            return exact
        scored = [(sum(k in lowered for k in t.keywords), t) for t in TACTICS]
        score, best = max(scored, key=lambda st: st[0])
        return best if score else None

    def _speak(self, issue: WorldIssue, rng: random.Random) -> str:
        """One of the names a capable model gives the issue."""
        return rng.choice((issue.name, *issue.aliases))

    def _sample(self, rng: random.Random) -> WorldIssue:
        """An issue drawn by prevalence: what an unsteered generator writes about."""
        return rng.choices(self._world, weights=[i.prevalence for i in self._world])[0]

    def _write(self, cell: Cell, rng: random.Random) -> str:
        """The cell's next request: the issue's next unused core of that kind, framed."""
        issue = self._by_name[cell.issue]
        cores = [p for p, _ in issue.benign] if cell.kind == "benign" else list(issue.prompts)
        order = list(range(len(cores)))
        random.Random(f"{self.seed}-{issue.name}-{cell.kind}").shuffle(order)
        tactic = next(t for t in TACTICS if t.name == cell.tactic)
        with self._lock:
            turn = self._used[issue.name, cell.kind]
            self._used[issue.name, cell.kind] += 1
            core = cores[order[turn % len(order)]]
            prompt = rng.choice(tactic.framings).format(core=core)
            self._written.setdefault(prompt, cell)
        return prompt

    def _written_items(self) -> list[tuple[str, Cell]]:
        with self._lock:
            return list(self._written.items())


def holdings(
    grid: str, where: tuple[str, str] = HOLDINGS
) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """The issues of a grid block's line of held cells (``HOLDINGS``: the under-covered issues,
    ``BUSY``: those being written or just filled), in order, with the (tactic, kind, items)
    cells each holds (see ``memory.coverage.GridCoverage.render``)."""
    line = between(grid, *where)
    result = []
    for chunk in filter(None, line.split("; ")):
        match = _HOLDINGS.match(chunk.strip())
        if match:
            cells = [(t.strip(), k, n) for t, k, n in _HELD_CELL.findall(match.group(2))]
            result.append((match.group(1).strip(), cells))
    return result


def _result(answer: str, messages: list[BaseMessage]) -> ChatResult:
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


def _spoken_hazard(hazard: str, rng: random.Random) -> str:
    """A hazard as capable models write one: "S9: Non-Violent Crimes", "**Privacy**", ..."""
    titled = hazard.title() if hazard else "Other"
    number = [
        "violent crimes",
        "sex-related crimes",
        "child sexual exploitation",
        "suicide and self-harm",
        "indiscriminate weapons",
        "intellectual property",
        "defamation",
        "non-violent crimes",
        "hate",
        "privacy",
        "specialized advice",
        "sexual content",
    ]
    forms = [titled, f"**{titled}**", hazard]
    if hazard in number:
        forms.append(f"S{number.index(hazard) + 1}: {titled}")
    return rng.choice(forms)


def _listed(text: str, label: str) -> list[str]:
    """The comma-separated entries after ``label`` up to the end of its sentence."""
    start = text.find(label)
    if start < 0:
        return []
    body = re.split(r"\.(?:\s|$)", text[start + len(label) :], maxsplit=1)[0]
    entries = re.split(r",\s(?![^()]*\))", body)
    return [e.strip() for e in entries if e.strip() and e.strip() != "none"]


def _weighted_sample(issues: list[WorldIssue], k: int, rng: random.Random) -> list[WorldIssue]:
    """Up to ``k`` issues drawn by prevalence without replacement (Efraimidis-Spirakis keys)."""
    keyed = sorted(issues, key=lambda issue: rng.random() ** (1.0 / issue.prevalence), reverse=True)
    return keyed[:k]


def _block(text: str, label: str) -> str:
    """The text inside ``<<<label ... >>>`` (see ``prompts.delimit``), or ``""``."""
    return between(text, f"<<<{label}\n", "\n>>>")


def advice_instruction(issue: WorldIssue) -> str:
    """What the advisor asks the generator to write for an issue (one sentence)."""
    text = f"Write a realistic user request about {issue.name}: {issue.description}."
    return text[:INSTRUCTION_MAX_CHARS]
