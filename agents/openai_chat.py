"""The chat client for OpenAI-compatible servers (imported lazily: langchain_openai is slow to load)."""

from __future__ import annotations

from typing import Any

from langchain_openai import ChatOpenAI


class VerbatimFormatChatOpenAI(ChatOpenAI):
    """``ChatOpenAI`` that sends ``response_format`` and the messages verbatim in the request body.

    Given a ``response_format``, LangChain calls the OpenAI SDK's ``parse``, which walks the
    whole JSON schema on every call: measured 3.95 ms of client CPU per critic call against 2.10
    ms this way, and with 16 calls sent from one process that CPU staggers a whole wave. The SDK
    also walks every message against its typed parameters (``maybe_transform``): 20 of 85 s of a
    16-slot run's client CPU (yappi, 699 calls, 29 ms a call), the limit of a 64-slot run on two
    cores. The wire format is the same (``extra_body`` is merged into the JSON body as is); the
    answer is parsed and validated by ``invoke_structured``, and a cut-off answer is recognised by
    its ``finish_reason``.
    """

    def _get_request_payload(self, input_: Any, *, stop: Any = None, **kwargs: Any) -> dict:
        payload = super()._get_request_payload(input_, stop=stop, **kwargs)
        verbatim = {key: payload.pop(key) for key in ("response_format",) if key in payload}
        if "messages" in payload:
            verbatim["messages"], payload["messages"] = payload["messages"], []
        if verbatim:
            payload["extra_body"] = {**(payload.get("extra_body") or {}), **verbatim}
        return payload
