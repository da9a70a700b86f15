"""What a run's nodes need besides state: models, memory, run directory, inputs, telemetry.

Every run owns its resources: they hang on the run's own ``RunConfig`` instance (the graph's
context), never in a module-level cache, so the LangGraph server can serve many runs in one
process without one run's faults or files leaking into another's.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.language_models import BaseChatModel

from agents.cache import run_cache
from agents.concurrency import AdaptiveLimit
from agents.errors import UserError
from agents.grid import Taxonomy
from agents.models import ROLES, Role, chat_model, model_name_for
from agents.telemetry import CallTelemetry
from graph.context import RunConfig
from graph.runtime.costs import RunPrices, check_budget_priced, run_prices
from graph.runtime.pipeline import (
    ROUND_JOBS_IN_BACKGROUND,
    AcceptanceRate,
    InFlight,
    Steering,
    Tally,
    WorkPool,
    lookahead,
    planners,
)
from graph.runtime.rundir import CACHE, CONFIG, DATASET, MEMORY, MEMORY_REF, RunDirectory
from memory.acceptance import AcceptanceLog
from memory.embeddings import EmbeddingModelMissing, embeddings_for
from memory.leases import Leases
from memory.store import Memory
from prompts import read_records
from prompts.documents import read_principles

REQUIRED_SEED_KEYS = ("prompt", "response", "safety_issue")


@dataclass
class RunInputs:
    """The user's principles, seed examples, seed issues, hazards and tactics, validated."""

    principles: str
    seed_examples: list[dict]
    seed_issues: list[dict]
    taxonomy: Taxonomy = field(default_factory=lambda: Taxonomy({}))
    tactics: list[dict] = field(default_factory=list)


@dataclass
class RunResources:
    """Per-run objects that are not state: rebuilt on resume, never checkpointed."""

    config: RunConfig
    run_dir: RunDirectory
    memory: Memory
    inputs: RunInputs
    models: dict[Role, BaseChatModel]
    telemetry: CallTelemetry
    accepted_ids: set[str] = field(default_factory=set)
    """Ids in ``dataset.jsonl``: the critic never writes one twice (crash-safe re-runs)."""
    started: float = field(default_factory=time.monotonic)
    slots: int = 1
    """Requests on the wire at once (``requests_in_flight``)."""
    pool: WorkPool = field(default_factory=lambda: WorkPool(1))
    """The generator tasks, advisor calls, preference pairs and summaries running in the
    background (``graph.runtime.pipeline``)."""
    in_flight: InFlight = field(default_factory=InFlight)
    """The cells of the generator tasks running now (advisor calls count them as coverage)."""
    plans: list[str] = field(default_factory=list)
    """Pool keys of the background advisor calls not yet collected (a run that plans ahead)."""
    planning: int = 0
    """Background advisor calls still running."""
    plans_lock: threading.Lock = field(default_factory=threading.Lock)
    plan_parts: Iterator[int] = field(default_factory=itertools.count)
    """Numbers of the background advisor calls of this process (its tasks' branches)."""
    planning_round: int = 0
    """The round whose advisor step ran last: background advisor calls number their tasks in it."""
    steering: Steering | None = None
    """What the background advisor calls read of the state (the advisor step refreshes it)."""
    tally: Tally = field(default_factory=lambda: Tally(0, 0, 0))
    """Items accepted, candidates judged and tasks in the backlog, as the last step saw them."""
    acceptance_rate: AcceptanceRate = field(default_factory=AcceptanceRate)
    """The run's recent acceptance rate (how many tasks the rest of the target needs)."""
    prices: RunPrices | None = None
    """The price of each role's model (``graph.runtime.costs``), for the cost ledger."""
    acceptance: AcceptanceLog | None = None
    """The shared namespace's acceptance log (``memory.acceptance``); ``None`` for a memory of
    the run's own, or with ``--no-acceptance-log``."""
    others_summarized: dict[str, int] = field(default_factory=dict)
    """Items per issue of the other workers of a shared memory, as the last summary saw them."""
    counts_in_summary: dict[str, int] = field(default_factory=dict)
    """Items per issue, every worker's, as the summary the advisor reads saw them (one in the
    background lags): the issues with items since are shown to the advisor with their cells."""
    leases: Leases = field(default_factory=Leases.private)
    """This worker's claims in a shared memory, and the other workers' (``memory.leases``)."""
    summary_job: tuple[str, int] | None = None
    """The background summarizer call of a run that plans ahead: its pool key and how many of
    the state's ``unsummarized`` items it folds in."""
    pairs_jobs: dict[str, list[str]] = field(default_factory=dict)
    """The background contrast jobs of a run that plans ahead: pool key -> ids of the items
    each pairs (jobs of this process, not yet recorded)."""
    pairs_numbers: Iterator[int] = field(default_factory=itertools.count)
    """Numbers the pool keys of contrast jobs (``pairs_key``)."""

    def stop_background(self) -> None:
        """Stop the generator tasks and advisor calls planned ahead (the run ends or stops)."""
        self.pool.close()
        with self.plans_lock:
            self.plans, self.planning = [], 0
        self.summary_job = None
        self.pairs_jobs = {}
        self.in_flight = InFlight()
        self.leases.release_all()

    def sync_memory_with_dataset(self) -> int:
        """Make memory hold exactly the dataset's items; returns how many were restored."""
        rows = self.run_dir.read_jsonl(DATASET)
        missing = [r for r in rows if not self.memory.has_item(r["id"])]
        if missing:
            self.memory.add_items(missing, self.memory.embed([r["prompt"] for r in missing]))
        return len(missing)

    def model_label(self) -> str:
        """The generator's model name, recorded with every accepted item."""
        return model_name_for("generator", self.config)


def load_inputs(config: RunConfig) -> RunInputs:
    """Read and validate principles and seeds; a bad file is a ``UserError`` naming it."""
    try:
        principles = read_principles(Path(config.principles))
    except (OSError, ValueError) as exc:
        raise UserError(f"--principles {exc}") from None
    try:
        examples = read_records(Path(config.seed_examples))
        issues = read_records(Path(config.seed_issues))
        hazards = read_records(Path(config.taxonomy))
        tactics = read_records(Path(config.tactics))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UserError(f"cannot read inputs: {exc}") from None
    for number, row in enumerate(examples, start=1):
        missing = [k for k in REQUIRED_SEED_KEYS if not str(row.get(k, "")).strip()]
        if missing:
            raise UserError(
                f"--seed-examples {config.seed_examples}:{number} lacks {', '.join(missing)}"
            )
    if not examples:
        raise UserError(f"--seed-examples {config.seed_examples} holds no example")
    for flag, path, rows in (
        ("--seed-issues", config.seed_issues, issues),
        ("--taxonomy", config.taxonomy, hazards),
        ("--tactics", config.tactics, tactics),
    ):
        for number, row in enumerate(rows, start=1):
            if not str(row.get("name", "")).strip():
                raise UserError(f"{flag} {path}:{number} lacks name")
    for flag, path, rows in (
        ("--taxonomy", config.taxonomy, hazards),
        ("--tactics", config.tactics, tactics),
    ):
        if not rows:
            raise UserError(f"{flag} {path} holds no entry")
    return RunInputs(principles, examples, issues, Taxonomy.from_rows(hazards), tactics)


def requests_in_flight(config: RunConfig) -> int:
    """Most requests on the wire at once, all roles together: ``--concurrency``; the run's
    ``AdaptiveLimit`` starts there and backs off below it while the server answers 429.

    The embedded server decodes on ``DEFAULT_SLOTS`` slots and queues the rest; a queued request's
    timeout would run while it waits (measured: under CPU contention, waits past the 120 s timeout
    and retries). So the embedded model gets no more requests than it has slots.
    """
    if config.provider == "embedded":
        from agents.embedded import DEFAULT_SLOTS

        return min(config.concurrency, DEFAULT_SLOTS)
    return config.concurrency


def build_resources(
    config: RunConfig, run_dir: RunDirectory, *, models: dict[Role, BaseChatModel] | None = None
) -> RunResources:
    """Open memory, build models and load inputs for a run; seed the memory (idempotently).

    ``models`` replaces the model factory's models (tests and notebooks plug a double in here).
    """
    inputs = load_inputs(config)
    memory = open_memory(config, run_dir)
    seed_memory(memory, inputs)
    telemetry = CallTelemetry()
    if models is None:
        limit = telemetry.concurrency = AdaptiveLimit(requests_in_flight(config))
        if config.cache and not config.cache.parent.is_dir():
            raise UserError(
                f"--cache {config.cache}: directory {config.cache.parent} does not exist"
            )
        cache = run_cache(config.cache or run_dir.file(CACHE)) if config.use_cache else None
        models = {role: chat_model(role, config, limit, telemetry, cache) for role in ROLES}
    accepted_ids = {row["id"] for row in run_dir.read_jsonl(DATASET)}
    slots = requests_in_flight(config)
    return RunResources(
        config,
        run_dir,
        memory,
        inputs,
        dict(models),
        telemetry,
        accepted_ids,
        slots=slots,
        # every task planned ahead, every advisor call, and the pairs and summary of the latest
        # rounds in the background run at once
        pool=WorkPool(
            lookahead(slots, config.advice_per_round) + planners(slots) + ROUND_JOBS_IN_BACKGROUND
        ),
        prices=run_prices(config),
        acceptance=AcceptanceLog.of(memory) if config.acceptance_log else None,
        leases=Leases(memory, seconds=config.lease_seconds, similarity=config.lease_similarity),
    )


def seed_memory(memory: Memory, inputs: RunInputs) -> None:
    """Store the seed issues and examples unless all are there (a kill may have cut it short)."""
    seeds = [{**e, "id": f"seed-{i:04d}", "round": 0} for i, e in enumerate(inputs.seed_examples)]
    if memory.count(source="seed") >= len(seeds):
        return
    issues = inputs.seed_issues + [{"name": e["safety_issue"]} for e in inputs.seed_examples]
    memory.add_issues(issues, source="seed")  # known names are skipped
    memory.add_tactics(inputs.tactics, source="seed")
    place_issues(memory, inputs.taxonomy)
    memory.add_items(seeds, memory.embed([s["prompt"] for s in seeds]), source="seed")  # upsert


def place_issues(memory: Memory, taxonomy: Taxonomy) -> None:
    """Put every known issue without a hazard of the taxonomy under the nearest one by meaning
    (seed issues of another taxonomy, names from seed examples)."""
    descriptions, hazards = memory.issue_descriptions(), memory.issue_hazards()
    loose = [name for name, hazard in hazards.items() if hazard not in taxonomy.hazards]
    if loose:
        texts = [f"{name}: {descriptions.get(name, '')}" for name in loose]
        placed = taxonomy.place(memory, [hazards[n] for n in loose], texts)
        memory.set_issue_hazards(dict(zip(loose, placed, strict=True)))


def open_memory(config: RunConfig, run_dir: RunDirectory) -> Memory:
    """The run's memory: ``RUN_DIR/memory``, or its collections on the ``--chroma-url`` server."""
    thresholds = {
        "duplicate_threshold": config.duplicate_threshold,
        "issue_merge_threshold": config.issue_merge_threshold,
        "advice_merge_threshold": config.advice_merge_threshold,
    }
    try:
        embeddings = embeddings_for(config)
    except EmbeddingModelMissing as exc:
        raise UserError(str(exc)) from None
    if not config.chroma_url:
        return Memory.persistent(run_dir.file(MEMORY), embeddings, **thresholds)
    ref = memory_ref(config, run_dir)
    try:
        return Memory.remote(
            config.chroma_url,
            embeddings,
            namespace=ref["namespace"],
            writer=ref["writer"],
            **thresholds,
        )
    except ConnectionError as exc:
        raise UserError(f"--chroma-url: {exc}") from None


def memory_ref(config: RunConfig, run_dir: RunDirectory) -> dict[str, str]:
    """Namespace and writer id of a run's memory on a Chroma server, fixed when the run starts.

    By default every run gets collections of its own (``run-<id>-items``, ``run-<id>-issues``):
    runs on one server never see each other's items. With ``--memory-namespace`` runs share the
    collections on purpose; each writes its items as ``<id>/<item id>`` and its issue counts
    under its own key, so none overwrites another's.
    """
    path = run_dir.file(MEMORY_REF)
    if path.exists():
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            return {"namespace": str(saved["namespace"]), "writer": str(saved["writer"])}
        except (OSError, ValueError, KeyError, TypeError):
            raise UserError(f"{path} is unreadable or corrupted") from None
    run_id = uuid.uuid4().hex[:12]
    ref = {
        "namespace": config.memory_namespace or f"run-{run_id}",
        "writer": run_id if config.memory_namespace else "",
    }
    run_dir.write_json(MEMORY_REF, {"chroma_url": config.chroma_url, **ref})
    return ref


def check_memory_server(config: RunConfig) -> None:
    """Fail with one line, before anything is written, if ``--chroma-url`` does not answer."""
    if config.chroma_url:
        from memory.store import chroma_http_client

        try:
            chroma_http_client(config.chroma_url)
        except ConnectionError as exc:
            raise UserError(f"--chroma-url: {exc}") from None


def resources_of(config: RunConfig) -> RunResources:
    """The resources of the run whose context is ``config``: attached by the CLI, or built here
    on first use (a run started by the LangGraph server, e.g. from Studio)."""
    return config.run_resources(_open_for_server)


def _open_for_server(config: RunConfig) -> RunResources:
    check_budget_priced(config)  # a --max-cost that nothing can price must not pass unseen
    key = Path(config.out)
    run_dir = RunDirectory(key) if key.exists() else RunDirectory.create(key)
    run_dir.write_json(CONFIG, config.public_dict())  # what this (possibly extended) run uses
    return build_resources(config, run_dir)
