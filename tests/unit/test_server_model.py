"""The fake server's length-proportional answer time and the utilization the benchmark reports."""

from __future__ import annotations

import time

import httpx
import pytest

from benchmarks._harness import utilization
from tests.doubles.openai_server import FakeOpenAIServer


def test_answer_time_is_time_to_first_token_plus_tokens_over_the_stream_rate():
    server = FakeOpenAIServer(ttft=0.1, tokens_per_second=60.0)
    assert server.service_seconds(0) == pytest.approx(0.1)
    assert server.service_seconds(120) == pytest.approx(2.1)
    assert FakeOpenAIServer(latency=0.2).service_seconds(500) == pytest.approx(0.2)


def test_a_longer_answer_holds_its_slot_longer():
    with FakeOpenAIServer(ttft=0.05, tokens_per_second=200.0, max_concurrent=1) as server:
        body = {"model": "fake-model", "messages": [{"role": "user", "content": "hi"}]}
        started = time.monotonic()
        answer = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=10).json()
        took = time.monotonic() - started
    tokens = answer["usage"]["completion_tokens"]
    (_, began, ended) = server.log[-1]
    assert ended - began == pytest.approx(0.05 + tokens / 200.0, abs=0.03)
    assert took >= ended - began


def test_utilization_is_service_time_over_slots_times_the_span():
    log = [("", 0.0, 9.0), ("A", 10.0, 12.0), ("B", 10.0, 11.0), ("C", 11.0, 14.0)]
    # 6 s of service over 2 slots x 4 s; the endpoint check ("") is left out
    assert utilization(log, 2) == pytest.approx(0.75)
    assert utilization([], 16) == 0.0
