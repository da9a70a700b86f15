"""The one model factory: every agent asks it for its chat model by role."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal, Protocol

import httpx
from langchain_core.caches import BaseCache
from langchain_core.language_models import BaseChatModel
from langchain_core.rate_limiters import InMemoryRateLimiter
from pydantic import SecretStr

from agents import embedded
from agents.concurrency import AdaptiveLimit, Outcome
from agents.errors import UserError
from agents.telemetry import CallTelemetry

Role = Literal["advisor", "generator", "responder", "critic", "summarizer"]
ROLES: tuple[Role, ...] = ("advisor", "generator", "responder", "critic", "summarizer")


class ModelSettings(Protocol):
    """What the model factory reads of a run's configuration (``graph.context.RunConfig``)."""

    @property
    def provider(self) -> str: ...
    @property
    def base_url(self) -> str | None: ...
    @property
    def model(self) -> str | None: ...
    @property
    def role_models(self) -> Mapping[Role, str]: ...
    @property
    def api_key_env(self) -> str: ...
    @property
    def request_timeout(self) -> float: ...
    @property
    def max_retries(self) -> int: ...
    @property
    def max_tokens(self) -> int: ...
    @property
    def rpm(self) -> int | None: ...
    @property
    def advice_per_round(self) -> int: ...
    @property
    def candidates_per_advice(self) -> int: ...
    @property
    def summary_max_chars(self) -> int: ...
    @property
    def prompt_max_chars(self) -> int: ...
    @property
    def response_max_chars(self) -> int: ...


# Sampling temperature per role: the generator should vary, the judge should not.
ROLE_TEMPERATURE: dict[Role, float] = {
    "advisor": 0.7,
    "generator": 0.8,
    "responder": 0.3,
    "critic": 0.0,
    "summarizer": 0.2,
}


class CountingTransport(httpx.HTTPTransport):
    """An httpx transport that limits requests in flight and counts what went wrong on the wire.

    ``limit`` (shared by all roles of a run) starts at ``--concurrency`` and adapts to the
    server's 429s (``agents.concurrency``). The OpenAI client retries 429/5xx/timeouts/dropped
    connections on its own; this is where those faults become visible, counted in the run's
    ``telemetry`` for ``stats.json``.
    """

    def __init__(
        self, limit: AdaptiveLimit | None = None, telemetry: CallTelemetry | None = None
    ) -> None:
        if limit is None:
            super().__init__()
        else:  # httpx pools 100 connections (20 kept alive) by default: the limit must decide
            size = limit.maximum
            super().__init__(
                limits=httpx.Limits(max_connections=size, max_keepalive_connections=size)
            )
        self._limit = limit
        self._telemetry = telemetry or CallTelemetry()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._limit is None:
            return self._counted(request)
        # Held only while on the wire, not during the client's backoff between retries.
        ticket = self._limit.acquire()
        outcome: Outcome = "failed"
        try:
            response = self._counted(request)
            outcome = outcome_of(response.status_code)
            return response
        finally:
            self._limit.release(ticket, outcome)

    def _counted(self, request: httpx.Request) -> httpx.Response:
        try:
            response = super().handle_request(request)
        except httpx.TimeoutException:
            self._telemetry.count_fault("timeout")
            raise
        except httpx.TransportError:
            self._telemetry.count_fault("connection_error")
            raise
        if response.status_code >= 400:
            self._telemetry.count_fault(f"http_{response.status_code}")
        return response


def outcome_of(status: int) -> Outcome:
    """What an HTTP status says about the server's load: 429 is the one sign of overload."""
    if status == 429:
        return "overloaded"
    return "ok" if status < 400 else "failed"


def max_tokens_for(role: Role, config: ModelSettings) -> int:
    """Token cap per answer, sized from the role's length caps (JSON overhead included).

    The caps are the run's (``prompt_max_chars``, ``response_max_chars``), or the tighter ones a
    model's server enforces (the embedded model), so a tiny model is not given room to ramble.
    """
    from agents.schemas import (
        JSON_TOKENS_PER_ANSWER,
        JSON_TOKENS_PER_ITEM,
        TOKENS_PER_CHAR,
        LengthCaps,
        server_caps_for,
    )

    caps = LengthCaps.for_run(config).tighter(server_caps_for(model_name_for(role, config)))
    chars, items = {
        "advisor": (
            caps.safety_issue + caps.instruction + caps.rationale,
            config.advice_per_round,
        ),
        "generator": (caps.safety_issue + caps.prompt, config.candidates_per_advice),
        "responder": (caps.response, config.candidates_per_advice),
        "critic": (caps.reason, 1),
        "summarizer": (config.summary_max_chars, 1),
    }[role]
    tokens = items * (int(chars * TOKENS_PER_CHAR) + JSON_TOKENS_PER_ITEM) + JSON_TOKENS_PER_ANSWER
    return min(config.max_tokens, tokens)


def model_name_for(role: Role, config: ModelSettings) -> str:
    """The model name a role uses: its own override, else the run's model."""
    override = config.role_models.get(role)
    if override:
        return override
    if config.provider == "embedded":
        return embedded.EMBEDDED_MODEL_NAME
    return config.model or "unnamed"


def chat_model(
    role: Role,
    config: ModelSettings,
    limit: AdaptiveLimit | None = None,
    telemetry: CallTelemetry | None = None,
    cache: BaseCache | None = None,
) -> BaseChatModel:
    """Build the chat model for ``role``; ``limit`` caps the run's requests in flight.

    ``telemetry`` is the run's: transport faults of this model's calls are counted there.
    ``cache`` (``agents.cache.run_cache``) answers what was asked before without a call.
    """
    from agents.openai_chat import VerbatimFormatChatOpenAI

    if config.provider == "embedded":
        base_url, api_key = embedded.serve(), SecretStr("embedded")
    else:
        base_url = config.base_url or ""
        api_key = SecretStr(os.environ.get(config.api_key_env, "") or "not-needed")
    http_client = httpx.Client(
        transport=CountingTransport(limit, telemetry), timeout=httpx.Timeout(config.request_timeout)
    )
    limiter = None
    if config.rpm:
        limiter = InMemoryRateLimiter(requests_per_second=config.rpm / 60, max_bucket_size=1)
    return VerbatimFormatChatOpenAI(
        base_url=base_url,
        api_key=api_key,
        model=model_name_for(role, config),
        temperature=ROLE_TEMPERATURE[role],
        max_tokens=max_tokens_for(role, config),  # type: ignore[call-arg]  # pydantic alias
        timeout=config.request_timeout,
        max_retries=config.max_retries,
        rate_limiter=limiter,
        http_client=http_client,
        cache=cache if cache is not None else False,
    )


def check_reachable(config: ModelSettings) -> None:
    """Fail fast with one clear line if the endpoint is unreachable, refuses the key or the model.

    One tiny chat call per distinct model: listing ``/models`` is not enough, since some servers
    (llama.cpp) answer to any model name and others (vLLM, OpenAI) only to the ones they list.
    """
    if config.provider != "openai":
        if config.provider == "embedded":
            embedded.gguf_path()
        return
    import openai

    client = openai.OpenAI(
        base_url=config.base_url,
        api_key=os.environ.get(config.api_key_env, "") or "not-needed",
        timeout=min(config.request_timeout, 30),
        max_retries=1,
    )
    for name in sorted({model_name_for(role, config) for role in ROLES}):
        try:
            client.chat.completions.create(
                model=name, messages=[{"role": "user", "content": "ping"}], max_tokens=1
            )
        except openai.AuthenticationError:
            raise UserError(
                f"{config.base_url} refused the API key from ${config.api_key_env}"
            ) from None
        except openai.NotFoundError:
            raise UserError(f"{config.base_url} does not serve model {name!r}") from None
        except (openai.APIConnectionError, openai.APITimeoutError):
            raise UserError(f"cannot reach the model server at {config.base_url}") from None
        except openai.APIStatusError as exc:
            raise UserError(
                f"{config.base_url} answered {exc.status_code} to a test call with model {name!r}"
            ) from None
