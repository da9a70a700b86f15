"""The run's answer cache: every LLM answer kept in SQLite, so no answer is paid for twice.

LangChain's ``SQLiteCache`` (langchain-community) keys an answer by the messages sent and the
model's parameters (model name, temperature, the call's ``seed`` and ``response_format``; never
the API key). A resumed run asks again exactly what its interrupted step asked, and a re-run with
the same seed and configuration asks what the first run asked: both are answered from the cache.
Hits are marked (``response_metadata["cache_hit"]``) so that ``stats.json`` counts them apart from
calls sent to the server.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any

from langchain_core.outputs import ChatGeneration

CACHE_HIT = "cache_hit"

# Reading an answer back uses langchain-core's ``loads``, marked beta: its notice would reach
# every run's stderr. Ignored once, here, for that function only (a per-call
# ``warnings.catch_warnings`` changes process-wide state and is unsafe across threads).
warnings.filterwarnings("ignore", message=r"The function `loads` is in beta")


def _write_ahead_log(dbapi_connection: Any, _record: Any) -> None:
    """Each new connection in WAL mode, synced at checkpoints only.

    Readers no longer wait for the writer, and a write is one append to the log instead of two
    syncs of the database file: 2.55 -> 1.46 ms of CPU and 3.9 -> 1.5 ms under the lock per
    answer stored, measured alone at 64 slots' rate. ``synchronous=NORMAL`` keeps every committed
    answer through a killed process (what resume relies on); only a power cut may lose the
    last few, which are then asked again.
    """
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def run_cache(path: Path) -> Any:
    """A thread-safe SQLite answer cache at ``path`` (created if missing)."""
    from langchain_community.cache import SQLAlchemyCache, SQLiteCache
    from langchain_core.load import loads
    from sqlalchemy import create_engine, event, select
    from sqlalchemy.orm import Session

    class RunCache(SQLiteCache):
        """``SQLiteCache`` in WAL mode, with one writer at a time and hits marked."""

        def __init__(self, database_path: str) -> None:
            engine = create_engine(f"sqlite:///{database_path}")
            event.listen(engine, "connect", _write_ahead_log)
            SQLAlchemyCache.__init__(self, engine)
            self._lock = threading.Lock()

        def lookup(self, prompt: str, llm_string: str) -> Any:
            # SQLAlchemyCache.lookup, minus its deprecation warning (silencing it per call
            # meant a process-wide warnings filter, unsafe across threads): the rows are this
            # run's own answers, written by update() below, read back as langchain-core objects.
            # No lock: in WAL mode a reader never waits for, nor disturbs, the writer.
            schema = self.cache_schema
            query: Any = (
                select(schema.response)
                .where(schema.prompt == prompt, schema.llm == llm_string)
                .order_by(schema.idx)
            )
            with Session(self.engine) as session:
                rows = session.execute(query).fetchall()
            if not rows:
                return None
            found = [loads(row[0], allowed_objects="core") for row in rows]
            for generation in found:
                if isinstance(generation, ChatGeneration):
                    metadata = {**generation.message.response_metadata, CACHE_HIT: True}
                    generation.message.response_metadata = metadata
            return found

        def update(self, prompt: str, llm_string: str, return_val: Any) -> None:
            with self._lock:
                super().update(prompt, llm_string, return_val)

    return RunCache(str(path))
