"""agents/openai_chat.py: what goes on the wire is an ordinary chat completion request."""

from __future__ import annotations

import json

import httpx
from langchain_core.messages import HumanMessage, SystemMessage

from agents.openai_chat import VerbatimFormatChatOpenAI


def test_messages_and_response_format_reach_the_body_unchanged():
    bodies: list[dict] = []

    def answer(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(
            200,
            json={
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "m",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": '{"verdict": "accept"}'},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
            },
        )

    model = VerbatimFormatChatOpenAI(
        base_url="http://127.0.0.1:9/v1",
        api_key="k",
        model="m",
        http_client=httpx.Client(transport=httpx.MockTransport(answer)),
    )
    schema = {"type": "json_schema", "json_schema": {"name": "S", "schema": {"type": "object"}}}
    reply = model.invoke(
        [SystemMessage("Be brief."), HumanMessage("Judge: «quote» and\nnewline")],
        response_format=schema,
        seed=7,
    )
    assert reply.content == '{"verdict": "accept"}'
    (body,) = bodies
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Judge: «quote» and\nnewline"},
    ]
    assert body["response_format"] == schema
    assert body["model"] == "m" and body["seed"] == 7
