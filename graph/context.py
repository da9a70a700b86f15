"""Run parameters: one typed, validated object, used as the graph's context."""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from agents.models import ROLES, Role
from memory.leases import DEFAULT_LEASE_SECONDS, DEFAULT_LEASE_SIMILARITY
from memory.store import ADVICE_MERGE_THRESHOLD
from prompts import default_path

Strategy = Literal["data-advisor", "self-instruct"]
Provider = Literal["embedded", "openai"]
# "fake": bag-of-words embeddings, lexical and instant (tests, dry runs, quick reports).
EmbeddingProvider = Literal["embedded", "openai", "fake"]

# Thresholds on all-MiniLM-L6-v2 cosine similarity, chosen by benchmarks/thresholds.py on
# hand-written calibration pairs (see the README, "How the thresholds were chosen").
DEFAULT_DUPLICATE_THRESHOLD = 0.60
DEFAULT_RELEVANCE_THRESHOLD = 0.25
DEFAULT_ISSUE_MERGE_THRESHOLD = 0.85
# Chroma collection names: 3-512 characters of [a-zA-Z0-9._-], alphanumeric at both ends; the
# namespace is a prefix of them.
NAMESPACE_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,62}[A-Za-z0-9])?$"
R = TypeVar("R")


class RunConfig(BaseModel):
    """Everything that determines a run; written to ``config.json`` (never a secret)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # The run's resources (models, memory, files): one set per RunConfig instance, i.e. per run.
    _resources: Any = PrivateAttr(default=None)
    _resources_lock: Any = PrivateAttr(default_factory=threading.Lock)

    target: int = Field(20, ge=1, le=1_000_000, description="Accepted items to generate.")
    out: Path = Field(Path("runs/demo"), description="Run directory (created; must be new).")
    strategy: Strategy = Field(
        "data-advisor", description="data-advisor or the self-instruct baseline."
    )
    seed: int = Field(
        0, ge=0, description="Seed for sampling and example choice (repeatable runs)."
    )

    provider: Provider = Field(
        "embedded", description="embedded (offline) or openai (any compatible URL)."
    )
    base_url: str | None = Field(
        None, description="OpenAI-compatible base URL, e.g. http://localhost:8000/v1."
    )
    model: str | None = Field(None, description="Model name at the endpoint (all roles).")
    role_models: dict[Role, str] = Field(
        default_factory=dict, description="Per-role model overrides."
    )
    api_key_env: str = Field(
        "OPENAI_API_KEY", description="Environment variable that holds the API key."
    )
    embedding_provider: EmbeddingProvider = Field(
        "embedded", description="embedded all-MiniLM-L6-v2, openai or fake."
    )
    embedding_model: str = Field(
        "text-embedding-3-small", description="Embedding model for --embedding-provider openai."
    )
    embedding_base_url: str | None = Field(
        None, description="Embedding endpoint if not --base-url."
    )

    concurrency: int = Field(
        4, ge=1, le=256, description="Most LLM requests in flight at once (fewer after 429s)."
    )
    rpm: int | None = Field(None, ge=1, description="Requests-per-minute cap (none by default).")
    request_timeout: float = Field(
        120.0, gt=0, description="Seconds before one LLM request times out."
    )
    max_retries: int = Field(
        3, ge=0, le=20, description="Client retries on 429/5xx/timeouts, with backoff."
    )
    max_tokens: int = Field(
        2048,
        ge=16,
        le=32_000,
        description="Upper cap on tokens per LLM answer; each role's own cap is sized from its schema.",
    )
    structured_attempts: int = Field(
        2, ge=1, le=10, description="Attempts for a malformed structured answer."
    )

    max_rounds: int | None = Field(None, ge=1, description="Round budget (default: from target).")
    max_llm_calls: int | None = Field(
        None, ge=1, description="LLM call budget (default: from target)."
    )
    max_cost: float | None = Field(
        None,
        gt=0,
        description="Cost budget in USD: the run stops once its LLM calls have cost this much "
        "(needs a price for every model: --price-in/--price-out or a hosted model genai-prices "
        "knows).",
    )
    price_in: float | None = Field(
        None,
        ge=0,
        description="USD per million input tokens, for every role's model (default: genai-prices' "
        "price for a hosted endpoint and model it knows; else cost is unknown).",
    )
    price_out: float | None = Field(
        None, ge=0, description="USD per million output tokens, for every role's model."
    )
    advice_per_round: int = Field(
        4, ge=1, le=64, description="Advice items (generator branches) per round."
    )
    candidates_per_advice: int = Field(
        1, ge=1, le=16, description="Candidates each generator call writes."
    )
    examples_per_prompt: int = Field(
        3, ge=0, le=16, description="In-context examples per generator call."
    )

    duplicate_threshold: float = Field(
        DEFAULT_DUPLICATE_THRESHOLD,
        gt=0,
        le=1,
        description="Cosine similarity at or above which a prompt duplicates a stored one.",
    )
    relevance_threshold: float = Field(
        DEFAULT_RELEVANCE_THRESHOLD,
        ge=0,
        lt=1,
        description="Minimum cosine similarity between a prompt and its advised issue.",
    )
    issue_merge_threshold: float = Field(
        DEFAULT_ISSUE_MERGE_THRESHOLD,
        gt=0,
        le=1,
        description="Cosine similarity at or above which a proposed issue is a known one.",
    )
    advice_merge_threshold: float = Field(
        ADVICE_MERGE_THRESHOLD,
        gt=0,
        le=1,
        description="Cosine similarity of advice texts at or above which a proposed issue whose "
        "name is new is the known issue whose first advice asked the same.",
    )
    chroma_url: str | None = Field(
        None,
        description="A Chroma server (http://HOST:PORT) holding the memory instead of RUN_DIR/memory.",
    )
    memory_namespace: str | None = Field(
        None,
        description="With --chroma-url: runs given the same namespace share one memory on purpose "
        "(default: a memory of this run's own).",
    )
    lease_seconds: float = Field(
        DEFAULT_LEASE_SECONDS,
        gt=0,
        description="In a shared --memory-namespace: seconds a worker's claim on the cells it is "
        "generating lasts unless released (a killed worker's claims block nobody longer).",
    )
    lease_similarity: float = Field(
        DEFAULT_LEASE_SIMILARITY,
        gt=0,
        le=1,
        description="Cosine similarity at or above which advice repeats another worker's claim.",
    )
    llm_critic: bool | None = Field(
        None,
        description="Ask the critic model for a verdict after the cheap checks (default: yes, "
        "except on the embedded model, whose verdict measured as noise: benchmarks/critic_judge.py).",
    )
    cache: Path | None = Field(
        None,
        description="The answer cache (SQLite): a resumed run never pays twice for an answer, a "
        "re-run with the same seed and configuration replays from it; give one path to share it "
        "between runs (default: RUN_DIR/cache.sqlite).",
    )
    use_cache: bool = Field(True, description="Cache every LLM answer (off: --no-cache).")
    preference_pairs: bool | None = Field(
        None,
        description="Give every accepted item a preference pair: a response the responder had to "
        "rewrite, else a worse one written on purpose (at most one extra call per item; default: "
        "yes, except on the embedded model, where it would slow the quick start).",
    )
    summary_max_chars: int = Field(
        1200, ge=200, le=20_000, description="Bound on the running summary."
    )
    prompt_max_chars: int = Field(
        2000,
        ge=100,
        le=20_000,
        description="Cap on a generated user request, in characters (role-play requests run past "
        "1,000); a longer one is trimmed at a sentence boundary, never rejected.",
    )
    response_max_chars: int = Field(
        1500,
        ge=100,
        le=20_000,
        description="Cap on a generated safe response, in characters (capable models write "
        "300-900); a longer one is trimmed at a sentence boundary, never rejected.",
    )

    principles: Path = Field(
        default_factory=lambda: default_path("principles.md"),
        description="Principles of the dataset: a policy document as PDF, HTML, DOCX, Markdown, "
        "YAML or plain text (.pdf .html .htm .docx .md .markdown .txt .yaml .yml).",
    )
    seed_examples: Path = Field(
        default_factory=lambda: default_path("seed_examples.jsonl"),
        description="Seed examples: JSONL, CSV or a Hugging Face dataset folder with prompt, response, safety_issue.",
    )
    seed_issues: Path = Field(
        default_factory=lambda: default_path("seed_issues.jsonl"),
        description="Seed issues: JSONL, CSV or a Hugging Face dataset folder with name (and "
        "description, hazard).",
    )
    taxonomy: Path = Field(
        default_factory=lambda: default_path("hazards.jsonl"),
        description="Top-level hazard categories: JSONL, CSV or a Hugging Face dataset folder "
        "with name and description (default: the 12 hazards of MLCommons AILuminate v1.0).",
    )
    tactics: Path = Field(
        default_factory=lambda: default_path("tactics.jsonl"),
        description="How requests are framed: JSONL, CSV or a Hugging Face dataset folder with "
        "name and description (default: a dozen framings, from a direct request to role-play).",
    )
    benign_share: float = Field(
        0.25,
        ge=0.0,
        le=1.0,
        description="Share of benign look-alikes: requests that borrow a harmful issue's words "
        "and are safe to answer (0: harmful requests only).",
    )
    # Ablations: the paper's, to measure which part of the method earns its gain
    # (benchmarks/ablations.py). The LLM verdict's is --no-llm-critic; a subset of the
    # principles is --principles FILE.
    summary: bool = Field(
        True,
        description="Keep the running summary (off: no summarizer calls; the advisor sees none).",
    )
    redundancy_check: bool = Field(
        True, description="Reject near-duplicates of stored prompts (off: accept them)."
    )
    acceptance_log: bool = Field(
        True,
        description="In a shared --memory-namespace, settle every accept in the namespace's "
        "acceptance log, so that two runs never both accept twins of a prompt (off: twins judged "
        "by two runs at the same moment can both be accepted).",
    )
    advisor_view: Literal["full", "coverage"] = Field(
        "full",
        description="What the advisor reads: the summary, coverage statistics and the grid "
        "(full), or the coverage statistics only (no summary, no grid; no summarizer calls).",
    )

    @field_validator("memory_namespace")
    @classmethod
    def _check_namespace(cls, name: str | None) -> str | None:
        if name is not None and not re.match(NAMESPACE_PATTERN, name):
            raise ValueError(
                f"{name!r}: use 1-64 letters, digits, '.', '_' or '-', a letter or digit at both ends"
            )
        return name

    @field_validator("chroma_url")
    @classmethod
    def _check_chroma_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        try:
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            raise ValueError(f"not a valid port in {url!r}") from None
        if parts.username or parts.password:  # config.json must never hold a secret
            raise ValueError("credentials do not belong in --chroma-url")
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path not in ("", "/")
        ):
            raise ValueError(f"expected http://HOST:PORT, got {url!r}")
        return url.rstrip("/")

    @model_validator(mode="before")
    @classmethod
    def _defaults_by_provider(cls, data: Any) -> Any:
        """No ``llm_critic`` or ``preference_pairs`` given: on, except on the embedded model (its
        verdict measured as noise; pairs would slow the quick start)."""
        if not isinstance(data, dict):
            return data
        capable = data.get("provider", "embedded") != "embedded"
        for flag in ("llm_critic", "preference_pairs"):
            if data.get(flag) is None:
                data = {**data, flag: capable}
        return data

    @model_validator(mode="after")
    def _check_provider(self) -> RunConfig:
        if (self.price_in is None) != (self.price_out is None):
            raise ValueError("--price-in and --price-out go together (USD per million tokens)")
        if self.memory_namespace and not self.chroma_url:
            raise ValueError("--memory-namespace needs --chroma-url")
        if self.provider == "openai" and not (
            self.base_url and (self.model or len(self.role_models) == len(ROLES))
        ):
            raise ValueError("--provider openai needs --base-url and --model")
        if self.embedding_provider == "openai" and not (self.embedding_base_url or self.base_url):
            raise ValueError("--embedding-provider openai needs --base-url or --embedding-base-url")
        for name in ("principles", "seed_examples", "seed_issues", "taxonomy", "tactics"):
            path = getattr(self, name)
            if not (Path(path).is_file() or (name != "principles" and Path(path).is_dir())):
                raise ValueError(f"--{name.replace('_', '-')} file not found: {path}")
        return self

    @property
    def per_round(self) -> int:
        """Candidates written per round."""
        return self.advice_per_round * self.candidates_per_advice

    @property
    def round_budget(self) -> int:
        """Rounds allowed: explicit, or enough for the target at a 5% acceptance rate."""
        if self.max_rounds is not None:
            return self.max_rounds
        return max(10, math.ceil(self.target / (0.05 * self.per_round)))

    @property
    def call_budget(self) -> int:
        """LLM calls allowed: explicit, or what the round budget would spend with one retry each."""
        if self.max_llm_calls is not None:
            return self.max_llm_calls
        calls_per_round = 2 + 2 * self.advice_per_round + 2 * self.per_round
        return self.round_budget * calls_per_round

    def run_resources(self, build: Callable[[RunConfig], R]) -> R:
        """This run's resources: attached with ``attach``, else built by ``build`` on first use.

        LangGraph hands every node of one run the same context instance, so resources built here
        belong to that run alone (two runs in one process never share telemetry or files).
        """
        with self._resources_lock:
            if self._resources is None:
                self._resources = build(self)
            return self._resources

    def attach(self, resources: object) -> None:
        """Give this run resources built by its driver (the CLI, a notebook, a test)."""
        with self._resources_lock:
            self._resources = resources

    def public_dict(self) -> dict:
        """The resolved configuration as JSON-ready data; holds the key's variable name, not the key."""
        return self.model_dump(mode="json")
