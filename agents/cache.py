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


def run_cache(path: Path) -> Any:
    """A thread-safe SQLite answer cache at ``path`` (created if missing)."""
    from langchain_community.cache import SQLiteCache

    class RunCache(SQLiteCache):
        """``SQLiteCache`` with one writer at a time and hits marked."""

        def __init__(self, database_path: str) -> None:
            super().__init__(database_path=database_path)
            self._lock = threading.Lock()

        def lookup(self, prompt: str, llm_string: str) -> Any:
            with self._lock, warnings.catch_warnings():
                # langchain-core announces a stricter default for what it deserializes; the
                # rows are this run's own answers, written by update() below.
                warnings.filterwarnings("ignore", message=".*allowed_objects")
                found = super().lookup(prompt, llm_string)
            for generation in found or []:
                if isinstance(generation, ChatGeneration):
                    metadata = {**generation.message.response_metadata, CACHE_HIT: True}
                    generation.message.response_metadata = metadata
            return found

        def update(self, prompt: str, llm_string: str, return_val: Any) -> None:
            with self._lock:
                super().update(prompt, llm_string, return_val)

    return RunCache(str(path))
