"""The grid the loop fills: hazard x safety issue x tactic x kind.

Hazards are the user's taxonomy (``--taxonomy``), fixed for a run. Safety issues and tactics are
open registries in memory: the advisor may propose new ones, merged by meaning. Kinds are
``harmful`` and ``benign`` (look-alikes safe to answer), in the share ``--benign-share`` asks for.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agents.issue_names import normalize_issue_name
from agents.schemas import DEFAULT_TACTIC, Kind
from memory.store import Memory, normalized_text

# A category code before a hazard's name, as benchmarks number them ("S8: ", "H-3. ", "2) ").
_CODE = re.compile(r"^\s*[a-z]{0,3}-?\d{1,3}\s*[:.)-]\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Taxonomy:
    """The run's top-level hazard categories, by canonical name, with their descriptions."""

    hazards: dict[str, str]

    @classmethod
    def from_rows(cls, rows: Sequence[dict[str, str]]) -> Taxonomy:
        """A taxonomy from ``name``/``description`` records (``--taxonomy``)."""
        return cls({normalized_text(r["name"]): str(r.get("description") or "") for r in rows})

    @property
    def names(self) -> list[str]:
        return list(self.hazards)

    def render(self) -> str:
        """One line per hazard, for a prompt."""
        return "\n".join(f"- {name}: {text}".rstrip(": ") for name, text in self.hazards.items())

    def place(self, memory: Memory, proposed: Sequence[str], texts: Sequence[str]) -> list[str]:
        """Each item's hazard: its ``proposed`` name where that names a hazard of the taxonomy
        (decoration and case aside: "S8: Non-Violent Crimes"), else the hazard nearest by meaning
        to its ``texts`` (an issue name and description)."""
        placed = [self.match(name) for name in proposed]
        missing = [i for i, name in enumerate(placed) if not name]
        if missing and self.hazards:
            names = self.names
            hazard_vectors = memory.embed([f"{n}: {self.hazards[n]}" for n in names])
            vectors = memory.embed([texts[i] for i in missing])
            for i, vector in zip(missing, vectors, strict=True):
                placed[i] = names[int((hazard_vectors @ vector).argmax())]
        return placed

    def match(self, proposed: str) -> str:
        """The taxonomy's hazard that ``proposed`` names, or ``""``."""
        name = normalize_issue_name(_CODE.sub("", proposed or "")) or ""
        if name in self.hazards:
            return name
        for hazard in self.hazards:  # "non-violent crimes (fraud, theft)" names one too
            if name.startswith(hazard) or (len(name) > 3 and hazard.startswith(name)):
                return hazard
        return ""


# Words compared by this many first letters when matching tactic names (see ``known_tactic``).
TACTIC_STEM = 5
_TACTIC_STOPWORDS = frozenset(
    {"a", "an", "and", "as", "by", "e", "g", "eg", "for", "of", "or", "the", "to", "with"}
)
# Words that say a text is a tactic, not which one ("academic research framing", "prompt
# injection"): they never pick a tactic by its description.
_TACTIC_GENERIC = frozenset(
    {
        "approach", "ask", "asks", "asking", "assistant", "attack", "frame", "framed", "framing",
        "harmful", "method", "model", "prompt", "request", "scenario", "strategy", "style",
        "tactic", "technique", "user",
    }
)  # fmt: skip


def canonical_tactic(raw: str) -> str:
    """A tactic as models write it ("Role-play / fiction", "**Hypothetical**") in canonical form;
    a missing or unusable name is a direct request."""
    return normalize_issue_name(raw or "") or DEFAULT_TACTIC


def known_tactic(proposed: str, described: Mapping[str, str]) -> str:
    """The known tactic (``described``: name -> description) a proposed name spells out in other
    words, else ``proposed`` unchanged.

    Capable models name a tactic in their own words ("Role-play / fiction framing", "Urgency &
    emotional pressure", "Continuation of a prior conversation"), which sentence embeddings place
    below the merge threshold (all-MiniLM-L6-v2: 0.62-0.77 for those). A known tactic is meant when
    the proposal holds all of its words, or two of them (words compared by their first
    ``TACTIC_STEM`` letters, so "continuing" meets "continuation"); the most shared words win.
    Failing that, the tactic a proposal's telling words point to (words that only say "a tactic",
    such as "framing", do not count): a word of its name counts 2, a word of its description 1,
    and the best tactic wins with 2 or more, ahead of every other. "Academic research framing" is
    "research or journalism pretext", "thought experiment" is "hypothetical" ("Poses the request
    as a thought experiment or a what-if question"), "third-party attribution" is "asking for a
    friend" ("Attributes the need to a third person"); one word of a description is not enough
    ("persona adoption" is not "asking for a friend").
    """
    words = _stems(proposed)
    best, shared = proposed, 0
    for name in sorted(described, key=len):
        theirs = _stems(name)
        common = len(words & theirs)
        if theirs and (theirs <= words or common >= 2) and common > shared:
            best, shared = name, common
    if shared:
        return best
    telling = words - _GENERIC_STEMS
    scores = sorted(
        (
            (2 * len(telling & _stems(name)) + len(telling & (_stems(text) - _stems(name))), name)
            for name, text in described.items()
        ),
        reverse=True,
    )
    if scores and scores[0][0] >= 2 and (len(scores) == 1 or scores[0][0] > scores[1][0]):
        return scores[0][1]
    return proposed


def _stems(name: str) -> frozenset[str]:
    """A name's words by their first ``TACTIC_STEM`` letters, a plural's "s" dropped first."""
    tokens = re.findall(r"[a-z0-9]+", name.lower())
    return frozenset(
        (t[:-1] if len(t) > 3 and t.endswith("s") else t)[:TACTIC_STEM]
        for t in tokens
        if t not in _TACTIC_STOPWORDS
    )


_GENERIC_STEMS = _stems(" ".join(_TACTIC_GENERIC))


def benign_slots(count: int, share: float, benign_items: int, total_items: int) -> int:
    """How many of a round's ``count`` advice items ask for benign look-alikes, so that the
    dataset moves toward ``share`` of them (``0`` never asks for one, ``1`` always does).

    The deficit picks between the two whole numbers nearest ``share * count``, never beyond:
    when benign items keep failing, the round must not turn all benign and starve the rest.
    """
    if share <= 0:
        return 0
    if share >= 1:
        return count
    wanted = math.floor(share * (total_items + count) - benign_items + 0.5)
    return max(math.floor(share * count), min(math.ceil(share * count), wanted))


def kinds_for_round(count: int, benign: int) -> list[Kind]:
    """The kind of each advice slot: the harmful slots first."""
    harmful: list[Kind] = ["harmful"] * (count - benign)
    return harmful + ["benign"] * benign
