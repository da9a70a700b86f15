"""A real HTTP server on loopback that speaks the OpenAI chat API, for tests and benchmarks.

Answers come from ``tests.doubles.scripted_model.ScriptedDataModel``: schema-valid JSON for whatever
``response_format`` a request names, with varied content. It checks the bearer key and the model
name like a real endpoint (401, 404), can add latency, and injects faults at a given rate.

Latency is fixed (``latency``) or, as a real server decoding token by token answers, in
proportion to the answer's length: ``ttft`` (time to first token) plus completion tokens over
``tokens_per_second`` per stream. ``max_concurrent`` is its number of slots; a request beyond
them waits for one (``over_capacity="queue"``, as a serving engine's batch) or is answered 429
at once with ``Retry-After: retry_after`` (``"429"``, as a rate-limited API; counted in
``rejected``). ``log`` holds each answer's (schema, start, end) in a slot.
"""

from __future__ import annotations

import base64
import contextlib
import json
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from tests.doubles.scripted_model import ScriptedDataModel

# Faults it can inject: 429 with Retry-After, 500, a stalled answer (client timeout), a dropped
# connection, malformed JSON, JSON that violates the schema, and an empty answer.
FAULT_KINDS = ("429", "500", "timeout", "drop", "malformed", "schema", "empty")


class _Listener(ThreadingHTTPServer):
    # socketserver's default backlog of 5 drops connections beyond it when many arrive at once,
    # and the client's retransmitted SYN adds a whole second; serving engines listen with ~2048.
    request_queue_size = 2048


class FakeOpenAIServer:
    """``with FakeOpenAIServer(api_key="k", models={"m"}) as server: server.base_url``."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        models: set[str] | None = None,
        latency: float = 0.0,
        on_request: Any = None,
        fault_rate: float = 0.0,
        faults: tuple[str, ...] = FAULT_KINDS,
        stall_seconds: float = 3.0,
        seed: int = 0,
        max_concurrent: int | None = None,
        chat_model: BaseChatModel | None = None,
        ttft: float = 0.0,
        tokens_per_second: float | None = None,
        over_capacity: Literal["queue", "429"] = "queue",
        retry_after: float = 1.0,
        embeddings: Embeddings | None = None,
    ) -> None:
        self._capacity = threading.BoundedSemaphore(max_concurrent) if max_concurrent else None
        self.over_capacity = over_capacity
        self.retry_after = retry_after
        self.rejected = 0  # requests answered 429 because every slot was busy
        self.log: list[tuple[str, float, float]] = []  # (schema name, start, end) per answer
        self.fault_rate = fault_rate
        self.faults = faults
        self.stall_seconds = stall_seconds  # a "timeout" fault answers only after this
        self.injected: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self.api_key = api_key
        self.on_request = on_request  # called with the schema name of each chat request
        self.models = models or {"fake-model"}
        self.latency = latency
        self.ttft = ttft
        self.tokens_per_second = tokens_per_second
        self.requests = 0
        # The model that answers requests: the scripted fake unless one is given.
        self._model = chat_model if chat_model is not None else ScriptedDataModel(seed=0)
        # What answers /v1/embeddings (none: 404), e.g. the embedded all-MiniLM-L6-v2 loaded once
        # in the test's process and shared by every worker pointed here.
        self.embeddings = embeddings
        self._lock = threading.Lock()
        self._httpd = _Listener(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def draw_fault(self) -> str | None:
        """Decide (at ``fault_rate``) whether this request fails, and how."""
        with self._lock:
            if self.fault_rate and self._rng.random() < self.fault_rate:
                fault = self._rng.choice(self.faults)
                self.injected[fault] += 1
                return fault
        return None

    @contextlib.contextmanager
    def admitted(self) -> Iterator[bool]:
        """Hold a slot while answering; ``False``: none was free and the request must get 429."""
        if self._capacity is None:
            yield True
        elif self.over_capacity == "queue":
            with self._capacity:
                yield True
        elif self._capacity.acquire(blocking=False):
            try:
                yield True
            finally:
                self._capacity.release()
        else:
            with self._lock:
                self.rejected += 1
            yield False

    def cli_args(self, out: object) -> list[str]:
        """CLI flags that point a run at this server (fake embeddings: no model to load)."""
        return [
            "--out",
            str(out),
            "--base-url",
            self.base_url,
            "--model",
            "fake-model",
            "--embedding-provider",
            "fake",
        ]

    @property
    def base_url(self) -> str:
        """The ``/v1`` base URL clients use."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def service_seconds(self, completion_tokens: int) -> float:
        """How long a slot spends on an answer of ``completion_tokens`` tokens."""
        decoding = completion_tokens / self.tokens_per_second if self.tokens_per_second else 0.0
        return self.latency + self.ttft + decoding

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        """A chat completion for a request body."""
        messages = [
            (m["role"] if m["role"] != "assistant" else "ai", m["content"])
            for m in body["messages"]
        ]
        with self._lock:
            self.requests += 1
            reply = self._model.invoke(
                messages, response_format=body.get("response_format"), seed=body.get("seed")
            )
        usage = reply.usage_metadata or {}
        content, finish = reply.content, "stop"
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if refusal := reply.additional_kwargs.get("refusal"):  # OpenAI's own refusal field
            message = {"role": "assistant", "content": None, "refusal": refusal}
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        if limit and usage.get("output_tokens", 0) > limit:  # as a real server: cut off
            content, finish = content[: 4 * limit], "length"
            usage = {**usage, "output_tokens": limit}
        return {
            "id": f"chatcmpl-{self.requests}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [
                {
                    "index": 0,
                    "finish_reason": finish,
                    "message": message
                    if message["content"] is None
                    else {**message, "content": content},
                }
            ],
            "usage": {
                "prompt_tokens": usage.get("input_tokens", 0),
                "completion_tokens": usage.get("output_tokens", 0),
                "total_tokens": usage.get("total_tokens", 0),
            },
        }

    def embed(self, body: dict[str, Any]) -> dict[str, Any]:
        """An embeddings response for a request body (floats, or base64 as the openai client
        asks by default)."""
        assert self.embeddings is not None
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        vectors = self.embeddings.embed_documents([str(t) for t in texts])
        as_base64 = body.get("encoding_format") == "base64"
        return {
            "object": "list",
            "model": body.get("model", ""),
            "data": [
                {
                    "object": "embedding",
                    "index": i,
                    "embedding": base64.b64encode(np.asarray(v, dtype="<f4").tobytes()).decode()
                    if as_base64
                    else list(v),
                }
                for i, v in enumerate(vectors)
            ],
            "usage": {"prompt_tokens": 0, "total_tokens": 0},
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                # The client may have been killed or given up: nothing to answer then.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            def _authorized(self) -> bool:
                if (
                    server.api_key is None
                    or self.headers.get("Authorization") == f"Bearer {server.api_key}"
                ):
                    return True
                self._send(
                    401,
                    {
                        "error": {
                            "message": "Incorrect API key provided",
                            "type": "invalid_request_error",
                            "code": "invalid_api_key",
                        }
                    },
                )
                return False

            def do_GET(self) -> None:
                if not self._authorized():
                    return
                if self.path.rstrip("/") == "/v1/models":
                    self._send(
                        200,
                        {
                            "object": "list",
                            "data": [{"id": m, "object": "model"} for m in sorted(server.models)],
                        },
                    )
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                if not self._authorized():
                    return
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path.rstrip("/") == "/v1/embeddings" and server.embeddings is not None:
                    self._send(200, server.embed(body))
                    return
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": "not found"}})
                    return
                if body.get("model") not in server.models:
                    self._send(
                        404,
                        {
                            "error": {
                                "message": f"The model `{body.get('model')}` does not exist",
                                "code": "model_not_found",
                            }
                        },
                    )
                    return
                if server.on_request is not None:
                    fmt = body.get("response_format") or {}
                    server.on_request(fmt.get("json_schema", {}).get("name", ""))
                fmt = body.get("response_format") or {}
                schema = fmt.get("json_schema", {}).get("name", "")
                with server.admitted() as admitted:
                    if not admitted:
                        self._too_many_requests(server.retry_after)
                        return
                    began = time.monotonic()
                    fault = server.draw_fault()
                    answer = server.answer(body) if fault is None else None
                    tokens = answer["usage"]["completion_tokens"] if answer else 0
                    wait = server.service_seconds(tokens) - (time.monotonic() - began)
                    if wait > 0:
                        time.sleep(wait)
                    with server._lock:
                        server.log.append((schema, began, time.monotonic()))
                if answer is not None:
                    self._send(200, answer)
                else:
                    self._fault(fault or "500", body)

            def _too_many_requests(self, retry_after: float) -> None:
                self.send_response(429)
                self.send_header("Retry-After", f"{retry_after:g}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _fault(self, fault: str, body: dict[str, Any]) -> None:
                if fault == "429":
                    self._too_many_requests(0)
                elif fault == "500":
                    self._send(500, {"error": {"message": "injected server error"}})
                elif fault == "timeout":
                    time.sleep(server.stall_seconds)
                    self._send(500, {"error": {"message": "too late"}})
                elif fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                else:
                    content = {
                        "malformed": '{"items": [{"prompt": "unterminated',
                        "schema": '{"unexpected": 1}',
                        "empty": "",
                    }[fault]
                    answer = server.answer(body)
                    answer["choices"][0]["message"]["content"] = content
                    self._send(200, answer)

        return Handler


def main() -> None:
    """Serve from its own process (benchmarks: the graph's process must not share its GIL).

    Prints the base URL on the first line of stdout, then serves until killed; with ``--log FILE``
    it appends ``schema<TAB>start<TAB>end`` per answer.
    """
    import argparse

    parser = argparse.ArgumentParser(description="Fake OpenAI-compatible server on loopback.")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--ttft", type=float, default=0.0)
    parser.add_argument("--tokens-per-second", type=float, default=None)
    parser.add_argument("--cap", type=int, default=None)
    parser.add_argument(
        "--over-capacity",
        choices=["queue", "429"],
        default="queue",
        help="beyond --cap: wait for a slot, or answer 429 with Retry-After at once",
    )
    parser.add_argument("--retry-after", type=float, default=1.0)
    parser.add_argument("--log", default=None)
    parser.add_argument(
        "--model",
        choices=["scripted", "world"],
        default="scripted",
        help="who answers: the scripted fake, or the world's capable-model double",
    )
    args = parser.parse_args()
    chat_model: BaseChatModel | None = None
    if args.model == "world":
        from tests.doubles.world import WorldModel

        chat_model = WorldModel(seed=1)
    with FakeOpenAIServer(
        latency=args.latency,
        max_concurrent=args.cap,
        over_capacity=args.over_capacity,
        retry_after=args.retry_after,
        ttft=args.ttft,
        tokens_per_second=args.tokens_per_second,
        chat_model=chat_model,
    ) as server:
        print(server.base_url, flush=True)
        written = 0
        while True:
            time.sleep(0.2)
            if args.log and len(server.log) > written:
                with server._lock:
                    fresh = server.log[written:]
                    written = len(server.log)
                with open(args.log, "a", encoding="utf-8") as handle:
                    handle.writelines(f"{s}\t{a}\t{b}\n" for s, a, b in fresh)


if __name__ == "__main__":
    main()
