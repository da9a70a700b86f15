"""Issue names as models write them: strip the decoration, keep the meaning, refuse non-names.

A capable model names issues the way people do ("CSAM (child sexual abuse material)",
"self-harm: cutting", "**Issue:** phishing, smishing"); a small one often puts a sentence, an
instruction or a fragment there ("the user wants to ...", "fix the"). Embeddings cannot tell
those from real new issues (measured: both score 0.2-0.4 against the seed issues), so a lexical
rule does, after the decoration is gone.

The canonical form is lowercase and single-spaced, so ``memory.store.normalize_issue`` (the
storage key) leaves it unchanged: names from a model pass through ``normalize_issue_name`` where
they enter the loop, and the store keys them as they are.
"""

from __future__ import annotations

import re
import unicodedata

from agents.schemas import ISSUE_MAX_CHARS

# The longest real names seen from capable models are descriptive noun phrases such as
# "non-consensual sharing of intimate images of ex-partners" (7 words, 56 characters). Ten words
# leave room for those; past that the text is a list or a description, not a name.
ISSUE_NAME_MAX_WORDS = 10
# The advice schema caps a proposed name at this length; the same cap here keeps every canonical
# name storable as an ``AdviceItem.safety_issue`` (80 characters hold the 56 of the longest name
# above and ten words of average length).
ISSUE_NAME_MAX_CHARS = ISSUE_MAX_CHARS
# Below this share of letters among visible characters the text is a date, a number or symbols
# ("may 5, 2024" has 0.33); real names with digits stay above it ("5g" 0.5, "9/11 attacks" 0.64).
ISSUE_NAME_MIN_LETTER_SHARE = 0.5

# Typographic quotes and dashes as ASCII; a spaced em dash separates like a colon.
_CHARACTER_MAP = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2013": "-",
        "\u2212": "-",
        "\u2014": " - ",
    }
)
# JSON, markup, code or a link: text of that kind is not a name, whatever words it holds.
_CODE = re.compile(r"[{}\[\]<=\\|]|\"\s*[:,]|://|www\.")
# Emphasis and code marks carry no meaning in a name; double quotes only quote it.
_MARKDOWN = re.compile(r"\*\*|__|[*`\"]")
# Bullets, emoji, numbering ("1.", "2)", "(a)") and labels ("Issue 3:", "Category:") before a name.
_LEADER = re.compile(
    r"^(?:[^\w\s('\"]+\s*|\(?\d{1,3}[.):]\s*|\(?[a-z]\)\s+|"
    r"(?:(?:safety|new|proposed|target)[ _-]?)?issue(?:[ _-]?name)?\s*#?\d*\s*:\s*|"
    r"(?:name|category|topic|label|risk|focus)\s*#?\d*\s*:\s*)",
    re.IGNORECASE,
)
# Closing punctuation, a dangling connector, emoji: nothing of the name.
_TRAILER = re.compile(r"(?:[\s.,;:!?&/-]|[^\w\s\x00-\x7f])+$")
_WRAPPED = re.compile(r"^\(([^()]*)\)$")
# A single quote that is not an apostrophe inside a word ("'swatting'", "parents'").
_QUOTE = re.compile(r"(?<![^\W_])'|'(?![^\W_])")
# A leading article adds nothing to a name ("the sale of counterfeit medicines").
_ARTICLE = re.compile(r"^(?:the|a|an)\s+(?=\S)")
# "CSAM", "DDoS", "IEDs": a word of two capitals or more, outside all-caps text.
_ACRONYM = re.compile(r"^[A-Z][A-Za-z0-9&+-]*$")
_PARENTHETICAL = re.compile(r"(\S+)\s*\(\s*([^()]*?)\s*\)")
# One spelling of the punctuation that stays: ", ", ": ", "/", " & ", "x (y)"; a spaced dash
# separates like a colon.
_SPACING = (
    (re.compile(r"\s*[,;]\s*"), ", "),
    (re.compile(r"\s*:\s*"), ": "),
    (re.compile(r"\s*/\s*"), "/"),
    (re.compile(r"\s*&(?:\s*&)*\s*"), " & "),
    (re.compile(r"\s+-\s+|-{2,}"), lambda m: ": " if m.group().strip() == "-" else "-"),
    (re.compile(r"\(\s*\)"), ""),
    (re.compile(r"(?<=\S)\(\s*"), " ("),
    (re.compile(r"\(\s+"), "("),
    (re.compile(r"\s+\)"), ")"),
    (re.compile(r"([,:])(?:\s*[,:])+"), r"\1"),
)
_ALLOWED = re.compile(r"^(?:[^\W_]|[ '/&,:()+.-])+$")
# A period ends a sentence after a word of two letters or more ("u.s." and "e.g." do not).
_SENTENCE_END = re.compile(r"[?!]|\b(?!vs\.|etc\.)[^\W\d_]{2,}\.\s")
# Words an acronym may or may not spell: "DoS" spells the "of" of "denial of service", "WMD"
# skips it in "weapons of mass destruction".
_SMALL_WORDS = {"of", "and", "the", "for", "in", "on", "to", "a", "an", "or", "by", "with"}
# Words a model puts where it has no name.
_PLACEHOLDERS = {
    "n/a", "na", "none", "null", "nan", "unknown", "undefined", "other", "misc", "tbd", "todo",
    "issue", "issues", "safety issue", "safety issues", "issue name", "name", "example", "item",
    "placeholder", "various", "general", "string",
}  # fmt: skip
_REFUSAL = re.compile(
    r"^(?:i'm sorry|sorry|i (?:can't|cannot|won't|am unable)|i'm (?:unable|not able)|as an ai|"
    r"unfortunately)\b"
)
# A first word that opens an instruction, a question or a reply, never a noun phrase.
_OPENERS = {
    "write", "generate", "create", "fix", "add", "give", "tell", "list", "describe", "explain",
    "provide", "produce", "ask", "consider", "include", "avoid", "ensure", "make", "here", "there",
    "this", "that", "these", "those", "how", "what", "why", "when", "where", "who", "which",
    "please", "sure", "okay", "ok", "yes", "note", "let", "let's",
}  # fmt: skip
# Pronouns of a conversation and the verbs of a request make a sentence. Reflexives do not: a
# user's own words name a harm too ("ways to hurt myself", a synonym pair of the benchmarks).
_SENTENCE_WORDS = {
    "i", "i'm", "i'd", "i'll", "i've", "me", "my", "you", "you're", "you'd", "your", "yours",
    "we", "we're", "our", "ours", "is", "are", "was", "were", "am",
    "should", "would", "could", "can't", "cannot", "won't", "don't", "doesn't", "didn't",
    "want", "wants", "wanted", "please",
}  # fmt: skip
# A last word that needs more after it: the name was cut off.
_DANGLING = {
    "the", "a", "an", "of", "to", "and", "or", "for", "with", "in", "on", "by", "from", "about",
    "as", "at", "into", "like", "than", "that", "which", "who", "via", "its", "their", "such",
}  # fmt: skip


def normalize_issue_name(raw: str) -> str | None:
    """The canonical lowercase issue name of ``raw``, or ``None`` when it is not a name.

    Decoration goes (markdown, quotes, bullets, numbering, ``Issue:`` labels, trailing
    punctuation); an acronym followed by its expansion becomes the expansion, an acronym in
    parentheses after its expansion goes; other parentheses, colons, commas, ``&``, ``/`` and
    hyphens stay, with canonical spacing. ``normalize_issue_name`` of its own output is that output.
    """
    name, problem = _screen(raw)
    return None if problem else name


def why_not_issue_name(raw: str) -> str | None:
    """Why ``raw`` is not an issue name, as a short reason; ``None`` if it is one.

    Reasons: ``empty``, ``not_text`` (code, JSON, symbols, dates), ``placeholder`` ("n/a"),
    ``refusal``, ``sentence`` (pronouns, verbs of a request, an instruction, a question),
    ``fragment`` (ends on a word that needs more), ``too_long``.
    """
    return _screen(raw)[1]


def is_issue_name(name: str) -> bool:
    """Whether ``name`` is an issue name once normalised (decoration allowed, sentences not)."""
    return normalize_issue_name(name) is not None


def _screen(raw: object) -> tuple[str, str | None]:
    """The canonical form of ``raw`` and why it is not a name (``None`` when it is one)."""
    if raw is None:
        return "", "empty"
    if not isinstance(raw, str) or _CODE.search(raw):
        return "", "not_text"
    name = _canonical(raw)
    if not name:  # blank, or nothing but decoration and symbols
        return "", "not_text" if raw.strip() else "empty"
    return name, _problem(name)


def _canonical(raw: str) -> str:
    """Repeat the normalising pass until nothing changes (two or three passes in practice)."""
    text = raw
    for _ in range(8):  # a bound, not a measured need: no name seen needs more than three
        once = _one_pass(text)
        if once == text:
            break
        text = once
    return text


def _one_pass(text: str) -> str:
    """Strip decoration, resolve acronyms, lowercase and space the punctuation canonically."""
    text = unicodedata.normalize("NFKC", text).translate(_CHARACTER_MAP)
    text = _QUOTE.sub("", _MARKDOWN.sub("", " ".join(text.split())))
    while (stripped := _LEADER.sub("", text, count=1)) != text:
        text = stripped
    text = _TRAILER.sub("", text)
    text = _WRAPPED.sub(r"\1", text)
    text = _resolve_acronyms(text)
    if text.count("(") != text.count(")") or re.search(r"\([^)]*\(", text):
        text = text.replace("(", " ").replace(")", " ")  # a cut-off or nested aside: keep its words
    text = " ".join(text.lower().split())
    for pattern, replacement in _SPACING:
        text = pattern.sub(replacement, text)
    text = _ARTICLE.sub("", " ".join(text.split()))
    return _TRAILER.sub("", text)


def _resolve_acronyms(text: str) -> str:
    """``CSAM (child sexual abuse material)`` -> the expansion; ``... material (CSAM)`` -> ``...``."""
    shouting = not any(ch.islower() for ch in text)  # in all caps, capitals say nothing

    def replace(match: re.Match[str]) -> str:
        word, inner = match.group(1), match.group(2)
        inner_words = inner.split()
        if len(inner_words) >= 2 and _is_acronym(word, inner_words, shouting, anywhere=False):
            return inner
        before = text[: match.start(1)].split() + [word]
        if len(inner_words) == 1 and _is_acronym(inner, before, shouting, anywhere=True):
            return word
        return match.group()

    return _PARENTHETICAL.sub(replace, text)


def _is_acronym(short: str, phrase: list[str], shouting: bool, *, anywhere: bool) -> bool:
    """Whether ``short`` is written as an acronym or spells the initials of ``phrase``.

    With ``anywhere``, the initials of the phrase's last words are enough ("online CSAM").
    """
    if not shouting and _ACRONYM.match(short) and sum(ch.isupper() for ch in short) >= 2:
        return True
    letters = re.sub(r"[^a-z0-9]", "", short.lower())
    parts = [p for word in phrase for p in re.split(r"[-/]", word.lower()) if p[:1].isalnum()]
    for start in range(len(parts) if anywhere else 1):
        tail = parts[start:]
        initials = {
            "".join(p[0] for p in tail),
            "".join(p[0] for p in tail if p not in _SMALL_WORDS),
        }
        if len(letters) >= 2 and {letters, letters.removesuffix("s")} & initials:
            return True
    return False


def _problem(name: str) -> str | None:
    """Why a non-empty canonical name is not an issue name, or ``None``."""
    if _CODE.search(name):  # respacing can join "child : // x" into a link
        return "not_text"
    if _SENTENCE_END.search(name):
        return "sentence"
    visible = [ch for ch in name if not ch.isspace()]
    letters = sum(ch.isalpha() for ch in visible)
    if not _ALLOWED.match(name) or letters / len(visible) < ISSUE_NAME_MIN_LETTER_SHARE:
        return "not_text"
    if name in _PLACEHOLDERS:
        return "placeholder"
    if _REFUSAL.match(name):
        return "refusal"
    words = re.findall(r"[^\W_]+(?:'[^\W_]+)?", name)
    if words[0] in _OPENERS or _SENTENCE_WORDS.intersection(words):
        return "sentence"
    if words[-1] in _DANGLING:
        return "fragment"
    if len(name.split()) > ISSUE_NAME_MAX_WORDS or len(name) > ISSUE_NAME_MAX_CHARS:
        return "too_long"
    return None
