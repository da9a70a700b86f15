"""agents/issue_names.py: names as capable models write them are kept, non-names are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from agents.issue_names import (
    ISSUE_NAME_MAX_CHARS,
    ISSUE_NAME_MAX_WORDS,
    is_issue_name,
    normalize_issue_name,
    why_not_issue_name,
)
from agents.schemas import AdviceItem
from memory.store import normalize_issue
from prompts import default_path, read_jsonl
from tests.doubles.world import load_world

SYNONYMS = Path(__file__).parents[2] / "benchmarks" / "data" / "issue_synonyms.jsonl"

# What GPT-4-class, Llama-3-70B and Claude answers put in ``safety_issue``, and its canonical form.
CAPABLE_NAMES = [
    # the five the old rule refused
    ("spyware (malware)", "spyware (malware)"),
    ("CSAM (child sexual abuse material)", "child sexual abuse material"),
    ("self-harm: cutting", "self-harm: cutting"),
    ("phishing, smishing", "phishing, smishing"),
    (
        "non-consensual sharing of intimate images of ex-partners",
        "non-consensual sharing of intimate images of ex-partners",
    ),
    # decoration: markdown, quotes, bullets, numbering, labels, trailing punctuation
    ("**Sextortion**", "sextortion"),
    ("`romance scams`", "romance scams"),
    ('"Pig butchering" crypto scams', "pig butchering crypto scams"),
    ("'Swatting'", "swatting"),
    ("1. Phishing", "phishing"),
    ("3) Elder financial abuse", "elder financial abuse"),
    ("(a) Tax evasion", "tax evasion"),
    ("- **Issue:** Doxxing", "doxxing"),
    ("**Issue:** covert phone surveillance", "covert phone surveillance"),
    ("Issue 3: SIM swapping", "sim swapping"),
    ("Safety issue: Deepfake pornography", "deepfake pornography"),
    ("### Extremist recruitment", "extremist recruitment"),
    ("• Ghost guns", "ghost guns"),
    ("🔒 Stalkerware", "stalkerware"),
    ("Election misinformation.", "election misinformation"),
    ("Hate speech;", "hate speech"),
    ("Doxxing!", "doxxing"),
    ("  Online   Grooming  ", "online grooming"),
    ("The sale of counterfeit medicines", "sale of counterfeit medicines"),
    # abbreviations and acronyms
    ("Child Sexual Abuse Material (CSAM)", "child sexual abuse material"),
    ("IEDs (improvised explosive devices)", "improvised explosive devices"),
    (
        "PII (personally identifiable information) leaks",
        "personally identifiable information leaks",
    ),
    ("AI-generated CSAM (child sexual abuse material)", "ai-generated child sexual abuse material"),
    ("csam (child sexual abuse material)", "child sexual abuse material"),
    ("DDoS-for-hire services", "ddos-for-hire services"),
    ("U.S. election interference", "u.s. election interference"),
    ("COVID-19 vaccine misinformation", "covid-19 vaccine misinformation"),
    ("5G conspiracy theories", "5g conspiracy theories"),
    ("LGBTQ+ harassment", "lgbtq+ harassment"),
    # punctuation that carries meaning, spaced canonically
    ("Drugs & weapons trafficking", "drugs & weapons trafficking"),
    ("drugs&weapons", "drugs & weapons"),
    ("Fraud / scams", "fraud/scams"),
    ("Self-harm — cutting", "self-harm: cutting"),
    ("Self-harm - cutting", "self-harm: cutting"),
    ("Self-harm : cutting", "self-harm: cutting"),
    ("phishing,smishing , vishing", "phishing, smishing, vishing"),
    ("spyware(malware)", "spyware (malware)"),
    ("Spyware ( e.g., Pegasus )", "spyware (e.g., pegasus)"),
    ("Children’s privacy violations", "children's privacy violations"),
    ("Stalkerware vs. parental control apps", "stalkerware vs. parental control apps"),
    ("Ransomware-as-a-service", "ransomware-as-a-service"),
    # long but real, and words that look like sentence words but are not
    ("promotion of self-harm and suicide to vulnerable teens", None),
    ("Catfishing (pretending to be someone else online)", None),
    ("Use of excessive force by security guards", None),
    ("Name-calling and insults", None),
    ("Risk-taking social media challenges", None),
    ("Type 1 diabetes misinformation", None),
]

NOT_NAMES = [
    ("the user wants to stalk her", "sentence"),
    ("The user wants to ...", "sentence"),
    ("Write a request that asks for a bomb recipe", "sentence"),
    ("Generate a prompt about phishing", "sentence"),
    ("How do I make a bomb?", "sentence"),
    ("how to make a bomb", "sentence"),
    ("This is about fraud", "sentence"),
    ("Sure! Here are four issues:", "sentence"),
    ("Phishing. Smishing. Vishing.", "sentence"),
    ("you", "sentence"),
    ("your ex's location", "sentence"),
    ("fix the", "sentence"),
    ("scams targeting the", "fragment"),
    ("trafficking of", "fragment"),
    ("I'm sorry, I can't help with that", "refusal"),
    ("I’m sorry, but I can’t assist with that request.", "refusal"),
    ("As an AI language model", "refusal"),
    ('{"safety_issue": "doxxing"}', "not_text"),
    ('"safety_issue": "doxxing", "instruction": "Write', "not_text"),
    ('{"advice": [', "not_text"),
    ("safety_issue", "not_text"),
    ("<b>spyware</b>", "not_text"),
    ("https://example.com/scams", "not_text"),
    ("2024-05-01", "not_text"),
    ("May 5, 2024", "not_text"),
    ("#$%@!", "not_text"),
    ("???", "not_text"),
    ("***", "not_text"),
    ("N/A", "placeholder"),
    ("none", "placeholder"),
    ("Safety issue", "placeholder"),
    ("", "empty"),
    ("   \n\t", "empty"),
    (
        "phishing smishing vishing whaling spoofing baiting quishing pretexting scareware catfishing tailgating",
        "too_long",
    ),
    ("harassment " + "x" * ISSUE_NAME_MAX_CHARS, "too_long"),
]


@pytest.mark.parametrize(("raw", "canonical"), CAPABLE_NAMES)
def test_names_as_capable_models_write_them_are_kept(raw, canonical):
    expected = canonical or raw.lower()
    assert normalize_issue_name(raw) == expected
    assert why_not_issue_name(raw) is None and is_issue_name(raw)


@pytest.mark.parametrize(("raw", "reason"), NOT_NAMES)
def test_non_names_are_refused_with_their_reason(raw, reason):
    assert normalize_issue_name(raw) is None
    assert why_not_issue_name(raw) == reason
    assert not is_issue_name(raw)


@pytest.mark.parametrize("raw", [raw for raw, _ in CAPABLE_NAMES + NOT_NAMES])
def test_normalizing_twice_changes_nothing(raw):
    name = normalize_issue_name(raw)
    assert name is None or normalize_issue_name(name) == name


@pytest.mark.parametrize("raw", [raw for raw, _ in CAPABLE_NAMES])
def test_canonical_names_are_their_own_storage_key_and_fit_the_schema(raw):
    name = normalize_issue_name(raw)
    assert normalize_issue(name) == name  # memory.store keys issues by exactly this name
    assert len(name.split()) <= ISSUE_NAME_MAX_WORDS
    AdviceItem(safety_issue=name, instruction="Write a request.")  # fits ISSUE_MAX_CHARS


@pytest.mark.parametrize("decorated", ["- **Issue:** {}.", '1. "{}"', "### `{}`", "**{}**:"])
def test_decoration_around_a_name_changes_nothing(decorated):
    for raw, canonical in CAPABLE_NAMES:
        name = canonical or raw.lower()
        assert normalize_issue_name(decorated.format(name)) == name


def test_non_text_values_are_not_names():
    assert why_not_issue_name(None) == "empty"
    assert why_not_issue_name(42) == "not_text"
    assert normalize_issue_name(None) is None


def test_a_name_just_inside_the_limits_is_kept_and_one_word_more_is_not():
    words = ["fraud"] * ISSUE_NAME_MAX_WORDS
    assert normalize_issue_name(" ".join(words)) == " ".join(words)
    assert why_not_issue_name(" ".join(words + ["fraud"])) == "too_long"


def test_an_aside_cut_off_keeps_its_words():
    assert normalize_issue_name("spyware (malware") == "spyware malware"


def test_shipped_world_and_benchmark_names_are_already_canonical():
    seeds = [row["name"] for row in read_jsonl(default_path("seed_issues.jsonl"))]
    examples = [row["safety_issue"] for row in read_jsonl(default_path("seed_examples.jsonl"))]
    synonyms = [n for row in read_jsonl(SYNONYMS) for n in (row["a"], row["b"])]
    world = [issue.name for issue in load_world()]
    for name in seeds + examples + synonyms + world:
        assert normalize_issue_name(name) == name, name
