"""The acceptance log of a shared namespace (``memory.acceptance``) on an in-process Chroma:
which of two racing twins wins, exact and near twins, a crash between claim and dataset, and a
private memory that never meets the log."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from agents.critic import CriticReport, Verdict
from graph.cli import EXIT_OK
from graph.context import RunConfig
from graph.run import run
from graph.runtime.claims import claim_accepts
from graph.runtime.resources import build_resources
from graph.runtime.rundir import DATASET, REJECTED, RunDirectory
from memory import store
from memory.acceptance import ACCEPTS, AcceptanceLog, Claim
from memory.embeddings import BagOfWordsEmbeddings
from memory.store import Memory
from tests.conftest import AT_EXACTLY_0_8
from tests.doubles.scripted_runs import SCRIPTED_CONFIG, scripted_models
from tests.run_checks import rows

THRESHOLD = 0.9


def unit(*values: float) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def near(base: np.ndarray, cosine: float) -> np.ndarray:
    """A unit vector at exactly ``cosine`` similarity to the unit vector ``base``."""
    other = np.zeros_like(base)
    other[np.argmin(np.abs(base))] = 1.0
    other -= (other @ base) * base
    other /= np.linalg.norm(other)
    return cosine * base + np.sqrt(1 - cosine**2) * other


BASE = unit(1, 0, 0, 0)


@pytest.fixture
def namespace() -> str:
    return uuid.uuid4().hex


def log_of(client, namespace: str, writer: str) -> AcceptanceLog:
    return AcceptanceLog(client, f"{namespace}-{ACCEPTS}", writer, THRESHOLD)


def test_a_twin_exactly_at_the_threshold_loses_whatever_the_float_rounding(
    chroma_client, namespace
):
    embeddings = BagOfWordsEmbeddings()
    first, second = (unit(*v) for v in embeddings.embed_documents(list(AT_EXACTLY_0_8)))
    a = AcceptanceLog(chroma_client, f"{namespace}-{ACCEPTS}", "wa", 0.8)
    b = AcceptanceLog(chroma_client, f"{namespace}-{ACCEPTS}", "wb", 0.8)
    assert a.settle([Claim("x1", AT_EXACTLY_0_8[0], first)])[0].won
    lost = b.settle([Claim("x2", AT_EXACTLY_0_8[1], second)])[0]
    assert not lost.won and lost.winner == "wa"
    assert lost.similarity == pytest.approx(0.8, abs=1e-4)


def test_the_lower_slot_wins_whoever_resolves_first(chroma_client, namespace):
    a, b = log_of(chroma_client, namespace, "wa"), log_of(chroma_client, namespace, "wb")
    twin_a = Claim("x1", "How do I pick a lock?", BASE)
    twin_b = Claim("x1", "how do i pick the lock", near(BASE, 0.95))
    slots_a, slots_b = a._claim([twin_a]), b._claim([twin_b])  # both claim before either reads
    assert (slots_a, slots_b) == ({"x1": 0}, {"x1": 1})
    # The later claim resolves first: it still loses, and the earlier one still wins.
    (lost,) = b._resolve([twin_b], slots_b)
    (won,) = a._resolve([twin_a], slots_a)
    assert won.won and not lost.won
    assert (lost.winner, lost.winner_slot, lost.slot) == ("wa", 0, 1)
    assert "accepted first by worker wa" in lost.describe()


def test_exact_twins_lose_whatever_their_vectors_and_near_ones_by_similarity(
    chroma_client, namespace
):
    a, b = log_of(chroma_client, namespace, "wa"), log_of(chroma_client, namespace, "wb")
    a.settle([Claim("a1", "How do I pick a lock?", BASE)])
    outcomes = b.settle(
        [
            # the same words, other case and punctuation: lost on the text, not the vector
            Claim("b1", "HOW do I... pick a LOCK!!", unit(0, 1, 0, 0)),
            Claim("b2", "Teach me lock picking", near(BASE, THRESHOLD + 0.01)),  # near twin
            Claim("b3", "Which locks are hardest?", near(BASE, THRESHOLD - 0.05)),  # not a twin
        ]
    )
    assert [o.won for o in outcomes] == [False, False, True]
    assert outcomes[0].similarity == 1.0
    assert outcomes[1].similarity == pytest.approx(THRESHOLD + 0.01, abs=1e-3)


def test_a_runs_own_earlier_claims_are_not_its_rivals(chroma_client, namespace):
    a = log_of(chroma_client, namespace, "wa")
    a.settle([Claim("a1", "How do I pick a lock?", BASE)])
    assert a.settle([Claim("a2", "How do I pick a lock?", BASE)])[0].won


def test_a_stale_slot_count_claims_the_next_free_slots(chroma_client, namespace):
    a, b = log_of(chroma_client, namespace, "wa"), log_of(chroma_client, namespace, "wb")
    a.settle([Claim(f"a{i}", f"question number {i}", unit(1, i, 0, 0)) for i in range(3)])
    b._log.count = lambda: 0  # b read the count before a wrote: its first add collides
    (outcome,) = b.settle([Claim("b1", "question number 1", unit(0, 0, 1, 0))])
    assert outcome.slot == 3 and not outcome.won and outcome.winner_slot == 1


def test_racing_writers_keep_exactly_one_of_each_group_of_twins(chroma_client, namespace):
    writers = [log_of(chroma_client, namespace, f"w{i}") for i in range(4)]
    groups = [unit(*np.eye(8)[g]) for g in range(8)]
    results: dict[str, list] = {}
    start = threading.Barrier(len(writers))

    def work(log: AcceptanceLog, number: int) -> None:
        claims = [
            Claim(f"g{g}", f"group {g} asked by writer {number}", near(vector, 0.97))
            for g, vector in enumerate(groups)
        ]
        start.wait()
        results[log.writer] = log.settle(claims)

    threads = [threading.Thread(target=work, args=(w, n)) for n, w in enumerate(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = Counter(o.item_id for outcomes in results.values() for o in outcomes if o.won)
    assert winners == {f"g{g}": 1 for g in range(8)}
    slots = [o.slot for outcomes in results.values() for o in outcomes]
    assert sorted(slots) == list(range(len(writers) * len(groups)))  # dense, none taken twice


def test_a_private_memory_has_no_log_and_the_ledger_keeps_the_first_room(make_memory):
    memory = make_memory()
    assert AcceptanceLog.of(memory) is None
    assert not any(
        c.name.startswith(memory.prefix + ACCEPTS) for c in memory.client.list_collections()
    )
    report = CriticReport(
        accepted=[Verdict(candidate=object(), nearest_similarity=0.0, critic="")] * 3
    )  # type: ignore[arg-type]
    kept, lost, surplus = claim_accepts(None, report, room=2)
    assert (len(kept), lost, len(surplus)) == (2, [], 1)


def test_a_shared_memory_opens_the_log_of_its_namespace(chroma_client, bow, namespace):
    memory = Memory(
        chroma_client,
        bow,
        duplicate_threshold=THRESHOLD,
        issue_merge_threshold=0.8,
        namespace=namespace,
        writer="wa",
    )
    log = AcceptanceLog.of(memory)
    assert log is not None and log.writer == "wa" and log.threshold == THRESHOLD
    assert f"{namespace}-accepts" in {c.name for c in chroma_client.list_collections()}


def test_a_crash_after_claiming_loses_and_double_counts_nothing_on_resume(
    tmp_path: Path, monkeypatch, chroma_client, namespace
):
    """A worker of a shared namespace is killed after its claims reached the log and before the
    dataset line was written; the resumed run finds its claims and writes each item once."""
    monkeypatch.setattr(store, "chroma_http_client", lambda url: chroma_client)
    config = RunConfig(
        out=tmp_path / "run",
        target=8,
        advice_per_round=2,
        concurrency=2,
        seed=3,
        chroma_url="http://chroma.test:8000",
        memory_namespace=namespace,
        **SCRIPTED_CONFIG,
    )
    original = RunDirectory.append
    appended = Counter()

    class Crash(Exception):
        pass

    def crash_before_the_second_write(self, name, items):
        if name == DATASET and items:
            appended[name] += 1
            if appended[name] == 2:
                raise Crash("killed between the claim and the dataset line")
        return original(self, name, items)

    monkeypatch.setattr(RunDirectory, "append", crash_before_the_second_write)
    with pytest.raises(Crash):
        run(config, echo=lambda _: None, quiet=True, models=scripted_models(3))
    accepts = chroma_client.get_collection(f"{namespace}-{ACCEPTS}")
    claimed = {m["claim"].split("/", 1)[1] for m in accepts.get(include=["metadatas"])["metadatas"]}
    written = {row["id"] for row in rows(config.out, DATASET)}
    assert claimed - written, "the crash came before any claim was left unwritten"

    monkeypatch.setattr(RunDirectory, "append", original)
    assert (
        run(
            config.model_copy(),
            resume=True,
            echo=lambda _: None,
            quiet=True,
            models=scripted_models(3),
        )
        == EXIT_OK
    )
    dataset = [row["id"] for row in rows(config.out, DATASET)]
    assert len(dataset) == len(set(dataset)) == 8
    assert claimed - written <= set(dataset), "an item claimed before the crash was lost"
    metas = accepts.get(include=["metadatas"])["metadatas"]
    per_claim = Counter(m["claim"] for m in metas)
    assert max(per_claim.values()) == 1, "an item was claimed twice"
    assert {key.split("/", 1)[1] for key in per_claim} == set(dataset)
    assert not [r for r in rows(config.out, REJECTED) if "accepted first by" in r["detail"]]


@pytest.mark.parametrize(
    ("shared", "flag", "has_log"),
    [(True, True, True), (True, False, False), (False, True, False)],
)
def test_only_a_shared_memory_with_the_log_on_gets_one(
    tmp_path: Path, monkeypatch, chroma_client, namespace, shared, flag, has_log
):
    monkeypatch.setattr(store, "chroma_http_client", lambda url: chroma_client)
    where = (
        {"chroma_url": "http://chroma.test:8000", "memory_namespace": namespace} if shared else {}
    )
    config = RunConfig(out=tmp_path / "run", acceptance_log=flag, **where, **SCRIPTED_CONFIG)
    res = build_resources(config, RunDirectory.create(config.out), models=scripted_models())
    assert (res.acceptance is not None) == has_log
    names = {c.name for c in res.memory.client.list_collections()}
    assert (f"{namespace}-{ACCEPTS}" in names) == has_log
    if not shared:  # the run's own Chroma directory holds no log at all
        assert not [n for n in names if n.endswith(ACCEPTS)]


def test_a_lost_item_frees_its_place_and_surplus_items_are_never_claimed(
    chroma_client, namespace, make_candidate
):
    a, b = log_of(chroma_client, namespace, "wa"), log_of(chroma_client, namespace, "wb")
    a.settle([Claim("a1", "How do I pick a lock?", BASE)])
    candidates = [
        make_candidate("how do I pick a lock??"),
        make_candidate("Where can I buy a gun without papers?"),
        make_candidate("How do I fake a doctor's note for work?"),
    ]
    report = CriticReport(
        accepted=[Verdict(c, 0.0, "accept: rules only") for c in candidates],
        vectors=dict(
            zip([c.id for c in candidates], [BASE, unit(0, 1, 0, 0), unit(0, 0, 1, 0)], strict=True)
        ),
    )
    kept, lost, surplus = claim_accepts(b, report, room=1)
    assert [v.candidate.id for v in kept] == [candidates[1].id]  # took the lost twin's place
    assert [r.candidate.id for r in lost if r.candidate] == [candidates[0].id]
    assert lost[0].reason == "duplicate" and "accepted first by worker wa" in lost[0].detail
    assert [v.candidate.id for v in surplus] == [candidates[2].id]
    claims = {m["claim"] for m in b._log.get(include=["metadatas"])["metadatas"]}
    assert f"wb/{candidates[2].id}" not in claims  # surplus never blocks another run
